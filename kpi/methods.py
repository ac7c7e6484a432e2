"""The measuring methods named in `data/measures.yaml`: each turns store aggregates into a
`Measured` value with its integer counts and breakdown. Semantics: docs/kpis.md."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from kpi.observe import ElementObservation, observe_elements
from kpi.params import KpiParams
from kpi.queries import QueryLog
from kpi.results import Breakdown, Measured, Window
from telemetry import Aggregate, DeclaredElement, Inventory, LocalDays
from telemetry.schema import DEVICE_KINDS, LINK_5G, LINKS, WIRELESS_LINKS
from telemetry.timegrid import NS, grid_count


@dataclass
class Context:
    """One evaluation's inputs, and the element observations KPIs share."""

    log: QueryLog
    inventory: Inventory
    params: KpiParams
    window: Window
    baseline: Window | None
    _observed: dict[Window, dict[str, ElementObservation]] = field(default_factory=dict)

    @cached_property
    def declared(self) -> dict[str, DeclaredElement]:
        return {e.id: e for e in self.inventory.elements}

    async def elements(self, window: Window | None = None) -> dict[str, ElementObservation]:
        window = window or self.window
        if window not in self._observed:
            self._observed[window] = await observe_elements(
                self.log, self.inventory, self.params, window
            )
        return self._observed[window]

    async def sums(
        self, measurement: str, fields: tuple[str, ...], group: str, window: Window
    ) -> dict[str, dict[str, Fraction]]:
        """sum(field) per group for each field, as exact Fractions (float sums of integer
        counters are exact below 2**53)."""
        out: dict[str, dict[str, Fraction]] = {}
        for f in fields:
            df = await self.log.aggregate(
                Aggregate.over(window, measurement, f, "sum", group_by=(group,))
            )
            for key, value in df.itertuples(index=False):
                out.setdefault(str(key), {})[f] = Fraction(value)
        return out


Method = Callable[[Context, dict[str, Any]], Awaitable[Measured]]
METHODS: dict[str, Method] = {}


def method(fn: Method) -> Method:
    METHODS[fn.__name__] = fn
    return fn


def ratio(num: int, den: int, **kw: Any) -> Measured:
    notes = list(kw.pop("notes", []))
    if not den:
        notes.append("nothing to divide by: insufficient data (no division by zero)")
    return Measured(
        value=Fraction(num, den) if den else None,
        numerator=num,
        denominator=den,
        notes=notes,
        **kw,
    )


def listed(items: list[str], most: int = 5) -> str:
    """The first `most` of `items`, comma-separated, with … when there are more."""
    return ", ".join(items[:most]) + (" …" if len(items) > most else "")


def count(n: int, **kw: Any) -> Measured:
    """A count (of devices, scenarios …): its value is its numerator, it has no denominator."""
    return Measured(value=Fraction(n), numerator=n, **kw)


def achieved(num: int, den: int, params: dict[str, Any], *, nothing: str, **kw: Any) -> Measured:
    """A yes/no finding for a qualitative clause, from the counts behind it: yes when
    `num` reaches `min_count` (default 1) and `num ÷ den` reaches `min_share` (default 1,
    all); no when there is nothing to count, with `nothing` saying what is missing."""
    min_share = Fraction(str(params.get("min_share", 1)))
    min_count = int(params.get("min_count", 1))
    notes = list(kw.pop("notes", []))
    if not den:
        notes.append(f"{nothing}: nothing shows it, so it is not achieved")
    value = bool(den) and num >= min_count and Fraction(num, den) >= min_share
    rule = f"at least {min_count}" + (f" and {min_share} of {den}" if min_share else "")
    notes.insert(0, f"{num} of {den} — achieved when {rule}")
    return Measured(value=value, numerator=num, denominator=den, notes=notes, **kw)


def every(
    rows: list[dict[str, Any]], key: str, *, by: str, nothing: str, notes: list[str]
) -> Measured:
    """Achieved when every row holds `key` true (and there is a row), with the rows."""
    return achieved(
        sum(1 for r in rows if r[key]), len(rows), {"min_share": 1}, nothing=nothing,
        notes=notes, breakdown=Breakdown(by=by, rows=rows),
    )  # fmt: skip


