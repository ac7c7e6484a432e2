"""Methods of the network clauses: elements networked, controllers on 5G, live application
scenarios, 5G radio coverage, IPv6. Each reads `element_status` through the element
observations KPIs share. Semantics: docs/kpis.md."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from kpi.methods import (
    Context,
    _element_row,
    _undeclared_note,
    _vocabulary_note,
    achieved,
    count,
    listed,
    method,
    ratio,
)
from kpi.results import Breakdown, Measured
from telemetry import Aggregate
from telemetry.schema import LINK_5G


def _text(v: float) -> str:
    """A float as a breakdown shows it, the same from every store: InfluxDB's JSON gives
    -0.0 as 0, so the sign of zero is dropped here too."""
    return repr(v + 0.0)


def _kinds(params: dict[str, Any]) -> frozenset[str] | None:
    kinds = params.get("kinds")
    return None if kinds is None else frozenset(kinds)


@method
async def elements_networked(ctx: Context, params: dict[str, Any]) -> Measured:
    """Whether the declared elements of `kinds` were online on some link: at least
    `min_share` of them (default all)."""
    obs = await ctx.elements()
    kinds = _kinds(params)
    scope = [e for e in ctx.inventory.elements if kinds is None or e.kind in kinds]
    online = [e.id for e in scope if obs[e.id].online]
    rows = [{**_element_row(obs[e.id], ctx), "kind": e.kind} for e in scope]
    notes = _undeclared_note(obs) + _vocabulary_note(obs)
    offline = [e.id for e in scope if not obs[e.id].online]
    if offline:
        notes.append(
            f"{len(offline)} of {len(scope)} element(s) in scope were not online: {listed(offline)}"
        )
    return achieved(
        len(online),
        len(scope),
        params,
        nothing=f"no element of the kinds {sorted(kinds or [])} is declared",
        notes=notes,
        breakdown=Breakdown(by="element", rows=rows),
    )


@method
async def elements_on_link(ctx: Context, params: dict[str, Any]) -> Measured:
    """Whether at least `min_count` declared elements of `kinds` were online with
    `link` as their observed link (e.g. PLC/DCS controllers on 5G)."""
    obs = await ctx.elements()
    kinds = _kinds(params)
    link = params.get("link", LINK_5G)
    scope = [e for e in ctx.inventory.elements if kinds is None or e.kind in kinds]
    on = [e.id for e in scope if obs[e.id].online and obs[e.id].observed_link == link]
    rows = [{**_element_row(obs[e.id], ctx), "kind": e.kind} for e in scope]
    return achieved(
        len(on),
        len(scope),
        {"min_share": 0, **params},
        nothing=f"no element of the kinds {sorted(kinds or [])} is declared",
        notes=[f"{len(on)} of {len(scope)} in scope online on {link}", *_vocabulary_note(obs)],
        breakdown=Breakdown(by="element", rows=rows),
    )


@method
async def live_scenarios(ctx: Context, params: dict[str, Any]) -> Measured:
    """Distinct application scenarios (the inventory's `scenarios` tags) with at least
    one element online in the window — on `link` (default 5G) or on any link."""
    obs = await ctx.elements()
    link = params.get("link", LINK_5G)
    live: dict[str, list[str]] = {}
    tagged: dict[str, list[str]] = {}
    for e in ctx.inventory.elements:
        o = obs[e.id]
        up = o.online and (link == "any" or o.observed_link == link)
        for s in dict.fromkeys(e.scenarios):
            tagged.setdefault(s, []).append(e.id)
            if up:
                live.setdefault(s, []).append(e.id)
    rows: list[dict[str, Any]] = [
        {
            "scenario": s,
            "elements": len(els),
            "live_elements": len(live.get(s, [])),
            "live": s in live,
        }
        for s, els in sorted(tagged.items())
    ]
    notes = (
        [f"{len(live)} of {len(tagged)} declared scenario(s) live"]
        if tagged
        else ["no element declares a scenario: tag elements with `scenarios`"]
    )
    notes += [f"scenario {r['scenario']} has no element online" for r in rows if not r["live"]]
    return count(len(live), notes=notes, breakdown=Breakdown(by="scenario", rows=rows))


@method
async def radio_coverage(ctx: Context, params: dict[str, Any]) -> Measured:
    """Of the declared elements that reported RSRP on 5G in the window, those whose
    weakest RSRP and SINR reach `rsrp_min_dbm` and `sinr_min_db`: a share (`mode: share`)
    or whether at least `min_share` (default all) are covered."""
    rsrp_min = Fraction(str(params.get("rsrp_min_dbm", -105)))
    sinr_min = Fraction(str(params.get("sinr_min_db", -3)))
    weakest: dict[str, dict[str, float]] = {}
    for f in ("rsrp", "sinr"):
        df = await ctx.log.aggregate(
            Aggregate.over(
                ctx.window,
                "element_status",
                f,
                "min",
                group_by=("element",),
                where={"link": LINK_5G},
            )
        )
        for element, v in df.itertuples(index=False):
            weakest.setdefault(str(element), {})[f] = float(v)
    rows: list[dict[str, Any]] = []
    for e in ctx.inventory.elements:
        w = weakest.get(e.id)
        if w is None or "rsrp" not in w:
            continue
        rsrp, sinr = w["rsrp"], w.get("sinr")
        covered = Fraction(str(rsrp)) >= rsrp_min and (
            sinr is None or Fraction(str(sinr)) >= sinr_min
        )
        rows.append(
            {
                "element": e.id,
                "min_rsrp_dbm": _text(rsrp),
                "min_sinr_db": None if sinr is None else _text(sinr),
                "covered": covered,
            }
        )
    notes = [
        f"locations are the 5G elements' own reports (CPE/terminal RSRP and SINR); covered "
        f"means the weakest report reaches RSRP {rsrp_min} dBm and SINR {sinr_min} dB",
    ]
    obs = await ctx.elements()
    reported = {str(r["element"]) for r in rows}
    dark = [
        e.id
        for e in ctx.inventory.elements
        if e.link == LINK_5G and e.id not in reported and obs[e.id].online
    ]
    rows += [{"element": i, "min_rsrp_dbm": None, "min_sinr_db": None, "covered": False}
             for i in dark]  # fmt: skip
    if dark:
        notes.append(
            f"{len(dark)} declared 5G element(s) were online but reported no RSRP, so "
            f"nothing shows them covered: {listed(dark)}"
        )
    off = [e.id for e in ctx.inventory.elements
           if e.link == LINK_5G and e.id not in reported and not obs[e.id].online]  # fmt: skip
    if off:
        notes.append(
            f"{len(off)} declared 5G element(s) were not online and are not counted: {listed(off)}"
        )
    n = sum(1 for r in rows if r["covered"])
    breakdown = Breakdown(by="element", rows=rows)
    if params.get("mode") == "share":
        return ratio(n, len(rows), notes=notes, breakdown=breakdown)
    return achieved(
        n, len(rows), params, nothing="no element reported RSRP on 5G", notes=notes,
        breakdown=breakdown,
    )  # fmt: skip


@method
async def ipv6_elements(ctx: Context, params: dict[str, Any]) -> Measured:
    """Whether the declared elements of `kinds` that were online reported IPv6 in their
    status rows — in at least min_online_fraction of the window's status intervals, as
    online is counted: at least `min_count`, and `min_share` of them (default all)."""
    obs = await ctx.elements()
    kinds = _kinds(params)
    df = await ctx.log.aggregate(
        Aggregate.over(
            ctx.window, "element_status", "ipv6", "count", group_by=("element",), field_equals=True
        )
    )
    v6 = {str(e): int(n) for e, n in df.itertuples(index=False)}
    scope = [
        e for e in ctx.inventory.elements if (kinds is None or e.kind in kinds) and obs[e.id].online
    ]
    need = ctx.params.min_online_fraction
    rows: list[dict[str, Any]] = [
        {
            "element": e.id,
            "kind": e.kind,
            "ipv6_intervals": v6.get(e.id, 0),
            "expected_intervals": obs[e.id].expected_intervals,
            # as online: in at least min_online_fraction of the window's status intervals
            "ipv6": Fraction(v6.get(e.id, 0), obs[e.id].expected_intervals) >= need,
        }
        for e in scope
    ]
    n = sum(1 for r in rows if r["ipv6"])
    return achieved(
        n,
        len(scope),
        params,
        nothing=f"no element of the kinds {sorted(kinds or [])} was online",
        notes=[f"{n} of {len(scope)} online element(s) in scope reported IPv6"],
        breakdown=Breakdown(by="element", rows=rows),
    )
