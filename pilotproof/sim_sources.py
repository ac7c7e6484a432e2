"""The agent's sources for a simulated factory, from the servers' own maps — the one place
that turns a simulator's register map, node ids and topics into agent settings (the demo,
the benchmarks and the tests all read a simulated factory through it)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from collectors import Sources
from collectors.modbus import ModbusDevice, ModbusRegister
from collectors.mqtt import MqttSource, MqttSubscription
from collectors.opcua import OpcUaNode, OpcUaSource
from simulators import ModbusSimServer, OpcUaSimServer, SimulatedFactory
from simulators.modbus_server import RegisterLocation

#: the topics `MqttSimPublisher` publishes, as agent subscriptions
SIM_SUBSCRIPTIONS = (
    MqttSubscription(topic="factory/{site}/{element}/telemetry"),
    MqttSubscription(topic="nms/{site}/{element}/status", format="status"),
    MqttSubscription(topic="idnode/{node}/stats", format="identifier"),
)


def modbus_registers(locations: Iterable[RegisterLocation]) -> tuple[ModbusRegister, ...]:
    """The agent's registers for points of a simulated device, as its map documents them."""
    return tuple(
        ModbusRegister(
            element=x.element, point=x.point, table=x.table, address=x.address, type=x.type,
            order=x.order, scale=x.scale, length=x.count if x.type == "string" else None,
        )
        for x in locations
    )  # fmt: skip


def modbus_devices(server: ModbusSimServer, *, interval_s: float = 1.0) -> tuple[ModbusDevice, ...]:
    """One device per unit id of the simulated server (address base 0, as its map)."""
    by_unit: dict[int, list[RegisterLocation]] = {}
    for x in server.map.points:
        by_unit.setdefault(x.unit, []).append(x)
    devices = []
    for unit, locations in sorted(by_unit.items()):
        regs = modbus_registers(locations)
        devices.append(
            ModbusDevice(
                name=f"modbus-unit-{unit}", host=server.host, port=server.port, unit=unit,
                address_base=0, interval_s=interval_s, registers=regs,
                status_elements=tuple(sorted({r.element for r in regs})),
            )
        )  # fmt: skip
    return tuple(devices)


def opcua_nodes(
    server: OpcUaSimServer, elements: Iterable[tuple[str, str]]
) -> tuple[OpcUaNode, ...]:
    """Nodes for `(element, point)` pairs, addressed by namespace URI."""
    return tuple(OpcUaNode(element=e, point=p, node=server.node_id(e, p)) for e, p in elements)


def agent_sources(factory: SimulatedFactory, mqtt_url: str | None, work: Path) -> Sources:
    """Every source of the simulated factory: its MQTT topics (unless `mqtt_url` is None:
    nothing is published), one Modbus device per unit, its OPC UA nodes (the client
    certificate, if any, under `work/pki`)."""
    s = factory.scenario
    modbus = modbus_devices(factory.modbus) if factory.modbus is not None else ()
    opcua: tuple[OpcUaSource, ...] = ()
    if factory.opcua is not None:
        # a point typed in by hand (collection "manual") has no node on the server
        pairs = [(e.id, p.id) for e in s.expanded_elements() if e.protocol == "opcua"
                 for p in e.points if p.collection != "manual"]  # fmt: skip
        if pairs:
            opcua = (OpcUaSource(name="opcua", url=factory.opcua.url, cert_dir=work / "pki",
                                 sampling_interval_ms=1000,
                                 nodes=opcua_nodes(factory.opcua, pairs)),)  # fmt: skip
    mqtt = (MqttSource(url=mqtt_url, subscriptions=SIM_SUBSCRIPTIONS),) if mqtt_url else ()
    return Sources(mqtt=mqtt, modbus=modbus, opcua=opcua)
