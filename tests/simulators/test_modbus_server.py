"""A real pymodbus client reads what the scenario says, in every type and byte/word order."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymodbus.client import AsyncModbusTcpClient

from simulators import FactoryModel, ModbusSimServer, Scenario, parse_scenario
from simulators.modbus_server import RegisterLocation
from tests.simulators.conftest import at

C = AsyncModbusTcpClient
NORMAL = at("2026-10-01T12:00:07")
BAD = at("2026-10-02T12:00:00")
UNCERTAIN = at("2026-10-03T12:00:00")
OFFLINE = at("2026-10-05T12:00:00")

DTYPE = {
    "int16": C.DATATYPE.INT16,
    "uint16": C.DATATYPE.UINT16,
    "int32": C.DATATYPE.INT32,
    "uint32": C.DATATYPE.UINT32,
    "int64": C.DATATYPE.INT64,
    "uint64": C.DATATYPE.UINT64,
    "float32": C.DATATYPE.FLOAT32,
    "float64": C.DATATYPE.FLOAT64,
    "string": C.DATATYPE.STRING,
}


def swap_bytes(regs: list[int]) -> list[int]:
    return [((r & 0xFF) << 8) | (r >> 8) for r in regs]


def client_decode(regs: list[int], loc: RegisterLocation) -> object:
    """Decode the way an integrator would with pymodbus (not with our encoder)."""
    if loc.type == "string":
        raw = swap_bytes(regs) if loc.order in ("BADC", "DCBA") else regs
        return C.convert_from_registers(raw, DTYPE["string"])
    raw = swap_bytes(regs) if loc.order in ("BADC", "DCBA") else regs
    word = "little" if loc.order in ("DCBA", "CDAB") else "big"
    return C.convert_from_registers(raw, DTYPE[loc.type], word_order=word)


@pytest.fixture(scope="module")
async def server(types_scenario: Scenario) -> AsyncIterator[ModbusSimServer]:
    async with ModbusSimServer(types_scenario) as srv:
        yield srv


@pytest.fixture
async def client(server: ModbusSimServer) -> AsyncIterator[AsyncModbusTcpClient]:
    c = AsyncModbusTcpClient("127.0.0.1", port=server.port, timeout=2, retries=0)
    await c.connect()
    yield c
    c.close()


async def read(c: AsyncModbusTcpClient, loc: RegisterLocation) -> object:
    fn = {
        "holding": c.read_holding_registers,
        "input": c.read_input_registers,
        "coil": c.read_coils,
        "discrete": c.read_discrete_inputs,
    }[loc.table]
    rr = await fn(loc.address, count=loc.count, device_id=loc.unit)
    if rr.isError():
        return rr
    if loc.table in ("coil", "discrete"):
        return rr.bits[0]
    return client_decode(rr.registers, loc)


@pytest.mark.parametrize("t", [NORMAL, NORMAL + 13 * 10**9, NORMAL + 3600 * 10**9])
async def test_every_type_and_order_reads_back(
    server: ModbusSimServer, client: AsyncModbusTcpClient, t: int
) -> None:
    await server.update(t)
    model = FactoryModel(server.scenario)
    checked = set()
    for loc in server.map.points:
        if loc.point == "faulty":
            continue
        got = await read(client, loc)
        want = model.value(loc.element, loc.point, t)
        if loc.scale != 1.0:
            assert got == round(float(want) / loc.scale), loc.point  # type: ignore[arg-type]
            assert abs(float(got) * loc.scale - float(want)) <= loc.scale / 2  # type: ignore[arg-type]
        else:
            assert got == want, f"{loc.point} ({loc.type} {loc.order}): read {got!r}, want {want!r}"
        checked.add((loc.type, loc.order, loc.table))
    types = {t for t, _, _ in checked}
    assert types >= {"int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64"}
    assert {"string", "bool"} <= types
    assert {o for _, o, _ in checked} == {"ABCD", "DCBA", "BADC", "CDAB"}
    assert {tb for _, _, tb in checked} == {"holding", "input", "coil", "discrete"}


async def test_values_move_with_time(server: ModbusSimServer, client: AsyncModbusTcpClient) -> None:
    loc = server.map.location("mb-types", "float64_abcd")
    seen = set()
    for k in range(5):
        await server.update(NORMAL + k * 10 * 10**9)
        seen.add(await read(client, loc))
    assert len(seen) == 5


async def exception_code(
    server: ModbusSimServer, client: AsyncModbusTcpClient, t: int, point: str
) -> int:
    """The exception the server answers at `t` to a read of `point` (which must fail)."""
    await server.update(t)
    rr: Any = await read(client, server.map.location("mb-types", point))
    assert rr.isError()
    return int(rr.exception_code)


async def test_bad_point_answers_device_failure_and_others_still_read(
    server: ModbusSimServer, client: AsyncModbusTcpClient
) -> None:
    assert await exception_code(server, client, BAD, "faulty") == 4
    ok = await read(client, server.map.location("mb-types", "int32_abcd"))
    assert not hasattr(ok, "isError")
    await server.update(UNCERTAIN)  # Modbus has no "uncertain": the value is served
    got = await read(client, server.map.location("mb-types", "faulty"))
    assert got == FactoryModel(server.scenario).value("mb-types", "faulty", UNCERTAIN)


async def test_offline_element_answers_gateway_no_response(
    server: ModbusSimServer, client: AsyncModbusTcpClient
) -> None:
    assert await exception_code(server, client, OFFLINE, "int16_abcd") == 11
    await server.update(NORMAL)
    assert not hasattr(await read(client, server.map.location("mb-types", "int16_abcd")), "isError")


SMALL = """
name: mb-faults
site: lab
evaluation: {from: "2026-10-01T00:00:00", to: "2026-10-02T00:00:00"}
link_status: {via: modbus, unit_id: 200}
serving: {modbus_delay_ms: 150, modbus_exception_rate: 0.25}
elements:
  - id: a
    kind: machine
    link: 5g
    protocol: modbus
    rsrp: -88.5
    sinr: 12.3
    points: [{id: x, type: uint16, signal: {mean: 7}}]
  - id: b
    kind: sensor
    link: wired
    protocol: opcua
    schedule: {offline: [{from: "2026-10-01T00:00:00", to: "2026-10-02T00:00:00"}]}
