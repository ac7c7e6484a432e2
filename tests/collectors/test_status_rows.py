"""The agent's own rows at every status instant, on a fake clock."""

from __future__ import annotations

from pathlib import Path

from collectors import Agent, Samples
from collectors.config import Sources
from simulators import Scenario
from telemetry.timegrid import NS
from tests.collectors.conftest import site_config

T0 = 1_790_000_000 * NS


def test_element_status_is_written_at_every_instant_not_only_the_first(
    tmp_path: Path, types_scenario: Scenario
) -> None:
    """Regression: the agent's own element_status rows went through the pipeline's
    health observer, which took them for a network export and stopped writing them
    after the first instant."""
    config = site_config(tmp_path, types_scenario.inventory(), Sources(), status_interval_s=1)
    agent = Agent(config, drivers=[])
    agent.pipeline.reachable("mb-types", True)
    agent.pipeline.reachable("mq-01", False)
    last_status, last_health = T0, 0
    for k in range(1, 5):
        last_status, last_health = agent._tick(T0 + k * NS + 1, last_status, last_health)
        if k == 2:
            agent.pipeline.reachable("mb-types", False)
    status = agent.buffer.pending()
    # per instant: 2 element_status rows and 1 pp_agent row
    assert sum(status.values()) == 4 * 3, status
    rows = agent.health.status_points(T0 + 10 * NS)  # the tracker still reports both
    assert {(p.tags["element"], p.fields["online"]) for p in rows} == {
        ("mb-types", False), ("mq-01", False)
    }  # fmt: skip
    agent.buffer.close()


def test_point_health_counts_received_and_good_samples_per_interval(
    types_scenario: Scenario,
) -> None:
    """Counted from Samples (a poll) and Points alike; expected from the declared period;
    a sample stamped in an interval already reported is not counted again."""
    from collectors.health import HealthTracker
    from telemetry import Point

    inv = types_scenario.inventory()
    health = HealthTracker(inv, 60)
    health.track("mb-types", True)
    start = T0 - T0 % (60 * NS)
    for k in range(10):  # 10 polls of two points; the second bad every other poll
        s = Samples(start + k * NS)
        s.add("", ("mb-types", "int16_abcd"), 0, 1.0, {})
        s.add("", ("mb-types", "uint16_abcd"), 2 if k % 2 else 0, None, {})
        health.observe(s)
    tags = {"site": inv.site, "element": "mb-types", "point": "int16_dcba"}
    health.observe([Point("telemetry", tags, {"quality": 1, "value": 2.0}, start + NS)])
    rows = {p.tags["point"]: dict(p.fields) for p in health.health_points(start)}
    assert rows["int16_abcd"] == {"expected": 60, "received": 10, "good": 10}
    assert rows["uint16_abcd"] == {"expected": 60, "received": 10, "good": 5}
    assert rows["int16_dcba"] == {"expected": 60, "received": 1, "good": 0}
    assert rows["int32_abcd"] == {"expected": 60, "received": 0, "good": 0}
    late = Samples(start + 5 * NS)  # arrives after its interval was reported
    late.add("", ("mb-types", "int16_abcd"), 0, 1.0, {})
    health.observe(late)
    nxt = {p.tags["point"]: dict(p.fields) for p in health.health_points(start + 60 * NS)}
    assert nxt["int16_abcd"]["received"] == 0
