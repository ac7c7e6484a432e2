"""`SimulatedFactory`: every server a scenario needs, ticking on one clock.

The clock maps wall time to scenario time (`start_ns` + elapsed x `speed`), so a live run
can replay any stretch of a scenario — an outage, a fault — at real speed or faster.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path

from simulators.intervals import NS
from simulators.modbus_server import ModbusSimServer
from simulators.mqtt_publisher import MqttSimPublisher
from simulators.opcua_server import OpcUaSimServer
from simulators.scenario import Scenario


@dataclass
class SimClock:
    """Scenario time in UTC ns: `start_ns` at creation, advancing `speed` x wall time."""

    start_ns: int | None = None
    speed: float = 1.0
    _wall0: float = field(default_factory=time.monotonic)

    def now_ns(self) -> int:
        base = self.start_ns if self.start_ns is not None else time.time_ns()
        if self.start_ns is None:
            return base // NS * NS
        elapsed = (time.monotonic() - self._wall0) * self.speed
        return (base + int(elapsed * NS)) // NS * NS


class SimulatedFactory:
    """Start with `async with`; `run()` ticks until cancelled; `restart()` injects a restart."""

    def __init__(
        self,
        scenario: Scenario,
        *,
        mqtt_url: str | None = None,
        host: str = "127.0.0.1",
        opcua_port: int = 0,
        modbus_port: int = 0,
        cert_dir: Path | None = None,
        clock: SimClock | None = None,
        tick_s: float = 1.0,
    ) -> None:
        self.scenario = scenario
        self.clock = clock or SimClock()
        self.tick_s = tick_s
        protocols = {e.protocol for e in scenario.expanded_elements()}
        self.opcua = (
            OpcUaSimServer(scenario, host, opcua_port, cert_dir=cert_dir)
            if "opcua" in protocols
            else None
        )
        self.modbus = (
            ModbusSimServer(scenario, host, modbus_port)
            if "modbus" in protocols or scenario.link_status.via == "modbus"
            else None
        )
        needs_mqtt = (
            "mqtt" in protocols or scenario.link_status.via == "mqtt" or scenario.identifier
        )
        if needs_mqtt and mqtt_url is None:
            raise ValueError(
                f"scenario {scenario.name!r} publishes over MQTT: give a broker URL "
                "(--mqtt mqtt://127.0.0.1:1883)"
            )
        self.mqtt = MqttSimPublisher(scenario, mqtt_url) if needs_mqtt and mqtt_url else None
        self._last_ns: int | None = None

    async def __aenter__(self) -> SimulatedFactory:
        if self.opcua:
            await self.opcua.start()
        if self.modbus:
            await self.modbus.start()
        if self.mqtt:
            await asyncio.to_thread(self.mqtt.connect)
        await self.tick()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.mqtt:
            await asyncio.to_thread(self.mqtt.close)
        if self.modbus:
            await self.modbus.stop()
        if self.opcua:
            await self.opcua.stop()

    def endpoints(self) -> dict[str, str]:
        out = {}
        if self.opcua:
            out["opcua"] = self.opcua.url
        if self.modbus:
            out["modbus"] = f"modbus://{self.modbus.host}:{self.modbus.port}"
        if self.mqtt:
            out["mqtt"] = f"mqtt://{self.mqtt.host}:{self.mqtt.port}"
        return out

    async def tick(self) -> int:
        """Bring every server to the clock's current instant."""
        t = self.clock.now_ns()
        if self.opcua:
            await self.opcua.update(t)
        if self.modbus:
            await self.modbus.update(t)
        if self.mqtt:
            since = self._last_ns if self._last_ns is not None else t - NS
            await asyncio.to_thread(self.mqtt.publish_due, t, since)
        self._last_ns = t
        return t

    async def run(self) -> None:
        while True:
            await self.tick()
            await asyncio.sleep(self.tick_s)

    async def restart(self, protocol: str, down_s: float = 1.0) -> None:
        """Stop one server, wait, start it again on the same port (a fault to survive)."""
        server = {"opcua": self.opcua, "modbus": self.modbus}.get(protocol)
        if server is None:
            raise ValueError(f"no {protocol} server is running; restartable: opcua, modbus")
        await server.stop()
        await asyncio.sleep(down_s)
        await server.start()
        await self.tick()
