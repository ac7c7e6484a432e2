"""Half-open integer intervals `[start, end)` in UTC nanoseconds, and sample grids on them.

Truth and the generators count samples arithmetically ("how many grid instants fall in
these offline periods") instead of walking every sample: a month of 1 Hz points is
2.6 million instants per point.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

# the grid itself lives in telemetry (the agent and the KPI engine count on it too)
from telemetry.timegrid import (
    NS as NS,
    ceil_div as ceil_div,
    grid as grid,
    grid_count as grid_count,
)

Interval = tuple[int, int]


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """The union as sorted, disjoint intervals."""
    out: list[Interval] = []
    for s, e in sorted(i for i in intervals if i[1] > i[0]):
        if out and s <= out[-1][1]:
            if e > out[-1][1]:
                out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


def clip(intervals: Iterable[Interval], start: int, end: int) -> list[Interval]:
    return [(max(s, start), min(e, end)) for s, e in intervals if s < end and e > start]


def grid_count_in(intervals: Iterable[Interval], start: int, end: int, step: int) -> int:
    """Grid instants in `[start, end)` that fall inside the (merged) intervals."""
    return sum(grid_count(s, e, step) for s, e in clip(merge(intervals), start, end))


def contains(intervals: list[Interval], t: int) -> bool:
    """Whether `t` lies in one of the sorted disjoint `intervals`."""
    lo, hi = 0, len(intervals)
    while lo < hi:
        mid = (lo + hi) // 2
        if intervals[mid][1] <= t:
            lo = mid + 1
        else:
            hi = mid
    return lo < len(intervals) and intervals[lo][0] <= t


def to_ns(d: datetime) -> int:
    delta = d - datetime(1970, 1, 1, tzinfo=ZoneInfo("UTC"))
    return (delta.days * 86400 + delta.seconds) * NS + delta.microseconds * 1000


def local_midnight_ns(day: date, tz: ZoneInfo) -> int:
    return to_ns(datetime.combine(day, time(0), tzinfo=tz))


def local_days(start: int, end: int, tz: ZoneInfo) -> list[date]:
    """Local calendar days that overlap `[start, end)`."""
    first = datetime.fromtimestamp(start / NS, tz).date()
    last = datetime.fromtimestamp((end - 1) / NS, tz).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def daily(
    windows: Iterable[tuple[time, time]], start: int, end: int, tz: ZoneInfo
) -> list[Interval]:
    """Absolute intervals of local-time windows repeated each day, clipped to `[start, end)`.

    A window whose end is not after its start wraps midnight (22:00 → 02:00).
    """
    out: list[Interval] = []
    days = local_days(start - 86400 * NS, end + 86400 * NS, tz)
    for w_start, w_end in windows:
        for d in days:
            s = to_ns(datetime.combine(d, w_start, tzinfo=tz))
            e_day = d if w_end > w_start else d + timedelta(days=1)
            e = to_ns(datetime.combine(e_day, w_end, tzinfo=tz))
            out.append((s, e))
    return clip(merge(out), start, end)