"""


async def test_delay_exception_injection_and_gateway_link_block() -> None:
    scenario = parse_scenario(SMALL)
    async with ModbusSimServer(scenario) as srv:
        await srv.update(at("2026-10-01T10:00:00"))
        c = AsyncModbusTcpClient("127.0.0.1", port=srv.port, timeout=2, retries=0)
        await c.connect()
        try:
            results = [await c.read_holding_registers(0, count=1, device_id=1) for _ in range(8)]
            busy = [r for r in results if r.isError()]
            assert len(busy) == 2
            assert all(r.exception_code == 6 for r in busy)
            assert srv.injected_exceptions == 2
            gw = await c.read_holding_registers(0, count=8, device_id=200)
            regs = gw.registers
            assert regs[0:2] == [1, 1]  # a: online, 5G
            rsrp = C.convert_from_registers([regs[2]], C.DATATYPE.INT16) / 10
            want_rsrp, _ = FactoryModel(scenario).radio("a", at("2026-10-01T10:00:00"))
            assert rsrp == want_rsrp
            assert regs[4:6] == [0, 6]  # b: offline, wired
        finally:
            c.close()


async def test_restart_on_the_same_port(types_scenario: Scenario) -> None:
    async with ModbusSimServer(types_scenario) as srv:
        port = srv.port
    async with ModbusSimServer(types_scenario, port=port) as srv2:
        await srv2.update(NORMAL)
        async with AsyncModbusTcpClient("127.0.0.1", port=port) as c:
            loc = srv2.map.location("mb-types", "uint32_cdab")
            assert await read(c, loc) == FactoryModel(types_scenario).value(
                "mb-types", "uint32_cdab", NORMAL
            )
