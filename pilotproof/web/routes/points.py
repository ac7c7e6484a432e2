"""`points`: the raw points with samples in a window, and one point's trend (JSON, SVG,
CSV) — what a plant engineer looks at when a KPI moves."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Query, Response

from kpi import Window
from pilotproof.web.charts import trend_svg
from pilotproof.web.export import csv_response
from pilotproof.web.models import PointTrend, PointView, TrendRow
from pilotproof.web.routes.kpis import EndQ, StartQ
from pilotproof.web.state import Reader, Service, ServiceDep
from telemetry import Aggregate, FixedBuckets, StoreError
from telemetry.timegrid import NS

router = APIRouter(tags=["points"])

#: a trend has at most about this many buckets: enough for a chart, small for a table
BUCKETS = 240
#: bucket sizes a trend may take, seconds (times read well on the axis)
STEPS = (1, 5, 10, 30, 60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
         2 * 86400, 7 * 86400)  # fmt: skip

#: an id as the inventory allows one: no control characters, bounded (InfluxQL and file
#: names must never see a NUL or a newline from a query string)
ID_PATTERN = r"^[^\x00-\x1f\x7f]{1,200}$"
ElementQ = Annotated[
    str, Query(description="element id, as declared in the inventory", pattern=ID_PATTERN)
]
PointQ = Annotated[str, Query(description="point id of that element", pattern=ID_PATTERN)]


async def _rows(svc: Service, q: Aggregate) -> list[dict[str, object]]:
    try:
        df = await svc.store.aggregate(q)
    except StoreError as e:
        raise HTTPException(503, f"the store is unavailable: {e}") from None
    except ValueError as e:  # an answer the store client could not read (InfluxDB: an inf)
        raise HTTPException(502, f"the store's answer could not be read: {str(e)[:120]}") from None
    # records, not iterrows: a row Series upcasts an int time to float beside a float value
    return [{str(k): None if v != v else v for k, v in r.items()} for r in df.to_dict("records")]


@router.get("/api/points")
async def points(
    svc: ServiceDep, _: Reader, start: StartQ = None, end: EndQ = None
) -> list[PointView]:
    """Every raw point (`telemetry`) with samples in the last day of the window, with that
    day's sample count and its declared unit and period. (A day, not the whole window: a
    month of raw samples is a scan that would hold the store for every other request.)"""
    window = svc.window(start, end)
    last_day = Window(start=max(window.start, window.end - timedelta(days=1)), end=window.end)
    rows = await _rows(svc, Aggregate.over(
        last_day, "telemetry", "quality", "count", group_by=("element", "point"),
        where={"site": svc.inventory.site},
    ))  # fmt: skip
    declared = {(e.id, p.id): p for e in svc.inventory.elements for p in e.points}
    out = []
    for r in rows:
        key = (str(r["element"]), str(r["point"]))
        d = declared.get(key)
        out.append(PointView(
            element=key[0], point=key[1], samples=int(str(r["value"])),
            unit=d.unit if d else "", period_s=d.period_s if d else None,
        ))  # fmt: skip
    return sorted(out, key=lambda p: (p.element, p.point))


async def _trend(svc: Service, element: str, point: str, window: Window) -> PointTrend:
    span_s = (window.end_ns - window.start_ns) / NS
    declared = {(e.id, p.id): p for e in svc.inventory.elements for p in e.points}
    d = declared.get((element, point))
    floor = max(span_s / BUCKETS, d.period_s if d else 1.0)
    every = next((s for s in STEPS if s >= floor), STEPS[-1])
    where = {"site": svc.inventory.site, "element": element, "point": point}
    # hours and days on the plant's clock: buckets aligned to the site's UTC offset
    offset = window.start.astimezone(ZoneInfo(svc.inventory.timezone)).utcoffset()
    offset_ns = int(offset.total_seconds()) * NS if offset else 0
    buckets = FixedBuckets(every_ns=every * NS, offset_ns=-offset_ns % (every * NS))
    reads = [
        _rows(svc, Aggregate(measurement="telemetry", field="value", fn=fn,
                             start_ns=window.start_ns, end_ns=window.end_ns, where=where,
                             buckets=buckets))
        for fn in ("mean", "min", "max")
    ]  # fmt: skip
    reads.append(_rows(svc, Aggregate.over(window, "telemetry", "quality", "count",
                                           where=where, buckets=buckets)))  # fmt: skip
    mean, lo, hi, count = await asyncio.gather(*reads)

    def by_time(rows: list[dict[str, object]]) -> dict[int, float | None]:
        return {int(str(r["time"])): None if r["value"] is None else float(str(r["value"]))
                for r in rows}  # fmt: skip

    m, a, b, n = by_time(mean), by_time(lo), by_time(hi), by_time(count)
    times = sorted(t for t in set(m) | set(n) if (n.get(t) or 0) > 0)
    rows = [
        TrendRow(time=datetime.fromtimestamp(t / NS, UTC), mean=m.get(t), min=a.get(t),
                 max=b.get(t), samples=int(n.get(t) or 0))
        for t in times
    ]  # fmt: skip
    if not rows and d is None:
        raise HTTPException(
            404,
            f"no point {element}.{point} declared, and no samples of it in the window "
            "(`/api/points` lists those with samples)",
        )
    return PointTrend(element=element, point=point, unit=d.unit if d else "", every_s=every,
                      rows=rows)  # fmt: skip


async def _requested(
    svc: ServiceDep, _: Reader, element: ElementQ, point: PointQ,
    start: StartQ = None, end: EndQ = None,
) -> PointTrend:  # fmt: skip
    """The trend a request asks for: the one dependency of the three trend routes."""
    return await _trend(svc, element, point, svc.window(start, end))


TrendDep = Annotated[PointTrend, Depends(_requested)]


@router.get("/api/points/trend")
async def trend(t: TrendDep) -> PointTrend:
    """One point's mean, min and max per bucket (at most about 240 buckets over the
    window, never finer than its declared period; hours and days on the site's clock).
    Buckets without samples are left out."""
    return t


@router.get(
    "/api/points/trend.svg", response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}}},
)  # fmt: skip
async def trend_chart(t: TrendDep, svc: ServiceDep) -> Response:
    """The same trend drawn as SVG, times in the site's zone."""
    return Response(trend_svg(t, svc.inventory.timezone), media_type="image/svg+xml")


@router.get(
    "/api/points/trend.csv", response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)  # fmt: skip
async def trend_csv(t: TrendDep, svc: ServiceDep) -> Response:
    """The same trend as CSV (UTF-8 with BOM): bucket start in UTC and in site time."""
    zone = ZoneInfo(svc.inventory.timezone)
    return csv_response(
        f"{t.element}-{t.point}.csv",
        ["time_utc", f"time_local ({svc.inventory.timezone})", "mean", "min", "max", "samples",
         "unit"],
        ([r.time.isoformat(), r.time.astimezone(zone).isoformat(), r.mean, r.min, r.max,
          r.samples, t.unit] for r in t.rows),
    )  # fmt: skip
