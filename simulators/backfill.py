"""Backfill: write a scenario's history straight into a store, as the agent would have.

The series are the ones the live path produces — `element_status` per element per status
interval, `point_health` per point per health interval, `production` per line interval,
`control_loop` per status interval, `identifier` per node interval, and optionally raw
`telemetry` — computed from the same `FactoryModel` the live servers serve.

Conventions the agent shares (docs/scenarios.md): a sample is stamped with the grid
instant it was taken at; an interval row (`point_health`, `production`, `identifier`) is
stamped with the interval's start; nothing is written for an element while it is
offline, except its `element_status` with `online=false`; a line's counters read after an
outage put the whole increase into the first interval read.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from simulators.behaviour import FactoryModel
from simulators.intervals import NS, grid, local_midnight_ns
from simulators.scenario import Scenario
from telemetry import Point, SeriesBlock, Store, WriteResult, encode_line
from telemetry.schema import KPI_STREAM_MEASUREMENTS
from telemetry.seal import Sealer, archive_points

DAY_NS = 86400 * NS
Progress = Callable[[int, int], None]


@dataclass
class BackfillReport:
    start_ns: int
    end_ns: int
    rows: dict[str, int] = field(default_factory=dict)
    rejected: int = 0
    seconds: float = 0.0

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    @property
    def rows_per_second(self) -> float:
        return self.total_rows / self.seconds if self.seconds else 0.0


class Backfill:
    """The blocks of a scenario's history, generated one local day at a time."""

    def __init__(self, scenario: Scenario, *, telemetry: bool = False) -> None:
        self.scenario = scenario
        self.model = FactoryModel(scenario)
        self.telemetry = telemetry
        self.site = scenario.site
        self._last_counter: dict[tuple[str, str], int] = {}

    def days(self, start: int, end: int) -> list[tuple[int, int]]:
        """`[start, end)` cut at local midnights."""
        tz = self.scenario.tz
        cuts = []
        day = datetime.fromtimestamp(start / NS, tz).date() + timedelta(days=1)
        while (m := local_midnight_ns(day, tz)) < end:
            cuts.append(m)
            day += timedelta(days=1)
        edges = [start, *cuts, end]
        return list(itertools.pairwise(edges))

    def blocks(self, start: int, end: int) -> Iterator[SeriesBlock]:
        yield from self.element_status(start, end)
        yield from self.point_health(start, end)
        yield from self.production(start, end)
        yield from self.control_loops(start, end)
        yield from self.identifier(start, end)
        yield from self.platform_counters(start, end)
        yield from self.service_probes(start, end)
        yield from self.report_uploads(start, end)
        yield from self.security_events(start, end)
        yield from self.coverage_samples(start, end)
        if self.telemetry:
            yield from self.raw_telemetry(start, end)

    # --- one generator per measurement ------------------------------------------------

    def element_status(self, start: int, end: int) -> Iterator[SeriesBlock]:
        step = self.scenario.status_interval_s * NS
        m = self.model
        for eid, e in m.elements.items():
            offline = m.offline_intervals(eid, start, end)
            for a, b, link in m.link_segments(eid, start, end):
                times = list(grid(a, b, step))
                if not times:
                    continue
                online = [True] * len(times)
                t0 = times[0]
                for s, x in offline:
                    lo = max(0, -(-(s - t0) // step))
                    hi = min(len(times), -(-(x - t0) // step))
                    online[lo:hi] = [False] * max(0, hi - lo)
                fields: dict[str, list[object]] = {"online": online}  # type: ignore[dict-item]
                if e.rsrp is not None or e.sinr is not None:
                    radio = [
                        m.radio(eid, t) if up else (None, None)
                        for t, up in zip(times, online, strict=True)
                    ]
                    if e.rsrp is not None:
                        fields["rsrp"] = [r for r, _ in radio]
                    if e.sinr is not None:
                        fields["sinr"] = [s_ for _, s_ in radio]
                if e.ipv6:
                    fields["ipv6"] = [True if up else None for up in online]
                yield SeriesBlock(
                    "element_status",
                    {"site": self.site, "element": eid, "kind": e.kind, "link": link},
                    times,
                    fields,  # type: ignore[arg-type]
                )

    def point_health(self, start: int, end: int) -> Iterator[SeriesBlock]:
        step = self.scenario.health_interval_s * NS
        m = self.model
        for eid, e in m.elements.items():
            troubled_day = bool(m.offline_intervals(eid, start, end))
            for p in e.points:
                if p.collection == "manual":
                    continue  # no driver reads it: the inventory still counts it
                times = list(grid(start, end, step))
                if not times:
                    continue
                if not troubled_day and not m.fault_intervals(eid, p.id, start, end):
                    exp, rec, good = m.samples_good(eid, p.id, times[0], times[0] + step)
                    counts = [(exp, rec, good)] * len(times)
                else:
                    counts = [m.samples_good(eid, p.id, t, t + step) for t in times]
                yield SeriesBlock(
                    "point_health",
                    {"site": self.site, "element": eid, "point": p.id},
                    times,
                    {
                        "expected": [c[0] for c in counts],
                        "received": [c[1] for c in counts],
                        "good": [c[2] for c in counts],
                    },
                )

    def production(self, start: int, end: int) -> Iterator[SeriesBlock]:
        m = self.model
        for line in self.scenario.lines:
            step = line.interval_s * NS
            times: list[int] = []
            cols: dict[str, list[float]] = {
                f: [] for f in ("output", "defects", "energy_kwh", "runtime_s")
            }
            for t in grid(start, end, step):
                if not m.is_online(line.element, t + step - 1):
                    continue
                times.append(t)
                for f, col in cols.items():
                    key = (line.id, f)
                    before = self._last_counter.get(key)
                    if before is None:
                        before = m.line_counter(line, f, t)
                    now = m.line_counter(line, f, t + step)
                    self._last_counter[key] = now
                    col.append(float(now - before))
            if times:
                yield SeriesBlock("production", {"site": self.site, "line": line.id}, times, cols)

    def control_loops(self, start: int, end: int) -> Iterator[SeriesBlock]:
        step = self.scenario.status_interval_s * NS
        m = self.model
        for loop in self.scenario.loops:
            manual = m.manual_intervals(loop, start, end)
            offline = m.offline_intervals(loop.element, start, end)
            times, auto = [], []
            for t in grid(start, end, step):
                if any(s <= t < x for s, x in offline):
                    continue
                times.append(t)
                auto.append(not any(s <= t < x for s, x in manual))
            if times:
                yield SeriesBlock(
                    "control_loop", {"site": self.site, "loop": loop.id}, times, {"auto": auto}
                )

    def identifier(self, start: int, end: int) -> Iterator[SeriesBlock]:
        spec = self.scenario.identifier
        if spec is None:
            return
        step = spec.interval_s * NS
        m = self.model
        rows: dict[str, tuple[list[int], list[int], list[int]]] = {}
        for t in grid(start, end, step):
            if not m.is_online(spec.element, t):
                continue
            for ent, (res, reg) in m.identifier_interval(t).items():
                times, rs, gs = rows.setdefault(ent, ([], [], []))
                times.append(t)
                rs.append(res)
                gs.append(reg)
        for ent, (times, rs, gs) in rows.items():
            yield SeriesBlock(
                "identifier",
                {"site": self.site, "node": spec.node, "enterprise": ent},
                times,
                {"resolutions": rs, "registrations": gs},
            )

    def platform_counters(self, start: int, end: int) -> Iterator[SeriesBlock]:
        spec = self.scenario.platform
        if spec is None:
            return
        times = list(grid(start, end, spec.interval_s * NS))
        if not times:
            return
        for name in spec.counters:
            yield SeriesBlock(
                "platform_counter",
                {"site": self.site, "platform": spec.id, "counter": name},
                times,
                {"value": [self.model.platform_counter(name, t) for t in times]},
            )

    def service_probes(self, start: int, end: int) -> Iterator[SeriesBlock]:
        for probe in self.scenario.probes:
            times = list(grid(start, end, probe.interval_s * NS))
            if not times:
                continue
            down = [(d.start_ns, d.end_ns) for d in probe.down]
            ok = [not any(a <= t < b for a, b in down) for t in times]
            yield SeriesBlock(
                "service_probe",
                {"site": self.site, "service": probe.service, "target": probe.target},
                times,
                {"ok": ok, "latency_ms": [probe.latency_ms if up else None for up in ok]},
            )

    def report_uploads(self, start: int, end: int) -> Iterator[SeriesBlock]:
        tz = self.scenario.tz
        for r in self.scenario.reports:
            times: list[int] = []
            cols: dict[str, list[object]] = {"records": [], "empty": [], "acked": []}
            day = datetime.fromtimestamp(start / NS, tz).date() - timedelta(days=1)
            while (midnight := local_midnight_ns(day, tz)) < end:
                t = midnight + (r.at.hour * 3600 + r.at.minute * 60 + r.at.second) * NS
                if start <= t < end and day not in r.missing_days:
                    empty = day in r.empty_days
                    times.append(t)
                    cols["records"].append(0 if empty else r.records)
                    cols["empty"].append(empty)
                    cols["acked"].append(True)
                day += timedelta(days=1)
            if times:
                yield SeriesBlock(
                    "report_upload",
                    {"site": self.site, "target": r.target, "kind": r.kind},
                    times,
                    cols,  # type: ignore[arg-type]
                )

    def security_events(self, start: int, end: int) -> Iterator[SeriesBlock]:
        for ev in self.scenario.security_events:
            times = list(grid(start, end, ev.interval_s * NS))
            if times:
                yield SeriesBlock(
                    "security_event",
                    {
                        "site": self.site,
                        "type": ev.type,
                        "severity": ev.severity,
                        "target": ev.target,
                    },
                    times,
                    {"disposition": [ev.disposition] * len(times)},
                )

    def coverage_samples(self, start: int, end: int) -> Iterator[SeriesBlock]:
        """Each area's survey readings, one a second from its `at`."""
        for area in self.scenario.survey:
            if area.at is None:
                continue
            t0 = int(area.at.timestamp()) * NS
            keep = [i for i in range(len(area.signal_dbm)) if start <= t0 + i * NS < end]
            if not keep:
                continue
            cols: dict[str, list[object]] = {"signal_dbm": [area.signal_dbm[i] for i in keep]}
            if area.sinr_db:
                cols["sinr_db"] = [area.sinr_db[i] for i in keep]
            yield SeriesBlock(
                "coverage_sample",
                {"site": self.site, "area": area.id, "tech": area.tech},
                [t0 + i * NS for i in keep],
                cols,  # type: ignore[arg-type]
            )

    def raw_telemetry(self, start: int, end: int) -> Iterator[SeriesBlock]:
        m = self.model
        for eid, e in m.elements.items():
            offline = m.offline_intervals(eid, start, end)
            for p in e.points:
                if p.collection == "manual" or p.type == "string":
                    continue  # `telemetry.value` is a float; strings stay in the live path
                step = int(p.period_s * NS)
                times, values, quality = [], [], []
                for t in grid(start, end, step):
                    if any(s <= t < x for s, x in offline):
                        continue
                    times.append(t)
                    values.append(float(m.value(eid, p.id, t)))
                    quality.append(m.quality(eid, p.id, t))
                if times:
                    yield SeriesBlock(
                        "telemetry",
                        {"site": self.site, "element": eid, "point": p.id},
                        times,
                        {"value": values, "quality": quality},
                    )


async def backfill(
    scenario: Scenario,
    store: Store,
    start_ns: int,
    end_ns: int,
    *,
    telemetry: bool = False,
    progress: Progress | None = None,
    chunk_rows: int = 100_000,
    sealer: Sealer | None = None,
    batch_lines: int = 5000,
) -> BackfillReport:
    """Write `[start_ns, end_ns)` of the scenario's history into `store`, one day at a time.

    Generating the next chunk overlaps with writing the previous one. `progress(done,
    total)` is called after each day.

    With a `sealer` (a KPI-stream chain and its agent key) each day's KPI-stream lines are
    also sealed as an agent would have sealed them — in time order, `batch_lines` per
    batch — and their `pp_lines` archive and `pp_batch` records written, so evidence can
    be built from the backfilled history.
    """
    gen = Backfill(scenario, telemetry=telemetry)
    report = BackfillReport(start_ns, end_ns)
    t0 = time.perf_counter()
    days = gen.days(start_ns, end_ns)
    pending: asyncio.Task[WriteResult] | None = None

    async def flush(blocks: list[SeriesBlock]) -> None:
        nonlocal pending
        if pending is not None:
            report.rejected += len((await pending).rejected)
        pending = asyncio.create_task(store.write_blocks(blocks)) if blocks else None

    try:
        for i, (a, b) in enumerate(days):
            chunk: list[SeriesBlock] = []
            size = 0
            day_lines: list[tuple[int, str]] = []
            for block in gen.blocks(a, b):
                chunk.append(block)
                size += len(block)
                report.rows[block.measurement] = report.rows.get(block.measurement, 0) + len(block)
                if sealer is not None and block.measurement in KPI_STREAM_MEASUREMENTS:
                    day_lines += ((int(x.rsplit(" ", 1)[1]), x) for x in block.lines())
                if size >= chunk_rows:
                    await flush(chunk)
                    chunk, size = [], 0
            await flush(chunk)
            if sealer is not None and day_lines:
                provenance = _seal_day(sealer, day_lines, batch_lines, gen.site)
                report.rows["pp_batch"] = report.rows.get("pp_batch", 0) + sum(
                    p.measurement == "pp_batch" for p in provenance
                )
                result = await store.write(provenance)
                report.rejected += len(result.rejected)
            if progress is not None:
                progress(i + 1, len(days))
        if sealer is not None:
            # a live agent keeps sealing after any window; a backfill ends with one
            # checkpoint batch at its end, so a window ending there can show its tail whole
            mark = Point(
                "pp_agent",
                {"site": gen.site, "agent": sealer.agent},
                {"points_in": report.total_rows},
                end_ns,
            )
            line = encode_line(mark).encode()
            record = sealer.seal([line], [end_ns])
            provenance = [
                mark,
                *archive_points(record, [line], gen.site),
                record.to_point(gen.site),
            ]
            await store.write(provenance)
        await flush([])
    finally:
        if pending is not None and not pending.done():
            pending.cancel()
    report.seconds = time.perf_counter() - t0
    return report


def _seal_day(
    sealer: Sealer, day_lines: list[tuple[int, str]], batch_lines: int, site: str
) -> list[Point]:
    day_lines.sort(key=lambda tl: tl[0])  # stable: within an instant, generation order
    out: list[Point] = []
    for i in range(0, len(day_lines), batch_lines):
        part = day_lines[i : i + batch_lines]
        lines = [x.encode() for _, x in part]
        record = sealer.seal(lines, [t for t, _ in part])
        out += archive_points(record, lines, site)
        out.append(record.to_point(site))
    return out
