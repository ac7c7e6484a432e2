"""Point roles: raw points turned into the KPI measurements at every status instant.

* `production.*` — a running counter (parts made, defects, kWh, runtime seconds): the
  `production` row holds its increase since the previous instant, stamped with the
  interval's start. A smaller reading than before is a counter reset, and then the new
  reading is the increase.
* `control_loop.auto` — the loop's mode point (non-zero = AUTO/CAS): one `control_loop`
  row per instant while the point has a fresh good value.
* `identifier.*` — running counts of an identifier node, like production counters.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from typing import Literal

from pydantic import Field, model_validator

from collectors.samples import Accepted, Samples
from collectors.settings import Settings
from telemetry import Point


class PointRole(Settings):
    """A raw point that feeds a KPI measurement, e.g. "this register is line 2's good-part
    counter". Counters are read as running totals; the agent writes the increase per
    status interval (a decrease is a counter reset: the new value is the increase)."""

    element: str
    point: str
    role: Literal[
        "production.output",
        "production.defects",
        "production.energy_kwh",
        "production.runtime_s",
        "control_loop.auto",
        "identifier.resolutions",
        "identifier.registrations",
    ]
    line: str | None = Field(default=None, description="production roles: the line id")
    loop: str | None = Field(default=None, description="control_loop.auto: the loop id")
    node: str | None = Field(default=None, description="identifier roles: the node")
    enterprise: str | None = Field(default=None, description="identifier roles")

    @model_validator(mode="after")
    def _target(self) -> PointRole:
        need = {"production": ("line",), "control_loop": ("loop",),
                "identifier": ("node", "enterprise")}[self.role.split(".")[0]]  # fmt: skip
        missing = [k for k in need if not getattr(self, k)]
        if missing:
            raise ValueError(f"role {self.role!r} needs {' and '.join(missing)}")
        return self


class RoleMapper:
    def __init__(self, roles: tuple[PointRole, ...], site: str) -> None:
        self.site = site
        self._by_point: dict[tuple[str, str], list[PointRole]] = defaultdict(list)
        for r in roles:
            self._by_point[(r.element, r.point)].append(r)
        self._lock = threading.Lock()
        self._latest: dict[tuple[str, str], float] = {}  # good values since the last instant
        self._previous: dict[tuple[str, str], float] = {}  # counter reading at last instant
        self._last_instant: int | None = None

    def observe(self, points: Accepted) -> None:
        if not self._by_point:
            return
        if isinstance(points, Samples):
            with self._lock:
                by_point, latest = self._by_point, self._latest
                for key, q, v in zip(points.keys, points.qualities, points.values, strict=True):
                    if q == 0 and type(v) is float and key in by_point:
                        latest[key] = v
            return
        with self._lock:
            for p in points:
                if p.measurement != "telemetry":
                    continue
                key = (p.tags.get("element", ""), p.tags.get("point", ""))
                value = p.fields.get("value")
                good = p.fields.get("quality") == 0 and isinstance(value, int | float)
                if key in self._by_point and good:
                    self._latest[key] = float(value)  # type: ignore[arg-type]

    def rows(self, t_ns: int) -> list[Point]:
        """The KPI rows of the interval ending at status instant `t_ns`."""
        with self._lock:
            start = self._last_instant
            self._last_instant = t_ns
            latest, self._latest = self._latest, {}
            production: dict[str, dict[str, float]] = defaultdict(dict)
            identifier: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
            out = []
            for key, roles in self._by_point.items():
                value = latest.get(key)
                if value is None:
                    continue
                for r in roles:
                    kind, field = r.role.split(".")
                    if kind == "control_loop":
                        assert r.loop is not None
                        out.append(Point("control_loop", {"site": self.site, "loop": r.loop},
                                         {"auto": value != 0}, t_ns))  # fmt: skip
                        continue
                    before = self._previous.get(key)
                    self._previous[key] = value
                    if before is None or start is None:
                        continue  # the first reading only sets the baseline
                    increase = value - before if value >= before else value
                    if kind == "production":
                        assert r.line is not None
                        production[r.line][field] = increase
                    else:
                        assert r.node is not None
                        assert r.enterprise is not None
                        identifier[(r.node, r.enterprise)][field] = int(increase)
            if start is not None:
                for line, fields in production.items():
                    out.append(Point("production", {"site": self.site, "line": line}, fields,
                                     start))  # fmt: skip
                for (node, ent), counts in identifier.items():
                    out.append(Point("identifier", {"site": self.site, "node": node,
                                                    "enterprise": ent}, counts, start))  # fmt: skip
            return out
