"""The Store contract, run against SqliteStore, DuckdbStore and a real influxd alike."""

from __future__ import annotations

import random
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from telemetry import (
    Aggregate,
    DuckdbStore,
    FixedBuckets,
    LocalDays,
    Point,
    SqliteStore,
    Store,
    StoreQueryError,
)
from tests.conftest import new_influx_store

S = 1_000_000_000
T0 = 1_767_225_600 * S  # 2026-01-01T00:00:00Z = 08:00 in Shanghai
SH = ZoneInfo("Asia/Shanghai")


def status(element: str, link: str, online: bool, t: int, **extra: object) -> Point:
    return Point(
        "element_status",
        {"site": "s1", "element": element, "link": link, "kind": "cnc"},
        {"online": online, **extra},
        t,
    )


def rows(df: pd.DataFrame) -> list[tuple[object, ...]]:
    return [tuple(r) for r in df.itertuples(index=False)]


def agg(**kw: object) -> Aggregate:
    base: dict[str, object] = {
        "measurement": "element_status",
        "field": "online",
        "fn": "count",
        "start_ns": T0,
        "end_ns": T0 + 86_400 * S,
    }
    base.update(kw)
    return Aggregate(**base)  # type: ignore[arg-type]


async def test_round_trip_keeps_types_and_unicode(store: Store) -> None:
    pts = [
        Point(
            "m",
            {"车间": "一号 线,A=1", "k": "v"},
            {"f": 1.5, "i": -7, "b": True, "s": 'say "hi" \\ 中文'},
            T0,
        ),
        Point(
            "m",
            {"车间": "一号 线,A=1", "k": "v"},
            {"f": 3.0, "i": 2**62, "b": False, "s": ""},
            T0 + S,
        ),
    ]
    result = await store.write(pts)
    assert result.written == 2
    assert not result.rejected
    assert await store.read("m", T0, T0 + 2 * S) == pts
    assert await store.field_types("m") == {"f": "float", "i": "int", "b": "bool", "s": "str"}


async def test_rewriting_a_point_overwrites_it(store: Store) -> None:
    await store.write([status("e1", "5g", True, T0, rsrp=-80.0)])
    await store.write([status("e1", "5g", True, T0, rsrp=-80.0)])
    await store.write([status("e1", "5g", False, T0, rsrp=-90.0)])
    df = await store.aggregate(agg(fn="count"))
    assert rows(df) == [(1,)]
    assert await store.read("element_status", T0, T0 + S) == [
        status("e1", "5g", False, T0, rsrp=-90.0)
    ]


async def test_field_type_conflict_is_rejected_and_the_rest_written(store: Store) -> None:
    await store.write([status("e1", "5g", True, T0)])
    bad = Point("element_status", {"element": "e2"}, {"online": "yes"}, T0)
    result = await store.write([status("e3", "wifi", True, T0), bad, status("e4", "5g", True, T0)])
    assert result.written == 2
    assert len(result.rejected) == 1
    assert result.rejected[0].line.startswith("element_status,element=e2 ")
    assert 'field type conflict: input field "online"' in result.rejected[0].reason
    assert rows(await store.aggregate(agg(group_by=("element",)))) == [
        ("e1", 1),
        ("e3", 1),
        ("e4", 1),
    ]


async def test_window_is_half_open(store: Store) -> None:
    await store.write([status("e1", "5g", True, t) for t in (T0 - 1, T0, T0 + 10, T0 + 20)])
    assert rows(await store.aggregate(agg(end_ns=T0 + 20))) == [(2,)]