def undeclared_note(obs: dict[str, ElementObservation]) -> list[str]:
    extra = sorted(o.element for o in obs.values() if not o.declared and o.online_intervals)
    if not extra:
        return []
    shown = listed(extra)
    return [
        f"{len(extra)} element(s) reported status but are not in the inventory and are not "
        f"counted: {shown} — declare them in the site config"
    ]


def vocabulary_note(obs: dict[str, ElementObservation]) -> list[str]:
    """Links in the data outside the contract's vocabulary (`nbiot` for `nb-iot`): such an
    element is in neither count of a share — said, never left out quietly."""
    odd: dict[str, list[str]] = {}
    for o in obs.values():
        for link in o.links:
            if link not in LINKS:
                odd.setdefault(link, []).append(o.element)
    if not odd:
        return []
    shown = "; ".join(
        f"{link!r:.30} ({len(els)}: {listed(els, 3)})" for link, els in sorted(odd.items())
    )
    return [
        f"status rows name links outside the data contract, counted on no link: {shown} — "
        f"the links are {', '.join(sorted(LINKS))}"
    ]


def _cadence_note(obs: dict[str, ElementObservation], ctx: Context) -> list[str]:
    """When no element is online often enough, and the most-seen one was seen in a steady
    fraction of the intervals, the status rows likely come at a slower cadence than the
    inventory's `status_interval_s`: say so, with the interval the data suggests."""
    seen = [o for o in obs.values() if o.declared and o.expected_intervals]
    if not seen or any(o.online for o in seen):
        return []
    best = max(seen, key=lambda o: o.online_intervals)
    if not best.online_intervals:
        return []
    interval = ctx.inventory.status_interval_s
    suggested = round(interval * best.expected_intervals / best.online_intervals)
    if suggested < 2 * interval:
        return []
    return [
        f"no element is online in {ctx.params.min_online_fraction} of its status intervals; "
        f"the most seen ({best.element}) reported in {best.online_intervals} of "
        f"{best.expected_intervals}: status rows seem to come every ~{suggested} s, the "
        f"inventory says status_interval_s = {interval} — if the devices report that "
        f"slowly, set status_interval_s = {suggested}"
    ]


def element_row(o: ElementObservation, ctx: Context) -> dict[str, Any]:
    declared = ctx.declared.get(o.element)
    return {
        "element": o.element,
        "declared_link": declared.link if declared else None,
        "observed_link": o.observed_link,
        "online_intervals": o.online_intervals,
        "expected_intervals": o.expected_intervals,
        "online": o.online,
        "links": ", ".join(f"{k}:{v}" for k, v in sorted(o.links.items())),
    }


@method
async def wireless_5g_share(ctx: Context, params: dict[str, Any]) -> Measured:
    obs = await ctx.elements()
    declared = ctx.declared
    wireless = [
        o
        for o in obs.values()
        if o.element in declared and o.online and o.observed_link in WIRELESS_LINKS
    ]
    on5g = [o for o in wireless if o.observed_link == LINK_5G]
    notes = undeclared_note(obs) + vocabulary_note(obs) + _cadence_note(obs, ctx)
    moved = [o.element for o in wireless if o.observed_link != declared[o.element].link]
    if moved:
        notes.append(
            f"{len(moved)} element(s) were observed on another link than declared "
            f"(counted by the observed link): {', '.join(moved[:5])}"
        )
    rows = [element_row(o, ctx) for o in obs.values() if o.element in declared]
    return ratio(
        len(on5g), len(wireless), notes=notes, breakdown=Breakdown(by="element", rows=rows)
    )


def _share_row(row: dict[str, Any]) -> tuple[bool, bool]:
    wireless = bool(row.get("online")) and row.get("observed_link") in WIRELESS_LINKS
    return wireless and row.get("observed_link") == LINK_5G, wireless


#: per method, how one row of its breakdown enters its ratio: (in the numerator, in the
#: denominator) — written beside the method, so a report marks exactly what it counted
ROW_COUNTS: dict[str, Callable[[dict[str, Any]], tuple[bool, bool]]] = {
    "wireless_5g_share": _share_row,
    "key_equipment_nc": lambda row: (bool(row.get("counted")), True),
    "point_collection": lambda row: (bool(row.get("complete")), True),
}


