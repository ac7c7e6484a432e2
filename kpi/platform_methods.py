"""The method of the platform clauses: a count the platform reports about itself
(registered developers, apps deployed, subscribing enterprises, connected factories …),
exported to the agent as `platform_counter` and sealed like any KPI-stream row.
Semantics: docs/kpis.md."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from kpi.methods import Context, method
from kpi.results import Breakdown, Measured, ns_to_iso
from telemetry import Aggregate

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
    elif num > den:
        notes.append(
            f"the platform reports {num} {params['numerator']} of {den} "
            f"{params['denominator']}: more than all — check its counters"
        )
    return Measured(
        value=Fraction(num, den) if den else None,
        numerator=num,
        denominator=den,
        notes=notes,
        breakdown=Breakdown(by="counter", rows=rows),
    )
