"""The method of the reporting clauses: a report uploaded to a platform (the provincial
security platform …) every local day, data or an explicit empty-data marker, as the
uploader tells the agent in `report_upload`. Semantics: docs/kpis.md."""

from __future__ import annotations

from typing import Any

from kpi.methods import ROW_COUNTS, Context, complete_days, day_label, every, listed, method
from kpi.results import Measured
from telemetry import Aggregate, LocalDays


@method
async def daily_reports(ctx: Context, params: dict[str, Any]) -> Measured:
    """Whether every complete local day of the window has an acknowledged report to
    `target` (a data report or an empty-data marker); a day with neither is a failure."""
    tz = ctx.inventory.timezone
    days = complete_days(ctx.window, tz)
    target = str(params["target"])
    if not days:
        return Measured(
            value=None,
            notes=["the window holds no complete local day: daily reporting cannot be judged"],
        )
    per_day: dict[str, dict[int, int]] = {}
    for field in ("acked", "empty"):  # acknowledged reports; empty-data markers
        got: dict[int, int] = {}
        if days:
            df = await ctx.log.aggregate(
                Aggregate(
                    measurement="report_upload",
                    field=field,
                    fn="count",
                    start_ns=days[0][0],
                    end_ns=days[-1][1],
                    buckets=LocalDays(tz=tz),
                    where={"target": target},
                    field_equals=True,
                )
            )
            got = {int(t): int(n) for t, n in df.itertuples(index=False)}
        per_day[field] = got
    rows: list[dict[str, Any]] = []
    for lo, _hi in days:
        acked = per_day["acked"].get(lo, 0)
        rows.append(
            {
                "day": day_label(lo, tz),
                "reports": acked,
                "empty_markers": per_day["empty"].get(lo, 0),
                "reported": acked > 0,
            }
        )
    missing = [str(r["day"]) for r in rows if not r["reported"]]
    notes = (
        [f"days without an acknowledged report to {target}: {listed(missing, 10)}"]
        if missing
        else []
    )
    return every(
        rows, "reported", by="day", nothing="the window holds no complete local day", notes=notes
    )


ROW_COUNTS["daily_reports"] = lambda row: (bool(row.get("reported")), True)