async def test_aggregate_functions_per_group(store: Store) -> None:
    pts = []
    for i in range(10):
        pts.append(status("e1", "5g", i % 2 == 0, T0 + i * 60 * S, rsrp=-100.0 + i))
        pts.append(status("e2", "wifi", i < 3, T0 + i * 60 * S, rsrp=-50.0 - i / 2))
    await store.write(pts)
    q = {"group_by": ("element",)}
    assert rows(await store.aggregate(agg(fn="count", **q))) == [("e1", 10), ("e2", 10)]
    assert rows(await store.aggregate(agg(fn="last", **q))) == [("e1", False), ("e2", False)]
    assert rows(await store.aggregate(agg(fn="first", **q))) == [("e1", True), ("e2", True)]
    r = dict(field="rsrp", **q)
    assert rows(await store.aggregate(agg(fn="sum", **r))) == [("e1", -955.0), ("e2", -522.5)]
    assert rows(await store.aggregate(agg(fn="mean", **r))) == [("e1", -95.5), ("e2", -52.25)]
    assert rows(await store.aggregate(agg(fn="min", **r))) == [("e1", -100.0), ("e2", -54.5)]
    assert rows(await store.aggregate(agg(fn="max", **r))) == [("e1", -91.0), ("e2", -50.0)]
    assert rows(await store.aggregate(agg(fn="last", **r))) == [("e1", -91.0), ("e2", -54.5)]
    online = await store.aggregate(agg(fn="count", field_equals=True, **q))
    assert rows(online) == [("e1", 5), ("e2", 3)]
    df = await store.aggregate(agg(fn="mean", field="rsrp", group_by=("link", "element")))
    assert list(df.columns) == ["link", "element", "value"]
    assert rows(df) == [("5g", "e1", -95.5), ("wifi", "e2", -52.25)]


async def test_dtypes_are_the_same_on_both_stores(store: Store) -> None:
    await store.write(
        [
            Point("id", {"node": "n1"}, {"resolutions": 5, "ratio": 2.0, "ok": True}, T0),
            Point("id", {"node": "n1"}, {"resolutions": 7, "ratio": 4.0, "ok": False}, T0 + S),
        ]
    )
    base = {"measurement": "id", "group_by": ("node",)}
    sums = await store.aggregate(agg(field="resolutions", fn="sum", **base))
    assert sums["value"].dtype == "int64"
    assert rows(sums) == [("n1", 12)]
    assert (await store.aggregate(agg(field="ratio", fn="last", **base)))[
        "value"
    ].dtype == "float64"
    assert (await store.aggregate(agg(field="ratio", fn="sum", **base)))["value"].dtype == "float64"
    assert (await store.aggregate(agg(field="resolutions", fn="mean", **base)))[
        "value"
    ].dtype == "float64"
    assert (await store.aggregate(agg(field="ok", fn="last", **base)))["value"].dtype == "bool"
    assert (await store.aggregate(agg(field="ok", fn="count", **base)))["value"].dtype == "int64"


async def test_tag_filters_single_and_any_of(store: Store) -> None:
    await store.write(
        [
            status("e1", "5g", True, T0),
            status("e2", "wifi", True, T0),
            status("e3", "lora", True, T0),
            status("e4", "wired", True, T0),
        ]
    )
    assert rows(await store.aggregate(agg(where={"link": "5g"}))) == [(1,)]
    wireless = agg(where={"link": ("5g", "wifi", "lora")}, group_by=("element",))
    assert rows(await store.aggregate(wireless)) == [("e1", 1), ("e2", 1), ("e3", 1)]
    assert rows(await store.aggregate(agg(where={"link": "none"}))) == []
    both = agg(where={"link": ("5g", "wifi"), "element": "e2"})
    assert rows(await store.aggregate(both)) == [(1,)]


async def test_missing_group_tag_reads_as_empty_string(store: Store) -> None:
    await store.write(
        [
            Point("m", {"a": "x", "b": "y"}, {"v": 1.0}, T0),
            Point("m", {"a": "x"}, {"v": 2.0}, T0),
        ]
    )
    df = await store.aggregate(agg(measurement="m", field="v", fn="sum", group_by=("a", "b")))
    assert rows(df) == [("x", "", 2.0), ("x", "y", 1.0)]