def row_counts(method: str | None, rows: list[dict[str, Any]]) -> list[tuple[bool, bool]] | None:
    """For each breakdown row of a result computed by `method`: whether it is in the
    numerator and in the denominator; None for a method whose rows do not say."""
    rule = ROW_COUNTS.get(method or "")
    return None if rule is None else [rule(r) for r in rows]


@method
async def connected_devices(ctx: Context, params: dict[str, Any]) -> Measured:
    link = params.get("link", LINK_5G)
    obs = await ctx.elements()
    devices = [e for e in ctx.inventory.elements if e.kind in DEVICE_KINDS]
    counted = [
        e.id
        for e in devices
        if obs[e.id].online and (link == "any" or obs[e.id].observed_link == link)
    ]
    rows = [{**element_row(obs[e.id], ctx), "kind": e.kind} for e in devices]
    online_any = sum(1 for e in devices if obs[e.id].online)
    notes = [
        f"{online_any} of {len(devices)} declared devices online on any link",
        *undeclared_note(obs),
        *vocabulary_note(obs),
        *_cadence_note(obs, ctx),
    ]
    return count(len(counted), notes=notes, breakdown=Breakdown(by="element", rows=rows))


@method
async def key_equipment_nc(ctx: Context, params: dict[str, Any]) -> Measured:
    obs = await ctx.elements()
    key = [e for e in ctx.inventory.elements if e.key_equipment]
    nc = [e for e in key if e.numerically_controlled and obs[e.id].online]
    rows = [
        {
            "element": e.id,
            "numerically_controlled": e.numerically_controlled,
            "online": obs[e.id].online,
            "online_intervals": obs[e.id].online_intervals,
            "counted": e in nc,
        }
        for e in key
    ]
    return ratio(len(nc), len(key), breakdown=Breakdown(by="element", rows=rows))


#: the series of the point_health measurement: one per point of an element
POINT_SERIES = ("element", "point")


async def good_per_point(ctx: Context) -> dict[tuple[str, str], dict[str, Fraction]]:
    """sum(good) and sum(expected) of point_health per (element, point) in the window."""
    per_key: dict[tuple[str, str], dict[str, Fraction]] = {}
    for f in ("good", "expected"):
        df = await ctx.log.aggregate(
            Aggregate.over(ctx.window, "point_health", f, "sum", group_by=POINT_SERIES)
        )
        for element, point, value in df.itertuples(index=False):
            per_key.setdefault((str(element), str(point)), {})[f] = Fraction(value)
    return per_key


async def collection_rows(ctx: Context, scope: set[str]) -> list[dict[str, Any]]:
    """One row per declared point of the categories `scope`: its expected samples (from
    the declared period, so a silent agent cannot shrink it), good samples, and whether
    it is complete — automatic and good ÷ expected ≥ min_point_completeness."""
    a, b = ctx.window.start_ns, ctx.window.end_ns
    per_key = await good_per_point(ctx)
    rows = []
    for e in ctx.inventory.elements:
        for p in e.points:
            if p.category not in scope:
                continue
            expected = grid_count(a, b, int(Fraction(p.period_s) * NS))
            got = per_key.get((e.id, p.id), {})
            good = int(got.get("good", 0))
            ok = (
                p.collection == "auto"
                and bool(expected)
                and (Fraction(good, expected) >= ctx.params.min_point_completeness)
            )
            rows.append(
                {
                    "element": e.id,
                    "point": p.id,
                    "category": p.category,
                    "collection": p.collection,
                    "expected": expected,
                    "reported_expected": int(got.get("expected", 0)),
                    "good": good,
                    "complete": ok,
                }
            )
    return rows


@method
async def point_collection(ctx: Context, params: dict[str, Any]) -> Measured:
    rows = await collection_rows(ctx, set(params["scope"]))
    complete = sum(1 for r in rows if r["complete"])
    manual = sum(1 for r in rows if r["collection"] == "manual")
    notes = [f"{manual} manual point(s) count in the denominator only"] if manual else []
    return ratio(complete, len(rows), notes=notes, breakdown=Breakdown(by="point", rows=rows))


