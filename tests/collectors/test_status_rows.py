"""The agent's own rows at every status instant, on a fake clock."""

from __future__ import annotations

from pathlib import Path

from collectors import Agent
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
