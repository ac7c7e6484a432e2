"""What the store says about elements and data coverage, shared by several KPIs.

An element is online in a window if it was reported online in at least
`min_online_fraction` of the window's status intervals; its observed link is the link of
most online intervals (a tie goes to the tied link it was seen online on last). Both are
two aggregates per window, whatever the number of rows stored.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any, Literal

from pydantic import BaseModel

from kpi.params import KpiParams
from kpi.queries import QueryLog
from kpi.results import Coverage, Gap, Window, ns_to_iso
from telemetry import Aggregate, AggregateFn, FixedBuckets, Inventory, LocalDays
from telemetry.schema import MEASUREMENTS
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
    "security_event": "disposition",
    "coverage_sample": "signal_dbm",
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


async def coverage(
    log: QueryLog,
    measurement: str,
    window: Window,
    tz: str = "UTC",
    cadence: Literal["hour", "day", "event"] | None = None,
) -> Coverage:
    """Hours of the window with at least one row of `measurement`, and the gaps between,
    counted at `cadence` (default the measurement's): an hour; a complete local day of
    `tz` (a day with its report counts all its hours; the partial days at the window's
    edges are not counted, as the daily KPIs judge complete days only); or the whole
    window (events: one is enough to show the source writes)."""
    a, b = window.start_ns, window.end_ns
    cadence = cadence or MEASUREMENTS[measurement].cadence
    first = a - a % HOUR_NS
    if cadence == "event":
        spans = [(first, b)]
        buckets: FixedBuckets | LocalDays | None = None
    elif cadence == "day":
        days = LocalDays(tz=tz).boundaries(a, b)
        spans = [(lo, hi) for lo, hi in days if lo >= a and hi <= b]
        buckets = LocalDays(tz=tz)
    else:
        spans = [(h, h + HOUR_NS) for h in range(first, b, HOUR_NS)]
        buckets = FixedBuckets(every_ns=HOUR_NS)
    df = await log.aggregate(
        Aggregate.over(window, measurement, PRESENCE_FIELD[measurement], "count", buckets=buckets)
    )
    if buckets is None:
        have = {first} if len(df) and int(df["value"].iloc[0]) > 0 else set()
    else:
        have = {int(t) for t, n in zip(df["time"], df["value"], strict=True) if int(n) > 0}

    def hours_in(lo: int, hi: int) -> int:
        """Hours of the window's hourly grid (first + k·HOUR, below the end) in [lo, hi)."""
        lo, hi = max(lo, first), min(hi, b)
        if hi <= lo:
            return 0
        return -(-(hi - first) // HOUR_NS) + (-(lo - first) // HOUR_NS)

    gaps: list[Gap] = []
    run: list[tuple[int, int]] = []
    for span in [*spans, None]:
        if span is not None and span[0] not in have:
            run.append(span)
            continue
        if run:
            gaps.append(
                Gap(
                    start=ns_to_iso(max(run[0][0], a)),
                    end=ns_to_iso(min(run[-1][1], b)),
                    hours=sum(hours_in(lo, hi) for lo, hi in run),
                )
            )
            run = []
    return Coverage(
        measurement=measurement,
        window=window,
        hours=sum(hours_in(lo, hi) for lo, hi in spans),
        hours_with_data=sum(hours_in(lo, hi) for lo, hi in spans if lo in have),
        gaps=gaps,
    )
