"""`kpis`: profiles, a profile's evaluation, one KPI day by day, and its charts."""

from datetime import datetime, timedelta
from fractions import Fraction
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from pydantic import BeforeValidator

from kpi import Evaluation, KpiResult, Window, list_profiles
from pilotproof.web.export import csv_response
from pilotproof.web.models import KpiSeries, ProfileView, SeriesPoint
from pilotproof.web.state import Reader, Service, ServiceDep
from telemetry import LocalDays
from telemetry.timegrid import NS
from verifier.html_report import bar_chart, breakdown_chart, coverage_chart

router = APIRouter(tags=["kpis"])

ProfileQ = Annotated[str | None, Query(description="profile id (`/api/profiles`)")]


def _iso_only(v: object) -> object:
    """A bare number is not a date: pydantic would read `20261029` as Unix seconds."""
    if isinstance(v, str) and v.strip().lstrip("+-").replace(".", "", 1).isdigit():
        raise ValueError(f"{v!r} is a number, not a time: write it as ISO 8601, e.g. 2026-10-29")
    return v


StartQ = Annotated[
    datetime | None,
    BeforeValidator(_iso_only),
    Query(
        alias="from",
        description="window start, ISO 8601 (`2026-10-29`, `2026-10-29T08:00`); without an "
        "offset it is the site's local time",
    ),
]
EndQ = Annotated[
    datetime | None,
    BeforeValidator(_iso_only),
    Query(
        alias="to",
        description="window end (exclusive), like `from`; at most `max_window_days` after it",
    ),
]


@router.get("/api/profiles")
async def profiles(_: Reader) -> list[ProfileView]:
    """Every programme category that can be evaluated."""
    return [ProfileView(id=p.id, name_zh=p.name_zh, name_en=p.name_en) for p in list_profiles()]


@router.get("/api/kpis")
async def kpis(
    svc: ServiceDep, _: Reader, profile: ProfileQ = None, start: StartQ = None, end: EndQ = None
) -> Evaluation:
    """Evaluate a profile over a window: every KPI with value, threshold, verdict,
    counts, breakdown, coverage, the queries that ran and the clause it comes from."""
    return await svc.evaluations.one(
        profile or svc.settings.default_profile, svc.window(start, end)
    )


CSV: dict[int | str, dict[str, Any]] = {200: {"content": {"text/csv": {}}}}


@router.get("/api/kpis.csv", response_class=Response, responses=CSV)
async def kpis_csv(
    svc: ServiceDep, _: Reader, profile: ProfileQ = None, start: StartQ = None, end: EndQ = None
) -> Response:
    """The evaluation's KPI table as CSV (UTF-8 with BOM, opens in Excel): one row per
    KPI with both names, value, counts, threshold, verdict and clause."""
    ev = await svc.evaluations.one(profile or svc.settings.default_profile, svc.window(start, end))
    return csv_response(
        f"{ev.profile}-kpis.csv",
        ["id", "name_zh", "name_en", "role", "source", "value", "numerator", "denominator",
         "unit", "threshold", "verdict", "window_start", "window_end", "document", "section"],
        ([r.id, r.name_zh, r.name_en, r.role, r.source, value_text(r), r.numerator, r.denominator,
          r.unit, r.threshold_text, r.verdict, ev.window.start.isoformat(),
          ev.window.end.isoformat(), r.clause.document, r.clause.section]
         for r in ev.results),
    )  # fmt: skip


async def _requested_series(
    kpi_id: str,
    svc: ServiceDep,
    _: Reader,
    profile: ProfileQ = None,
    start: StartQ = None,
    end: EndQ = None,
) -> KpiSeries:
    """The series a request asks for: the one dependency of its JSON and CSV routes."""
    return await _series(svc, kpi_id, profile, svc.window(start, end))


SeriesDep = Annotated[KpiSeries, Depends(_requested_series)]


