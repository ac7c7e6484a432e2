"""The agent's own rows — element_status and point_health — on a fake clock."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings, strategies as st

from collectors import Agent, Samples, Sources
from collectors.health import HealthTracker
from simulators import Scenario
from telemetry import DeclaredElement, DeclaredPoint, Inventory, Point
from telemetry.timegrid import NS
from tests.collectors.conftest import site_config

T0 = 1_790_000_000 * NS
H = 60  # health interval, s
START = T0 - T0 % (H * NS)
INV = Inventory(
    site="lab",
    elements=(
        DeclaredElement(id="press", kind="machine", link="5g", points=(
            DeclaredPoint(id="force", period_s=1), DeclaredPoint(id="temp", period_s=10),
            DeclaredPoint(id="by_hand", period_s=60, collection="manual"))),
        DeclaredElement(id="meter", kind="instrument", link="wired", points=(
            DeclaredPoint(id="kwh", period_s=1),)),
    ),
)  # fmt: skip


class Clock:
    def __init__(self, t: int) -> None:
        self.t = t

    def __call__(self) -> int:
        return self.t


def sample(t: int, element: str, point: str, q: int = 0) -> list[Point]:
    fields: dict[str, float | int] = {"quality": q}
    if q < 2:
        fields["value"] = 1.0
    return [Point("telemetry", {"site": "lab", "element": element, "point": point}, fields, t)]


def rows(health: HealthTracker, start: int = START) -> dict[tuple[str, str], dict[str, int]]:
    return {
        (p.tags["element"], p.tags["point"]): dict(p.fields)  # type: ignore[misc]
        for p in health.health_points(start)
    }


def test_element_status_is_written_at_every_instant_not_only_the_first(
    tmp_path: Path, types_scenario: Scenario
) -> None:
    """Regression: the agent's own element_status rows went through the pipeline's
    health observer, which took them for a network export and stopped writing them
    after the first instant."""
    config = site_config(tmp_path, types_scenario.inventory(), Sources(), status_interval_s=1)
    agent = Agent(config, drivers=[])
    agent.health.reachable("mb-types", True)
    agent.health.track("mq-01")
    last_status, last_health = T0, 0
    for k in range(1, 5):
        last_status, last_health = agent._tick(T0 + k * NS + 1, last_status, last_health)
        if k == 2:
            agent.health.reachable("mb-types", False)
    status = agent.buffer.pending()
    # per instant: 2 element_status rows and 1 pp_agent row
    assert sum(status.values()) == 4 * 3, status
    rows = agent.health.status_points(T0 + 10 * NS)  # the tracker still reports both
    assert {(p.tags["element"], p.fields["online"]) for p in rows} == {
        ("mb-types", False), ("mq-01", False)
    }  # fmt: skip
    agent.buffer.close()


def test_an_outage_inside_an_interval_makes_it_offline() -> None:
    """Online means up through the whole interval: a drop of a few seconds between two
    instants shows at the next one, and an element still down stays offline; one that
    was never up yet (no round yet) is offline without counting as lost."""
    clock = Clock(T0)
    health = HealthTracker(INV, H, clock=clock)
    health.track("press")
    health.track("meter")
    health.reachable("press", True)

    def online(t: int) -> dict[str, bool]:
        return {str(p.tags["element"]): bool(p.fields["online"]) for p in health.status_points(t)}

    assert online(T0 + 60 * NS) == {"press": True, "meter": False}
    health.reachable("meter", True)  # its first round, mid-interval: not a loss
    health.reachable("press", False)  # 14 s outage, inside the next interval
    health.reachable("press", True)
    assert online(T0 + 120 * NS) == {"press": False, "meter": True}
    assert online(T0 + 180 * NS) == {"press": True, "meter": True}
    health.reachable("meter", False)
    assert online(T0 + 240 * NS) == {"press": True, "meter": False}
    assert online(T0 + 300 * NS) == {"press": True, "meter": False}  # still down


def test_polled_points_count_slots_received_and_good() -> None:
    """Counted from Samples (a poll) and Points alike, in slots of the declared period:
    two samples in one slot count once, a bad one is received but not good, a sample in
    a slot already counted (late) is not counted again."""
    health = HealthTracker(INV, H)
    health.track("press")
    for k in range(10):  # 10 polls, 1 s apart: force good, temp bad every other poll
        s = Samples(START + k * NS)
        s.add("", ("press", "force"), 0, 1.0, {})
        s.add("", ("press", "temp"), 2 if k % 2 else 0, None, {})
        health.observe(s)
        health.observe(Samples(START + k * NS + NS // 2, keys=[("press", "force")],
                               qualities=[0], values=[1.0], lines=[""], tags=[{}]))  # fmt: skip
    health.observe(sample(START + 30 * NS, "press", "temp", q=1))
    got = rows(health)
    assert got[("press", "force")] == {"expected": 60, "received": 10, "good": 10}
    # temp (10 s slots): slot 0 holds samples 0..9, the last (9) bad; slot 3 uncertain
    assert got[("press", "temp")] == {"expected": 6, "received": 2, "good": 0}
    assert ("press", "by_hand") not in got  # manual points have no health row
    health.observe(sample(START + 5 * NS, "press", "force"))  # late: its interval is closed
    nxt = rows(health, START + H * NS)
    assert nxt[("press", "force")]["received"] == 0


def test_a_constant_value_under_report_by_exception_is_received() -> None:
    """Regression: an OPC UA tag that stays 3 (good, server alive) sends one value and
    then nothing; it counted as received 0. Held: every slot while the source is alive
    and its last value good counts; an outage's slots do not; a bad value is not held."""
    clock = Clock(START)
    health = HealthTracker(INV, H, clock=clock)
    health.track("press", held=True)
    health.reachable("press", True)
    health.observe(sample(START - 300 * NS, "press", "force"))  # long before: held since
    health.observe(sample(START + 20 * NS, "press", "temp"))  # temp's first value: slot 2
    got = rows(health)
    assert got[("press", "force")] == {"expected": 60, "received": 60, "good": 60}
    assert got[("press", "temp")] == {"expected": 6, "received": 4, "good": 4}
    # the next interval: an outage of 14 s (last proof at +100 s, back at +114 s)
    clock.t = START + 114 * NS
    health.reachable("press", False, since_ns=START + 100 * NS)
    health.reachable("press", True)
    health.observe(sample(START + 114 * NS, "press", "force"))  # the re-sent value
    health.observe(sample(START + 115 * NS, "press", "temp", q=2))  # now bad: not held
    got = rows(health, START + H * NS)
    # force: slots 60..99 held, 100..113 touched by the outage, 114 sampled, 115..119 held
    assert got[("press", "force")] == {"expected": 60, "received": 46, "good": 46}
    # temp: slots 6..9 (60..99 s) held; 10 (100..109 s) in the outage; 11 has the bad sample
    assert got[("press", "temp")] == {"expected": 6, "received": 5, "good": 4}
    got = rows(health, START + 2 * H * NS)
    assert got[("press", "temp")] == {"expected": 6, "received": 0, "good": 0}
    assert got[("press", "force")] == {"expected": 60, "received": 60, "good": 60}


