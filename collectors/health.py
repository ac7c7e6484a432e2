"""`element_status` and `point_health` derived from what the drivers saw (DESIGN.md).

**element_status**, at every status instant `k × status_interval_s`, for every element a
driver reads: `online` when the driver's view was *up through the whole interval* —
up at the instant and not lost at any moment since the previous one, so an outage of a
few seconds shows in the interval it happened in. A push source's element (MQTT) is
online when heard from in the interval. Elements whose status a network export gives
(MQTT `status` format: 5G NMS/CPE) are left to that export while it keeps coming (one
within the last three status intervals). The `link` is the declared one.

**point_health**, per health interval, stamped with the interval's start, for every
declared automatic point of those elements. Counts are of *slots*: the point's grid of
its declared `period_s` (`expected` = how many grid instants the interval holds). A slot

* is **received** when a sample arrived in it, or — for a source that reports by
  exception (an OPC UA subscription: `track(held=True)`) — when the point's last value
  had good status and the source stayed alive through the whole slot (a constant tag is
  collected, not missing);
* is **good** when the last value known in it has good status.

A bad-status sample is received but not good; a slot whose source was down is neither;
silence is never good. Several samples in one slot count once, so polling faster than
the declared period does not hide a gap elsewhere; a sample stamped in a slot already
counted (late, out of order) is stored but not counted again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from collectors.samples import Accepted, Samples
from telemetry import Inventory, Point
from telemetry.timegrid import NS, ceil_div, grid_count

Key = tuple[str, str]
#: a sample stamped further ahead of the agent's clock is stored but not counted: one
#: wrong timestamp would otherwise hold a point's slots in the future, and every sample
#: after it would look late
FUTURE_NS = 300 * NS
#: a network status export speaks for its element while one arrived within this many
#: status intervals; after that the agent writes the element's status itself again
EXPORT_FRESH_INTERVALS = 3


@dataclass(slots=True)
class _Point:
    """A declared point's slot state: the latest slot seen and the quality last known."""

    period: int  # ns
    held: bool  # its source reports by exception
    slot: int = -1  # slot index (t // period) of the latest sample, or of the last held slot
    q: int = 2  # quality of the latest value known (2 before any)
    done: bool = True  # `slot` is already counted
    cell: list[int] = field(default_factory=lambda: [0, 0])  # [received, good] of the
    cell_last: int = -1  # … interval holding slots up to this one