async def test_empty_results_have_the_contract_columns(store: Store) -> None:
    for q in (
        agg(measurement="nothing_here", group_by=("element",)),
        agg(group_by=("element",), buckets=FixedBuckets(every_ns=3600 * S)),
    ):
        df = await store.aggregate(q)
        assert len(df) == 0
        assert list(df.columns) == ["element", *(["time"] if q.buckets else []), "value"]
    await store.write([status("e1", "5g", True, T0 - 10 * S)])
    assert len(await store.aggregate(agg(fn="last"))) == 0
    assert len(await store.aggregate(agg(fn="sum", field="rsrp"))) == 0


async def test_fixed_buckets_with_offset_skip_empty_ones(store: Store) -> None:
    await store.write([status("e1", "5g", True, T0 + m * 60 * S) for m in (0, 5, 10, 31, 65)])
    q = agg(buckets=FixedBuckets(every_ns=1800 * S))
    assert rows(await store.aggregate(q)) == [(T0, 3), (T0 + 1800 * S, 1), (T0 + 3600 * S, 1)]
    shifted = agg(buckets=FixedBuckets(every_ns=1800 * S, offset_ns=600 * S))
    assert rows(await store.aggregate(shifted)) == [
        (T0 - 1200 * S, 2),
        (T0 + 600 * S, 2),
        (T0 + 2400 * S, 1),
    ]


async def test_local_day_buckets_in_shanghai(store: Store) -> None:
    # Shanghai midnight is 16:00 UTC: 15:59:59 UTC and 16:00:00 UTC fall on different days.
    day_start = int(datetime(2026, 1, 2, tzinfo=SH).timestamp()) * S
    pts = [
        Point("identifier", {"node": "n1", "enterprise": "a"}, {"resolutions": 10}, day_start - S),
        Point("identifier", {"node": "n1", "enterprise": "a"}, {"resolutions": 20}, day_start),
        Point("identifier", {"node": "n1", "enterprise": "b"}, {"resolutions": 5}, day_start + S),
        Point(
            "identifier",
            {"node": "n1", "enterprise": "a"},
            {"resolutions": 1},
            day_start + 86_400 * S + 7,
        ),
    ]
    await store.write(pts)
    q = agg(
        measurement="identifier",
        field="resolutions",
        fn="sum",
        start_ns=day_start - 86_400 * S,
        end_ns=day_start + 3 * 86_400 * S,
        buckets=LocalDays(tz="Asia/Shanghai"),
    )
    assert rows(await store.aggregate(q)) == [
        (day_start - 86_400 * S, 10),
        (day_start, 25),
        (day_start + 86_400 * S, 1),
    ]
    per_ent = q.model_copy(update={"group_by": ("enterprise",)})
    assert rows(await store.aggregate(per_ent)) == [
        ("a", day_start - 86_400 * S, 10),
        ("a", day_start, 20),
        ("a", day_start + 86_400 * S, 1),
        ("b", day_start, 5),
    ]


async def test_day_bucket_of_a_window_starting_mid_day(store: Store) -> None:
    # The first bucket is labelled with the local midnight before the window start.
    day_start = int(datetime(2026, 3, 1, tzinfo=SH).timestamp()) * S
    await store.write(
        [
            Point("identifier", {"node": "n"}, {"resolutions": 3}, day_start + 3600 * S),
            Point("identifier", {"node": "n"}, {"resolutions": 4}, day_start + 13 * 3600 * S),
        ]
    )
    q = agg(
        measurement="identifier",
        field="resolutions",
        fn="sum",
        start_ns=day_start + 12 * 3600 * S,
        end_ns=day_start + 86_400 * S,
        buckets=LocalDays(tz="Asia/Shanghai"),
    )
    assert rows(await store.aggregate(q)) == [(day_start, 4)]


