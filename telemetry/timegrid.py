"""Time on the grid the data contract uses: UTC nanoseconds and instants `k × step`.

Status rows sit at `k × status_interval`, health rows at `k × health_interval`; the
simulators generate on this grid, the agent writes on it and the KPI engine counts it,
so all three share these few lines.
"""

from __future__ import annotations

NS = 1_000_000_000


def ceil_div(a: int, b: int) -> int:
    return -((-a) // b)


def grid_count(start: int, end: int, step: int) -> int:
    """How many instants `k*step` (k integer) lie in `[start, end)`."""
    if end <= start:
        return 0
    return max(0, ceil_div(end, step) - ceil_div(start, step))


def grid(start: int, end: int, step: int) -> range:
    """The instants `k*step` in `[start, end)`."""
    return range(ceil_div(start, step) * step, end, step)
