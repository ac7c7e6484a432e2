"""The Modbus input against the simulator's real pymodbus server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pymodbus.client import AsyncModbusTcpClient

from collectors import Agent, Sources
from collectors.modbus import ModbusDevice, ModbusDriver, ModbusRegister, decode, plan_reads
from pilotproof.sim_sources import modbus_registers
from simulators import FactoryModel, ModbusSimServer, Scenario
from telemetry import Aggregate, SqliteStore, encode_line
from telemetry.localserver import free_port
from tests.collectors.conftest import read_by_anyone, running, site_config, wait_for
from tests.simulators.conftest import at

NORMAL = at("2026-10-01T12:00:07")
BAD = at("2026-10-02T12:00:00")
S = 1_000_000_000


@pytest.fixture(scope="module")
async def server(types_scenario: Scenario) -> AsyncIterator[ModbusSimServer]:
    async with ModbusSimServer(types_scenario) as srv:
        yield srv


def mb_registers(server: ModbusSimServer) -> tuple[ModbusRegister, ...]:
    """The agent's registers for the simulated device, from its documented register map."""
    return modbus_registers(x for x in server.map.points if x.element == "mb-types")


def device(server: ModbusSimServer, **kw: object) -> ModbusDevice:
    return ModbusDevice(
        name="mb",
        host="127.0.0.1",
        port=server.port,
        unit=server.units["mb-types"],
        address_base=0,
        registers=mb_registers(server),
        **kw,  # type: ignore[arg-type]
    )


def expected(model: FactoryModel, reg: ModbusRegister, t: int) -> float | str:
    want = model.value(reg.element, reg.point, t)
    if isinstance(want, str):
        return want
    if reg.scale != 1.0:
        return round(float(want) / reg.scale) * reg.scale
    return float(want)


@pytest.mark.parametrize("t", [NORMAL, NORMAL + 13 * S, NORMAL + 3600 * S])
async def test_decoding_equals_the_simulator_for_every_type_and_order(
    tmp_path: Path, server: ModbusSimServer, types_scenario: Scenario, t: int
) -> None:
    await server.update(t)
    dev = device(server)
    config = site_config(tmp_path, types_scenario.inventory(), Sources(modbus=(dev,)))
    driver = ModbusDriver(dev, config.driver_context)
    model = FactoryModel(types_scenario)
    client = AsyncModbusTcpClient("127.0.0.1", port=server.port, timeout=2, retries=0)
    await client.connect()
    try:
        samples = await driver.poll(client, t)
        # the driver's own lines are byte for byte the canonical encoding of its samples
        assert samples.lines == [encode_line(p) for p in samples.points()]
        points = {p.tags["point"]: p for p in samples.points()}
        checked = set()
        for reg in dev.registers:
            want = expected(model, reg, t)
            if reg.type == "string":  # not a `telemetry.value`: decoded and compared here
                read = next(r for r in driver.reads if reg in r.registers)
                rr = await client.read_holding_registers(read.address, count=read.count,
                                                         device_id=dev.unit)  # fmt: skip
                off = reg.address - read.address
                assert decode(rr.registers[off : off + (reg.length or 8)], reg) == want
            elif reg.point != "faulty":
                got = points[reg.point].fields
                assert got == {"value": want, "quality": 0}, (reg.point, got, want)
            checked.add((reg.type, reg.order, reg.table))
    finally:
        client.close()
    assert {x[0] for x in checked} == {
        "int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64",
        "string", "bool",
    }  # fmt: skip
    assert {x[1] for x in checked} == {"ABCD", "DCBA", "BADC", "CDAB"}
    assert {x[2] for x in checked} == {"holding", "input", "coil", "discrete"}


def test_reads_are_coalesced_within_the_protocol_limits(server: ModbusSimServer) -> None:
    dev = device(server)
    reads = plan_reads(dev)
    assert len(reads) < len(dev.registers)
    assert all(r.count <= (2000 if r.table in ("coil", "discrete") else 125) for r in reads)
    assert sorted(x.point for r in reads for x in r.registers) == sorted(
        x.point for x in dev.registers
    )
    one_based = dev.model_copy(
        update={
            "address_base": 1,
            "registers": tuple(r.model_copy(update={"address": r.address + 1})
                               for r in dev.registers),
        }
    )  # fmt: skip
    assert [(r.table, r.address, r.count) for r in plan_reads(one_based)] == [
        (r.table, r.address, r.count) for r in reads
    ]


async def test_a_bad_point_is_bad_and_the_others_are_read(
    tmp_path: Path, server: ModbusSimServer, types_scenario: Scenario
) -> None:
    await server.update(BAD)
    dev = device(server)
    config = site_config(tmp_path, types_scenario.inventory(), Sources(modbus=(dev,)))
    driver = ModbusDriver(dev, config.driver_context)
    client = AsyncModbusTcpClient("127.0.0.1", port=server.port, timeout=2, retries=0)
    await client.connect()
    try:
        points = {p.tags["point"]: p.fields for p in (await driver.poll(client, BAD)).points()}
    finally:
        client.close()
    assert points["faulty"] == {"quality": 2}
    assert points["int32_abcd"]["quality"] == 0


async def test_agent_polls_into_the_store_and_marks_an_unreachable_device_offline(
    tmp_path: Path, server: ModbusSimServer, types_scenario: Scenario
) -> None:
    await server.update(NORMAL)
    good = device(server, interval_s=0.2)
    dead = good.model_copy(update={"name": "dead", "port": free_port(), "timeout_s": 0.2,
                                   "retries": 0, "status_elements": ("ua-types",),
                                   "registers": (good.registers[0].model_copy(update={
                                       "element": "ua-types", "point": "v_int16"}),)})  # fmt: skip
    store = SqliteStore(tmp_path / "store.db")
    inventory = read_by_anyone(types_scenario.inventory())  # a unit stands in for another's
    config = site_config(tmp_path, inventory, Sources(modbus=(good, dead)),
                         status_interval_s=1)  # fmt: skip
    agent = Agent(config, store=store)
    driver = next(d for d in agent.drivers if d.name == "modbus:mb")
    assert isinstance(driver, ModbusDriver)
    async with running(agent):
        await wait_for(lambda: driver.polls >= 5, what="5 polls")
        await wait_for(lambda: agent.metrics.batches_sealed >= 2, what="batches")
        await __import__("asyncio").sleep(1.2)  # one status instant at least
    model = FactoryModel(types_scenario)
    rows = await store.read("telemetry", 0, 2**62, where={"element": "mb-types"})
    assert len(rows) == driver.polls * len(good.registers)  # strings included (`text`)
    by_point = {r.point: r for r in good.registers}
    for p in rows:
        reg = by_point[p.tags["point"]]
        if reg.point == "faulty":
            continue
        field = "text" if reg.type == "string" else "value"
        assert p.fields[field] == expected(model, reg, NORMAL), p
    status = await store.read("element_status", 0, 2**62)
    online = {(p.tags["element"], p.fields["online"]) for p in status}
    assert ("mb-types", True) in online
    assert ("ua-types", False) in online  # the dead device's element
    assert ("ua-types", True) not in online
    assert agent.metrics.connected["modbus:dead"] == 0
    batches = await store.aggregate(Aggregate(measurement="pp_batch", field="n", fn="sum",
                                              start_ns=0, end_ns=2**62))  # fmt: skip
    assert int(batches["value"].iloc[0]) == agent.metrics.points_in
    await store.close()
