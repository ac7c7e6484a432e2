"""Point roles: counters become per-interval production rows, loop modes control_loop rows."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from collectors import Agent, PointRole
from collectors.roles import RoleMapper
from telemetry import DeclaredElement, DeclaredPoint, Inventory, Point, SqliteStore
from telemetry.localserver import LocalMosquitto
from tests.collectors.conftest import running, site_config, wait_for
from tests.collectors.test_resilience import Publisher, sources

S = 1_000_000_000


def sample(point: str, value: float, t: int, quality: int = 0) -> Point:
    return Point("telemetry", {"site": "lab", "element": "plc", "point": point},
                 {"value": value, "quality": quality}, t)  # fmt: skip


ROLES = (
    PointRole(element="plc", point="good", role="production.output", line="L1"),
    PointRole(element="plc", point="scrap", role="production.defects", line="L1"),
    PointRole(element="plc", point="mode", role="control_loop.auto", loop="FIC-101"),
)


def test_counters_become_increases_and_resets_are_handled() -> None:
    m = RoleMapper(ROLES, "lab")
    m.observe([sample("good", 100, 1), sample("scrap", 3, 1), sample("mode", 1, 1)])
    first = m.rows(60 * S)  # the first reading only sets the baseline
    assert [(p.measurement, dict(p.fields)) for p in first] == [("control_loop", {"auto": True})]
    m.observe([sample("good", 130, 61 * S), sample("scrap", 4, 61 * S), sample("mode", 0, 61 * S)])
    rows = {p.measurement: p for p in m.rows(120 * S)}
    assert rows["production"].fields == {"output": 30.0, "defects": 1.0}
    assert rows["production"].time_ns == 60 * S  # stamped with the interval's start
    assert rows["control_loop"].fields == {"auto": False}
    m.observe([sample("good", 5, 121 * S), sample("scrap", 9, 121 * S, quality=2)])
    rows = {p.measurement: p for p in m.rows(180 * S)}
    assert rows["production"].fields == {"output": 5.0}  # a reset: the new reading counts
    assert "control_loop" not in rows  # no fresh mode value: nothing claimed


def test_a_role_needs_its_target() -> None:
    with pytest.raises(ValueError, match="needs line"):
        PointRole(element="plc", point="good", role="production.output")


async def test_roles_reach_the_store_through_the_agent(
    tmp_path: Path, mosquitto: LocalMosquitto
) -> None:
    points = tuple(DeclaredPoint(id=p, period_s=1) for p in ("good", "mode"))
    inv = Inventory(
        site="lab",
        elements=(DeclaredElement(id="plc", kind="controller", link="wired", points=points),),
    )
    config = site_config(tmp_path, inv, sources(mosquitto.url, "pp-roles"),
                         status_interval_s=1).model_copy(update={"roles": ROLES[::2]})  # fmt: skip
    store = SqliteStore(tmp_path / "store.db")
    agent = Agent(config, store=store)
    pub = Publisher(mosquitto.url)
    try:
        async with running(agent):
            await wait_for(lambda: agent.metrics.connected.get("mqtt:mqtt") == 1)
            for k in range(4):
                body = {"ts": 1_790_000_000_000 + k, "values": {"good": 100 + 10 * k, "mode": 1}}
                pub.client.publish("factory/lab/plc/telemetry", json.dumps(body), qos=1)
                await asyncio.sleep(1.05)
        production = await store.read("production", 0, 2**62)
        assert sum(p.fields["output"] for p in production) == pytest.approx(10 * (len(production)))
        assert production, "no production rows"
        loops = await store.read("control_loop", 0, 2**62)
        assert loops
        assert all(p.fields["auto"] is True for p in loops)
    finally:
        pub.close()
        await store.close()
