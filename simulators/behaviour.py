"""What a scenario's factory does at any instant: the one source both live servers and
backfill read, so a live run and a backfill of the same scenario give the same series.

Everything is a pure function of the scenario and the time — no state, no randomness
beyond a hash of (seed, element, point, time) — so a restarted server resumes exactly
where the timeline is, and tests can ask what a client should have seen.
"""

from __future__ import annotations

import itertools
import math
import struct
import zlib
from datetime import date, datetime, timedelta
from fractions import Fraction
from functools import cached_property, lru_cache

from simulators.intervals import (
    NS,
    Interval,
    contains,
    daily,
    grid_count,
    grid_count_in,
    local_midnight_ns,
    merge,
    to_ns,
)
from simulators.registers import RANGES
from simulators.scenario import (
    IdentifierSpec,
    LineSpec,
    LoopSpec,
    PointSpec,
    Scenario,
)

Value = int | float | str | bool
HOUR_NS = 3600 * NS
DAY_NS = 86400 * NS


def _noise(seed: int, key: int, t_s: int) -> float:
    """A deterministic pseudo-random number in [-1, 1) for (seed, key, second)."""
    x = (seed * 0x9E3779B1 ^ key * 0x85EBCA77 ^ t_s * 0xC2B2AE3D) & 0xFFFFFFFF
    x ^= x >> 15
    x = (x * 0x2C1B3C6D) & 0xFFFFFFFF
    x ^= x >> 12
    return x / 2**31 - 1.0


def split_largest_remainder(total: int, weights: list[int]) -> list[int]:
    """Split `total` into integer parts proportional to `weights` that sum exactly to it."""
    wsum = sum(weights)
    if wsum == 0:
        return [0] * len(weights)
    exact = [Fraction(total * w, wsum) for w in weights]
    parts = [math.floor(x) for x in exact]
    left = total - sum(parts)
    order = sorted(range(len(weights)), key=lambda i: (-(exact[i] - parts[i]), i))
    for i in order[:left]:
        parts[i] += 1
    return parts


