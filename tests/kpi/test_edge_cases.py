"""Edge cases of KPI semantics on hand-written data, on both stores (the `store` fixture)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

from kpi import Declarations, KpiParams, Window, evaluate, load_catalog
from telemetry import (
    DeclaredElement,
    DeclaredLoop,
    DeclaredPoint,
    Inventory,
    Point,
    Store,
)

S = 1_000_000_000
SH = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 3, 2, tzinfo=SH)  # local midnight, Monday
SITE = "edge"


def ns(dt: datetime) -> int:
    return int(dt.timestamp()) * S


def status(element: str, link: str, online: bool, t: int) -> Point:
    return Point(
        "element_status",
        {"site": SITE, "element": element, "kind": "machine", "link": link},
        {"online": online},
        t,
    )


def element(i: str, link: str, **kw: object) -> DeclaredElement:
    return DeclaredElement(id=i, kind="machine", link=link, **kw)  # type: ignore[arg-type]


def hour(start: datetime = T0) -> Window:
    return Window(start=start, end=start + timedelta(hours=1))


async def test_no_wireless_element_is_insufficient_data_not_a_division_by_zero(
    store: Store,
) -> None:
    inv = Inventory(site=SITE, elements=(element("m1", "wired"), element("m2", "wired")))
    a = ns(T0)
    await store.write(
        [status(e, "wired", True, a + k * 60 * S) for e in ("m1", "m2") for k in range(60)]
    )
    ev = await evaluate("miit2021-5g-factory", hour(), store, inv)
    r = ev.result("fiveg_wireless_networking_rate")
    assert r.verdict == "insufficient_data"
    assert (r.value, r.numerator, r.denominator) == (None, 0, 0)
    assert any("no division by zero" in n for n in r.notes)
    assert ev.verdict != "pass"


async def test_an_element_on_two_links_counts_by_its_majority_and_ties_go_to_the_latest(
    store: Store,
) -> None:
    inv = Inventory(
        site=SITE,
        elements=(
            element("major", "5g"),  # 36 intervals on 5G, 24 on Wi-Fi -> 5G
            element("tie-late-5g", "wifi"),  # 30 Wi-Fi then 30 5G -> 5G (seen last)
            element("tie-late-wifi", "5g"),  # 30 5G then 30 Wi-Fi -> Wi-Fi
        ),
    )
    a = ns(T0)
    pts = []
    for k in range(60):
        t = a + k * 60 * S
        pts.append(status("major", "5g" if k % 5 < 3 else "wifi", True, t))
        pts.append(status("tie-late-5g", "wifi" if k < 30 else "5g", True, t))
        pts.append(status("tie-late-wifi", "5g" if k < 30 else "wifi", True, t))
    await store.write(pts)
    ev = await evaluate("miit2021-5g-factory", hour(), store, inv)
    r = ev.result("fiveg_wireless_networking_rate")
    assert (r.numerator, r.denominator) == (2, 3)
    assert r.breakdown is not None
    observed = {row["element"]: row["observed_link"] for row in r.breakdown.rows}
    assert observed == {"major": "5g", "tie-late-5g": "5g", "tie-late-wifi": "wifi"}
    assert any("another link than declared" in n for n in r.notes)


async def test_a_ratio_exactly_at_its_threshold_passes(store: Store) -> None:
    elements = [element(f"w{i}", "5g" if i < 2 else "wifi") for i in range(10)]
    inv = Inventory(site=SITE, elements=tuple(elements))
    a = ns(T0)
    await store.write(
        [status(e.id, e.link, True, a + k * 60 * S) for e in elements for k in range(60)]
    )
    r = (await evaluate("miit2021-5g-factory", hour(), store, inv)).result(
        "fiveg_wireless_networking_rate"
    )
    assert r.value == Fraction(1, 5)
    assert r.decimal == "0.2"
    assert r.exact
    assert r.verdict == "pass"  # 0.2 >= 0.2, compared as fractions, not floats


async def test_online_needs_half_the_intervals_and_undeclared_elements_are_named(
    store: Store,
) -> None:
    inv = Inventory(site=SITE, elements=(element("half", "5g"), element("less", "wifi")))
    a = ns(T0)
    pts = [status("half", "5g", k < 30, a + k * 60 * S) for k in range(60)]
    pts += [status("less", "wifi", k < 29, a + k * 60 * S) for k in range(60)]
    pts += [status("stranger", "wifi", True, a + k * 60 * S) for k in range(60)]
    await store.write(pts)
    r = (await evaluate("miit2021-5g-factory", hour(), store, inv)).result(
        "fiveg_wireless_networking_rate"
    )
    assert (r.numerator, r.denominator) == (1, 1)  # 30/60 online; 29/60 is not
    assert any("stranger" in n and "not in the inventory" in n for n in r.notes)


async def test_a_link_outside_the_contract_is_named_not_dropped_quietly(store: Store) -> None:
    """`nbiot` is not `nb-iot`: the element is on no link of the share, and the result
    says which link and which elements, and what the links are."""
    inv = Inventory(site=SITE, elements=(element("s1", "5g"), element("n1", "nb-iot"),
                                         element("n2", "nb-iot")))  # fmt: skip
    a = ns(T0)
    pts = [status("s1", "5g", True, a + k * 60 * S) for k in range(60)]
    pts += [status(e, "nbiot", True, a + k * 60 * S) for e in ("n1", "n2") for k in range(60)]
    await store.write(pts)
    r = (await evaluate("miit2021-5g-factory", hour(), store, inv)).result(
        "fiveg_wireless_networking_rate"
    )
    assert (r.numerator, r.denominator) == (1, 1)  # the two nbiot elements in neither count
    said = [n for n in r.notes if "outside the data contract" in n]
    assert len(said) == 1
    assert "'nbiot' (2: n1, n2)" in said[0]
    assert "nb-iot" in said[0]


async def test_a_slower_status_cadence_than_declared_is_named_with_the_fix(
    store: Store,
) -> None:
    """Devices that report every 5 minutes against an inventory that says every minute:
    every element looks offline. The result says why, and what to set."""
    inv = Inventory(site=SITE, elements=(element("s1", "5g"), element("w1", "wifi")))
    a = ns(T0)
    await store.write(
        [status(e, link, True, a + k * 300 * S) for e, link in (("s1", "5g"), ("w1", "wifi"))
         for k in range(12)]
    )  # fmt: skip
    r = (await evaluate("miit2021-5g-factory", hour(), store, inv)).result(
        "fiveg_wireless_networking_rate"
    )
    assert (r.numerator, r.denominator) == (0, 0)
    said = [n for n in r.notes if "status_interval_s" in n]
    assert len(said) == 1
    assert "every ~300 s" in said[0]
    assert "set status_interval_s = 300" in said[0]
    # at the declared cadence, nothing is said
    right = inv.model_copy(update={"status_interval_s": 300})
    r = (await evaluate("miit2021-5g-factory", hour(), store, right)).result(
        "fiveg_wireless_networking_rate"
    )
    assert (r.numerator, r.denominator) == (1, 2)
    assert not [n for n in r.notes if "status_interval_s" in n]


def identifier_rows(day: datetime, per_hour: int, enterprise: str = "ent-1") -> list[Point]:
    a = ns(day)
    return [
        Point(
            "identifier",
            {"site": SITE, "node": "88.1", "enterprise": enterprise},
            {"resolutions": per_hour, "registrations": 1},
            a + h * 3600 * S,
        )
        for h in range(24)
    ]


async def test_a_day_without_data_counts_as_zero_and_is_flagged(store: Store) -> None:
    inv = Inventory(site=SITE, identifier_nodes=("88.1",))
    pts: list[Point] = []
    for d in range(10):
        if d != 4:
            pts += identifier_rows(T0 + timedelta(days=d), 5000)
    await store.write(pts)
    window = Window(start=T0, end=T0 + timedelta(days=10))
    ev = await evaluate("miit2021-identifier-secondary-node", window, store, inv)
    r = ev.result("daily_avg_identifier_resolutions")
    assert (r.numerator, r.denominator) == (9 * 24 * 5000, 10)
    assert r.value == 108_000
    assert r.verdict == "pass"
    assert any("2026-03-06" in n for n in r.notes)
    assert r.breakdown is not None
    flagged = [row["day"] for row in r.breakdown.rows if row["no_data"]]
    assert flagged == ["2026-03-06"]
    (cov,) = r.coverage
    assert (cov.hours, cov.hours_with_data) == (240, 216)
    assert [(g.start, g.hours) for g in cov.gaps] == [("2026-03-05T16:00:00Z", 24)]


async def test_days_are_local_days_in_shanghai(store: Store) -> None:
    inv = Inventory(site=SITE, identifier_nodes=("88.1",))
    day2 = T0 + timedelta(days=1)
    a = ns(day2)
    await store.write(
        [
            Point("identifier", {"site": SITE, "node": "88.1", "enterprise": "e"}, f, t)
            for t, f in (
                (a - S, {"resolutions": 7, "registrations": 0}),  # 23:59:59 local, day 1
                (a, {"resolutions": 11, "registrations": 0}),  # 00:00:00 local, day 2
                (a + 86_399 * S, {"resolutions": 13, "registrations": 0}),  # 23:59:59, day 2
            )
        ]
    )
    # a window given in UTC that starts and ends mid-day locally holds one complete day
    window = Window(
        start=datetime(2026, 3, 2, 12, tzinfo=UTC), end=datetime(2026, 3, 4, 4, tzinfo=UTC)
    )
    ev = await evaluate(
        "miit2021-identifier-secondary-node",
        window,
        store,
        inv,
        KpiParams(min_coverage=Fraction(0)),
    )
    r = ev.result("daily_avg_identifier_resolutions")
    assert r.breakdown is not None
    assert [(x["day"], x["resolutions"]) for x in r.breakdown.rows] == [("2026-03-03", 24)]
    assert (r.numerator, r.denominator) == (24, 1)


async def test_a_window_only_partly_covered_reports_its_value_and_gaps(store: Store) -> None:
    inv = Inventory(site=SITE, elements=(element("a", "5g"), element("b", "wifi")))
    a = ns(T0)
    await store.write(
        [
            status(e, link, True, a + k * 60 * S)
            for e, link in (("a", "5g"), ("b", "wifi"))
            for k in range(10 * 60)
        ]
    )
    window = Window(start=T0, end=T0 + timedelta(hours=24))
    r = (await evaluate("miit2021-5g-factory", window, store, inv)).result(
        "fiveg_wireless_networking_rate"
    )
    # online in 600 of 1440 intervals: not online over the day, so nothing to divide by
    assert r.verdict == "insufficient_data"
    (cov,) = r.coverage
    assert (cov.hours, cov.hours_with_data) == (24, 10)
    assert [(g.start, g.end, g.hours) for g in cov.gaps] == [
        ("2026-03-02T02:00:00Z", "2026-03-02T16:00:00Z", 14)
    ]
    assert any("min_coverage" in n for n in r.notes)
    # with a lenient online rule the value is there, and still not trusted
    lenient = KpiParams(min_online_fraction=Fraction(1, 3))
    r = (await evaluate("miit2021-5g-factory", window, store, inv, lenient)).result(
        "fiveg_wireless_networking_rate"
    )
    assert r.value == Fraction(1, 2)
    assert r.verdict == "insufficient_data"


async def test_collection_and_control_count_what_is_missing_against_the_declaration(
    store: Store,
) -> None:
    inv = Inventory(
        site=SITE,
        elements=(
            DeclaredElement(
                id="dcs",
                kind="controller",
                link="wired",
                points=(
                    DeclaredPoint(id="t", category="process", period_s=60),
                    DeclaredPoint(id="p", category="process", period_s=60),
                    DeclaredPoint(id="lab", category="quality", period_s=3600, collection="manual"),
                    DeclaredPoint(id="silent", category="process", period_s=60),
                ),
            ),
        ),
        loops=(DeclaredLoop(id="L1", element="dcs"), DeclaredLoop(id="L2", element="dcs")),
    )
    a = ns(T0)
    health = [
        Point(
            "point_health",
            {"site": SITE, "element": "dcs", "point": pt},
            {"expected": 15, "received": 15, "good": good},
            a + q * 900 * S,
        )
        for pt, good in (("t", 15), ("p", 14))
        for q in range(4)
    ]
    loops = [
        Point("control_loop", {"site": SITE, "loop": "L1"}, {"auto": k < 45}, a + k * 60 * S)
        for k in range(60)
    ]
    await store.write(health + loops)
    ev = await evaluate("ningbo-process-workshop", hour(), store, inv)
    pc = ev.result("process_data_auto_collection_rate")
    # t: 60/60 complete; p: 56/60 < 0.95; lab manual; silent never reported
    assert (pc.numerator, pc.denominator) == (1, 4)
    ac = ev.result("auto_control_utilization_rate")
    assert (ac.numerator, ac.denominator) == (45, 120)  # L2 has no data: all manual
    assert any("L2 has no data" in n for n in ac.notes)
    assert ac.verdict == "fail"


SIX_FUNCTIONS = next(
    e.options for e in load_catalog().entries if e.id == "all_six_construction_functions"
)


async def test_declared_items_and_composites(store: Store) -> None:
    inv = Inventory(site=SITE)
    decl = Declarations.model_validate(
        {
            "declarations": {
                "operating_cost_reduction": {"value": 0.25, "attachment": "audit.pdf"},
                "rd_cycle_reduction": {"value": 0.3, "attachment": "plm.xlsx"},
                "fiveg_data_exchange_business_links": {
                    "options": ["研发设计", "生产控制"],
                    "attachment": "links.pdf",
                },
                "all_six_construction_functions": {
                    "options": [*SIX_FUNCTIONS, "not-an-option"],
                    "attachment": "functions.pdf",
                },
            }
        }
    )
    ev = await evaluate("ningbo-5g-pilot", hour(), store, inv, declarations=decl)
    cost = ev.result("operating_cost_reduction")
    assert (cost.source, cost.verdict, cost.attachment) == ("declared", "pass", "audit.pdf")
    assert ev.result("rd_cycle_reduction").verdict == "pass"  # exactly 30 %
    # business links are measured (from the elements' business_links): a declaration is
    # named and not used
    links = ev.result("fiveg_data_exchange_business_links")
    assert (links.source, links.value) == ("measured", 0)
    assert any("a declared value was given too" in n for n in links.notes)
    center = await evaluate(
        "promotion-center-comprehensive-national", hour(), store, inv, declarations=decl
    )
    functions = center.result("all_six_construction_functions")
    assert (functions.source, functions.value, functions.verdict) == ("declared", 6, "pass")
    assert any("not-an-option" in n for n in functions.notes)
    assert ev.result("software_copyrights").verdict == "not_declared"
    # 2 declared passes; the 3 measured ones need a baseline: 3 of 5 is still reachable
    comp = ev.result("comprehensive_performance_composite")
    assert (comp.value, comp.verdict) == (2, "insufficient_data")


async def test_networking_rate_change_and_points_reporting(store: Store) -> None:
    inv = Inventory(
        site=SITE,
        elements=(
            element("a", "5g", points=(DeclaredPoint(id="v", period_s=60),)),
            element("b", "wired", points=(DeclaredPoint(id="v", period_s=60),)),
        ),
    )
    base, ev = ns(T0), ns(T0 + timedelta(hours=1))
    pts = [status("a", "5g", True, base + k * 60 * S) for k in range(60)]
    pts += [status("b", "wired", False, base + k * 60 * S) for k in range(60)]
    pts += [status(e, link, True, ev + k * 60 * S) for e, link in (("a", "5g"), ("b", "wired"))
            for k in range(60)]  # fmt: skip
    pts += [
        Point("point_health", {"site": SITE, "element": e, "point": "v"},
              {"expected": 60, "received": 60, "good": good}, ev)
        for e, good in (("a", 60), ("b", 0))
    ]  # fmt: skip
    await store.write(pts)
    r = (
        await evaluate(
            "miit2020-5g-intranet-retrofit",
            hour(T0 + timedelta(hours=1)),
            store,
            inv,
            baseline=hour(),
        )
    ).result("industrial_terminal_networking_rate_increase")
    assert r.value == Fraction(1, 2)  # 1 of 2 online, then 2 of 2: +50 points
    assert r.verdict == "pass"
    no_base = await evaluate("miit2020-5g-intranet-retrofit", hour(), store, inv)
    assert no_base.result("industrial_terminal_networking_rate_increase").verdict == (
        "insufficient_data"
    )
    p = await evaluate("ningbo-industry-platform", hour(T0 + timedelta(hours=1)), store, inv)
    points = p.result("process_data_points_count")
    assert points.value == 1  # b reported, but never a good sample
    devices = p.result("connected_devices_count")  # platforms count devices on any link
    assert devices.value == 2


def health(element: str, point: str, good: int, expected: int, t: int) -> Point:
    return Point("point_health", {"site": SITE, "element": element, "point": point},
                 {"expected": expected, "received": good, "good": good}, t)  # fmt: skip


async def test_points_of_categories_no_kpi_reads_are_named_by_the_evaluation(
    store: Store,
) -> None:
    """A 5G profile reads no point: a site's energy and environment points are said to
    decide nothing there; a workshop profile reads them, so nothing is said."""
    inv = Inventory(site=SITE, elements=(element("m1", "5g", points=(
        DeclaredPoint(id="kwh", category="energy", period_s=60),
        DeclaredPoint(id="dust", category="environment", period_s=60),
        DeclaredPoint(id="dust2", category="environment", period_s=60))),))  # fmt: skip
    ev = await evaluate("miit2021-5g-factory", hour(), store, inv)
    assert ev.notes == [
        "3 declared point(s) are of categories no measured KPI of this profile reads: "
        "energy (1), environment (2) — they are collected and kept, but decide nothing here"
    ]
    assert (await evaluate("ningbo-discrete-workshop", hour(), store, inv)).notes == []
    from verifier import render_report

    assert "decide nothing here" in render_report(ev, None)  # the auditor reads it too


async def test_real_time_collection_of_a_category_is_not_achieved_by_nothing_or_by_hand(
    store: Store,
) -> None:
    a = ns(T0)
    bare = Inventory(site=SITE, elements=(element("m1", "wired"),))
    r = (await evaluate("ningbo-discrete-workshop", hour(), store, bare)).result(
        "energy_realtime_monitoring"
    )
    assert r.value is False
    assert r.verdict == "insufficient_data"  # and no point_health row in the window at all
    assert any("no point of the categories energy is declared" in n for n in r.notes)
    inv = Inventory(site=SITE, elements=(element("m1", "wired", points=(
        DeclaredPoint(id="kwh", category="energy", period_s=60),
        DeclaredPoint(id="log", category="energy", period_s=3600,
                      collection="manual"))),))  # fmt: skip
    await store.write([health("m1", "kwh", 15, 15, a + k * 900 * S) for k in range(4)])
    r = (await evaluate("ningbo-discrete-workshop", hour(), store, inv)).result(
        "energy_realtime_monitoring"
    )
    assert (r.value, r.numerator, r.denominator) == (False, 1, 2)  # the manual log
    assert r.verdict == "fail"
    assert any("m1.log" in n for n in r.notes)


async def test_a_platforms_counts_sum_over_platforms_and_say_who_reports_them(
    store: Store,
) -> None:
    a = ns(T0)

    def counter(platform: str, name: str, value: int, t: int) -> Point:
        tags = {"site": SITE, "platform": platform, "counter": name}
        return Point("platform_counter", tags, {"value": value}, t)

    await store.write([
        *(counter("portal", "registered_developers", 100 + k, a + k * 600 * S) for k in range(6)),
        counter("studio", "registered_developers", 7, a + 120 * S),
        counter("portal", "registered_developers", 999, a + 3600 * S),  # after the window
    ])  # fmt: skip
    inv = Inventory(site=SITE, elements=(element("m1", "wired"),))
    ev = await evaluate("ningbo-industry-platform", hour(), store, inv)
    r = ev.result("registered_developers")
    assert (r.value, r.numerator) == (Fraction(112), 112)  # portal's latest 105 + studio's 7
    assert r.verdict == "pass"
    assert any("reports this number about itself" in n for n in r.notes)
    assert r.breakdown is not None
    assert [x["platform"] for x in r.breakdown.rows] == ["portal", "studio"]
    apps = ev.result("industry_apps_deployed")
    assert apps.value is None
    assert apps.verdict == "insufficient_data"


async def test_radio_coverage_at_exactly_its_threshold_is_covered(store: Store) -> None:
    a = ns(T0)

    def radio(e: str, rsrp: float, sinr: float, t: int) -> Point:
        return Point("element_status", {"site": SITE, "element": e, "kind": "camera",
                     "link": "5g"}, {"online": True, "rsrp": rsrp, "sinr": sinr}, t)  # fmt: skip

    await store.write([
        *(radio("edge", -105.0 if k == 7 else -90.0, -3.0, a + k * 60 * S) for k in range(60)),
        *(radio("weak", -105.1, 10.0, a + k * 60 * S) for k in range(60)),
        *(status("dark", "5g", True, a + k * 60 * S) for k in range(60)),  # online, no RSRP
    ])  # fmt: skip
    ids = ("edge", "weak", "dark", "quiet")
    inv = Inventory(site=SITE, elements=tuple(element(i, "5g") for i in ids))
    r = (await evaluate("miit2021-5g-factory", hour(), store, inv)).result(
        "fiveg_full_plant_coverage"
    )
    assert (r.value, r.numerator, r.denominator) == (False, 1, 3)
    assert r.breakdown is not None
    assert [(x["element"], x["covered"]) for x in r.breakdown.rows] == [
        ("edge", True),
        ("weak", False),
        ("dark", False),
    ]
    assert any("dark" in n and "online but reported no RSRP" in n for n in r.notes)
    assert any("quiet" in n and "not online and are not counted" in n for n in r.notes)


async def test_a_point_without_a_protocol_is_named_not_counted(store: Store) -> None:
    a = ns(T0)
    inv = Inventory(site=SITE, elements=(element("m1", "wired", points=(
        DeclaredPoint(id="rpm", period_s=60, protocol="opcua"),
        DeclaredPoint(id="amps", period_s=60, protocol="modbus"),
        DeclaredPoint(id="temp", period_s=60))),))  # fmt: skip
    await store.write([health("m1", p, 15, 15, a) for p in ("rpm", "temp")])
    r = (await evaluate("miit2020-enterprise-intranet", hour(), store, inv)).result(
        "heterogeneous_protocol_data_collection"
    )
    assert (r.value, r.numerator, r.denominator) == (False, 1, 2)  # modbus delivered nothing
    assert any("1 automatic point(s) declare no protocol" in n for n in r.notes)


async def test_a_negative_zero_reads_alike_from_every_store(store: Store) -> None:
    """InfluxDB's JSON gives -0.0 as 0: a breakdown that kept the sign on SQLite would make
    a bundle built on InfluxDB fail its recomputation."""
    a = ns(T0)
    tags = {"site": SITE, "element": "z", "kind": "camera", "link": "5g"}
    await store.write([Point("element_status", tags, {"online": True, "rsrp": -90.0,
                                                       "sinr": -0.0}, a + k * 60 * S)
                       for k in range(60)])  # fmt: skip
    inv = Inventory(site=SITE, elements=(element("z", "5g"),))
    r = (await evaluate("miit2021-5g-factory", hour(), store, inv)).result(
        "fiveg_full_plant_coverage"
    )
    assert r.breakdown is not None
    assert r.breakdown.rows[0]["min_sinr_db"] == "0.0"
    assert r.value is True


def counter(name: str, value: int, t: int, platform: str = "p1") -> Point:
    return Point(
        "platform_counter", {"site": SITE, "platform": platform, "counter": name},
        {"value": value}, t,
    )  # fmt: skip


async def test_counters_must_rise_and_one_that_falls_or_stands_still_is_named(
    store: Store,
) -> None:
    a = ns(T0)
    names = ("identifier_reads", "identifier_reads_linked")
    await store.write(
        [
            counter("identifier_reads", 100, a),
            counter("identifier_reads", 90, a + 1800 * S),  # the exporter restarted
            counter("identifier_reads", 120, a + 3500 * S, "p2"),  # a second system
            counter("identifier_reads_linked", 40, a + 60 * S),
            counter("identifier_reads_linked", 40, a + 3000 * S),
        ]
    )
    ev = await evaluate("miit2022-identifier-application", hour(), store, Inventory(site=SITE))
    r = ev.result("identifier_auto_identification_collection")
    rows = {row["counter"]: row for row in r.breakdown.rows} if r.breakdown else {}
    # p1 fell 100 → 90 (named), p2 exported once: neither rose
    assert (rows[names[0]]["rise"], rows[names[0]]["exports"], rows[names[0]]["rising"]) == (
        0, 3, False,
    )  # fmt: skip
    assert rows[names[1]]["rising"] is False
    assert r.value is False
    assert r.verdict == "fail"
    assert any("fell during the window on p1" in n for n in r.notes)
    assert any("did not rise" in n and names[1] in n for n in r.notes)
    assert any("reports this number about itself" in n for n in r.notes)


async def test_a_feed_not_refreshed_on_a_day_is_named_with_the_day(store: Store) -> None:
    days = Window(start=T0, end=T0 + timedelta(days=3))
    a = ns(T0)
    pts = [counter("feed.scale", 1, a + h * 3600 * S) for h in range(72)]
    # the other feed misses the second local day entirely
    pts += [counter("feed.projects", 1, a + h * 3600 * S) for h in range(72) if not 24 <= h < 48]
    await store.write(pts)
    ev = await evaluate(
        "promotion-center-comprehensive-national", days, store, Inventory(site=SITE)
    )
    r = ev.result("industry_monitoring_regular")
    assert (r.value, r.numerator, r.denominator) == (False, 1, 2)
    assert any("feed.projects was not refreshed on 2026-03-03" in n for n in r.notes)


async def test_area_coverage_weighs_areas_by_size_and_names_unsurveyed_and_undeclared(
    store: Store,
) -> None:
    from telemetry import DeclaredArea

    inv = Inventory(
        site=SITE,
        areas=(
            DeclaredArea(id="square", kind="public", area_m2=3000),
            DeclaredArea(id="gate", kind="public", area_m2=1000),
            DeclaredArea(id="lawn", kind="public", area_m2=1000),
            DeclaredArea(id="floor", kind="production", area_m2=9000),
        ),
    )

    def sample(area: str, tech: str, dbm: float, t: int, sinr: float | None = None) -> Point:
        fields: dict[str, float] = {"signal_dbm": dbm}
        if sinr is not None:
            fields["sinr_db"] = sinr
        return Point("coverage_sample", {"site": SITE, "area": area, "tech": tech}, fields, t)

    a = ns(T0)
    await store.write(
        [
            sample("square", "5g", -105.0, a, 3.0),  # exactly at the threshold: covered
            sample("square", "5g", -90.0, a + S, -3.0),
            sample("gate", "5g", -99.0, a + 2 * S, -3.5),  # SINR too low on 5G
            sample("gate", "wifi", -75.0, a + 3 * S),  # but Wi-Fi covers it
            sample("floor", "5g", -120.0, a + 4 * S),  # not public: left out
            sample("parking", "5g", -80.0, a + 5 * S),  # not declared
        ]
    )
    ev = await evaluate("miit2021-park-network", hour(), store, inv)
    r = ev.result("public_area_coverage_rate")
    assert (r.value, r.numerator, r.denominator) == (Fraction(4, 5), 4000, 5000)
    assert r.verdict == "pass"  # 0.8, exactly the threshold
    rows = {row["area"]: row for row in r.breakdown.rows} if r.breakdown else {}
    assert rows["gate"]["covered_by"] == "wifi"
    assert any("without survey readings (not covered): lawn" in n for n in r.notes)
    assert any("not declared are left out: parking" in n for n in r.notes)
    # one survey in the hour is full coverage: events are not expected every hour
    assert r.coverage[0].hours_with_data == r.coverage[0].hours


async def test_security_events_are_counted_per_asset_and_open_ones_named(store: Store) -> None:
    a = ns(T0)

    def event(target: str, kind: str, severity: str, t: int, disposition: str) -> Point:
        return Point(
            "security_event",
            {"site": SITE, "type": kind, "severity": severity, "target": target},
            {"disposition": disposition},
            t,
        )

    ev0 = await evaluate("ningbo-security-service-platform", hour(), store, Inventory(site=SITE))
    quiet = ev0.result("security_event_logging")
    assert quiet.value is False
    assert any("quiet window cannot show" in n for n in quiet.notes)
    await store.write(
        [
            event("plc-7", "port-scan", "low", a, "blocked"),
            event("plc-8", "port-scan", "low", a, "blocked"),  # same instant, another asset
            event("hmi-2", "brute-force", "high", a + 120 * S, "open"),
        ]
    )
    ev = await evaluate("ningbo-security-service-platform", hour(), store, Inventory(site=SITE))
    r = ev.result("security_event_logging")
    assert (r.value, r.numerator, r.denominator, r.verdict) == (True, 3, 3, "pass")
    assert any("still open (no disposition yet): brute-force/high (1)" in n for n in r.notes)


async def test_technologies_count_the_options_an_online_element_shows(store: Store) -> None:
    inv = Inventory(
        site=SITE,
        elements=(
            element("tsn-sw", "tsn"),
            element("olt", "pon"),  # declared on PON, never online
            DeclaredElement(id="mec", kind="edge", link="wired"),
        ),
    )
    a = ns(T0)
    pts = [status("tsn-sw", "tsn", True, a + k * 60 * S) for k in range(60)]
    pts += [
        Point("element_status", {"site": SITE, "element": "mec", "kind": "edge", "link": "wired"},
              {"online": True}, a + k * 60 * S)
        for k in range(60)
    ]  # fmt: skip
    await store.write(pts)
    ev = await evaluate("miit2020-enterprise-intranet", hour(), store, inv)
    r = ev.result("new_network_technologies_adopted")
    assert (r.value, r.verdict) == (2, "pass")
    rows = {row["option"]: row["in_use"] for row in r.breakdown.rows} if r.breakdown else {}
    assert rows == {"时间敏感网络（TSN）": True, "边缘计算": True, "工业无源光网络（PON）": False,
                    "IPv6": False}  # fmt: skip
    pilot = await evaluate("ningbo-5g-pilot", hour(), store, inv)
    assert pilot.result("advanced_intranet_technologies").value is True


async def test_a_daily_report_counts_its_whole_day_as_covered(store: Store) -> None:
    """A report a day is all a working uploader writes: its KPI is decided, not
    'insufficient data' for the 23 hours without an upload."""
    days = Window(start=T0, end=T0 + timedelta(days=3))
    await store.write(
        [
            Point("report_upload", {"site": SITE, "target": "provincial-platform", "kind": "daily"},
                  {"acked": True, "records": 5}, ns(T0 + timedelta(days=d, hours=1)))
            for d in range(3)
        ]
    )  # fmt: skip
    ev = await evaluate("ningbo-security-service-platform", days, store, Inventory(site=SITE))
    r = ev.result("daily_report_or_empty_data_marker")
    assert (r.value, r.verdict) == (True, "pass")
    assert r.coverage[0].hours_with_data == r.coverage[0].hours == 72


async def test_one_platforms_reset_hides_no_others_rise_and_one_export_decides_nothing(
    store: Store,
) -> None:
    a = ns(T0)
    await store.write(
        [
            counter("identifier_reads", 100, a, "p1"),
            counter("identifier_reads", 200, a + 1800 * S, "p1"),
            counter("identifier_reads", 500, a, "p2"),
            counter("identifier_reads", 0, a + 1800 * S, "p2"),  # p2's exporter restarted
            counter("identifier_reads_linked", 40, a + 60 * S),  # once: no rise can show
        ]
    )
    ev = await evaluate("miit2022-identifier-application", hour(), store, Inventory(site=SITE))
    r = ev.result("identifier_auto_identification_collection")
    rows = {row["counter"]: row for row in r.breakdown.rows} if r.breakdown else {}
    assert (rows["identifier_reads"]["rise"], rows["identifier_reads"]["rising"]) == (100, True)
    assert any("fell during the window on p2" in n for n in r.notes)
    assert r.value is None
    assert r.verdict == "insufficient_data"
    assert any("exported once in the window" in n for n in r.notes)


async def test_edge_nodes_that_forward_nothing_do_not_preprocess(store: Store) -> None:
    a = ns(T0)
    await store.write(
        [
            counter("edge.points_received", 100_000, a + 60 * S),
            counter("edge.points_forwarded", 0, a + 60 * S),
        ]
    )
    ev = await evaluate("ningbo-industry-platform", hour(), store, Inventory(site=SITE))
    r = ev.result("edge_preprocessing")
    assert (r.value, r.numerator, r.denominator) == (False, 0, 100_000)


async def test_windows_without_a_complete_day_leave_daily_clauses_open(store: Store) -> None:
    """A working uploader and feeds, judged over 23 hours: nothing says a day was missed."""
    start = T0 + timedelta(hours=23)
    window = Window(start=start, end=start + timedelta(hours=23))
    await store.write(
        [
            Point("report_upload", {"site": SITE, "target": "provincial-platform", "kind": "daily"},
                  {"acked": True}, ns(T0 + timedelta(days=1, hours=1))),
            *(counter(f"feed.{x}", 1, ns(start) + h * 3600 * S) for x in "abc" for h in range(23)),
        ]
    )  # fmt: skip
    sec = await evaluate("ningbo-security-service-platform", window, store, Inventory(site=SITE))
    daily = sec.result("daily_report_or_empty_data_marker")
    assert daily.verdict == "insufficient_data"
    assert any("no complete local day" in n for n in daily.notes)
    assert not any("0 of 0 hours" in n for n in daily.notes), daily.notes
    center = await evaluate(
        "promotion-center-comprehensive-national", window, store, Inventory(site=SITE)
    )
    assert center.result("industry_monitoring_regular").verdict == "insufficient_data"


async def test_a_feed_that_stopped_before_the_window_counts_as_not_refreshed(
    store: Store,
) -> None:
    days = Window(start=T0 + timedelta(days=3), end=T0 + timedelta(days=5))
    a = ns(T0)
    # three feeds once a day (at 09:00) — a daily cadence covers the window — one stops
    await store.write(
        [
            counter(f"feed.{x}", 1, a + (d * 24 + 9) * 3600 * S)
            for x in ("scale", "projects", "results")
            for d in range(5)
            if not (x == "results" and d >= 2)
        ]
    )
    ev = await evaluate(
        "promotion-center-comprehensive-national", days, store, Inventory(site=SITE)
    )
    r = ev.result("industry_monitoring_regular")
    assert (r.value, r.numerator, r.denominator, r.verdict) == (False, 2, 3, "fail")
    assert any("exported before the window and not in it: feed.results" in n for n in r.notes)
