"""The web service: KPIs, drill-downs, evidence and verification over HTTP.

Every endpoint but `/api/health` needs a bearer token; its role decides what it may do.
The OpenAPI document (`/openapi.json`, browsable at `/docs`) describes every field.

No `from __future__ import annotations` here: FastAPI reads the endpoints' annotations
at run time, and the role dependencies are local to `create_app`.
"""

import asyncio
import secrets
import shutil
import tempfile
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures.process import BrokenProcessPool
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import Depends, FastAPI, File, HTTPException, Query, Request, Response, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from kpi import Evaluation, KpiResult, UnknownProfileError, Window, get_profile, list_profiles
from pilotproof.web.apidocs import reference_page
from pilotproof.web.guard import BodyRule, Guard
from pilotproof.web.jobs import Jobs, JobsBusyError
from pilotproof.web.tokens import Role, TokenInfo, TokenStore
from telemetry import Aggregate, LocalDays, Store, StoreError
from verifier import BuildError, VerifyReport
from verifier.report import bar_chart, breakdown_chart, coverage_chart

__all__ = ["WebSettings", "create_app"]

#: the range of times a window may take (nanoseconds since 1970 fit in 64 bits until 2262)
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)

#: the dashboard: plain HTML, CSS and JavaScript, no CDN and no build step
STATIC = Path(__file__).parent / "static"


class WebSettings(BaseModel):
    """What the service needs besides the store: limits and defaults."""

    default_profile: str = Field(description="profile the dashboard opens with")
    default_days: int = Field(
        default=30, ge=1, description="window length the dashboard opens with"
    )
    max_window_days: int = Field(
        default=400, ge=1, description="longest window one request may evaluate (400 beyond)"
    )
    max_upload_bytes: int = Field(
        default=256 << 20, ge=1, description="largest bundle /api/verify accepts"
    )
    max_json_bytes: int = Field(
        default=16 << 10, ge=1, description="largest JSON body of the other routes"
    )
    verify_per_minute: int = Field(
        default=6, ge=1, description="verifications per token per minute"
    )
    builds_per_minute: int = Field(
        default=2, ge=1, description="evidence builds per token per minute"
    )
    keep_bundles: int = Field(
        default=20, ge=1, description="built bundles kept for download; the oldest go first"
    )
    keep_bundle_days: float = Field(
        default=30, gt=0, description="built bundles older than this are removed"
    )
    work_dir: Path = Field(description="where built bundles are kept for download")
    kpi_cache_s: float = Field(
        default=30.0, ge=0, description="how long an evaluation is reused for the same window"
    )


# --- response models ---------------------------------------------------------------------


class Problem(BaseModel):
    """What every error answers: one sentence saying what is wrong and how to fix it."""

    detail: str = Field(description="what is wrong, and what to do about it")


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "a bad window or parameter"},
    401: {"model": Problem, "description": "no token, or an unknown or revoked one"},
    403: {"model": Problem, "description": "the token's role may not do this"},
    404: {"model": Problem, "description": "no such profile, KPI, bundle or token"},
    409: {
        "model": Problem,
        "description": "the request conflicts with the data (e.g. no seal yet)",
    },
    413: {"model": Problem, "description": "the upload is larger than the limit"},
    429: {"model": Problem, "description": "too many verifications or builds this minute"},
    503: {
        "model": Problem,
        "description": "the store, signing key or trusted keys are missing, or every "
        "worker is busy (retry after `Retry-After` seconds)",
    },
}


class Health(BaseModel):
    status: str = Field(description="`ok` when the store answers, else `degraded`")
    store: str = Field(description="the store the service reads")
    version: str


class ElementView(BaseModel):
    id: str
    kind: str
    declared_link: str = Field(description="the link the inventory declares")
    key_equipment: bool
    numerically_controlled: bool
    online: bool | None = Field(
        description="the last reported status in the last day; null if none"
    )
    last_seen: datetime | None = Field(description="when that status was reported")


class ProfileView(BaseModel):
    id: str
    name_zh: str
    name_en: str


class SeriesPoint(BaseModel):
    day: str = Field(description="local calendar day (site time zone), YYYY-MM-DD")
    value: str | None = Field(description="the KPI over that day, as an exact decimal string")
    numerator: int | None = None
    denominator: int | None = None
    verdict: str


