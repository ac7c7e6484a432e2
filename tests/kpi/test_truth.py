"""Every example scenario, backfilled into SQLite, DuckDB and a real influxd: every KPI the
engine computes equals the scenario's truth exactly, and every store gives identical results."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from kpi import Declarations, Evaluation, Window, evaluate, get_profile, row_counts
from kpi.evaluate import meets
from simulators import Backfill, Period, Scenario, compute_truth, load_scenario
from telemetry import DuckdbStore, SqliteStore, Store
from telemetry.localserver import LocalInfluxd
from tests.conftest import new_influx_store

#: scenario -> days of its evaluation window to use (None = all). The two largest
#: scenarios use their last days only, to keep the suite short.
CASES: dict[str, int | None] = {
    "fiveg-factory-pass": None,
    "fiveg-factory-fail": 10,
    "discrete-workshop": None,
    "process-plant": None,
    "identifier-node": None,
    "fiveg-pilot-100": 7,
    "improvement-case": None,
    "constant-tags": None,
    "industry-platform": None,
    "security-platform": None,
}

#: profiles that, between them, read every KPI the truth knows
PROFILES = (
    "miit2021-5g-factory",
    "ningbo-5g-pilot",
    "ningbo-discrete-workshop",
    "ningbo-process-workshop",
    "ningbo-identifier-node-platform",
    "miit2021-identifier-secondary-node",
    "miit2022-identifier-secondary-node",
    "miit2021-park-network",
    "miit2020-enterprise-intranet",
    "miit2020-enterprise-extranet",
    "miit2020-5g-intranet-retrofit",
    "ningbo-industry-platform",
    "ningbo-industry-platform-existing",
    "ningbo-shared-manufacturing-platform",
    "ningbo-security-service-platform",
    "ningbo-industrial-os-platform",
    "miit2022-identifier-application",
    "miit2020-identifier-secondary-node",
    "miit2020-identifier-enterprise-node",
    "miit2020-active-identifier-carrier",
    "miit2022-promotion-center-comprehensive",
    "promotion-center-comprehensive-national",
)


def profiles_for(kpis: set[str]) -> list[str]:
    """Few profiles of PROFILES that between them hold every one of `kpis` (a greedy set
    cover: each KPI is checked in at least one profile, not in every one that lists it);
    a key `kpi@profile` needs that profile."""
    holds = {p: {e.id for e in get_profile(p).entries()} for p in PROFILES}
    want = {k for k in kpis if "@" not in k}
    variants = [k.split("@", 1) for k in kpis if "@" in k]
    for kpi, p in variants:  # there, the KPI is checked against its own variant
        holds[p] = holds[p] - {kpi}
    chosen = sorted({p for _, p in variants})
    for p in chosen:
        want -= holds[p]
    while want:
        best = max(PROFILES, key=lambda p: (len(want & holds[p]), -PROFILES.index(p)))
        if not want & holds[best]:
            break  # left unchecked: the final assertion names them
        chosen.append(best)
        want -= holds[best]
    return chosen


def windows(s: Scenario, days: int | None) -> tuple[Period, Window, Window | None]:
    ev = s.evaluation
    start = ev.end - timedelta(days=days) if days else ev.start
    period = Period.model_validate({"from": start, "to": ev.end})
    base = Window(start=s.baseline.start, end=s.baseline.end) if s.baseline else None
    return period, Window(start=start, end=ev.end), base


async def backfill_both(s: Scenario, stores: list[Store], start: int, end: int) -> None:
    """Generate each day once and write it to every store at the same time."""
    gen = Backfill(s)
    for a, b in gen.days(start, end):
        blocks = list(gen.blocks(a, b))
        results = await asyncio.gather(*(st.write_blocks(blocks) for st in stores))
        assert all(not r.rejected for r in results), [r.rejected[:3] for r in results]


def declared(s: Scenario) -> Declarations:
    return Declarations.model_validate(
        {"declarations": {k: {"value": v, "attachment": "test"} for k, v in s.declared.items()}}
    )


@pytest.mark.parametrize("name", sorted(CASES))
async def test_every_kpi_equals_the_truth_on_every_store(
    name: str, tmp_path: Path, influxd: LocalInfluxd
) -> None:
    s = load_scenario(name)
    period, window, baseline = windows(s, CASES[name])
    truth = compute_truth(s, period)
    profiles = profiles_for(set(truth.values))
    sqlite = SqliteStore(tmp_path / "kpi.db")
    influx = await new_influx_store(influxd)
    duck = DuckdbStore(tmp_path / "kpi.duckdb")
    stores: list[Store] = [sqlite, influx, duck]
    try:
        # identifier registrations are cumulative since the history's start: write it all
        start = s.history().start_ns if (s.identifier or s.baseline) else window.start_ns
        await backfill_both(s, stores, start, window.end_ns)
        evals: dict[str, list[Evaluation]] = {}
        for st, label in ((sqlite, "sqlite"), (influx, "influx"), (duck, "duckdb")):
            evals[label] = [
                await evaluate(
                    p, window, st, s.inventory(), baseline=baseline, declarations=declared(s)
                )
                for p in profiles
            ]
    finally:
        await sqlite.close()
        await influx.close()
        await duck.close()

    checked: set[str] = set()
    for label, evs in evals.items():
        for ev in evs:
            for r in ev.results:
                # the rows a report marks as counted add up to the result's own counts
                marks = row_counts(r.method, r.breakdown.rows if r.breakdown else [])
                if marks is not None and r.numerator is not None:
                    n, d = sum(a for a, _ in marks), sum(b for _, b in marks)
                    assert (n, d) == (r.numerator, r.denominator), (label, r.id)
                key = f"{r.id}@{ev.profile}"
                key = key if key in truth.values else r.id
                t = truth.values.get(key)
                if t is None:
                    continue
                checked.add(key)
                assert r.value == t.value, (label, ev.profile, r.id, r.value, t.value, r.notes)
                if t.numerator is not None:
                    assert r.numerator == t.numerator, (label, r.id)
                if t.denominator is not None:
                    assert r.denominator == t.denominator, (label, r.id)
                # a value the truth knows is decided: the data covers the window (at each
                # measurement's cadence), so pass or fail as the threshold says
                if t.value is None:
                    assert r.verdict == "insufficient_data", (label, r.id)
                elif r.source == "measured":  # a composite also waits for declared parts
                    want = "pass" if meets(t.value, r.comparator, r.threshold) else "fail"
                    assert r.verdict == want, (label, ev.profile, r.id, r.verdict, r.notes)
    # no KPI of the truth was left unchecked by the profiles chosen
    assert checked == set(truth.values), set(truth.values) - checked

    for a, b, c in zip(evals["sqlite"], evals["influx"], evals["duckdb"], strict=True):
        assert comparable(a) == comparable(b) == comparable(c)


def comparable(ev: Evaluation) -> list[dict[str, object]]:
    """An evaluation without what names the store or the moment it ran."""
    return [r.model_dump(exclude={"queries"}) for r in ev.results]
