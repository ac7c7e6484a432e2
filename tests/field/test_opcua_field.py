"""The agent as a process against node-opcua, a server this project did not write.

Fault matrix (OPC UA): the server killed and restarted; a node removed across a restart;
a server that has not trusted the agent's certificate yet, then trusts it; a wrong
password. Each case: the agent keeps running, what it accepted is stored exactly once,
the outage shows in element_status / point_health, and /metrics and the log say what
happened.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from telemetry import Point
from tests.field.conftest import SITE, Field
from tests.field.harness import ALL, assert_sealed_exactly_once
from tests.field.thirdparty import NodeOpcUaServer

NS = 1_000_000_000
URI = "urn:press-vendor:line"
VARIABLES = [
    {"nodeId": "s=Press01.Setpoint", "dataType": "Double", "behaviour": "constant", "value": 3},
    {"nodeId": "s=Press01.Strokes", "dataType": "UInt32", "behaviour": "counter", "periodMs": 250},
    {"nodeId": "s=Press01.Temp", "dataType": "Double", "behaviour": "sine", "periodMs": 200},
    {"nodeId": "s=Press01.Sensor", "dataType": "Double", "behaviour": "constant", "value": 1,
     "status": "BadSensorFailure"},
    {"nodeId": "s=Press01.Recipe", "dataType": "String", "behaviour": "constant", "value": "A-7"},
]  # fmt: skip
POINTS = {"setpoint": "Setpoint", "strokes": "Strokes", "temp": "Temp", "sensor": "Sensor",
          "recipe": "Recipe"}  # fmt: skip
INVENTORY = """elements = [
  {id = "press-01", kind = "machine", link = "5g", points = [
    {id = "setpoint", period_s = 1, category = "process"},
    {id = "strokes", period_s = 1, category = "production"},
    {id = "temp", period_s = 1, category = "process"},
    {id = "sensor", period_s = 1, category = "quality"},
    {id = "recipe", period_s = 1, category = "process"}]},
]"""


def source(url: str, *, extra: str = "", points: dict[str, str] = POINTS) -> str:
    nodes = "\n".join(
        f"""  [[sources.opcua.nodes]]
  element = "press-01"
  point = "{point}"
  node = "nsu={URI};s=Press01.{name}"
"""
        for point, name in points.items()
    )
    return f"""[[sources.opcua]]
