"""The method of the security-operations clauses: security events the detection system
logged (`security_event`), each with what it hit and what was done about it.
Semantics: docs/kpis.md."""

from __future__ import annotations

from typing import Any

from kpi.methods import Context, achieved, listed, method
from kpi.results import Breakdown, Measured
from telemetry import Aggregate


async def _per_kind(ctx: Context, field: str) -> dict[tuple[str, str], int]:
    df = await ctx.log.aggregate(
        Aggregate.over(ctx.window, "security_event", field, "count", group_by=("type", "severity"))
    )
    return {(str(t), str(s)): int(n) for t, s, n in df.itertuples(index=False)}


@method
async def security_events_logged(ctx: Context, params: dict[str, Any]) -> Measured:
    """Whether the detection system logged at least `min_count` security events (default
    1) in the window, every one with its target asset and its disposition (blocked,
    isolated, fixed …): an event without a disposition is detected, not handled."""
    events = await _per_kind(ctx, "target")
    handled = await _per_kind(ctx, "disposition")
    rows: list[dict[str, Any]] = [
        {
            "type": t,
            "severity": s,
            "events": n,
            "with_disposition": handled.get((t, s), 0),
        }
        for (t, s), n in sorted(events.items())
    ]
    total = sum(events.values())
    done = sum(min(n, handled.get(k, 0)) for k, n in events.items())
    notes = [f"{total} event(s) of {len({t for t, _ in events})} type(s) logged"]
    open_ = [f"{r['type']}/{r['severity']} ({r['events'] - r['with_disposition']})"
             for r in rows if r["with_disposition"] < r["events"]]  # fmt: skip
    if open_:
        notes.append(f"events logged without a disposition: {listed(open_)}")
    return achieved(
        done,
        total,
        {"min_count": params.get("min_count", 1), "min_share": 1},
        nothing="no security event was logged in the window (a quiet window cannot show "
        "detection): the detection system sends security_event rows",
        notes=notes,
        breakdown=Breakdown(by="type", rows=rows),
    )
