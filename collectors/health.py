"""`element_status` and `point_health` derived from what the drivers saw (DESIGN.md).

* `element_status` at every status instant `k × status_interval_s`, for every element a
  driver reads: `online` is the driver's view (the last poll answered, the OPC UA session
  is up and the element's values are not BadNotConnected, an MQTT message arrived in the
  interval); `link` is the declared link. Elements whose status comes from a network
  export (MQTT `status` format: 5G NMS/CPE) are left to that export.
* `point_health` per health interval, stamped with the interval's start, for every
  declared automatic point of those elements: `expected` from the declared period,
  `received` samples accepted, `good` those of good quality.
"""

from __future__ import annotations

import threading
from collections import Counter, defaultdict

from collectors.samples import Accepted, Samples
from telemetry import Inventory, Point
from telemetry.timegrid import NS, grid_count


class HealthTracker:
    def __init__(self, inventory: Inventory, health_interval_s: int) -> None:
        self.inventory = inventory
        self.site = inventory.site
        self.health_ns = health_interval_s * NS
        self._lock = threading.Lock()
        self._elements = {e.id: e for e in inventory.elements}
        self._reachable: dict[str, bool] = {}
        self._heard: set[str] = set()  # elements heard from since the last status instant
        self._exported: set[str] = set()  # elements whose status a network export gives
        self._push: set[str] = set()  # elements online when heard from (MQTT)
        # interval start -> (element, point) -> samples received, and those of good
        # quality; Counters, whose update() counts a poll's keys in C
        self._received: dict[int, Counter[tuple[str, str]]] = defaultdict(Counter)
        self._good: dict[int, Counter[tuple[str, str]]] = defaultdict(Counter)

    def track(self, element: str, reachable: bool | None = None) -> None:
        """A driver reads `element`; `reachable` is its current view. `None`: a push
        source (MQTT), online in an interval when heard from in it."""
        with self._lock:
            if reachable is None:
                self._push.add(element)
                self._reachable.setdefault(element, False)
            else:
                self._reachable[element] = reachable

    def observe(self, points: Accepted) -> None:
        """Count accepted samples; note elements heard from and network status exports."""
        if isinstance(points, Samples):
            self._observe_samples(points)
            return
        with self._lock:
            for p in points:
                element = p.tags.get("element")
                if element is None:
                    continue
                if p.measurement == "telemetry":
                    self._heard.add(element)
                    start = p.time_ns - p.time_ns % self.health_ns
                    key = (element, p.tags.get("point", ""))
                    self._received[start][key] += 1
                    if p.fields.get("quality", 0) == 0:
                        self._good[start][key] += 1
                elif p.measurement == "element_status":
                    self._exported.add(element)

    def _observe_samples(self, s: Samples) -> None:
        start = s.t_ns - s.t_ns % self.health_ns
        keys, qualities = s.keys, s.qualities
        with self._lock:
            self._received[start].update(keys)
            if qualities.count(0) == len(qualities):  # the usual case: all good
                self._good[start].update(keys)
            else:
                self._good[start].update(k for k, q in zip(keys, qualities, strict=True) if q == 0)
            self._heard.update({element for element, _ in keys})

    def status_points(self, t_ns: int) -> list[Point]:
        """element_status at instant `t_ns` for every tracked element not exported."""
        with self._lock:
            out = []
            for element, reachable in sorted(self._reachable.items()):
                if element in self._exported:
                    continue
                e = self._elements.get(element)
                online = reachable or (element in self._push and element in self._heard)
                out.append(
                    Point(
                        "element_status",
                        {
                            "site": self.site,
                            "element": element,
                            "kind": e.kind if e else "machine",
                            "link": e.link if e else "wired",
                        },
                        {"online": online},
                        t_ns,
                    )
                )
            self._heard.clear()
            return out

    def health_points(self, start_ns: int) -> list[Point]:
        """point_health of the interval starting at `start_ns` (call once it has ended)."""
        end = start_ns + self.health_ns
        with self._lock:
            out = []
            received_in = self._received.get(start_ns, Counter())
            good_in = self._good.get(start_ns, Counter())
            for element in sorted(self._reachable):
                e = self._elements.get(element)
                if e is None:
                    continue
                for p in e.points:
                    if p.collection == "manual":
                        continue
                    received = received_in[(element, p.id)]  # a Counter: 0 when absent
                    good = good_in[(element, p.id)]
                    out.append(
                        Point(
                            "point_health",
                            {"site": self.site, "element": element, "point": p.id},
                            {
                                "expected": grid_count(start_ns, end, int(p.period_s * NS)),
                                "received": received,
                                "good": good,
                            },
                            start_ns,
                        )
                    )
            # samples stamped before this interval that arrived late are dropped from
            # the counts (their points are stored; only the health tally is closed)
            for counts in (self._received, self._good):
                for start in [t for t in counts if t <= start_ns]:
                    del counts[start]
            return out
