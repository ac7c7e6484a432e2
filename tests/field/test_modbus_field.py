"""The agent as a process against modbus-serial's Modbus TCP server (not ours).

Fault matrix (Modbus): the device killed and restarted; a read the device answers with
an exception; every type decoded as the device holds it.
"""

from __future__ import annotations

import asyncio
import time

from tests.field.conftest import SITE, Field
from tests.field.harness import ALL, assert_sealed_exactly_once, check
from tests.field.thirdparty import NodeModbusServer, registers

NS = 1_000_000_000
TEXT = "LINE-A"


def text_registers(address: int, text: str, count: int) -> dict[str, int]:
    raw = text.encode().ljust(2 * count, b"\0")
    return {str(address + i): int.from_bytes(raw[2 * i : 2 * i + 2], "big") for i in range(count)}


DEVICE = {
    "unitId": 1,
    "size": 1000,  # a read at 1000 or beyond: exception 2 (ILLEGAL DATA ADDRESS)
    "holding": {"0": 1234, **registers(10, 21.5, "float32", "CDAB"),
                **registers(20, -5, "int32", "ABCD"), **text_registers(30, TEXT, 3)},
    "input": {"5": 777},
    "coils": {"3": True},
    "counters": [{"table": "holding", "address": 40, "periodMs": 200}],
}  # fmt: skip
INVENTORY = """elements = [
  {id = "cnc-01", kind = "machine", link = "wired", points = [
    {id = "rpm", period_s = 1}, {id = "temp", period_s = 1}, {id = "offset", period_s = 1},
    {id = "line", period_s = 1}, {id = "pressure", period_s = 1}, {id = "running", period_s = 1},
    {id = "parts", period_s = 1}, {id = "missing", period_s = 1}]},
]"""


def source(port: int) -> str:
    regs = [
        ("rpm", "holding", 0, "uint16", ""),
        ("temp", "holding", 10, "float32", 'order = "CDAB"'),
        ("offset", "holding", 20, "int32", ""),
        ("line", "holding", 30, "string", "length = 3"),
        ("pressure", "input", 5, "uint16", "scale = 0.1"),
        ("running", "coil", 3, "bool", ""),
        ("parts", "holding", 40, "uint16", ""),
        ("missing", "holding", 1200, "uint16", ""),  # beyond the device's map
    ]
    body = "\n".join(
        f"""  [[sources.modbus.registers]]
  element = "cnc-01"
  point = "{point}"
  table = "{table}"
  address = {address}
  type = "{kind}"
  {extra}
"""
        for point, table, address, kind, extra in regs
    )
    return f"""[[sources.modbus]]
name = "cnc"
host = "127.0.0.1"
port = {port}
unit = 1
address_base = 0
interval_s = 0.5
timeout_s = 1.0
retries = 0

{body}"""


async def test_device_killed_and_restarted(field: Field) -> None:
    """Every type decoded as the device holds it; an exception answer marks only its
    read bad; the device killed for five seconds shows offline, the log says so once,
    polling resumes by itself; nothing is doubled."""
    with NodeModbusServer(field.tmp / "mb", DEVICE) as mb:
        site = field.site(source(mb.port), INVENTORY)
        assert check(site).returncode == 0
        agent = field.agent(site).start()
        try:
            await agent.connected("modbus:cnc")
            await asyncio.sleep(4)
            mb.kill()
            killed = time.time_ns()
            await agent.until(lambda: agent.metric("driver_connected", driver="modbus:cnc") == 0,
                              what="the device lost")  # fmt: skip
            await asyncio.sleep(5)
            restarted = time.time_ns()
            mb.start()
            await agent.connected("modbus:cnc", within_s=90)
            await asyncio.sleep(3)
            unreachable = agent.metric("driver_errors_total", driver="modbus:cnc",
                                       kind="unreachable")  # fmt: skip
            assert unreachable >= 2
            assert agent.metric("driver_errors_total", driver="modbus:cnc",
                                kind="exception_response") >= 5  # fmt: skip
        finally:
            assert agent.stop() == 0, agent.log()[-3000:]
    log = agent.log()
    assert log.count("unreachable:") <= 2, log  # once, then counted
    assert log.count("exception_response") == 1, log
    assert "Traceback" not in log
    values = await field.store.read("telemetry", 0, ALL, where={"site": SITE})
    by_point: dict[str, set[object]] = {}
    for p in values:
        by_point.setdefault(str(p.tags["point"]), set()).add(
            p.fields.get("text", p.fields.get("value"))
        )
    assert by_point["rpm"] == {1234.0}
    assert by_point["temp"] == {21.5}
    assert by_point["offset"] == {-5.0}
    assert by_point["line"] == {TEXT}
    assert by_point["pressure"] == {77.7}
    assert by_point["running"] == {1.0}
    assert len(by_point["parts"]) > 10  # the counter moves
    assert by_point["missing"] == {None}  # quality 2, no value
    status = await field.store.read("element_status", 0, ALL, where={"element": "cnc-01"})
    assert [p for p in status if killed < p.time_ns <= restarted and not p.fields["online"]]
    assert [p for p in status if p.time_ns > restarted + 2 * NS and p.fields["online"]]
    assert not [p for p in status if killed + 3 * NS < p.time_ns < restarted and p.fields["online"]]
    await assert_sealed_exactly_once(field.store, SITE, "gw-field", field.public_key)
