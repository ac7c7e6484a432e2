"""The method of the platform clauses: a count the platform reports about itself
(registered developers, apps deployed, subscribing enterprises, connected factories …),
exported to the agent as `platform_counter` and sealed like any KPI-stream row.
Semantics: docs/kpis.md."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from kpi.methods import (
    ROW_COUNTS,
    Context,
    achieved,
    complete_days,
    day_label,
    every,
    listed,
    method,
)
from kpi.results import Breakdown, Measured, ns_to_iso
from telemetry import Aggregate, LocalDays
from telemetry.timegrid import NS

#: said with every value: the count is the platform's own, not observed on the network
SELF_REPORTED = (
    "the platform reports this number about itself (platform_counter {counter}): the "
    "series is signed and sealed by the agent, its truth rests on the platform"
)


@method
async def platform_counter(ctx: Context, params: dict[str, Any]) -> Measured:
    """The latest value (`fn: max`: the highest) of the counter `counter` in the window,
    summed over the platforms that export it; with `at_least`, whether it reaches that."""
    name = str(params["counter"])
    rows = await _per_platform(ctx, name, str(params.get("fn", "last")))
    notes = [SELF_REPORTED.format(counter=name)]
    if not rows:
        notes.append(
            f"no platform exported {name!r} in the window: send platform_counter rows "
            f"(counter={name}) to the agent"
        )
        return Measured(value=None, notes=notes)
    if params.get("fn") == "max":
        # peaks of several platforms need not fall at one time: the highest is shown, not
        # their sum (which no moment may have reached)
        total = max(int(r["value"]) for r in rows)
        if len(rows) > 1:
            notes.append(f"the highest of {len(rows)} platforms' peaks; peaks are not added")
    else:
        total = sum(int(r["value"]) for r in rows)
    if "at_least" in params:
        return Measured(
            value=total >= int(params["at_least"]),
            numerator=total,
            notes=[f"{total} reported; achieved at {params['at_least']} or more", *notes],
            breakdown=Breakdown(by="platform", rows=rows),
        )
    return Measured(
        value=Fraction(total),
        numerator=total,
        notes=notes,
        breakdown=Breakdown(by="platform", rows=rows),
    )


async def _per_platform(ctx: Context, name: str, fn: str) -> list[dict[str, Any]]:
    if fn not in ("last", "max"):
        raise ValueError(f"platform_counter fn {fn!r} in measures.yaml: use last or max")
    df = await ctx.log.aggregate(
        Aggregate.over(
            ctx.window,
            "platform_counter",
            "value",
            "last" if fn == "last" else "max",
            group_by=("platform",),
            where={"counter": name},
            keep_time=fn == "last",
        )
    )
    if fn == "max":
        return [{"platform": str(p), "value": int(v)} for p, v in df.itertuples(index=False)]
    return [
        {"platform": str(p), "at": ns_to_iso(int(t)), "value": int(v)}
        for p, t, v in df.itertuples(index=False)
    ]


@method
async def platform_share(ctx: Context, params: dict[str, Any]) -> Measured:
    """The latest `numerator` counter ÷ the latest `denominator` counter, both as the
    platform reports them (e.g. park enterprises on the park network ÷ park enterprises)."""
    num_rows = await _per_platform(ctx, str(params["numerator"]), "last")
    den_rows = await _per_platform(ctx, str(params["denominator"]), "last")
    notes = [SELF_REPORTED.format(counter=f"{params['numerator']} ÷ {params['denominator']}")]
    if not num_rows or not den_rows:
        notes.append(
            f"the window holds no export of {params['numerator']!r} or "
            f"{params['denominator']!r}: insufficient data"
        )
        return Measured(value=None, notes=notes)
    # both sides from the same platforms: a share of one platform's count over another's
    # total says nothing
    both = sorted({str(r["platform"]) for r in num_rows} & {str(r["platform"]) for r in den_rows})
    one_side = sorted({str(r["platform"]) for r in (*num_rows, *den_rows)} - set(both))
    if one_side:
        notes.append(
            f"platform(s) exporting only one side of the share are left out: "
            f"{', '.join(one_side[:5])}"
        )
    num = sum(int(r["value"]) for r in num_rows if r["platform"] in both)
    den = sum(int(r["value"]) for r in den_rows if r["platform"] in both)
    rows = [{"counter": str(params["numerator"]), **r} for r in num_rows] + [
        {"counter": str(params["denominator"]), **r} for r in den_rows
    ]
    if not den:
        notes.append("nothing to divide by: insufficient data (no division by zero)")
    elif num > den and "below" not in params:
        notes.append(
            f"the platform reports {num} {params['numerator']} of {den} "
            f"{params['denominator']}: more than all — check its counters"
        )
    value: Fraction | bool | None = Fraction(num, den) if den else None
    if value is not None and "at_least" in params:
        bound = Fraction(str(params["at_least"]))
        notes.insert(0, f"{num} of {den} — achieved at {bound} or more")
        value = value >= bound
    elif value is not None and "below" in params:
        bound = Fraction(str(params["below"]))
        floor = Fraction(str(params.get("above", 0)))
        notes.insert(0, f"{num} of {den} — achieved below {bound} and above {floor}")
        value = floor < value < bound
    return Measured(
        value=value,
        numerator=num,
        denominator=den,
        notes=notes,
        breakdown=Breakdown(by="counter", rows=rows),
    )


async def _ends(ctx: Context, names: list[str]) -> dict[str, dict[str, tuple[int, int, int]]]:
    """counter → platform → (first value, last value, exports) in the window."""
    got: dict[str, dict[str, list[int]]] = {}
    for fn in ("first", "last", "count"):
        df = await ctx.log.aggregate(
            Aggregate.over(
                ctx.window,
                "platform_counter",
                "value",
                fn,
                group_by=("platform", "counter"),
                where={"counter": tuple(names)},
            )
        )
        for platform, counter, v in df.itertuples(index=False):
            got.setdefault(str(counter), {}).setdefault(str(platform), []).append(int(v))
    return {c: {p: (v[0], v[1], v[2]) for p, v in ps.items()} for c, ps in got.items()}


@method
async def counters_rising(ctx: Context, params: dict[str, Any]) -> Measured:
    """Whether every counter of `counters` rose in the window on some platform that
    exports it (its last export above its first): the system did, in the window, what the
    clause names (registrations of each operation, identifier reads linked to records,
    interface messages …). A count that stands still shows no activity; one that falls is
    named (a reset of the exporter?) and does not hide another platform's rise; a counter
    exported only once in the window cannot show a rise, and leaves the finding open."""
    names = [str(c) for c in params["counters"]]
    ends = await _ends(ctx, names)
    rows: list[dict[str, Any]] = []
    notes = [SELF_REPORTED.format(counter=", ".join(names))]
    for name in names:
        per = ends.get(name, {})
        rise = sum(max(0, b - a) for a, b, _ in per.values())
        rows.append(
            {
                "counter": name,
                "platforms": len(per),
                "exports": sum(n for _, _, n in per.values()),
                "rise": rise,
                "rising": rise > 0,
            }
        )
        fell = sorted(p for p, (a, b, _) in per.items() if b < a)
        if fell:
            notes.append(f"{name} fell during the window on {listed(fell)}: an exporter reset?")
    absent = [str(r["counter"]) for r in rows if not r["platforms"]]
    if absent:
        notes.append(
            f"not exported in the window: {listed(absent)} — send platform_counter rows "
            f"with these counter names to the agent"
        )
    once = [str(r["counter"]) for r in rows if not r["rising"] and r["exports"] == 1]
    still = [str(r["counter"]) for r in rows if not r["rising"] and r["exports"] > 1]
    if still:
        notes.append(f"exported but did not rise in the window: {listed(still)}")
    found = every(rows, "rising", by="counter", nothing="no counter is named", notes=notes)
    if once and not still and not absent:
        found.notes.append(
            f"exported once in the window, so no rise can show: {listed(once)} — a longer "
            f"window, or more frequent exports, decides it"
        )
        found.value = None
    return found


@method
async def counters_daily(ctx: Context, params: dict[str, Any]) -> Measured:
    """Whether every feed the platform exports under `prefix` (e.g. `feed.` for the
    monitoring platform's indicator feeds) was refreshed — exported at least once — on
    every complete local day of the window, with at least `min_count` feeds (default 1).
    A feed exported in the `lookback_days` (default 7) before the window and not in it
    counts as a feed that stopped, not as one that never was."""
    prefix = str(params["prefix"])
    tz = ctx.inventory.timezone
    days = complete_days(ctx.window, tz)
    if not days:
        return Measured(
            value=None,
            notes=["the window holds no complete local day: daily refreshes cannot be judged"],
        )
    df = await ctx.log.aggregate(
        Aggregate(
            measurement="platform_counter",
            field="value",
            fn="count",
            start_ns=days[0][0],
            end_ns=days[-1][1],
            buckets=LocalDays(tz=tz),
            group_by=("counter",),
        )
    )
    per: dict[str, set[int]] = {}
    for counter, t, n in df.itertuples(index=False):
        if str(counter).startswith(prefix) and int(n) > 0:
            per.setdefault(str(counter), set()).add(int(t))
    back = int(params.get("lookback_days", 7)) * 86_400 * NS
    before = await ctx.log.aggregate(
        Aggregate(
            measurement="platform_counter",
            field="value",
            fn="count",
            start_ns=max(0, ctx.window.start_ns - back),
            end_ns=ctx.window.start_ns,
            group_by=("counter",),
        )
    )
    stopped = sorted(
        str(c) for c, n in before.itertuples(index=False)
        if str(c).startswith(prefix) and int(n) > 0 and str(c) not in per
    )  # fmt: skip
    for name in stopped:
        per[name] = set()
    rows = [
        {
            "feed": name,
            "days_refreshed": len(seen),
            "days": len(days),
            "regular": len(seen) == len(days),
        }
        for name, seen in sorted(per.items())
    ]
    notes = [SELF_REPORTED.format(counter=f"{prefix}*")]
    if stopped:
        notes.append(f"exported before the window and not in it: {listed(stopped)}")
    for r in rows:
        if not r["regular"] and r["feed"] not in stopped:
            gaps = [day_label(lo, tz) for lo, _ in days if lo not in per[str(r["feed"])]]
            notes.append(f"feed {r['feed']} was not refreshed on {listed(gaps, 5)}")
    if not rows:
        notes.append(f"no counter named {prefix}… was exported: the feeds send none")
    need = int(params.get("min_count", 1))
    if rows and len(rows) < need:
        notes.append(f"{len(rows)} feed(s), fewer than the {need} the clause's topics need")
    regular = sum(1 for r in rows if r["regular"])
    return achieved(
        regular,
        len(rows),
        {"min_count": need, "min_share": 1},
        nothing=f"no feed {prefix}…",
        notes=notes,
        breakdown=Breakdown(by="feed", rows=rows),
    )


ROW_COUNTS["counters_rising"] = lambda row: (bool(row.get("rising")), True)
ROW_COUNTS["counters_daily"] = lambda row: (bool(row.get("regular")), True)