async def test_numeric_aggregate_of_a_bool_is_refused(store: Store) -> None:
    await store.write([status("e1", "5g", True, T0)])
    with pytest.raises(StoreQueryError, match=r"mean\(\) of element_status.online"):
        await store.aggregate(agg(fn="mean"))


async def test_read_filters_and_limits_per_series(store: Store) -> None:
    await store.write([status(e, "5g", True, T0 + i * S) for e in ("e1", "e2") for i in range(5)])
    got = await store.read("element_status", T0, T0 + 60 * S, where={"element": "e2"}, limit=3)
    assert [(p.tags["element"], p.time_ns) for p in got] == [("e2", T0 + i * S) for i in range(3)]
    assert len(await store.read("element_status", T0, T0 + 60 * S, limit=2)) == 4


async def test_every_store_agrees_on_random_data(tmp_path: Path, influxd: object) -> None:
    """A seeded random factory day: every aggregate shape gives identical frames."""
    rng = random.Random(20261122)
    pts = []
    links = ("5g", "wifi", "lora", "wired")
    for e in range(40):
        link = links[e % 4]
        for m in range(0, 24 * 60, rng.choice((5, 15, 60))):
            if rng.random() < 0.9:
                pts.append(
                    status(
                        f"E{e:02d}",
                        link,
                        rng.random() < 0.8,
                        T0 + m * 60 * S,
                        rsrp=float(rng.randint(-120, -60)),
                    )
                )
    sq = SqliteStore(tmp_path / "a.db")
    ix = await new_influx_store(influxd)  # type: ignore[arg-type]
    dk = DuckdbStore(tmp_path / "a.duckdb")
    assert (await sq.write(pts)).written == (await ix.write(pts)).written == len(pts)
    assert (await dk.write(pts)).written == len(pts)
    queries = []
    for fn in ("count", "last", "first"):
        for eq in (None, True):
            queries.append(agg(fn=fn, field_equals=eq, group_by=("element",)))
    # last/first are left out of the per-link groups: several series of one group share
    # timestamps there, and which tied sample wins is unspecified (see Store docs).
    for fn in ("sum", "mean", "min", "max", "count"):
        queries.append(
            agg(
                fn=fn, field="rsrp", group_by=("link",), buckets=FixedBuckets(every_ns=3 * 3600 * S)
            )
        )
        queries.append(
            agg(
                fn=fn,
                field="rsrp",
                where={"link": ("5g", "wifi")},
                buckets=LocalDays(tz="Asia/Shanghai"),
            )
        )
    for fn in ("last", "first"):
        queries.append(
            agg(
                fn=fn,
                field="rsrp",
                group_by=("element",),
                buckets=FixedBuckets(every_ns=3 * 3600 * S),
            )
        )
        queries.append(
            agg(
                fn=fn,
                field="online",
                group_by=("element",),
                where={"link": "5g"},
                buckets=LocalDays(tz="Asia/Shanghai"),
            )
        )
    for q in queries:
        a, b, c = await sq.aggregate(q), await ix.aggregate(q), await dk.aggregate(q)
        pd.testing.assert_frame_equal(a, b, check_exact=q.fn != "mean", obj=repr(q))
        pd.testing.assert_frame_equal(a, c, check_exact=q.fn != "mean", obj=f"duckdb {q!r}")
    await sq.close()
    await ix.close()
    await dk.close()


async def test_local_days_follow_daylight_saving(store: Store) -> None:
    # New York springs forward on 2026-03-08: that local day has 23 hours.
    ny = ZoneInfo("America/New_York")
    start = int(datetime(2026, 3, 7, tzinfo=ny).timestamp()) * S
    await store.write([Point("d", {"n": "x"}, {"r": 1}, start + h * 3600 * S) for h in range(71)])
    q = agg(
        measurement="d",
        field="r",
        fn="sum",
        start_ns=start,
        end_ns=start + 71 * 3600 * S,
        buckets=LocalDays(tz="America/New_York"),
    )
    got = [(datetime.fromtimestamp(t / 1e9, ny).day, v) for t, v in rows(await store.aggregate(q))]
    assert got == [(7, 24), (8, 23), (9, 24)]