name = "press"
url = "{url}"
watchdog_s = 0.5
timeout_s = 2.0
reconnect_s = 0.5
sampling_interval_ms = 200
{extra}
{nodes}"""


async def rows(field: Field, measurement: str, **where: str) -> list[Point]:
    return await field.store.read(measurement, 0, ALL, where={"site": SITE, **where})


async def test_server_killed_and_restarted(field: Field) -> None:
    """SIGKILL the server for a few seconds: the loss is noticed, element_status shows it,
    values resume after the restart without restarting the agent, nothing is doubled."""
    with NodeOpcUaServer(field.tmp / "ua", {"namespaceUri": URI, "variables": VARIABLES}) as ua:
        agent = field.agent(field.site(source(ua.url), INVENTORY)).start()
        try:
            await agent.connected("opcua:press")
            await asyncio.sleep(13)  # a whole health interval of 5 s, 2 s before the kill
            ua.kill()
            killed = time.time_ns()
            await agent.until(lambda: agent.metric("driver_connected", driver="opcua:press") == 0,
                              what="the loss noticed")  # fmt: skip
            noticed = time.time_ns()
            await asyncio.sleep(5)
            restarted = time.time_ns()
            ua.start()
            await agent.connected("opcua:press")
            await asyncio.sleep(4)
            assert agent.sum_metric("driver_errors_total", driver="opcua:press") >= 1
            assert agent.runs == 1
        finally:
            code = agent.stop()
    assert code == 0, agent.log()[-3000:]
    log = agent.log()
    assert "opcua:press" in log, log[-3000:]
    assert "lost" in log or "unreachable" in log, log[-3000:]
    assert "Traceback" not in log, log[-3000:]
    status = await rows(field, "element_status", element="press-01")
    offline = [p.time_ns for p in status if p.fields["online"] is False]
    # every status instant of the outage is offline, and the one after the kill too
    assert [t for t in offline if killed < t <= restarted], (killed, restarted, offline)
    assert any(p.fields["online"] for p in status if p.time_ns > restarted + 2 * NS)
    assert not [p for p in status if killed + 2 * NS < p.time_ns < restarted and p.fields["online"]]
    print(f"loss noticed after {(noticed - killed) / NS:.2f} s")  # the note quotes it
    # values after the restart
    strokes = await rows(field, "telemetry", element="press-01", point="strokes")
    assert [p for p in strokes if p.time_ns > restarted]
    # point_health of a whole interval before the kill: the constant tag is collected,
    # the bad one is received but never good. "Before" leaves a margin of 2 s: the agent
    # knows the server alive only up to its last watchdog read (every 1 s), so the slots
    # after that last proof of life count as not received, as they must
    health = await rows(field, "point_health", element="press-01")
    before = [p for p in health if p.time_ns + 5 * NS + 2 * NS < killed]
    assert before, health
    # the last whole interval before the kill (the agent was connected through it)
    last = max(p.time_ns for p in before)
    for p in (p for p in before if p.time_ns == last):
        if p.tags["point"] in ("setpoint", "recipe", "strokes", "temp"):
            assert p.fields["good"] == p.fields["expected"] == 5, p
        if p.tags["point"] == "sensor":
            assert p.fields["good"] == 0, p
    during = [p for p in health if killed <= p.time_ns + 5 * NS and p.time_ns < restarted]
    assert any(p.fields["received"] < p.fields["expected"] for p in during), during
    recipe = await rows(field, "telemetry", element="press-01", point="recipe")
    assert {p.fields.get("text") for p in recipe} == {"A-7"}
    await assert_sealed_exactly_once(field.store, SITE, "gw-field", field.public_key)


async def test_a_node_removed_across_a_restart_stops_only_itself(field: Field) -> None:
    """After a restart the server no longer has Temp (BadNodeIdUnknown): that point turns
    bad, one log line says which node, every other node goes on (compare
    influxdata/telegraf#19186, where one missing node stops the whole input)."""
    with NodeOpcUaServer(field.tmp / "ua", {"namespaceUri": URI, "variables": VARIABLES}) as ua:
        agent = field.agent(field.site(source(ua.url), INVENTORY)).start()
        try:
            await agent.connected("opcua:press")
            await asyncio.sleep(2)
            without = [v for v in VARIABLES if v["nodeId"] != "s=Press01.Temp"]
            restarted = time.time_ns()
            ua.restart({"namespaceUri": URI, "variables": without})
            await agent.until(
                lambda: agent.metric("driver_errors_total", driver="opcua:press", kind="node") >= 1,
                what="the missing node reported",
            )
            await asyncio.sleep(4)
            assert agent.metric("driver_connected", driver="opcua:press") == 1
        finally:
            assert agent.stop() == 0, agent.log()[-3000:]
    log = agent.log()
    assert "press-01.temp" in log, log[-3000:]
    assert "BadNodeIdUnknown" in log, log[-3000:]
    assert log.count("BadNodeIdUnknown") <= 2, log  # once, not once a second
    temp = await rows(field, "telemetry", element="press-01", point="temp")
    after = [p for p in temp if p.time_ns > restarted]
    assert after, after
    assert all(p.fields["quality"] == 2 for p in after), after
    strokes = await rows(field, "telemetry", element="press-01", point="strokes")
    assert len([p for p in strokes if p.time_ns > restarted + NS]) >= 8  # the others go on
    await assert_sealed_exactly_once(field.store, SITE, "gw-field", field.public_key)


async def test_a_server_that_does_not_trust_the_agent_yet(field: Field) -> None:
    """A strict server refuses the agent's certificate until its administrator trusts it.
    The agent keeps trying, says what to trust, and connects once it is trusted — with
    no restart. (asyncua raised an AttributeError here that stopped the driver for good.)"""
    config = {"namespaceUri": URI, "variables": VARIABLES, "securityModes": ["SignAndEncrypt"],
              "autoAcceptCertificates": False}  # fmt: skip
    with NodeOpcUaServer(field.tmp / "ua", config) as ua:
        site = field.site(source(ua.url, extra='security = "SignAndEncrypt"'), INVENTORY)
        agent = field.agent(site).start()
        try:
            await agent.until(lambda: any(ua.rejected_dir.glob("*")), what="the cert rejected")
            await agent.until(lambda: agent.sum_metric("driver_errors_total",
                                                       driver="opcua:press") >= 2,
                              what="the refusals counted")  # fmt: skip
            assert agent.metric("driver_connected", driver="opcua:press") == 0
            assert agent.sum_metric("driver_restarts_total") == 0  # survived, not crashed
            ua.trust_all_rejected()
            await agent.connected("opcua:press", within_s=90)
            await asyncio.sleep(2)
            assert agent.runs == 1
        finally:
            assert agent.stop() == 0, agent.log()[-3000:]
    log = agent.log()
    assert "trust" in log, log[-3000:]
    assert str(Path("pki")) in log, log[-3000:]
    assert "AttributeError" not in log or "has not trusted this agent" in log, log[-3000:]
    assert await rows(field, "telemetry", element="press-01", point="strokes")


async def test_a_wrong_password_is_told_once_and_retried_with_backoff(field: Field) -> None:
    config = {"namespaceUri": URI, "variables": VARIABLES, "allowAnonymous": False,
              "users": {"pilotproof": "secret"}}  # fmt: skip
    with NodeOpcUaServer(field.tmp / "ua", config) as ua:
        extra = 'auth = "username"\nusername = "pilotproof"\npassword = "wrong"'
        agent = field.agent(field.site(source(ua.url, extra=extra), INVENTORY)).start()
        try:
            await agent.until(
                lambda: agent.metric("driver_errors_total", driver="opcua:press", kind="auth") >= 3,
                what="three refusals",
            )
            assert agent.metric("driver_connected", driver="opcua:press") == 0
        finally:
            assert agent.stop() == 0, agent.log()[-3000:]
    log = agent.log()
    assert "BadUserAccessDenied" in log, log
    assert "check auth, username and password" in log, log
    assert log.count("BadUserAccessDenied") == 1, log  # said once, then counted
    status = await rows(field, "element_status", element="press-01")
    assert status
    assert not any(p.fields["online"] for p in status)


async def test_more_subscriptions_than_the_server_allows_are_folded_into_fewer(
    field: Field,
) -> None:
    """node-opcua allows 10 subscriptions a session. 60 tags at nodes_per_subscription = 2
    would need 30: the agent reads the server's limit and monitors every tag in 10."""
    tags = [{"nodeId": f"s=Big.T{k}", "dataType": "Double", "behaviour": "counter",
             "periodMs": 200} for k in range(60)]  # fmt: skip
    points = {f"t{k}": f"T{k}" for k in range(60)}
    nodes = "\n".join(f'  [[sources.opcua.nodes]]\n  element = "big"\n  point = "t{k}"\n'
                      f'  node = "nsu={URI};s=Big.T{k}"\n' for k in range(60))  # fmt: skip
    inventory = ('elements = [{id = "big", kind = "machine", link = "wired", points = ['
                 + ", ".join(f'{{id = "{p}", period_s = 1}}' for p in points) + "]}]")  # fmt: skip
    with NodeOpcUaServer(field.tmp / "ua", {"namespaceUri": URI, "variables": tags}) as ua:
        sources = (
            f'[[sources.opcua]]\nname = "big"\nurl = "{ua.url}"\n'
            "sampling_interval_ms = 200\nnodes_per_subscription = 2\n\n" + nodes
        )
        agent = field.agent(field.site(sources, inventory)).start()
        try:
            await agent.connected("opcua:big")
            await agent.until(lambda: agent.metric("points_in_total") >= 600,
                              what="every tag flowing")  # fmt: skip
        finally:
            code = agent.stop()
    assert code == 0, agent.log()[-3000:]
    assert "BadTooManySubscriptions" not in agent.log(), agent.log()[-3000:]
    stored = await rows(field, "telemetry", element="big")
    assert {p.tags["point"] for p in stored} == set(points)
    assert all(p.fields["quality"] == 0 for p in stored)