@router.get("/api/kpis/{kpi_id}/series.csv", response_class=Response, responses=CSV)
async def series_csv(s: SeriesDep) -> Response:
    """One KPI day by day as CSV (local days of the site)."""
    return csv_response(
        f"{s.kpi.id}-daily.csv",
        ["day", "value", "numerator", "denominator", "verdict"],
        ([d.day, d.value, d.numerator, d.denominator, d.verdict] for d in s.daily),
    )


@router.get("/api/kpis/{kpi_id}/series")
async def series(s: SeriesDep) -> KpiSeries:
    """One KPI over the window with its breakdown, and the same KPI day by day."""
    return s


@router.get(
    "/api/kpis/{kpi_id}/chart.svg",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}}},
)
async def chart(
    kpi_id: str,
    svc: ServiceDep,
    _: Reader,
    kind: Annotated[
        Literal["daily", "breakdown", "coverage"],
        Query(
            description="daily: the KPI per local day; breakdown: per element, day, "
            "line…; coverage: hours with data over the window"
        ),
    ] = "daily",
    profile: ProfileQ = None,
    start: StartQ = None,
    end: EndQ = None,
) -> Response:
    """A KPI's chart as SVG, drawn on the server (the dashboard needs no chart library)."""
    window = svc.window(start, end)
    if kind == "daily":
        s = await _series(svc, kpi_id, profile, window)
        bars = [(d.day, _bar(d.value)) for d in s.daily]
        scale = 100.0 if (s.kpi.unit or "").startswith("ratio") else 1.0
        svg = bar_chart(f"{s.kpi.name_zh} · 逐日 daily", [(d, v * scale) for d, v in bars])
    else:
        whole = await svc.evaluations.one(profile or svc.settings.default_profile, window)
        kpi = _result(whole, kpi_id)
        if kind == "breakdown":
            rows = kpi.breakdown.rows if kpi.breakdown else []
            svg = breakdown_chart(kpi.breakdown.by, rows) if kpi.breakdown and rows else ""
        else:
            svg = "".join(coverage_chart(c) for c in kpi.coverage)
    body = svg or "<svg xmlns='http://www.w3.org/2000/svg' width='1' height='1'/>"
    return Response(body, media_type="image/svg+xml")


async def _series(svc: Service, kpi_id: str, profile: str | None, window: Window) -> KpiSeries:
    if window.end - window.start > timedelta(days=62):
        raise HTTPException(400, "a daily series covers at most 62 days")
    whole = await svc.evaluations.one(profile or svc.settings.default_profile, window)
    kpi = _result(whole, kpi_id)
    tz = svc.inventory.timezone
    days = _local_days(window, tz)
    daily = []
    for (a, _b), day in zip(days, await svc.evaluations.many(whole.profile, days), strict=True):
        r = day.result(kpi_id)
        daily.append(SeriesPoint(day=_day_label(a, tz), value=value_text(r), numerator=r.numerator,
                                 denominator=r.denominator, verdict=r.verdict))  # fmt: skip
    return KpiSeries(kpi=kpi, daily=daily)


def value_text(r: KpiResult) -> str | None:
    """The value as text: the exact decimal of a number, `true`/`false` of a yes/no one."""
    if isinstance(r.value, bool):
        return "true" if r.value else "false"
    return r.decimal


def _bar(text: str | None) -> float:
    """A day's bar: the number, or 1 for yes and 0 for no (or nothing)."""
    if text in (None, "", "false"):
        return 0.0
    return 1.0 if text == "true" else float(Fraction(text))


def _result(evaluation: Evaluation, kpi_id: str) -> KpiResult:
    try:
        return evaluation.result(kpi_id)
    except KeyError:
        raise HTTPException(404, f"profile {evaluation.profile} has no KPI {kpi_id!r}") from None


def _local_days(window: Window, tz: str) -> list[tuple[int, int]]:
    """Each local day of the window, clipped to it."""
    a, b = window.start_ns, window.end_ns
    return [(max(lo, a), min(hi, b)) for lo, hi in LocalDays(tz=tz).boundaries(a, b)]


def _day_label(ns: int, tz: str) -> str:
    return datetime.fromtimestamp(ns // NS, ZoneInfo(tz)).date().isoformat()
