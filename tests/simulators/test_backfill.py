"""Backfill into each store gives the series whose aggregates are the scenario's truth."""

from __future__ import annotations

from simulators import Period, backfill, compute_truth, load_scenario
from simulators.behaviour import FactoryModel
from telemetry import Aggregate, LocalDays, Point, SeriesBlock, Store
from tests.simulators.conftest import at


def window(a: str, b: str) -> Period:
    return Period.model_validate({"from": f"{a}T00:00:00+08:00", "to": f"{b}T00:00:00+08:00"})


async def test_loops_and_collection_match_truth(store: Store) -> None:
    s = load_scenario("process-plant")
    w = window("2026-10-12", "2026-10-13")  # the day DCS-3 was unreachable
    report = await backfill(s, store, w.start_ns, w.end_ns)
    assert report.rejected == 0
    assert report.rows["control_loop"] > 0
    truth = compute_truth(s, w)
    auto = await store.aggregate(
        Aggregate.over(w, "control_loop", "auto", "count", field_equals=True)
    )
    assert int(auto["value"].sum()) == truth["auto_control_utilization_rate"].numerator
    per_point = await store.aggregate(
        Aggregate.over(w, "point_health", "good", "sum", group_by=("element", "point"))
    )
    model = FactoryModel(s)
    for row in per_point.itertuples():
        _, _, good = model.samples_good(row.element, row.point, w.start_ns, w.end_ns)
        assert row.value == good, (row.element, row.point)
    # the 15 loops' DCS-3 mode points lost 6 h of 24: received 18 h of 1 Hz samples
    received = await store.aggregate(
        Aggregate.over(
            w, "point_health", "received", "sum", where={"element": "dcs-3"}, group_by=("point",)
        )
    )
    assert set(received["value"]) == {18 * 3600}


async def test_status_and_links_match_truth(store: Store) -> None:
    s = load_scenario("fiveg-factory-pass")
    w = window("2026-10-02", "2026-10-03")
    await backfill(s, store, w.start_ns, w.end_ns)
    online = await store.aggregate(
        Aggregate.over(
            w, "element_status", "online", "count", field_equals=True, group_by=("element", "link")
        )
    )
    by_element = dict(zip(online["element"], online["value"], strict=True))
    assert by_element["agv-01"] == 1440 - 30  # down 03:00-03:30 each night
    assert by_element["cam-01"] == 1440  # its repair starts on 3 October
    on5g = online[(online["link"] == "5g") & (online["value"] >= 720)]["element"].nunique()
    wireless = online[
        online["link"].isin(["5g", "wifi", "lora", "nb-iot"]) & (online["value"] >= 720)
    ]
    truth = compute_truth(s, w)["fiveg_wireless_networking_rate"]
    assert (on5g, wireless["element"].nunique()) == (truth.numerator, truth.denominator)
    assert (on5g, truth.denominator) == (11, 41)  # the camera still counts on 2 October


async def test_identifier_days_with_a_day_without_data(store: Store) -> None:
    s = load_scenario("identifier-node")
    w = window("2026-10-14", "2026-10-17")
    await backfill(s, store, w.start_ns, w.end_ns)
    days = await store.aggregate(
        Aggregate.over(w, "identifier", "resolutions", "sum", buckets=LocalDays(tz="Asia/Shanghai"))
    )
    assert list(days["value"]) == [120000, 120000]  # 15 October is missing, not zero rows
    assert list(days["time"]) == [at("2026-10-14T00:00:00"), at("2026-10-16T00:00:00")]
    assert compute_truth(s, w)["daily_avg_identifier_resolutions"].numerator == 240000


async def test_production_counters_match_closed_form(store: Store) -> None:
    s = load_scenario("improvement-case")
    w = window("2026-10-01", "2026-10-03")
    await backfill(s, store, w.start_ns, w.end_ns)
    out = await store.aggregate(
        Aggregate.over(w, "production", "output", "sum", group_by=("line",))
    )
    assert dict(zip(out["line"], out["value"], strict=True)) == {"A": 252 * 48, "B": 126 * 48}


async def test_blocks_write_the_same_points_as_write(store: Store) -> None:
    block = SeriesBlock(
        "element_status",
        {"site": "s", "element": "e 1", "kind": "machine", "link": "5g"},
        [1, 2, 3],
        {"online": [True, False, True], "rsrp": [-90.5, None, -91.0]},
    )
    result = await store.write_blocks([block])
    assert result.written == 3
    got = await store.read("element_status", 0, 10)
    assert got == list(block.points())
    assert got[1] == Point("element_status", block.tags, {"online": False}, 2)