class FactoryModel:
    """The timeline of one scenario. Times are UTC nanoseconds."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.tz = scenario.tz
        self.elements = {e.id: e for e in scenario.expanded_elements()}
        self.lines = {x.id: x for x in scenario.lines}
        self.loops = {x.id: x for x in scenario.loops}
        self.origin_ns = scenario.history().start_ns
        self.switch_ns = scenario.evaluation.start_ns
        self._offline: dict[str, list[Interval]] = {}
        self._keys: dict[tuple[str, str], int] = {}

    # --- a platform's own counts ----------------------------------------------------

    def platform_counter(self, name: str, t: int) -> int:
        """The count `name` as the platform exports it at `t`: its start plus whole units
        of growth since the history's start."""
        spec = self.scenario.platform
        assert spec is not None
        c = spec.counters[name]
        return c.start + math.floor(c.per_day * Fraction(max(0, t - self.origin_ns), DAY_NS))

    # --- elements: online and link ----------------------------------------------------

    def offline_intervals(self, element_id: str, start: int, end: int) -> list[Interval]:
        """Merged periods in `[start, end)` when the element is unreachable."""
        e = self.elements[element_id]
        fixed = [(p.start_ns, p.end_ns) for p in e.schedule.offline]
        windows = [(w.start, w.end) for w in e.schedule.daily_offline]
        rec = daily(windows, start, end, self.tz) if windows else []
        return [
            (max(s, start), min(x, end)) for s, x in merge([*fixed, *rec]) if s < end and x > start
        ]

    def _day_offline(self, element_id: str, day_start: int) -> list[Interval]:
        key = f"{element_id}@{day_start}"
        got = self._offline.get(key)
        if got is None:
            if len(self._offline) > 50_000:
                self._offline.clear()
            got = self._offline[key] = self.offline_intervals(
                element_id, day_start, day_start + DAY_NS
            )
        return got

    def is_online(self, element_id: str, t: int) -> bool:
        day_start = t - t % DAY_NS
        return not contains(self._day_offline(element_id, day_start), t)

    def link_at(self, element_id: str, t: int) -> str:
        e = self.elements[element_id]
        link = e.link
        for change in sorted(e.link_changes, key=lambda c: c.at):
            if to_ns(change.at) <= t:
                link = change.link
        return link

    def link_segments(self, element_id: str, start: int, end: int) -> list[tuple[int, int, str]]:
        """`[start, end)` cut where the element's link changes."""
        e = self.elements[element_id]
        cuts = sorted(to_ns(c.at) for c in e.link_changes if start < to_ns(c.at) < end)
        edges = [start, *cuts, end]
        return [(a, b, self.link_at(element_id, a)) for a, b in itertools.pairwise(edges)]

    def radio(self, element_id: str, t: int) -> tuple[float | None, float | None]:
        """RSRP and SINR as the network exports them (rounded to 0.1)."""
        e = self.elements[element_id]
        wobble = ((t // (60 * NS)) % 7 - 3) * 0.5
        rsrp = None if e.rsrp is None else round(e.rsrp + wobble, 1)
        sinr = None if e.sinr is None else round(e.sinr - wobble / 2, 1)
        return rsrp, sinr

    # --- points ----------------------------------------------------------------------

    def point(self, element_id: str, point_id: str) -> PointSpec:
        for p in self.elements[element_id].points:
            if p.id == point_id:
                return p
        raise KeyError(f"{element_id}/{point_id}")

    def fault_intervals(
        self, element_id: str, point_id: str, start: int, end: int
    ) -> list[tuple[int, int, int]]:
        """(start, end, quality) of the point's fault periods within `[start, end)`."""
        p = self.point(element_id, point_id)
        q = {"bad": 2, "uncertain": 1}
        return [
            (max(f.start_ns, start), min(f.end_ns, end), q[f.status])
            for f in p.faults
            if f.start_ns < end and f.end_ns > start
        ]

    def quality(self, element_id: str, point_id: str, t: int) -> int:
        """0 good, 1 uncertain, 2 bad (OPC UA status classes), at instant `t`."""
        for s, e, q in self.fault_intervals(element_id, point_id, t, t + 1):
            if s <= t < e:
                return q
        return 0

    def value(self, element_id: str, point_id: str, t: int) -> Value:
        """The point's value at `t`, already in its type (float32 rounded, ints clamped)."""
        p = self.point(element_id, point_id)
        if p.role is not None:
            return self._role_value(p.role, t)
        sig = p.signal
        t_s = t // NS
        if sig.states:
            state = sig.states[int(t_s // sig.state_s) % len(sig.states)]
            return _cast(state, p.type)
        key = self._keys.get((element_id, point_id))
        if key is None:
            key = self._keys[(element_id, point_id)] = zlib.crc32(
                f"{element_id}/{point_id}".encode()
            )
        phase = (key % 360) * math.pi / 180
        x = sig.mean + sig.amplitude * math.sin(2 * math.pi * (t / NS) / sig.period_s + phase)
        if sig.noise:
            x += sig.noise * _noise(self.scenario.seed, key, t_s)
        return _cast(x, p.type)

    def _role_value(self, role: str, t: int) -> Value:
        kind, target, *rest = role.split(":")
        if kind == "line":
            return self.line_counter(self.lines[target], rest[0], t)
        if kind == "loop":
            return int(self.loop_auto(self.loops[target], t))
        if kind == "identifier":
            return self.identifier_total(rest[0], t)
        raise ValueError(f"unknown role {role!r}")

    def samples_good(
        self, element_id: str, point_id: str, start: int, end: int
    ) -> tuple[int, int, int]:
        """(expected, received, good) samples of a point in `[start, end)`."""
        p = self.point(element_id, point_id)
        step = int(p.period_s * NS)
        expected = grid_count(start, end, step)
        if p.collection == "manual":
            return expected, 0, 0
        offline = self.offline_intervals(element_id, start, end)
        received = expected - grid_count_in(offline, start, end, step)
        faults = [(s, e) for s, e, _ in self.fault_intervals(element_id, point_id, start, end)]
        bad_online = grid_count_in(faults, start, end, step) - grid_count_in(
            _intersect(merge(faults), offline), start, end, step
        )
        return expected, received, received - bad_online

    # --- production lines ------------------------------------------------------------

    def line_counter(self, line: LineSpec, field: str, t: int) -> int:
        """Cumulative counter since the start of history: baseline rates apply before the
        evaluation period starts, evaluation rates from then on."""
        base, ev = line.baseline, line.evaluation
        o, s = self.origin_ns, self.switch_ns
        total = 0
        for rates, a, b in ((base, o, min(t, s)), (ev, s, t)):
            if b <= a:
                continue
            span = b - a
            output = rates.output_per_hour * span // HOUR_NS
            if field == "output":
                total += output
            elif field == "defects":
                total += math.floor(rates.defect_rate * output)
            elif field == "energy_kwh":
                total += rates.energy_kwh_per_hour * span // HOUR_NS
            elif field == "runtime_s":
                total += rates.runtime_fraction * span // NS
            else:
                raise ValueError(f"unknown counter {field!r}")
        return int(total)

    # --- control loops ---------------------------------------------------------------

    def manual_seconds(self, loop: LoopSpec) -> int:
        """Manual seconds per day, rounded to whole status intervals."""
        step = self.scenario.status_interval_s
        return round((1 - loop.auto_fraction) * 86400 / step) * step

    def manual_intervals(self, loop: LoopSpec, start: int, end: int) -> list[Interval]:
        seconds = self.manual_seconds(loop)
        if seconds == 0:
            return []
        out = []
        first = datetime.fromtimestamp(start / NS, self.tz).date() - timedelta(days=1)
        last = datetime.fromtimestamp(end / NS, self.tz).date()
        d = first
        while d <= last:
            s = to_ns(datetime.combine(d, loop.manual_from, tzinfo=self.tz))
            out.append((s, s + seconds * NS))
            d += timedelta(days=1)
        return [(max(a, start), min(b, end)) for a, b in merge(out) if a < end and b > start]

    def loop_auto(self, loop: LoopSpec, t: int) -> bool:
        return not contains(self.manual_intervals(loop, t, t + 1), t)

    # --- identifier node -------------------------------------------------------------

    @cached_property
    def enterprise_weights(self) -> list[int]:
        spec = self.scenario.identifier
        assert spec is not None
        # a long tail: the first enterprise sends the most queries, the last the fewest
        return [spec.enterprises - i for i in range(spec.enterprises)]

    def identifier_day(self, day: date) -> dict[str, tuple[list[int], list[int]]]:
        """Per enterprise, the resolutions and registrations of each interval of a local day."""
        return _identifier_day(self, day)

    def identifier_interval(self, t: int) -> dict[str, tuple[int, int]]:
        """Counts per enterprise for the interval starting at `t` (a multiple of interval_s)."""
        spec = self.scenario.identifier
        assert spec is not None
        day = datetime.fromtimestamp(t / NS, self.tz).date()
        i = (t - local_midnight_ns(day, self.tz)) // (spec.interval_s * NS)
        return {ent: (res[i], reg[i]) for ent, (res, reg) in self.identifier_day(day).items()}

    def identifier_total(self, field: str, t: int) -> int:
        """Cumulative resolutions or registrations from the start of history to `t`."""
        spec = self.scenario.identifier
        assert spec is not None
        step = spec.interval_s * NS
        total = 0
        day = datetime.fromtimestamp(self.origin_ns / NS, self.tz).date()
        while local_midnight_ns(day, self.tz) < t:
            midnight = local_midnight_ns(day, self.tz)
            per_day = (
                spec.resolutions_per_day if field == "resolutions" else spec.registrations_per_day
            )
            if day not in spec.no_data_days:
                if midnight + DAY_NS <= t:
                    total += per_day
                else:
                    n_done = (t - midnight) // step
                    idx = 0 if field == "resolutions" else 1
                    for res_reg in self.identifier_day(day).values():
                        total += sum(res_reg[idx][:n_done])
            day += timedelta(days=1)
        return total


def _intersect(a: list[Interval], b: list[Interval]) -> list[Interval]:
    out = []
    for s1, e1 in a:
        for s2, e2 in b:
            s, e = max(s1, s2), min(e1, e2)
            if s < e:
                out.append((s, e))
    return out


@lru_cache(maxsize=64)
def _identifier_day(model: FactoryModel, day: date) -> dict[str, tuple[list[int], list[int]]]:
    spec: IdentifierSpec | None = model.scenario.identifier
    assert spec is not None
    n = 86400 // spec.interval_s
    ents = spec.enterprise_ids()
    if day in spec.no_data_days:
        return {}
    weights = [spec.daily_profile[(i * spec.interval_s) // 3600] for i in range(n)]
    res_split = split_largest_remainder(spec.resolutions_per_day, model.enterprise_weights)
    reg_split = split_largest_remainder(spec.registrations_per_day, model.enterprise_weights)
    return {
        ent: (split_largest_remainder(r, weights), split_largest_remainder(g, weights))
        for ent, r, g in zip(ents, res_split, reg_split, strict=True)
    }


def _cast(x: object, vtype: str) -> Value:
    if vtype == "string":
        return str(x)
    if vtype == "bool":
        return bool(x)
    if vtype in ("float32", "float64"):
        f = float(x)  # type: ignore[arg-type]
        return struct.unpack(">f", struct.pack(">f", f))[0] if vtype == "float32" else f
    lo, hi = RANGES[vtype]
    return max(lo, min(hi, round(float(x))))  # type: ignore[arg-type]