@method
async def points_reporting(ctx: Context, params: dict[str, Any]) -> Measured:
    df = await ctx.log.aggregate(
        Aggregate.over(ctx.window, "point_health", "good", "sum", group_by=POINT_SERIES)
    )
    n = sum(1 for *_k, good in df.itertuples(index=False) if good > 0)
    return Measured(value=Fraction(n), numerator=n, notes=[f"{len(df)} point series reported"])


@method
async def auto_control(ctx: Context, params: dict[str, Any]) -> Measured:
    w = ctx.window
    n = grid_count(w.start_ns, w.end_ns, ctx.inventory.status_interval_s * NS)
    got: dict[str, dict[bool, int]] = {}
    for equals in (True, False):
        df = await ctx.log.aggregate(
            Aggregate.over(
                w, "control_loop", "auto", "count", group_by=("loop",), field_equals=equals
            )
        )
        for loop, k in df.itertuples(index=False):
            got.setdefault(str(loop), {})[equals] = int(k)
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    auto_total = 0
    for loop in ctx.inventory.loops:
        counts = got.get(loop.id, {})
        auto = counts.get(True, 0)
        reported = auto + counts.get(False, 0)
        auto_total += auto
        rows.append(
            {"loop": loop.id, "auto": auto, "manual": counts.get(False, 0), "missing": n - reported}
        )
        if not reported:
            notes.append(f"loop {loop.id} has no data in the window: counted as manual")
    missing = sum(int(r["missing"]) for r in rows)
    if missing:
        notes.append(f"{missing} loop-interval(s) without data count as manual")
    return ratio(
        auto_total,
        n * len(ctx.inventory.loops),
        notes=notes,
        breakdown=Breakdown(by="loop", rows=rows),
    )


def complete_days(window: Window, tz: str) -> list[tuple[int, int]]:
    days = LocalDays(tz=tz).boundaries(window.start_ns, window.end_ns)
    return [(lo, hi) for lo, hi in days if lo >= window.start_ns and hi <= window.end_ns]


