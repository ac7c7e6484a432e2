"""What the store says about elements and data coverage, shared by several KPIs.

An element is online in a window if it was reported online in at least
`min_online_fraction` of the window's status intervals; its observed link is the link of
most online intervals (a tie goes to the tied link it was seen online on last). Both are
two aggregates per window, whatever the number of rows stored.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from pydantic import BaseModel

from kpi.params import KpiParams
from kpi.queries import QueryLog
from kpi.results import Coverage, Gap, Window, ns_to_iso
from telemetry import Aggregate, AggregateFn, FixedBuckets, Inventory
from telemetry.timegrid import NS, grid_count

HOUR_NS = 3600 * NS

#: the field counted to see whether a measurement has data in an hour
PRESENCE_FIELD = {
    "element_status": "online",
    "point_health": "expected",
    "control_loop": "auto",
    "identifier": "resolutions",
    "production": "output",
    "telemetry": "value",
    "platform_counter": "value",
    "service_probe": "ok",
    "report_upload": "acked",
}


class ElementObservation(BaseModel):
    element: str
    declared: bool
    online_intervals: int
    expected_intervals: int
    links: dict[str, int]
    observed_link: str | None
    online: bool


def _online_per_link(window: Window, fn: AggregateFn, **options: Any) -> Aggregate:
    """`fn` of the online status samples, per element and link."""
    return Aggregate.over(
        window,
        "element_status",
        "online",
        fn,
        group_by=("element", "link"),
        field_equals=True,
        **options,
    )


async def observe_elements(
    log: QueryLog, inventory: Inventory, params: KpiParams, window: Window
) -> dict[str, ElementObservation]:
    a, b = window.start_ns, window.end_ns
    step = inventory.status_interval_s * NS
    expected = grid_count(a, b, step)
    counts = await log.aggregate(_online_per_link(window, "count"))
    links: dict[str, dict[str, int]] = {}
    for element, link, n in counts.itertuples(index=False):
        links.setdefault(str(element), {})[str(link)] = int(n)
    last_seen = await _last_seen_of_ties(log, links, window)
    declared = {e.id for e in inventory.elements}
    out: dict[str, ElementObservation] = {}
    for element in sorted(declared | set(links)):
        seen = links.get(element, {})
        online_n = sum(seen.values())
        observed = (
            max(seen, key=lambda k: (seen[k], last_seen.get((element, k), 0))) if seen else None
        )
        out[element] = ElementObservation(
            element=element,
            declared=element in declared,
            online_intervals=online_n,
            expected_intervals=expected,
            links=seen,
            observed_link=observed,
            online=bool(expected) and Fraction(online_n, expected) >= params.min_online_fraction,
        )
    return out


async def _last_seen_of_ties(
    log: QueryLog, links: dict[str, dict[str, int]], window: Window
) -> dict[tuple[str, str], int]:
    """When each element was last seen online on each of its tied links (rarely needed)."""
    tied = [
        e
        for e, seen in links.items()
        if len(seen) > 1 and sorted(seen.values())[-1] == sorted(seen.values())[-2]
    ]
    if not tied:
        return {}
    df = await log.aggregate(
        _online_per_link(window, "last", where={"element": tuple(sorted(tied))}, keep_time=True)
    )
    return {(str(e), str(k)): int(t) for e, k, t, _ in df.itertuples(index=False)}


async def coverage(log: QueryLog, measurement: str, window: Window) -> Coverage:
    """Hours of the window with at least one row of `measurement`, and the gaps between."""
    a, b = window.start_ns, window.end_ns
    df = await log.aggregate(
        Aggregate.over(
            window,
            measurement,
            PRESENCE_FIELD[measurement],
            "count",
            buckets=FixedBuckets(every_ns=HOUR_NS),
        )
    )
    have = {int(t) for t in df["time"]}
    first = a - a % HOUR_NS
    hours = list(range(first, b, HOUR_NS))
    gaps: list[Gap] = []
    run: list[int] = []
    for h in [*hours, None]:
        if h is not None and h not in have:
            run.append(h)
            continue
        if run:
            gaps.append(
                Gap(
                    start=ns_to_iso(max(run[0], a)),
                    end=ns_to_iso(min(run[-1] + HOUR_NS, b)),
                    hours=len(run),
                )
            )
            run = []
    return Coverage(
        measurement=measurement,
        window=window,
        hours=len(hours),
        hours_with_data=sum(1 for h in hours if h in have),
        gaps=gaps,
    )