async def test_day_buckets_keep_a_sample_one_ns_before_midnight(store: Store) -> None:
    midnight = int(datetime(2026, 4, 2, tzinfo=SH).timestamp()) * S
    await store.write([Point("d", {"n": "x"}, {"r": 1}, t) for t in (midnight - 1, midnight)])
    q = agg(
        measurement="d",
        field="r",
        fn="count",
        start_ns=midnight - 1,
        end_ns=midnight + S,
        buckets=LocalDays(tz="Asia/Shanghai"),
    )
    assert rows(await store.aggregate(q)) == [(midnight - 86_400 * S, 1), (midnight, 1)]


async def test_field_equals_with_a_small_float(store: Store) -> None:
    await store.write(
        [
            Point("m", {"e": "a"}, {"v": v}, T0 + i)
            for i, v in enumerate((1e-05, 2e-05, 1e-05, 1e16))
        ]
    )
    assert rows(await store.aggregate(agg(measurement="m", field="v", field_equals=1e-05))) == [
        (2,)
    ]
    assert rows(await store.aggregate(agg(measurement="m", field="v", field_equals=1e16))) == [(1,)]


async def test_limit_below_one_is_refused(store: Store) -> None:
    with pytest.raises(StoreQueryError, match="limit 0 must be at least 1"):
        await store.read("m", T0, T0 + S, limit=0)


async def test_a_refused_point_leaves_no_field_behind(store: Store) -> None:
    await store.write([Point("m", {}, {"y": 1}, T0)])
    result = await store.write([Point("m", {}, {"x": 1.0, "y": "s"}, T0 + 1)])
    assert len(result.rejected) == 1
    assert (await store.write([Point("m", {}, {"x": 1}, T0 + 2)])).written == 1
    assert await store.field_types("m") == {"y": "int", "x": "int"}


async def test_sqlite_writers_on_one_file_share_field_types(tmp_path: Path) -> None:
    a, b = SqliteStore(tmp_path / "s.db"), SqliteStore(tmp_path / "s.db")
    await a.write([Point("m", {}, {"f": 1}, T0)])
    result = await b.write([Point("m", {}, {"f": 2.5}, T0 + 1)])
    assert result.written == 0
    assert "already exists as type integer" in result.rejected[0].reason
    await b.write([Point("m", {}, {"g": 2.5}, T0 + 1)])
    assert rows(await a.aggregate(agg(measurement="m", field="g", fn="sum"))) == [(2.5,)]
    await a.close()
    await b.close()


async def test_keep_time_reports_the_selected_samples_time(store: Store) -> None:
    # an element seen on 5G, then Wi-Fi, then 5G again: when was it last seen on each?
    pts = [status("e1", "5g", True, T0 + i * 60 * S) for i in range(3)]
    pts += [status("e1", "wifi", True, T0 + i * 60 * S) for i in range(3, 5)]
    pts += [status("e1", "5g", i != 6, T0 + i * 60 * S) for i in range(5, 7)]
    await store.write(pts)
    q = agg(fn="last", group_by=("link",), field_equals=True, keep_time=True)
    df = await store.aggregate(q)
    assert list(df.columns) == ["link", "time", "value"]
    assert rows(df) == [("5g", T0 + 5 * 60 * S, True), ("wifi", T0 + 4 * 60 * S, True)]
    first = await store.aggregate(q.model_copy(update={"fn": "first"}))
    assert rows(first) == [("5g", T0, True), ("wifi", T0 + 3 * 60 * S, True)]
    with pytest.raises(ValueError, match="keep_time needs an unbucketed"):
        agg(fn="count", keep_time=True)