class HealthTracker:
    def __init__(
        self,
        inventory: Inventory,
        health_interval_s: int,
        *,
        clock: Callable[[], int] = time.time_ns,
        status_interval_s: int = 60,
    ) -> None:
        self.inventory = inventory
        self.site = inventory.site
        self.health_ns = health_interval_s * NS
        self.status_ns = status_interval_s * NS
        self.clock = clock
        self._lock = threading.Lock()
        self._elements = {e.id: e for e in inventory.elements}
        self._periods: dict[Key, int] = {
            (e.id, p.id): int(p.period_s * NS)
            for e in inventory.elements
            for p in e.points
            if p.collection == "auto"
        }
        self._tracked: set[str] = set()
        self._up: dict[str, bool] = {}
        self._dropped: set[str] = set()  # lost at some moment since the last status instant
        self._outages: dict[str, list[list[int | None]]] = {}  # [start, end or None]
        self._heard: set[str] = set()  # push elements heard from since the last instant
        # elements whose status a network export gives → when the last export arrived
        # (our clock): the agent leaves them to it while it keeps coming
        self._exported: dict[str, int] = {}
        self._push: set[str] = set()
        self._held: set[str] = set()
        self._points: dict[Key, _Point] = {}
        # interval start → key → [received, good]; closed intervals are not counted into
        self._counts: dict[int, dict[Key, list[int]]] = {}
        self._closed_before = -1  # intervals starting before this are closed

    # --- what drivers report --------------------------------------------------------

    def track(self, element: str, *, push: bool = False, held: bool = False) -> None:
        """A driver reads `element` (see `collectors.driver.Sink.track`)."""
        with self._lock:
            self._tracked.add(element)
            self._up.setdefault(element, False)
            if push:
                self._push.add(element)
            if held:
                self._held.add(element)
                for key, st in self._points.items():
                    if key[0] == element:
                        st.held = True

    def reachable(self, element: str, up: bool, *, since_ns: int | None = None) -> None:
        """The driver's view of `element`; `since_ns`: when it was last known alive."""
        with self._lock:
            self._tracked.add(element)
            was = self._up.get(element, False)
            self._up[element] = up
            outages = self._outages.setdefault(element, [])
            if not up:
                self._dropped.add(element)
                if was or not outages or outages[-1][1] is not None:
                    start = self.clock() if since_ns is None else since_ns
                    outages.append([start, None])
            elif outages and outages[-1][1] is None:
                outages[-1][1] = self.clock()

    def observe(self, points: Accepted) -> None:
        """Count accepted samples; note elements heard from and network status exports."""
        if isinstance(points, Samples):
            self._observe_samples(points)
            return
        now = self.clock()
        latest = now + FUTURE_NS
        with self._lock:
            for p in points:
                element = p.tags.get("element")
                if element is None:
                    continue
                if p.measurement == "telemetry":
                    self._heard.add(element)
                    q = p.fields.get("quality", 0)
                    if p.time_ns <= latest:
                        self._sample((element, p.tags.get("point", "")), p.time_ns,
                                     q if isinstance(q, int) else 2)  # fmt: skip
                elif p.measurement == "element_status":
                    self._exported[element] = now

    def _observe_samples(self, s: Samples) -> None:
        t = s.t_ns
        if t > self.clock() + FUTURE_NS:  # stored, but a wrong clock counts nothing
            with self._lock:
                self._heard.update({element for element, _ in s.keys})
            return
        with self._lock:
            get = self._points.get
            # equal lengths (Samples.add); strict checking would cost a tenth of this loop
            for key, q in zip(s.keys, s.qualities, strict=False):
                st = get(key)
                if st is None:
                    self._sample(key, t, q)
                    continue
                k = t // st.period
                slot = st.slot
                if k == slot:  # another sample in the slot: the latest counts
                    if not st.done:
                        st.q = q
                elif k == slot + 1 and not st.done and slot <= st.cell_last:
                    # the usual case, inlined: the next slot after a sampled one, in the
                    # same health interval
                    cell = st.cell
                    cell[0] += 1
                    if st.q == 0:
                        cell[1] += 1
                    st.slot, st.q = k, q
                elif k > slot:
                    self._advance(key, st, k, q)
            self._heard.update({element for element, _ in s.keys})

    # --- slot accounting (under the lock) ---------------------------------------------

    def _sample(self, key: Key, t: int, q: int) -> None:
        st = self._points.get(key)
        if st is None:
            period = self._periods.get(key)
            if period is None:  # not a declared automatic point: stored, not counted
                return
            st = self._points[key] = _Point(period, key[0] in self._held)
        k = t // st.period
        if k == st.slot:
            if not st.done:
                st.q = q
        elif k > st.slot:
            self._advance(key, st, k, q)

    def _advance(self, key: Key, st: _Point, k: int, q: int) -> None:
        """A sample in slot `k`, after `st.slot`: close the slots in between."""
        if not st.done:
            self._count_slot(key, st, st.slot, st.q == 0)
        if st.held and st.q == 0 and st.slot >= 0 and k > st.slot + 1:
            self._count_held(key, st, st.slot + 1, k - 1)
        st.slot, st.q, st.done = k, q, False

    def _count_slot(self, key: Key, st: _Point, k: int, good: bool) -> None:
        if k <= st.cell_last:  # the usual case: the interval already looked up
            cell = st.cell
        else:
            start = k * st.period - (k * st.period) % self.health_ns
            if start < self._closed_before:
                return  # its interval was reported already
            cell = self._counts.setdefault(start, {}).setdefault(key, [0, 0])
            st.cell = cell
            st.cell_last = (start + self.health_ns - 1) // st.period
        cell[0] += 1
        if good:
            cell[1] += 1

    def _count_range(self, key: Key, period: int, a: int, b: int) -> None:
        """Slots `a..b` (inclusive), all received and good, split over their intervals."""
        h = self.health_ns
        while a <= b:
            start = a * period - (a * period) % h
            last = min(b, (start + h - 1) // period)
            if start >= self._closed_before:
                cell = self._counts.setdefault(start, {}).setdefault(key, [0, 0])
                cell[0] += last - a + 1
                cell[1] += last - a + 1
            a = last + 1

    def _count_held(self, key: Key, st: _Point, a: int, b: int) -> None:
        """Held slots `a..b`: those the element's outages do not touch."""
        p = st.period
        for lo, hi in _minus(a, b, [
            (int(o[0] or 0) // p, (ceil_div(int(o[1]), p) - 1) if o[1] is not None else b)
            for o in self._outages.get(key[0], ())
        ]):  # fmt: skip
            self._count_range(key, p, lo, hi)

    # --- the agent's rows ------------------------------------------------------------

    def elements_now(self) -> dict[str, tuple[int, int | None]]:
        """Per element a driver reads: 1 if reachable now else 0, and the start (ns) of the
        latest slot one of its polled points was sampled in (None before any): what
        `/metrics` shows per element. Points reported by exception are left out, their
        slots advance without samples."""
        with self._lock:
            last: dict[str, int] = {}
            for (element, _), st in self._points.items():
                if st.held or st.slot < 0:
                    continue
                t = st.slot * st.period
                if t > last.get(element, -1):
                    last[element] = t
            return {
                e: (int(self._up.get(e, False)), last.get(e))
                for e in sorted(self._tracked | set(last))
            }

    def status_points(self, t_ns: int) -> list[Point]:
        """element_status at instant `t_ns` for every tracked element not exported."""
        stale = t_ns - EXPORT_FRESH_INTERVALS * self.status_ns
        with self._lock:
            out = []
            for element in sorted(self._tracked):
                if self._exported.get(element, stale) > stale:
                    continue
                e = self._elements.get(element)
                if element in self._push:
                    online = element in self._heard
                else:
                    online = self._up.get(element, False) and element not in self._dropped
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
            # still down: the next interval is not whole either; an element that was
            # never up (its driver has not had a round yet) was not lost
            self._dropped = {e for e in self._dropped if not self._up.get(e, False)}
            return out

    def health_points(self, start_ns: int) -> list[Point]:
        """point_health of the interval starting at `start_ns` (call once it has ended,
        with a little grace for samples still on their way)."""
        end = start_ns + self.health_ns
        with self._lock:
            # close every point's slots up to the interval's end: its last sampled slot,
            # and the held slots after it while its source stayed alive
            for key, st in self._points.items():
                last = (end - 1) // st.period
                if st.slot > last:
                    continue
                if not st.done:
                    self._count_slot(key, st, st.slot, st.q == 0)
                    st.done = True
                if st.held and st.q == 0 and st.slot >= 0 and last > st.slot:
                    self._count_held(key, st, st.slot + 1, last)
                    st.slot = last
            counts = self._counts.pop(start_ns, {})
            for stale in [t for t in self._counts if t < start_ns]:
                del self._counts[stale]
            self._closed_before = max(self._closed_before, end)
            for element, outages in self._outages.items():
                self._outages[element] = [o for o in outages if o[1] is None or o[1] > end]
            out = []
            for element in sorted(self._tracked):
                e = self._elements.get(element)
                if e is None:
                    continue
                for p in e.points:
                    if p.collection == "manual":
                        continue
                    received, good = counts.get((element, p.id), (0, 0))
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
            return out


def _minus(a: int, b: int, cuts: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """`a..b` (inclusive) without the inclusive ranges `cuts`."""
    out = []
    lo = a
    for c_lo, c_hi in sorted(cuts):
        if c_hi < lo or c_lo > b:
            continue
        if c_lo > lo:
            out.append((lo, c_lo - 1))
        lo = max(lo, c_hi + 1)
        if lo > b:
            return out
    if lo <= b:
        out.append((lo, b))
    return out
