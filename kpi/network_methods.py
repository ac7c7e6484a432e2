"""Methods of the network clauses: elements networked, controllers on 5G, live application
scenarios, 5G radio coverage, IPv6. Each reads `element_status` through the element
observations KPIs share. Semantics: docs/kpis.md."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from kpi.methods import (
    Context,
    achieved,
    count,
    element_row,
    listed,
    method,
    ratio,
    undeclared_note,
    vocabulary_note,
)
from kpi.observe import ElementObservation
from kpi.results import Breakdown, Measured
from telemetry import Aggregate, DeclaredElement
from telemetry.schema import LINK_5G, WAN_LINKS


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
    rows = [{**element_row(obs[e.id], ctx), "kind": e.kind} for e in scope]
    notes = undeclared_note(obs) + vocabulary_note(obs)
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
    `link` (or one of `links`) as their observed link (e.g. PLC/DCS controllers on 5G,
    identifier carriers on 5G or NB-IoT)."""
    obs = await ctx.elements()
    kinds = _kinds(params)
    links = frozenset(params.get("links", [params.get("link", LINK_5G)]))
    scope = [e for e in ctx.inventory.elements if kinds is None or e.kind in kinds]
    if params.get("extranet"):
        scope = [e for e in scope if _on_extranet(e, obs)]
    on = [e.id for e in scope if obs[e.id].online and obs[e.id].observed_link in links]
    rows = [{**element_row(obs[e.id], ctx), "kind": e.kind} for e in scope]
    said = " or ".join(sorted(links))
    return achieved(
        len(on),
        len(scope),
        {"min_share": 0, **params},
        nothing=f"no element of the kinds {sorted(kinds or [])} is declared",
        notes=[f"{len(on)} of {len(scope)} in scope online on {said}", *vocabulary_note(obs)],
        breakdown=Breakdown(by="element", rows=rows),
    )


@method
async def live_scenarios(ctx: Context, params: dict[str, Any]) -> Measured:
    """Distinct application scenarios (the inventory's `scenarios` tags; with `tags:
    business_links`, the business links 环节 whose data elements carry) with at least one
    element online in the window — on `link` (default 5G) or on any link."""
    obs = await ctx.elements()
    link = params.get("link", LINK_5G)
    field = str(params.get("tags", "scenarios"))
    if field not in ("scenarios", "business_links"):
        raise ValueError(
            f"live_scenarios tags {field!r} in measures.yaml: use scenarios or business_links"
        )
    live: dict[str, list[str]] = {}
    tagged: dict[str, list[str]] = {}
    for e in ctx.inventory.elements:
        o = obs[e.id]
        up = o.online and (link == "any" or o.observed_link == link)
        for s in dict.fromkeys(getattr(e, field)):
            tagged.setdefault(s, []).append(e.id)
            if up:
                live.setdefault(s, []).append(e.id)
    label = "scenario" if field == "scenarios" else "business_link"
    rows: list[dict[str, Any]] = [
        {
            label: s,
            "elements": len(els),
            "live_elements": len(live.get(s, [])),
            "live": s in live,
        }
        for s, els in sorted(tagged.items())
    ]
    what = label.replace("_", " ")
    notes = (
        [f"{len(live)} of {len(tagged)} declared {what}(s) live"]
        if tagged
        else [f"no element declares a {what}: tag elements with `{field}`"]
    )
    notes += [f"{what} {r[label]} has no element online" for r in rows if not r["live"]]
    return count(len(live), notes=notes, breakdown=Breakdown(by=label, rows=rows))


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
    v6 = await _ipv6_intervals(ctx)
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
            "ipv6": _reports_ipv6(v6, obs[e.id], need),
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


async def _ipv6_intervals(ctx: Context) -> dict[str, int]:
    """element → status intervals in which it reported IPv6."""
    df = await ctx.log.aggregate(
        Aggregate.over(
            ctx.window, "element_status", "ipv6", "count", group_by=("element",), field_equals=True
        )
    )
    return {str(e): int(n) for e, n in df.itertuples(index=False)}


def _on_extranet(e: DeclaredElement, obs: dict[str, ElementObservation]) -> bool:
    """Declared as reaching the extranet, or observed on a WAN link."""
    return e.extranet or obs[e.id].observed_link in WAN_LINKS


def _reports_ipv6(v6: dict[str, int], o: ElementObservation, need: Fraction) -> bool:
    """IPv6 in at least `need` of the window's status intervals, as online is counted."""
    return Fraction(v6.get(o.element, 0), o.expected_intervals) >= need


#: tokens of a technology option besides link names
EDGE, IPV6 = "edge", "ipv6"