def test_a_held_point_stops_being_received_while_its_source_is_down() -> None:
    clock = Clock(START)
    health = HealthTracker(INV, H, clock=clock)
    health.track("press", held=True)
    health.reachable("press", True)
    health.observe(sample(START, "press", "force"))
    health.reachable("press", False, since_ns=START + 30 * NS)
    got = rows(health)
    assert got[("press", "force")] == {"expected": 60, "received": 30, "good": 30}
    assert rows(health, START + H * NS)[("press", "force")]["received"] == 0


@settings(max_examples=300, deadline=None)
@given(
    events=st.lists(
        st.tuples(
            st.integers(0, 3 * H - 1),  # second of the sample
            st.sampled_from([0, 0, 0, 1, 2]),  # its quality
            st.booleans(),  # an outage after it?
        ),
        max_size=40,
    ),
    held=st.booleans(),
)
def test_counts_never_exceed_what_can_be(events: list[tuple[int, int, bool]], held: bool) -> None:
    """Whatever arrives, in whatever order, with outages anywhere: 0 <= good <= received
    <= expected in every interval, and a point never heard from is never received."""
    clock = Clock(START)
    health = HealthTracker(INV, H, clock=clock)
    health.track("press", held=held)
    health.reachable("press", True)
    for second, q, outage in events:
        clock.t = START + second * NS
        health.observe(sample(clock.t, "press", "force", q))
        if outage:
            health.reachable("press", False, since_ns=clock.t)
            clock.t += 3 * NS
            health.reachable("press", True)
    for k in range(3):
        got = rows(health, START + k * H * NS)
        for (_element, point), f in got.items():
            assert 0 <= f["good"] <= f["received"] <= f["expected"], (point, f)
            if point == "temp":
                assert f["received"] == 0


def test_a_sample_from_the_future_is_not_counted_and_blocks_nothing() -> None:
    """Regression: one MQTT sample stamped a day ahead held the point's slot there, and
    every sample after it looked late: received fell to 0 while values were stored."""
    clock = Clock(START)
    health = HealthTracker(INV, H, clock=clock)
    health.track("press", push=True)
    health.observe(sample(START + 86400 * NS, "press", "force"))  # a wrong clock, once
    for k in range(10):
        clock.t = START + k * NS
        health.observe(sample(clock.t, "press", "force"))
    assert rows(health)[("press", "force")] == {"expected": 60, "received": 10, "good": 10}


def test_a_network_export_speaks_for_its_element_only_while_it_keeps_coming() -> None:
    """Regression: after one NMS status export the agent never wrote that element's
    status again, even when the exports stopped."""
    clock = Clock(T0)
    health = HealthTracker(INV, H, clock=clock, status_interval_s=60)
    health.reachable("press", True)
    export = Point("element_status", {"site": "lab", "element": "press", "kind": "machine",
                                      "link": "5g"}, {"online": True}, T0)  # fmt: skip
    health.observe([export])
    clock.t = T0 + 60 * NS
    assert health.status_points(clock.t) == []  # the export speaks for it
    clock.t = T0 + 4 * 60 * NS  # no export for three intervals: the agent's view again
    (row,) = health.status_points(clock.t)
    assert row.tags["element"] == "press"
    assert row.fields["online"] is True