def day_label(ns: int, tz: str) -> str:
    return datetime.fromtimestamp(ns // NS, ZoneInfo(tz)).date().isoformat()


@method
async def daily_resolutions(ctx: Context, params: dict[str, Any]) -> Measured:
    tz = ctx.inventory.timezone
    days = complete_days(ctx.window, tz)
    last = params.get("last_days")
    if last is not None:
        days = days[-int(last) :]
    if not days:
        return ratio(0, 0, notes=["the window holds no complete local day"])
    df = await ctx.log.aggregate(
        Aggregate(
            measurement="identifier",
            field="resolutions",
            fn="sum",
            start_ns=days[0][0],
            end_ns=days[-1][1],
            buckets=LocalDays(tz=tz),
            **_node_filter(ctx.inventory),
        )
    )
    per_day = {int(t): Fraction(v) for t, v in df.itertuples(index=False)}
    rows: list[dict[str, Any]] = []
    for lo, _hi in days:
        v = per_day.get(lo)
        rows.append({"day": day_label(lo, tz), "resolutions": int(v or 0), "no_data": v is None})
    empty = [str(r["day"]) for r in rows if r["no_data"]]
    notes = [f"days without data (counted as 0): {', '.join(empty)}"] if empty else []
    if last is not None and len(days) < int(last):
        notes.append(f"only {len(days)} complete day(s) in the window, fewer than {last}")
    total = sum(int(r["resolutions"]) for r in rows)
    return ratio(total, len(days), notes=notes, breakdown=Breakdown(by="day", rows=rows))


def _node_filter(inventory: Inventory) -> dict[str, Any]:
    nodes = inventory.identifier_nodes
    return {"where": {"node": tuple(nodes)}} if nodes else {}


@method
async def active_enterprises(ctx: Context, params: dict[str, Any]) -> Measured:
    df = await ctx.log.aggregate(
        Aggregate.over(
            ctx.window,
            "identifier",
            "resolutions",
            "sum",
            group_by=("enterprise",),
            **_node_filter(ctx.inventory),
        )
    )
    rows: list[dict[str, Any]] = [
        {"enterprise": str(e), "resolutions": int(v)} for e, v in df.itertuples(index=False)
    ]
    n = sum(1 for r in rows if r["resolutions"] > 0)
    return Measured(value=Fraction(n), numerator=n, breakdown=Breakdown(by="enterprise", rows=rows))


@method
async def registrations(ctx: Context, params: dict[str, Any]) -> Measured:
    start = ctx.params.history_start_ns
    df = await ctx.log.aggregate(
        Aggregate(
            measurement="identifier",
            field="registrations",
            fn="sum",
            start_ns=start,
            end_ns=ctx.window.end_ns,
            **_node_filter(ctx.inventory),
        )
    )
    n = int(df["value"].iloc[0]) if len(df) else 0
    since = (
        "the start of the stored history" if not start else Window.of_ns(start, start + NS).start
    )
    return Measured(value=Fraction(n), numerator=n, notes=[f"cumulative since {since}"])


COUNTERS = ("output", "defects", "energy_kwh", "runtime_s")


@method
async def improvement(ctx: Context, params: dict[str, Any]) -> Measured:
    if ctx.baseline is None:
        return Measured(
            value=None, notes=["needs a baseline window (--baseline-from/--baseline-to)"]
        )
    metric = params["metric"]
    lines = [x.id for x in ctx.inventory.lines]
    totals: dict[str, dict[str, Fraction]] = {}
    rows = []
    for name, w in (("baseline", ctx.baseline), ("evaluation", ctx.window)):
        per_line = await ctx.sums("production", COUNTERS, "line", w)
        totals[name] = {
            f: sum((per_line.get(x, {}).get(f, Fraction(0)) for x in lines), Fraction(0))
            for f in COUNTERS
        }
        for x in lines:
            rows.append(
                {
                    "period": name,
                    "line": x,
                    **{f: str(per_line.get(x, {}).get(f, 0)) for f in COUNTERS},
                }
            )
    base, ev = totals["baseline"], totals["evaluation"]

    def per(t: dict[str, Fraction], num: str, den: str) -> Fraction | None:
        return t[num] / t[den] if t[den] else None

    value: Fraction | None = None
    if metric == "efficiency":
        b, e = per(base, "output", "runtime_s"), per(ev, "output", "runtime_s")
        value = e / b - 1 if b and e is not None else None
    elif metric == "defect_rate":
        b, e = per(base, "defects", "output"), per(ev, "defects", "output")
        value = (b - e) / b if b and e is not None else None
    elif metric == "energy_utilization":
        b, e = per(base, "output", "energy_kwh"), per(ev, "output", "energy_kwh")
        value = e / b - 1 if b and e is not None else None
    else:
        raise ValueError(f"unknown improvement metric {metric!r} in measures.yaml")
    notes = [] if value is not None else ["a period has no output, runtime or energy to divide by"]
    return Measured(value=value, notes=notes, breakdown=Breakdown(by="line", rows=rows))


@method
async def networking_rate_change(ctx: Context, params: dict[str, Any]) -> Measured:
    if ctx.baseline is None:
        return Measured(
            value=None, notes=["needs a baseline window (--baseline-from/--baseline-to)"]
        )
    declared = [e.id for e in ctx.inventory.elements]
    if not declared:
        return Measured(value=None, notes=["no element is declared"])
    rates = {}
    rows = []
    for name, w in (("baseline", ctx.baseline), ("evaluation", ctx.window)):
        obs = await ctx.elements(w)
        online = sum(1 for i in declared if obs[i].online)
        rates[name] = Fraction(online, len(declared))
        rows.append({"period": name, "online": online, "declared": len(declared)})
    return Measured(
        value=rates["evaluation"] - rates["baseline"],
        notes=["percentage points (0.1 = 10 points)"],
        breakdown=Breakdown(by="period", rows=rows),
    )


# the methods of the other clauses register themselves in METHODS on import
from kpi import (  # noqa: E402, F401
    collection_methods,
    network_methods,
    platform_methods,
    probe_methods,
    report_methods,
    security_methods,
)