@method
async def technologies_in_use(ctx: Context, params: dict[str, Any]) -> Measured:
    """How many of the clause's technology `options` are in use, each shown by a
    declared element online in the window on one of the option's links (`tsn`, `pon`,
    `sd-wan` …), by an online element of kind `edge` (token `edge`: an edge computing
    node), or by an online element reporting IPv6 as `ipv6_elements` counts it (token
    `ipv6`); with `at_least`, whether that many are."""
    obs = await ctx.elements()
    need = ctx.params.min_online_fraction
    extranet_only = bool(params.get("extranet"))
    options: dict[str, list[str]] = {
        str(k): [str(t) for t in v] for k, v in params["options"].items()
    }
    v6: dict[str, int] = {}
    if any(IPV6 in tokens for tokens in options.values()):
        v6 = await _ipv6_intervals(ctx)
    rows: list[dict[str, Any]] = []
    for label, tokens in options.items():
        shown: list[str] = []
        for e in ctx.inventory.elements:
            o = obs[e.id]
            if not o.online or (extranet_only and not _on_extranet(e, obs)):
                continue
            if (
                o.observed_link in tokens
                or (EDGE in tokens and e.kind == "edge")
                or (IPV6 in tokens and _reports_ipv6(v6, o, need))
            ):
                shown.append(e.id)
        rows.append(
            {
                "option": label,
                "shown_by": listed(shown, 3),
                "elements": len(shown),
                "in_use": bool(shown),
            }
        )
    used = [str(r["option"]) for r in rows if r["in_use"]]
    notes = [
        f"{len(used)} of {len(rows)} option(s) in use" + (f": {', '.join(used)}" if used else ""),
        *vocabulary_note(obs),
    ]
    if "at_least" in params:
        return achieved(
            len(used),
            len(rows),
            {"min_count": params["at_least"], "min_share": 0},
            nothing="the clause lists no option",
            notes=notes,
            breakdown=Breakdown(by="option", rows=rows),
        )
    return count(len(used), notes=notes, breakdown=Breakdown(by="option", rows=rows))


#: the documented default thresholds of a covered reading, per access technology: 5G
#: RSRP as radio_coverage, Wi-Fi RSSI at the level voice and video need
SIGNAL_MIN_DBM = {"5g": -105, "wifi": -75}


@method
async def area_coverage(ctx: Context, params: dict[str, Any]) -> Measured:
    """Covered m² ÷ declared m² of the areas of `kinds` (default public), as a coverage
    survey found them: an area is covered when, on one access technology, its weakest
    reading in the window reaches `signal_min_dbm` of that technology (and, on 5G, its
    weakest SINR reaches `sinr_min_db`) — a walk test's pass/fail, where one dead spot
    fails the area. A declared area without readings is not covered; readings of an
    undeclared area are named and left out."""
    kinds = frozenset(params.get("kinds", ["public"]))
    mins = {**SIGNAL_MIN_DBM, **params.get("signal_min_dbm", {})}
    sinr_min = Fraction(str(params.get("sinr_min_db", -3)))
    weakest: dict[str, dict[tuple[str, str], float]] = {}
    for f in ("signal_dbm", "sinr_db"):
        df = await ctx.log.aggregate(
            Aggregate.over(ctx.window, "coverage_sample", f, "min", group_by=("area", "tech"))
        )
        weakest[f] = {(str(a), str(t)): float(v) for a, t, v in df.itertuples(index=False)}
    scope = [a for a in ctx.inventory.areas if a.kind in kinds]
    rows: list[dict[str, Any]] = []
    covered_m2 = total_m2 = 0
    for area in scope:
        techs = sorted(t for a, t in weakest["signal_dbm"] if a == area.id)
        ok = [
            t
            for t in techs
            if Fraction(_text(weakest["signal_dbm"][(area.id, t)])) >= mins.get(t, 0)
            and (
                t != LINK_5G
                or (area.id, t) not in weakest["sinr_db"]
                or Fraction(_text(weakest["sinr_db"][(area.id, t)])) >= sinr_min
            )
        ]
        size = area.area_m2
        total_m2 += size
        covered_m2 += size if ok else 0
        rows.append(
            {
                "area": area.id,
                "kind": area.kind,
                "area_m2": area.area_m2,
                **{f"weakest_{t}_dbm": _text(weakest["signal_dbm"][(area.id, t)]) for t in techs},
                "covered_by": ", ".join(ok),
                "covered": bool(ok),
            }
        )
    declared = {a.id for a in ctx.inventory.areas}
    notes = [f"{sum(1 for r in rows if r['covered'])} of {len(rows)} area(s) covered"]
    unsurveyed = [a.id for a in scope if not any(k == a.id for k, _ in weakest["signal_dbm"])]
    if unsurveyed:
        notes.append(f"declared but without survey readings (not covered): {listed(unsurveyed)}")
    extra = sorted({a for a, _ in weakest["signal_dbm"]} - declared)
    if extra:
        notes.append(
            f"readings of areas not declared are left out: {listed(extra)} — declare them "
            f"under inventory.areas with their kind and size"
        )
    if not scope:
        notes.append(f"no area of the kinds {sorted(kinds)} is declared: declare inventory.areas")
    value = Fraction(covered_m2, total_m2) if total_m2 else None
    return Measured(
        value=value,
        numerator=covered_m2,
        denominator=total_m2,
        notes=notes,
        breakdown=Breakdown(by="area", rows=rows),
    )
