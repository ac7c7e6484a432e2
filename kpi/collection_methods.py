"""Methods of the data-collection clauses: real-time collection of a category of data
(equipment status, energy, environment, quality), and the protocols that delivered data.
Both read `point_health` against the declared points. Semantics: docs/kpis.md."""

from __future__ import annotations

from typing import Any

from kpi.methods import Context, achieved, collection_rows, good_per_point, listed, method
from kpi.results import Breakdown, Measured


@method
async def category_collection(ctx: Context, params: dict[str, Any]) -> Measured:
    """Whether the declared points of the categories `scope` are collected automatically
    in real time: each category has a declared point, and at least `min_share` (default
    all) of the points are complete (automatic, good ÷ expected ≥ min_point_completeness)."""
    scope = list(params["scope"])
    rows = await collection_rows(ctx, set(scope))
    complete = sum(1 for r in rows if r["complete"])
    notes: list[str] = []
    absent = [c for c in scope if not any(r["category"] == c for r in rows)]
    if absent:
        notes.append(
            f"no point of the categories {', '.join(absent)} is declared: declare the "
            "points that show them (category = …) — without them it is not achieved"
        )
    short = [f"{r['element']}.{r['point']}" for r in rows if not r["complete"]]
    if short:
        notes.append(
            f"{len(short)} point(s) not collected automatically and completely: {listed(short)}"
        )
    m = achieved(
        complete,
        len(rows),
        params,
        nothing=f"no point of {', '.join(scope)} is declared",
        notes=notes,
        breakdown=Breakdown(by="point", rows=rows),
    )
    if absent and m.value:
        m = m.model_copy(update={"value": False})
    return m


@method
async def protocols_delivering(ctx: Context, params: dict[str, Any]) -> Measured:
    """Distinct protocols (the declared points' `protocol`) over which at least one point
    delivered a good sample in the window; achieved when at least `min_count` did — of
    `any_of` when it lists some (e.g. OPC UA or MQTT)."""
    per_key = await good_per_point(ctx)
    any_of = set(params.get("any_of") or [])
    declared: dict[str, int] = {}
    delivering: dict[str, int] = {}
    unnamed = 0
    for e in ctx.inventory.elements:
        for p in e.points:
            if p.collection != "auto":
                continue
            if p.protocol is None:
                unnamed += 1
                continue
            declared[p.protocol] = declared.get(p.protocol, 0) + 1
            if per_key.get((e.id, p.id), {}).get("good", 0) > 0:
                delivering[p.protocol] = delivering.get(p.protocol, 0) + 1
    rows: list[dict[str, Any]] = [
        {
            "protocol": proto,
            "points": n,
            "points_delivering": delivering.get(proto, 0),
            "delivered": proto in delivering,
        }
        for proto, n in sorted(declared.items())
    ]
    counted = {r["protocol"] for r in rows if r["delivered"]}
    scope = set(declared)
    if any_of:
        counted &= any_of
        scope &= any_of
    notes = [
        f"protocols that delivered data: {', '.join(sorted(counted)) or 'none'}",
        "each point's protocol is as the inventory declares it; a site config holds it to "
        "the OPC UA or Modbus source that names the point (an MQTT subscription names no "
        "points, and points another agent reads are that agent's config)",
    ]
    if unnamed:
        notes.append(
            f"{unnamed} automatic point(s) declare no protocol and are not counted: set "
            "`protocol` on each point of the inventory (opcua, modbus, mqtt …)"
        )
    return achieved(
        len(counted),
        len(scope),
        {"min_count": 2 if not any_of else 1, "min_share": 0, **params},
        nothing="no automatic point declares a protocol"
        + (f" of {', '.join(sorted(any_of))}" if any_of else ""),
        notes=notes,
        breakdown=Breakdown(by="protocol", rows=rows),
    )