class KpiSeries(BaseModel):
    kpi: KpiResult = Field(description="the KPI over the whole window, with its breakdown")
    daily: list[SeriesPoint] = Field(description="the same KPI evaluated over each local day")


class EvidenceRequest(BaseModel):
    profile: str
    start: datetime = Field(alias="from", description="window start, ISO 8601 with offset")
    end: datetime = Field(alias="to", description="window end (exclusive)")

    model_config = {"populate_by_name": True}


class EvidenceBuilt(BaseModel):
    id: str = Field(description="download it from /api/evidence/{id}")
    bytes: int
    lines: int
    batches: int
    verdict: str


class TokenCreate(BaseModel):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")
    role: Role


class TokenCreated(TokenInfo):
    token: str = Field(description="the bearer token; shown once, stored only as a hash")


# --- the app -----------------------------------------------------------------------------


def create_app(
    store: Store,
    settings: WebSettings,
    tokens: TokenStore,
    jobs: Jobs,
    *,
    version: str = "0",
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> FastAPI:
    """The service's ASGI app.

    Args:
        store: the store, for the light reads done on the event loop (health, elements).
        settings: limits and defaults.
        tokens: the bearer tokens and their roles.
        jobs: the worker processes that evaluate, build and verify; they hold the
            inventory, parameters, declarations, signing key and trusted keys. The caller
            owns them (and closes them), as it owns the store.
        version: shown by `/api/health` and the OpenAPI document.
        now: the clock, for default windows.
    """
    inventory = jobs.spec.inventory
    app = FastAPI(
        title="pilotproof",
        version=version,
        summary="KPIs, evidence bundles and their verification — 工业互联网试点示范验收证据",
        responses=ERRORS,
        description=(
            "Every endpoint but `/api/health` needs `Authorization: Bearer <token>`. "
            "Roles: **operator** reads and builds evidence; **auditor** reads and verifies "
            "bundles; **admin** does both and manages tokens."
        ),
        # the reference is drawn by this service (/docs): no page loads from a CDN
        docs_url=None,
        redoc_url=None,
        lifespan=_warm(jobs),
    )
    bearer = HTTPBearer(auto_error=False)
    metrics = _Metrics()
    verifies = _RateLimit(settings.verify_per_minute)
    builds = _RateLimit(settings.builds_per_minute)
    settings.work_dir.mkdir(parents=True, exist_ok=True)

    def role(*allowed: Role) -> Callable[..., Awaitable[TokenInfo]]:
        async def check(
            cred: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
        ) -> TokenInfo:
            if cred is None or cred.scheme.lower() != "bearer":
                raise HTTPException(
                    401, "a bearer token is required", {"WWW-Authenticate": "Bearer"}
                )
            info = tokens.check(cred.credentials)
            if info is None:
                raise HTTPException(401, "unknown or revoked token", {"WWW-Authenticate": "Bearer"})
            if info.role != "admin" and info.role not in allowed:
                raise HTTPException(
                    403, f"role {info.role} may not do this ({', '.join(allowed)} may)"
                )
            return info

        return check

    reader = role("operator", "auditor")

    @app.middleware("http")
    async def count(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        t0 = time.perf_counter()
        response = await call_next(request)
        # the route's template, not the path: one series per endpoint, not per KPI id
        route = request.scope.get("route")
        path = getattr(route, "path", "(unmatched)")
        metrics.observe(path, response.status_code, time.perf_counter() - t0)
        return response

    # the guard answers before FastAPI reads a byte of the body (see guard.py); the
    # multipart envelope around an upload gets 64 KiB on top of the bundle's own limit.
    # Added last, so outermost: once it has answered, nothing inside it reads the socket
    # again (a streaming response would otherwise drain the rest of the body).
    app.add_middleware(
        Guard,
        tokens=tokens,
        rules={
            ("POST", "/api/verify"): BodyRule(("auditor",), settings.max_upload_bytes + (64 << 10)),
            ("POST", "/api/evidence"): BodyRule(("operator",), settings.max_json_bytes),
            ("POST", "/api/tokens"): BodyRule(("admin",), settings.max_json_bytes),
        },
        counted=lambda path, status: metrics.observe("(guard)", status, 0.0),
    )

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, e: RequestValidationError) -> JSONResponse:
        # FastAPI's own handler echoes the input, which may not encode (a lone surrogate)
        detail = [{"loc": list(x["loc"]), "msg": x["msg"], "type": x["type"]} for x in e.errors()]
        return JSONResponse({"detail": detail}, status_code=422)

    @app.exception_handler(JobsBusyError)
    async def busy(request: Request, e: JobsBusyError) -> JSONResponse:
        return JSONResponse(
            {"detail": f"every worker is busy ({e}); retry in a few seconds"},
            status_code=503,
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(BrokenProcessPool)
    async def broken(request: Request, e: BrokenProcessPool) -> JSONResponse:
        return JSONResponse(
            {"detail": "a worker process died during this request; it has been restarted"},
            status_code=503,
            headers={"Retry-After": "5"},
        )

    def window_of(start: datetime | None, end: datetime | None) -> Window:
        end = end or now()
        start = start or end - timedelta(days=settings.default_days)
        if start.tzinfo is None or end.tzinfo is None:
            raise HTTPException(400, "times need an offset, e.g. 2026-10-01T00:00:00+08:00")
        if end <= start:
            raise HTTPException(400, f"window end {end} must be after its start {start}")
        if start < EARLIEST or end > LATEST:
            raise HTTPException(
                400, f"times must lie between {EARLIEST.date()} and {LATEST.date()}"
            )
        if end - start > timedelta(days=settings.max_window_days):
            raise HTTPException(
                400,
                f"a window covers at most {settings.max_window_days} days (this one "
                f"{(end - start).days}); evaluate a longer period in parts, or with "
                "`pilotproof kpi evaluate` on a machine of your own",
            )
        return Window(start=start, end=end)

    # An evaluation is shared: by every request for the same profile and windows while it
    # runs (fifty auditors opening one dashboard cost one evaluation), and for
    # `kpi_cache_s` after it. Per process, so replicas need nothing in common.
    flights: dict[tuple[Any, ...], tuple[float, asyncio.Future[list[Evaluation]]]] = {}

    async def run_many(profile: str, windows: list[tuple[int, int]]) -> list[Evaluation]:
        try:
            p = get_profile(profile)
        except UnknownProfileError as e:
            raise HTTPException(404, str(e)) from None
        key = (p.id, *windows)
        t = time.monotonic()
        hit = flights.get(key)
        if hit is None or (hit[1].done() and t - hit[0] > settings.kpi_cache_s):
            if len(flights) >= 256:  # forget the oldest finished ones
                for k, (_, f) in sorted(flights.items(), key=lambda kv: kv[1][0])[:64]:
                    if f.done():
                        del flights[k]
            flights[key] = hit = (t, asyncio.ensure_future(jobs.evaluate(p.id, windows)))
        try:
            return await asyncio.shield(hit[1])
        except StoreError as e:
            flights.pop(key, None)  # a failure is not kept
            raise HTTPException(503, f"the store is unavailable: {e}") from None
        except Exception:
            flights.pop(key, None)
            raise

    async def run(profile: str, window: Window) -> Evaluation:
        return (await run_many(profile, [(window.start_ns, window.end_ns)]))[0]

    @app.get("/api/health", tags=["service"])
    async def health() -> Health:
        """Liveness and store reachability; needs no token."""
        try:
            await store.field_types("element_status")
            status = "ok"
        except StoreError:
            status = "degraded"
        return Health(status=status, store=store.describe(), version=version)

    @app.get("/api/profiles", tags=["kpis"])
    async def profiles(_: Annotated[TokenInfo, Depends(reader)]) -> list[ProfileView]:
        """Every programme category that can be evaluated."""
        return [ProfileView(id=p.id, name_zh=p.name_zh, name_en=p.name_en) for p in list_profiles()]

    @app.get("/api/elements", tags=["site"])
    async def elements(_: Annotated[TokenInfo, Depends(reader)]) -> list[ElementView]:
        """Declared production elements with their last reported status (last 24 h)."""
        end = now()
        start = end - timedelta(days=1)
        day = Window(start=start, end=end)
        q = Aggregate(
            measurement="element_status",
            field="online",
            fn="last",
            start_ns=day.start_ns,
            end_ns=day.end_ns,
            group_by=("element",),
            where={"site": inventory.site},
            keep_time=True,
        )
        try:
            df = await store.aggregate(q)
        except StoreError as e:
            raise HTTPException(503, f"the store is unavailable: {e}") from None
        last = {str(r["element"]): (bool(r["value"]), int(r["time"])) for _, r in df.iterrows()}
        out = []
        for el in inventory.elements:
            seen = last.get(el.id)
            out.append(
                ElementView(
                    id=el.id, kind=el.kind, declared_link=el.link,
                    key_equipment=el.key_equipment,
                    numerically_controlled=el.numerically_controlled,
                    online=seen[0] if seen else None,
                    last_seen=datetime.fromtimestamp(seen[1] // 10**9, UTC) if seen else None,
                )
            )  # fmt: skip
        return out

    @app.get("/api/kpis", tags=["kpis"])
    async def kpis(
        _: Annotated[TokenInfo, Depends(reader)],
        profile: Annotated[str | None, Query(description="profile id (`/api/profiles`)")] = None,
        start: Annotated[
            datetime | None, Query(alias="from", description="window start, ISO 8601 with offset")
        ] = None,
        end: Annotated[
            datetime | None,
            Query(alias="to", description="window end (exclusive); at most `max_window_days`"),
        ] = None,
    ) -> Evaluation:
        """Evaluate a profile over a window: every KPI with value, threshold, verdict,
        counts, breakdown, coverage, the queries that ran and the clause it comes from."""
        return await run(profile or settings.default_profile, window_of(start, end))

    @app.get("/api/kpis/{kpi_id}/series", tags=["kpis"])
    async def series(
        kpi_id: str,
        _: Annotated[TokenInfo, Depends(reader)],
        profile: Annotated[str | None, Query(description="profile id")] = None,
        start: Annotated[datetime | None, Query(alias="from", description="window start")] = None,
        end: Annotated[datetime | None, Query(alias="to", description="window end")] = None,
    ) -> KpiSeries:
        """One KPI over the window with its breakdown, and the same KPI day by day."""
        window = window_of(start, end)
        if window.end - window.start > timedelta(days=62):
            raise HTTPException(400, "a daily series covers at most 62 days")
        whole = await run(profile or settings.default_profile, window)
        try:
            kpi = whole.result(kpi_id)
        except KeyError:
            raise HTTPException(404, f"profile {whole.profile} has no KPI {kpi_id!r}") from None
        days = _local_days(window, inventory.timezone)
        daily = []
        for (a, _b), day in zip(days, await run_many(whole.profile, days), strict=True):
            r = day.result(kpi_id)
            daily.append(SeriesPoint(day=_day_label(a, inventory.timezone), value=r.decimal,
                                     numerator=r.numerator, denominator=r.denominator,
                                     verdict=r.verdict))  # fmt: skip
        return KpiSeries(kpi=kpi, daily=daily)

    @app.get(
        "/api/kpis/{kpi_id}/chart.svg",
        tags=["kpis"],
        response_class=Response,
        responses={200: {"content": {"image/svg+xml": {}}}},
    )
    async def chart(
        kpi_id: str,
        _: Annotated[TokenInfo, Depends(reader)],
        kind: Annotated[
            Literal["daily", "breakdown", "coverage"],
            Query(
                description="daily: the KPI per local day; breakdown: per element, day, "
                "line…; coverage: hours with data over the window"
            ),
        ] = "daily",
        profile: Annotated[str | None, Query(description="profile id")] = None,
        start: Annotated[datetime | None, Query(alias="from", description="window start")] = None,
        end: Annotated[datetime | None, Query(alias="to", description="window end")] = None,
    ) -> Response:
        """A KPI's chart as SVG, drawn on the server (the dashboard needs no chart library)."""
        if kind == "daily":
            s = await series(kpi_id, _, profile, start, end)
            bars = [(d.day, float(Fraction(d.value)) if d.value else 0.0) for d in s.daily]
            unit = s.kpi.unit or ""
            scale = 100.0 if unit.startswith("ratio") else 1.0
            svg = bar_chart(f"{s.kpi.name_en} · daily", [(d, v * scale) for d, v in bars])
        else:
            whole = await run(profile or settings.default_profile, window_of(start, end))
            try:
                kpi = whole.result(kpi_id)
            except KeyError:
                raise HTTPException(404, f"profile {whole.profile} has no KPI {kpi_id!r}") from None
            if kind == "breakdown":
                rows = kpi.breakdown.rows if kpi.breakdown else []
                svg = breakdown_chart(kpi.breakdown.by, rows) if kpi.breakdown and rows else ""
            else:
                svg = "".join(coverage_chart(c) for c in kpi.coverage)
        body = svg or "<svg xmlns='http://www.w3.org/2000/svg' width='1' height='1'/>"
        return Response(body, media_type="image/svg+xml")

    @app.post("/api/evidence", tags=["evidence"], status_code=201)
    async def build(
        body: EvidenceRequest, who: Annotated[TokenInfo, Depends(role("operator"))]
    ) -> EvidenceBuilt:
        """Build a signed evidence bundle for a profile and window (operator). Rate-limited
        per token; the newest `keep_bundles` bundles are kept for download."""
        if jobs.spec.key is None:
            raise HTTPException(503, "the service has no evidence signing key configured")
        window = window_of(body.start, body.end)
        try:
            get_profile(body.profile)
        except UnknownProfileError as e:
            raise HTTPException(404, str(e)) from None
        if not builds.allow(who.name):
            raise HTTPException(429, f"at most {settings.builds_per_minute} builds a minute")
        # unique without coordination: two builds in one millisecond get two folders
        bundle_id = (
            f"{body.profile}-{window.start_ns // 10**9}-{window.end_ns // 10**9}-"
            f"{int(time.time())}-{secrets.token_hex(4)}"
        )
        out = settings.work_dir / bundle_id
        try:
            result = await jobs.build(body.profile, (window.start_ns, window.end_ns), out)
        except BuildError as e:
            await asyncio.to_thread(shutil.rmtree, out, True)
            raise HTTPException(409, str(e)) from None
        except StoreError as e:
            await asyncio.to_thread(shutil.rmtree, out, True)
            raise HTTPException(503, f"the store is unavailable: {e}") from None
        await asyncio.to_thread(_prune, settings, time.time())
        return EvidenceBuilt(id=bundle_id, bytes=result.bytes, lines=result.lines,
                             batches=result.batches, verdict=result.verdict)  # fmt: skip

    @app.get("/api/evidence/{bundle_id}", tags=["evidence"], response_class=FileResponse,
             responses={200: {"content": {"application/gzip": {}}}})  # fmt: skip
    async def download(bundle_id: str, _: Annotated[TokenInfo, Depends(reader)]) -> FileResponse:
        """Download a built bundle as one `.tar.gz`."""
        path = settings.work_dir / f"{bundle_id}.tar.gz"
        if "/" in bundle_id or bundle_id.startswith(".") or not path.is_file():
            raise HTTPException(404, f"no bundle {bundle_id!r} (bundles are kept a while)")
        return FileResponse(path, media_type="application/gzip", filename=path.name)

    @app.post("/api/verify", tags=["evidence"])
    async def verify(
        bundle: Annotated[UploadFile, File(description="a bundle as .tar.gz")],
        who: Annotated[TokenInfo, Depends(role("auditor"))],
    ) -> VerifyReport:
        """Upload a bundle (`.tar.gz`) and verify it offline against the service's
        trusted keys (auditor). Rate-limited per token; archives are unpacked in a worker
        under the limits of docs/evidence.md (members, sizes, compression ratio)."""
        if jobs.spec.trust is None:
            raise HTTPException(503, "the service has no trusted-keys file configured")
        if not verifies.allow(who.name):
            raise HTTPException(429, f"at most {settings.verify_per_minute} verifications a minute")
        with tempfile.TemporaryDirectory(prefix="pilotproof-upload-") as tmp:
            path = Path(tmp) / "bundle.tar.gz"
            size = 0
            with path.open("wb") as f:
                while chunk := await bundle.read(1 << 20):
                    size += len(chunk)
                    if size > settings.max_upload_bytes:
                        raise HTTPException(
                            413, f"bundles up to {settings.max_upload_bytes:,} bytes"
                        )
                    f.write(chunk)
            report = await jobs.verify(path)
        # the report speaks of the upload by its name, never of the server's folders
        name = bundle.filename or "upload"
        report.bundle = name
        for x in [*(x for c in report.checks for x in c.findings), *report.warnings]:
            x.where = x.where.replace(str(path), name).replace(tmp, "")
            x.message = x.message.replace(str(path), name).replace(tmp, "")
        return report

    @app.get("/api/tokens", tags=["admin"])
    async def list_tokens(_: Annotated[TokenInfo, Depends(role("admin"))]) -> list[TokenInfo]:
        """Every token's name, role and creation time (never the token)."""
        return tokens.list()

    @app.post("/api/tokens", tags=["admin"], status_code=201)
    async def create_token(
        body: TokenCreate, _: Annotated[TokenInfo, Depends(role("admin"))]
    ) -> TokenCreated:
        """Create a token; the response is the only time it is shown."""
        try:
            token = tokens.create(body.name, body.role)
        except ValueError as e:
            raise HTTPException(409, str(e)) from None
        info = tokens.check(token)
        assert info is not None
        return TokenCreated(**info.model_dump(), token=token)

    @app.delete("/api/tokens/{name}", tags=["admin"], status_code=204)
    async def revoke_token(name: str, _: Annotated[TokenInfo, Depends(role("admin"))]) -> None:
        """Revoke a token by name."""
        if not tokens.revoke(name):
            raise HTTPException(404, f"no token named {name!r}")

    @app.get("/", include_in_schema=False)
    async def dashboard() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/docs", include_in_schema=False)
    async def reference() -> HTMLResponse:
        return HTMLResponse(reference_page(app.openapi()))

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/metrics", tags=["service"], response_class=PlainTextResponse)
    async def prometheus(_: Annotated[TokenInfo, Depends(reader)]) -> str:
        """Requests and latency per route, Prometheus text format."""
        return metrics.text()

    return app


def _warm(jobs: Jobs) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Start the workers with the server, not on the first request (a server's lifespan;
    an app driven without one starts them on first use)."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await jobs.warm()
        yield

    return lifespan


def _prune(settings: WebSettings, now: float) -> None:
    """Keep the newest `keep_bundles` built bundles younger than `keep_bundle_days`."""
    packed = sorted(settings.work_dir.glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
    old = now - settings.keep_bundle_days * 86400
    for i, path in enumerate(packed):
        if i < len(packed) - settings.keep_bundles or path.stat().st_mtime < old:
            path.unlink(missing_ok=True)
            shutil.rmtree(path.with_name(path.name.removesuffix(".tar.gz")), ignore_errors=True)


def _local_days(window: Window, tz: str) -> list[tuple[int, int]]:
    """Each local day of the window, clipped to it."""
    a, b = window.start_ns, window.end_ns
    return [(max(lo, a), min(hi, b)) for lo, hi in LocalDays(tz=tz).boundaries(a, b)]


def _day_label(ns: int, tz: str) -> str:
    return datetime.fromtimestamp(ns // 10**9, ZoneInfo(tz)).date().isoformat()


class _RateLimit:
    """A sliding one-minute window per key."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self.seen: dict[str, deque[float]] = {}

    def allow(self, key: str) -> bool:
        t = time.monotonic()
        q = self.seen.setdefault(key, deque())
        while q and t - q[0] > 60:
            q.popleft()
        if len(q) >= self.per_minute:
            return False
        q.append(t)
        return True


class _Metrics:
    def __init__(self) -> None:
        self.count: dict[tuple[str, int], int] = {}
        self.seconds: dict[str, float] = {}

    def observe(self, route: str, status: int, seconds: float) -> None:
        self.count[(route, status)] = self.count.get((route, status), 0) + 1
        self.seconds[route] = self.seconds.get(route, 0.0) + seconds

    def text(self) -> str:
        lines = ["# TYPE pilotproof_http_requests_total counter"]
        lines += [f'pilotproof_http_requests_total{{path="{p}",status="{s}"}} {n}'
                  for (p, s), n in sorted(self.count.items())]  # fmt: skip
        lines.append("# TYPE pilotproof_http_request_seconds_total counter")
        lines += [f'pilotproof_http_request_seconds_total{{path="{p}"}} {v:.6f}'
                  for p, v in sorted(self.seconds.items())]  # fmt: skip
        return "\n".join(lines) + "\n"
