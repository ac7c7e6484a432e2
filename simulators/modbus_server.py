"""A Modbus TCP server (pymodbus) playing a scenario's Modbus elements — or, given a
`serial_port`, a Modbus RTU server on that port (see `simulators.serial_link`).

Each Modbus element is one unit id (its `modbus_unit`, or the next free one in order)
with its points laid out in their tables. When link status is exported `via: modbus`,
a gateway unit (`link_status.unit_id`) holds four registers per element:
online (0/1), link code (`LINK_CODES`), RSRP x10 and SINR x10 (int16).

Faults, the way real devices show them: an offline element answers every request with
exception 0x0B (gateway target failed to respond) over TCP, and is silent over RTU; a
point in a `bad` fault answers requests that touch it with 0x04 (device failure); Modbus
has no "uncertain", so an uncertain point serves its value. `serving.modbus_delay_ms`
delays every response and `serving.modbus_exception_rate` answers that share of requests
with 0x06 (device busy).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict
from pymodbus import FramerType
from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from simulators import registers
from simulators.behaviour import FactoryModel
from simulators.scenario import Scenario
from simulators.serving import SimServer
from telemetry.modbus import TABLE_FC, WIDTH, ByteOrder, Table, ValueType

LINK_CODES: dict[str, int] = {
    "5g": 1,
    "wifi": 2,
    "nb-iot": 3,
    "lora": 4,
    "wireless-other": 5,
    "wired": 6,
    "fieldbus": 7,
}
TABLE_SIZE = 2048  # registers (or bits) per table per unit
STRING_REGISTERS = 8


class RegisterLocation(BaseModel):
    """Where one point lives: enough for a client (or an agent config) to read it."""

    model_config = ConfigDict(frozen=True)
    element: str
    point: str
    unit: int
    table: Table
    address: int
    count: int
    type: ValueType
    order: ByteOrder
    scale: float


class RegisterMap(BaseModel):
    model_config = ConfigDict(frozen=True)
    points: tuple[RegisterLocation, ...]
    units: dict[str, int]
    gateway_unit: int | None
    gateway_elements: tuple[str, ...]

    def location(self, element: str, point: str) -> RegisterLocation:
        for loc in self.points:
            if loc.element == element and loc.point == point:
                return loc
        raise KeyError(f"{element}/{point}")


def register_map(scenario: Scenario) -> RegisterMap:
    """Unit ids and addresses of every Modbus point; explicit ones win, the rest follow."""
    units: dict[str, int] = {}
    taken = {e.modbus_unit for e in scenario.expanded_elements() if e.modbus_unit}
    gateway = scenario.link_status.unit_id if scenario.link_status.via == "modbus" else None
    if gateway:
        taken.add(gateway)
    next_unit = 1
    locs: list[RegisterLocation] = []
    for e in scenario.expanded_elements():
        if e.protocol != "modbus":
            continue
        if e.modbus_unit:
            unit = e.modbus_unit
        else:
            while next_unit in taken:
                next_unit += 1
            if next_unit > 246:
                raise ValueError("more Modbus elements than unit ids (1-246); set modbus_unit")
            unit = next_unit
            taken.add(unit)
        units[e.id] = unit
        cursor = {"holding": 0, "input": 0, "coil": 0, "discrete": 0}
        for p in e.points:
            if p.collection == "manual":
                continue
            spec = p.modbus
            table = spec.table if spec else ("coil" if p.type == "bool" else "holding")
            if p.type == "bool" or table in ("coil", "discrete"):
                count = 1
            elif p.type == "string":
                count = spec.registers if spec and spec.registers else STRING_REGISTERS
            else:
                count = WIDTH[p.type]
            address = spec.address if spec and spec.address is not None else cursor[table]
            cursor[table] = max(cursor[table], address + count)
            if address + count > TABLE_SIZE:
                raise ValueError(f"{e.id}/{p.id}: address {address} is beyond {TABLE_SIZE}")
            locs.append(
                RegisterLocation(
                    element=e.id,
                    point=p.id,
                    unit=unit,
                    table=table,
                    address=address,
                    count=count,
                    type=p.type,
                    order=spec.order if spec else "ABCD",
                    scale=spec.scale if spec else 1.0,
                )
            )
    gw_elements = tuple(e.id for e in scenario.expanded_elements()) if gateway else ()
    return RegisterMap(
        points=tuple(locs), units=units, gateway_unit=gateway, gateway_elements=gw_elements
    )


def encode_point(loc: RegisterLocation, value: Any) -> list[int] | list[bool]:
    if loc.table in ("coil", "discrete"):
        return [bool(value)]
    if loc.type == "bool":
        return [int(bool(value))]
    if loc.type == "string":
        return registers.encode(str(value), "string", loc.order, loc.count)
    raw = value if loc.scale == 1.0 else value / loc.scale
    if loc.type not in ("float32", "float64"):
        lo, hi = registers.RANGES[loc.type]
        raw = max(lo, min(hi, round(raw)))
    return registers.encode(raw, loc.type, loc.order)


@dataclass
class _Injection:
    delay_s: float
    every: int  # answer every n-th request with DEVICE_BUSY; 0 = never
    count: int = 0


class ModbusSimServer(SimServer):
    """Serves the scenario; call `update(t_ns)` to move the registers to instant `t`."""

    def __init__(
        self,
        scenario: Scenario,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        serial_port: str | None = None,
        baudrate: int = 19200,
        parity: str = "N",
    ) -> None:
        self.scenario = scenario
        self.serial_port, self.baudrate, self.parity = serial_port, baudrate, parity
        self.model = FactoryModel(scenario)
        self.map = register_map(scenario)
        self.host, self.port = host, port
        rate = scenario.serving.modbus_exception_rate
        self._inject = _Injection(
            delay_s=scenario.serving.modbus_delay_ms / 1000,
            every=round(1 / rate) if rate else 0,
        )
        self._offline: set[int] = set()
        self._bad: dict[int, list[tuple[int, int, int]]] = {}  # unit → (fc, address, count)
        self._server: ModbusTcpServer | ModbusSerialServer | None = None
        self.requests = 0
        self.injected_exceptions = 0

    @property
    def units(self) -> dict[str, int]:
        return self.map.units

    def _device(self, unit: int) -> SimDevice:
        def bits() -> list[SimData]:
            return [SimData(0, count=TABLE_SIZE, values=False, datatype=DataType.BITS)]

        def regs() -> list[SimData]:
            return [SimData(0, count=TABLE_SIZE, values=0, datatype=DataType.REGISTERS)]

        return SimDevice(
            id=unit,
            simdata=(bits(), bits(), regs(), regs()),
            action=functools.partial(self._action, unit),
        )

    async def _action(
        self,
        unit: int,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        current_registers: Any,
        set_values: Any,
    ) -> ExcCodes | None:
        if set_values is not None:
            return None  # our own updates
        self.requests += 1
        if self._inject.delay_s:
            await asyncio.sleep(self._inject.delay_s)
        if unit in self._offline:
            return ExcCodes.GATEWAY_NO_RESPONSE
        for fc, a, n in self._bad.get(unit, ()):
            if fc == function_code and a < address + count and address < a + n:
                return ExcCodes.DEVICE_FAILURE
        if self._inject.every:
            self._inject.count += 1
            if self._inject.count % self._inject.every == 0:
                self.injected_exceptions += 1
                return ExcCodes.DEVICE_BUSY
        return None

    async def start(self) -> None:
        logging.getLogger("pymodbus").setLevel(logging.CRITICAL)  # it logs every exception PDU
        all_units = sorted(
            {*self.map.units.values(), *([self.map.gateway_unit] if self.map.gateway_unit else [])}
        )
        if not all_units:
            raise ValueError(f"scenario {self.scenario.name!r} has no Modbus elements to serve")
        devices = [self._device(u) for u in all_units]
        if self.serial_port is not None:
            self._server = ModbusSerialServer(
                devices, framer=FramerType.RTU, port=self.serial_port, baudrate=self.baudrate,
                parity=self.parity, trace_packet=functools.partial(self._rtu_reply, all_units),
            )  # fmt: skip
            await self._server.serve_forever(background=True)
            return
        self._server = ModbusTcpServer(devices, address=(self.host, self.port))
        await self._server.serve_forever(background=True)
        listener: Any = self._server.transport
        self.port = int(listener.sockets[0].getsockname()[1])

    def _rtu_reply(self, units: list[int], sending: bool, packet: bytes) -> bytes:
        """On a serial bus an absent or offline device is silent (the master times out)
        where a TCP gateway answers 0x0B: its reply is dropped. (An RTU frame starts with
        the unit id.)"""
        if sending and packet and (packet[0] not in units or packet[0] in self._offline):
            return b""
        return packet

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.shutdown()  # type: ignore[no-untyped-call]
            self._server = None

    async def update(self, t_ns: int) -> None:
        """Set every register to the scenario's state at instant `t_ns`."""
        assert self._server is not None, "start() the server first"
        m = self.model
        offline = {u for eid, u in self.map.units.items() if not m.is_online(eid, t_ns)}
        bad: dict[int, list[tuple[int, int, int]]] = {}
        for loc in self.map.points:
            value = m.value(loc.element, loc.point, t_ns)
            fc = TABLE_FC[loc.table]
            await self._server.async_setValues(loc.unit, fc, loc.address, encode_point(loc, value))
            if m.quality(loc.element, loc.point, t_ns) == 2:
                bad.setdefault(loc.unit, []).append((fc, loc.address, loc.count))
        if self.map.gateway_unit:
            regs: list[int] = []
            for eid in self.map.gateway_elements:
                rsrp, sinr = m.radio(eid, t_ns)
                regs += [
                    int(m.is_online(eid, t_ns)),
                    LINK_CODES[m.link_at(eid, t_ns)],
                    *registers.encode(round((rsrp or 0) * 10), "int16"),
                    *registers.encode(round((sinr or 0) * 10), "int16"),
                ]
            for i in range(0, len(regs), 100):
                await self._server.async_setValues(self.map.gateway_unit, 3, i, regs[i : i + 100])
        self._offline, self._bad = offline, bad
