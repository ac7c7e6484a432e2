"""The method of the security-operations clauses: security events the detection system
logged (`security_event`), each with the asset it hit and its disposition.
Semantics: docs/kpis.md."""

from __future__ import annotations

from typing import Any

from kpi.methods import Context, achieved, listed, method
from kpi.results import Breakdown, Measured
from telemetry import Aggregate

#: the disposition of an event nothing was done about yet
OPEN = "open"


async def _per_kind(ctx: Context, **options: Any) -> dict[tuple[str, str], int]:
    df = await ctx.log.aggregate(
        Aggregate.over(
            ctx.window,
            "security_event",
            "disposition",
            "count",
            group_by=("type", "severity"),
            **options,
        )
    )
    return {(str(t), str(s)): int(n) for t, s, n in df.itertuples(index=False)}


@method
async def security_events_logged(ctx: Context, params: dict[str, Any]) -> Measured:
    """Whether the detection system logged at least `min_count` security events (default
    1) in the window — each names the asset it hit and its disposition, as the contract
    holds it to; events still `open` are named, and decide nothing: the clause asks that
    events are detected and logged."""
    events = await _per_kind(ctx)
    still_open = await _per_kind(ctx, field_equals=OPEN)
    rows: list[dict[str, Any]] = [
        {"type": t, "severity": s, "events": n, "open": still_open.get((t, s), 0)}
        for (t, s), n in sorted(events.items())
    ]
    total = sum(events.values())
    notes = [f"{total} event(s) of {len({t for t, _ in events})} type(s) logged"]
    waiting = [f"{r['type']}/{r['severity']} ({r['open']})" for r in rows if r["open"]]
    if waiting:
        notes.append(f"events still open (no disposition yet): {listed(waiting)}")
    return achieved(
        total,
        total,
        {"min_count": params.get("min_count", 1), "min_share": 0},
        nothing="no security event was logged in the window (a quiet window cannot show "
        "detection): the detection system sends security_event rows",
        notes=notes,
        breakdown=Breakdown(by="type", rows=rows),
    )
