"""True values of the breadth KPIs — collection by category, protocols that delivered,
elements networked, controllers on 5G, live scenarios, 5G radio coverage, IPv6 and the
platform's own counters — from the scenario alone, like `simulators.truth`.

The rules are restated here from docs/kpis.md, not imported from `kpi`: a KPI that drifts
from its documented rule disagrees with this.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from typing import TYPE_CHECKING

from simulators.intervals import NS, grid, grid_count, grid_count_in
from telemetry.schema import LINK_5G, WAN_LINKS

if TYPE_CHECKING:
    from simulators.behaviour import FactoryModel
    from simulators.truth import TruthParams, TruthValue

Add = Callable[["TruthValue"], None]

#: each real-time-collection KPI and the point categories it needs
CATEGORY_SCOPES: dict[str, tuple[str, ...]] = {
    "equipment_status_realtime_collection": ("equipment",),
    "energy_realtime_monitoring": ("energy",),
    "environmental_data_collection": ("environment",),
    "workshop_environment_monitoring": ("environment",),
    "quality_parameter_online_collection": ("quality",),
    "full_process_flow_monitoring": ("material", "energy", "process", "equipment"),
    "park_multisource_data_collection": ("production", "environment", "energy"),
}
MAIN_KINDS = frozenset({"machine", "controller", "instrument", "sensor"})
KEY_KINDS = MAIN_KINDS | {"camera", "vehicle", "system"}
#: the documented coverage thresholds (measures.yaml params)
RSRP_MIN = Fraction(-105)
SINR_MIN = Fraction(-3)
#: KPI → the platform counter it reads (measures.yaml params)
COUNTER_KPIS: dict[str, str] = {
    "registered_developers": "registered_developers",
    "industry_apps_deployed": "industry_generic_apps_deployed",
    "app_subscriber_enterprises": "app_subscriber_enterprises",
    "mechanism_models_count": "mechanism_models",
    "connected_industrial_products_count": "connected_products",
    "industry_enterprise_users_new_platform": "industry_enterprise_users",
    "industry_enterprise_users_existing_platform": "industry_enterprise_users",
    "connected_factories": "connected_factories",
    "shared_equipment_count": "shared_equipment",
    "order_volume_two_years": "order_value_cny_24_months",
    "served_park_enterprises": "park_enterprises_served",
}
#: KPI → the services whose probes it reads (measures.yaml params); each must answer
#: PROBE_MIN of its probes
PROBE_KPIS: dict[str, tuple[str, ...]] = {
    "stable_node_operation": ("registration", "resolution"),
    "top_level_node_access": ("top-level-node",),
    "top_level_node_access_and_sync": ("top-level-sync-registration", "top-level-sync-routing"),
    "national_system_access_top_node_interconnection": ("top-level-node",),
    "national_identifier_system_access": ("secondary-node",),
    "national_promotion_center_network_access": ("promotion-center-platform",),
    "public_service_platform_interconnection": ("promotion-center-platform",),
    "node_interfaces_realtime_sync": ("top-level-node", "enterprise-node"),
}
PROBE_MIN = Fraction(99, 100)
#: KPI → the platform its daily reports go to (measures.yaml params)
REPORT_KPIS: dict[str, str] = {
    "daily_report_or_empty_data_marker": "provincial-platform",
    "threat_reporting_to_provincial_platform": "provincial-platform",
}
#: KPI → the counters that must all rise in the window (measures.yaml params); a key
#: `kpi@profile` where a profile reads other counters
RISING_KPIS: dict[str, tuple[str, ...]] = {
    "registration_services": (
        "registrations.register", "registrations.change", "registrations.verify",
        "registrations.query", "api_calls",
    ),
    "registration_services_and_api": (
        "registrations.register", "registrations.change", "registrations.verify",
        "registrations.query", "api_calls",
    ),
    "identifier_registration_resolution_filing": ("registrations", "resolutions", "filings"),
    "identifier_auto_identification_collection": ("identifier_reads", "identifier_reads_linked"),
    "identifier_enterprise_node_optional": (
        "identifier_reads", "registrations", "resolutions_via_secondary",
    ),
    "resolution_over_new_tech_incl_ipv6": ("resolutions_ipv6",),
    "multisource_data_collection": (
        "records_linked.business", "records_linked.device", "records_linked.operation",
        "records_linked.energy",
    ),
    "iot_identifier_resolution_interface": ("device_discovery_requests", "device_data_requests"),
    "process_and_quality_data_tracking": ("process_step_reads", "quality_records_linked"),
    "business_system_integration@ningbo-discrete-workshop": (
        "interface.plm-mes", "interface.mes-erp",
    ),
    "business_system_integration@ningbo-process-workshop": ("interface.mes-erp",),
}  # fmt: skip
#: feed KPI → the feeds (the clause's topics) it needs at least
FEED_KPIS = {"industry_monitoring_regular": 3, "industry_dynamic_monitoring_support": 2}
FEED_PREFIX = "feed."
#: technology options of a clause and what shows each (measures.yaml params)
TECH_KPIS: dict[str, dict[str, frozenset[str]]] = {
    "new_network_technologies_adopted": {
        "tsn": frozenset({"tsn"}), "edge": frozenset({"edge"}), "pon": frozenset({"pon"}),
        "ipv6": frozenset({"ipv6"}),
    },
    "extranet_technologies_adopted": {
        "broadband": frozenset({"broadband"}), "sdn": frozenset({"sdn"}),
        "sd-wan": frozenset({"sd-wan"}), "otn": frozenset({"otn"}),
        "nb-iot": frozenset({"nb-iot"}), "5g": frozenset({"5g"}), "edge": frozenset({"edge"}),
    },
    "advanced_intranet_technologies": {
        "mec": frozenset({"edge"}), "pon": frozenset({"pon"}), "tsn": frozenset({"tsn"}),
        "spe": frozenset({"spe"}),
    },
}  # fmt: skip
#: the technologies KPI that is a yes/no (at least one option), not a count
TECH_AT_LEAST = {"advanced_intranet_technologies": 1}
NEW_LINKS = frozenset({"tsn", "pon", "spe"}) | WAN_LINKS
EXTRANET_LINKS = WAN_LINKS | {"nb-iot", "5g"}
#: technology KPIs that count only elements on the extranet
EXTRANET_TECH_KPIS = frozenset({"extranet_technologies_adopted"})
#: coverage thresholds of a survey reading (measures.yaml params)
SIGNAL_MIN = {"5g": Fraction(-105), "wifi": Fraction(-75)}
SHARE_KPIS: dict[str, tuple[str, str]] = {
    "park_enterprise_coverage_rate": ("park_enterprises_connected", "park_enterprises"),
    "park_enterprise_cloud_adoption_rate": ("park_enterprises_on_cloud", "park_enterprises"),
    "networked_industrial_asset_inventory": ("asset_records_complete", "asset_records"),
    "edge_preprocessing": ("edge.points_forwarded", "edge.points_received"),
}
SHARE_AT_LEAST = {"networked_industrial_asset_inventory": Fraction(9, 10)}
#: share KPIs achieved strictly between the two bounds
SHARE_BETWEEN = {"edge_preprocessing": (Fraction(0), Fraction(1))}


def breadth_truth(
    model: FactoryModel,
    a: int,
    b: int,
    online: set[str],
    observed: dict[str, str],
    params: TruthParams,
    add: Add,
) -> None:
    from simulators.truth import TruthValue

    def yes_no(kpi: str, num: int, den: int, ok: bool) -> None:
        add(TruthValue(kpi=kpi, value=ok, numerator=num, denominator=den))

    elements = model.scenario.expanded_elements()
    if not elements:
        return
    # real-time collection of categories: every category present, every point complete
    for kpi, scope in CATEGORY_SCOPES.items():
        total = complete = 0
        present: set[str] = set()
        for e in elements:
            for p in e.points:
                if p.category not in scope:
                    continue
                total += 1
                present.add(p.category)
                if p.collection == "manual":
                    continue
                expected, _received, good = model.samples_good(e.id, p.id, a, b)
                complete += bool(expected) and Fraction(good, expected) >= (
                    params.min_point_completeness
                )
        ok = bool(total) and complete == total and present == set(scope)
        yes_no(kpi, complete, total, ok)

    # protocols over which a declared automatic point delivered a good sample
    declared: set[str] = set()
    delivered: set[str] = set()
    for e in elements:
        if e.protocol == "none":
            continue
        for p in e.points:
            if p.collection != "auto":
                continue
            declared.add(e.protocol)
            if model.samples_good(e.id, p.id, a, b)[2] > 0:
                delivered.add(e.protocol)
    if declared:
        for kpi in ("multi_protocol_data_collection", "heterogeneous_protocol_data_collection"):
            yes_no(kpi, len(delivered), len(declared), len(delivered) >= 2)
        ua_mqtt = {"opcua", "mqtt"}
        n = len(delivered & ua_mqtt)
        yes_no("opcua_mqtt_multisource_collection", n, len(declared & ua_mqtt), n >= 1)

    # elements of kinds networked; controllers on 5G
    for kpi, kinds in (
        ("main_production_elements_networked", MAIN_KINDS),
        ("key_elements_ubiquitous_interconnection", KEY_KINDS),
    ):
        in_scope = [e.id for e in elements if e.kind in kinds]
        reached = [i for i in in_scope if i in online]
        yes_no(kpi, len(reached), len(in_scope), bool(in_scope) and len(reached) == len(in_scope))
    controllers = [e.id for e in elements if e.kind == "controller"]
    on5g = [i for i in controllers if i in online and observed[i] == LINK_5G]
    yes_no("fiveg_plc_dcs_integration", len(on5g), len(controllers), bool(on5g))

    # application scenarios with an element online (on 5G, or on any link)
    tagged = {s for e in elements for s in e.scenarios}
    if tagged:
        for kpi, any_link in (
            ("fiveg_typical_scenarios_count", False),
            ("typical_application_scenarios", False),
            ("networked_scenarios_count", True),
        ):
            live = {
                s
                for e in elements
                if e.id in online and (any_link or observed[e.id] == LINK_5G)
                for s in e.scenarios
            }
            add(
                TruthValue(
                    kpi=kpi,
                    value=Fraction(len(live)),
                    numerator=len(live),
                    note=f"{len(live)} of {len(tagged)} declared scenarios live",
                )
            )

    _radio_truth(model, a, b, online, add)

    # IPv6: every online element reports it (park), or one online system does (extranet)
    up = [e for e in elements if e.id in online]
    v6 = [e for e in up if e.ipv6]
    yes_no("park_network_ipv6_full_support", len(v6), len(up), bool(up) and len(v6) == len(up))
    systems = [e for e in up if e.kind == "system"]
    sys6 = [e for e in systems if e.ipv6]
    yes_no("extranet_ipv6_deployment", len(sys6), len(systems), bool(sys6))

    _platform_truth(model, a, b, add)
    _probe_truth(model, a, b, add)
    _report_truth(model, a, b, add)
    _technology_truth(model, online, observed, add)
    _survey_truth(model, a, b, add)
    _security_truth(model, a, b, add)


def _technology_truth(
    model: FactoryModel, online: set[str], observed: dict[str, str], add: Add
) -> None:
    """Options in use (an online element on one of the option's links, an online edge
    node, an online element with IPv6), edge nodes online, elements on extranet links,
    identifier carriers on 5G or NB-IoT, business links live on 5G."""
    from simulators.truth import TruthValue

    elements = model.scenario.expanded_elements()
    up = [e for e in elements if e.id in online]

    def shows(e: object, tokens: frozenset[str]) -> bool:
        return (
            observed[e.id] in tokens  # type: ignore[attr-defined]
            or ("edge" in tokens and e.kind == "edge")  # type: ignore[attr-defined]
            or ("ipv6" in tokens and e.ipv6)  # type: ignore[attr-defined]
        )

    def extranet(e: object) -> bool:
        return e.extranet or observed[e.id] in WAN_LINKS  # type: ignore[attr-defined]

    if any(e.link in NEW_LINKS or e.kind == "edge" for e in elements):
        for kpi, options in TECH_KPIS.items():
            pool = [e for e in up if extranet(e)] if kpi in EXTRANET_TECH_KPIS else up
            n = sum(1 for tokens in options.values() if any(shows(e, tokens) for e in pool))
            if kpi in TECH_AT_LEAST:
                add(TruthValue(kpi=kpi, value=n >= TECH_AT_LEAST[kpi], numerator=n,
                               denominator=len(options)))  # fmt: skip
            else:
                add(TruthValue(kpi=kpi, value=Fraction(n), numerator=n))
    edges = [e.id for e in elements if e.kind == "edge"]
    if edges:
        n = sum(1 for i in edges if i in online)
        add(TruthValue(kpi="edge_computing_modules", value=n == len(edges), numerator=n,
                       denominator=len(edges)))  # fmt: skip
    remote = [e for e in elements if extranet(e)]
    if remote:
        n = sum(1 for e in remote if e.id in online and observed[e.id] in EXTRANET_LINKS)
        add(TruthValue(kpi="extranet_multisource_data_collection", value=n >= 2, numerator=n,
                       denominator=len(remote)))  # fmt: skip
    tags = [e for e in elements if e.kind == "tag"]
    if tags:
        n = sum(1 for e in tags if e.id in online and observed[e.id] in ("5g", "nb-iot"))
        add(TruthValue(kpi="active_identifier_carrier_5g_nbiot", value=n >= 1, numerator=n,
                       denominator=len(tags)))  # fmt: skip
    declared = {b for e in elements for b in e.business_links}
    if declared:
        live = {b for e in up if observed[e.id] == LINK_5G for b in e.business_links}
        add(TruthValue(kpi="fiveg_data_exchange_business_links", value=Fraction(len(live)),
                       numerator=len(live)))  # fmt: skip


def _survey_truth(model: FactoryModel, a: int, b: int, add: Add) -> None:
    """Public areas by size, covered when their weakest reading in the window reaches the
    threshold of their technology (and, on 5G, the weakest SINR reaches SINR_MIN)."""
    from simulators.truth import TruthValue

    public = [x for x in model.scenario.survey if x.kind == "public"]
    if not public:
        return
    covered = total = 0
    for x in public:
        total += x.area_m2
        if x.at is None:
            continue
        t0 = int(x.at.timestamp()) * NS
        idx = [i for i in range(len(x.signal_dbm)) if a <= t0 + i * NS < b]
        if not idx:
            continue
        ok = min(Fraction(str(x.signal_dbm[i])) for i in idx) >= SIGNAL_MIN[x.tech]
        if ok and x.tech == "5g" and x.sinr_db:
            ok = min(Fraction(str(x.sinr_db[i])) for i in idx) >= SINR_MIN
        if ok:
            covered += x.area_m2
    add(TruthValue(kpi="public_area_coverage_rate", value=Fraction(covered, total),
                   numerator=covered, denominator=total))  # fmt: skip


def _security_truth(model: FactoryModel, a: int, b: int, add: Add) -> None:
    """Events logged in the window (each type's grid): achieved with one or more."""
    from simulators.truth import TruthValue

    specs = model.scenario.security_events
    if not specs:
        return
    total = sum(grid_count(a, b, ev.interval_s * NS) for ev in specs)
    add(TruthValue(kpi="security_event_logging", value=total >= 1, numerator=total,
                   denominator=total))  # fmt: skip


def _report_truth(model: FactoryModel, a: int, b: int, add: Add) -> None:
    """Complete local days of the window, and those with an upload (data or an empty-data
    marker: every day but the missing ones, when its upload time lies in the window)."""
    from simulators.truth import TruthValue, complete_days

    days = complete_days(model, a, b)
    for kpi, target in REPORT_KPIS.items():
        specs = [r for r in model.scenario.reports if r.target == target]
        if not specs:
            continue
        reported = sum(1 for _, _, d in days if any(d not in r.missing_days for r in specs))
        add(TruthValue(kpi=kpi, value=bool(days) and reported == len(days),
                       numerator=reported, denominator=len(days)))  # fmt: skip


def _probe_truth(model: FactoryModel, a: int, b: int, add: Add) -> None:
    """Per service: probes sent in the window (its grid) and answered (those outside its
    down periods); a KPI is achieved when each of its services answered PROBE_MIN."""
    from simulators.truth import TruthValue

    sent: dict[str, int] = {}
    answered: dict[str, int] = {}
    for p in model.scenario.probes:
        step = p.interval_s * NS
        n = grid_count(a, b, step)
        down = grid_count_in([(d.start_ns, d.end_ns) for d in p.down], a, b, step)
        sent[p.service] = sent.get(p.service, 0) + n
        answered[p.service] = answered.get(p.service, 0) + n - down
    for kpi, services in PROBE_KPIS.items():
        if not any(x in sent for x in services):
            continue
        ok = all(sent.get(x) and Fraction(answered[x], sent[x]) >= PROBE_MIN for x in services)
        add(
            TruthValue(
                kpi=kpi,
                value=bool(ok),
                numerator=sum(answered.get(x, 0) for x in services),
                denominator=sum(sent.get(x, 0) for x in services),
            )
        )


def _radio_truth(model: FactoryModel, a: int, b: int, online: set[str], add: Add) -> None:
    """Per element reporting radio on 5G: its weakest RSRP and SINR over the status
    instants it was online on 5G; covered when both reach the thresholds. A declared 5G
    element online without a radio report counts, as not covered."""
    from simulators.truth import TruthValue

    step = model.scenario.status_interval_s * NS
    covered = reporting = 0
    for eid, e in model.elements.items():
        if e.rsrp is None:
            reporting += e.link == LINK_5G and eid in online
            continue
        offline = model.offline_intervals(eid, a, b)
        low_r: float | None = None
        low_s: float | None = None
        # the exported radio depends on the minute (since 1970) mod 7 only: the instants up
        # to the first of each of those 7 classes show every value the element reported
        seen: set[int] = set()
        for s, x, link in model.link_segments(eid, a, b):
            if link != LINK_5G or len(seen) == 7:
                continue
            for t in grid(s, x, step):
                if any(o0 <= t < o1 for o0, o1 in offline):
                    continue
                if (k := (t // (60 * NS)) % 7) in seen:
                    if len(seen) == 7:
                        break
                    continue
                seen.add(k)
                r, q = model.radio(eid, t)
                assert r is not None
                low_r = r if low_r is None else min(low_r, r)
                if q is not None:
                    low_s = q if low_s is None else min(low_s, q)
        if low_r is None:
            reporting += e.link == LINK_5G and eid in online
            continue
        reporting += 1
        covered += Fraction(str(low_r)) >= RSRP_MIN and (
            low_s is None or Fraction(str(low_s)) >= SINR_MIN
        )
    if not reporting:
        return
    for kpi in (
        "fiveg_full_plant_coverage",
        "fiveg_production_area_full_coverage",
        "fiveg_onsite_coverage",
    ):
        add(
            TruthValue(
                kpi=kpi, value=covered == reporting, numerator=covered, denominator=reporting
            )
        )
    add(
        TruthValue(
            kpi="fiveg_coverage_rate",
            value=Fraction(covered, reporting),
            numerator=covered,
            denominator=reporting,
        )
    )


def _platform_truth(model: FactoryModel, a: int, b: int, add: Add) -> None:
    """The counters as the platform exported them last in the window (its counts only
    grow, so the latest is also the highest)."""
    from simulators.truth import TruthValue

    spec = model.scenario.platform
    if spec is None:
        return
    times = grid(a, b, spec.interval_s * NS)
    if not times:
        return
    last = times[-1]
    for kpi, name in COUNTER_KPIS.items():
        if name in spec.counters:
            v = model.platform_counter(name, last)
            add(TruthValue(kpi=kpi, value=Fraction(v), numerator=v))
    for kpi, (num, den) in SHARE_KPIS.items():
        if num in spec.counters and den in spec.counters:
            n, d = model.platform_counter(num, last), model.platform_counter(den, last)
            share = Fraction(n, d) if d else None
            value: Fraction | bool | None = share
            if share is not None and kpi in SHARE_AT_LEAST:
                value = share >= SHARE_AT_LEAST[kpi]
            elif share is not None and kpi in SHARE_BETWEEN:
                lo, hi = SHARE_BETWEEN[kpi]
                value = lo < share < hi
            add(TruthValue(kpi=kpi, value=value, numerator=n, denominator=d))
    first = times[0]
    for key, names in RISING_KPIS.items():
        if not any(n in spec.counters for n in names):
            continue
        rising = [
            n
            for n in names
            if n in spec.counters
            and model.platform_counter(n, last) > model.platform_counter(n, first)
        ]
        add(TruthValue(kpi=key, value=len(rising) == len(names), numerator=len(rising),
                       denominator=len(names)))  # fmt: skip
    feeds = sorted(n for n in spec.counters if n.startswith(FEED_PREFIX))
    if feeds:
        from simulators.truth import complete_days

        days = complete_days(model, a, b)
        # every feed is exported on the platform's grid: a day is refreshed when the grid
        # has an instant in it (and in the window)
        fresh = bool(days) and all(any(lo <= t < hi for t in times) for lo, hi, _ in days)
        for kpi, need in FEED_KPIS.items():
            add(TruthValue(kpi=kpi, value=fresh and len(feeds) >= need,
                           numerator=len(feeds) if fresh else 0,
                           denominator=len(feeds)))  # fmt: skip
