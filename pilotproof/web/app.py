"""The web service: KPIs, drill-downs, evidence and verification over HTTP.

`create_app` assembles it: the shared `Service` (pilotproof/web/state.py), one router
per OpenAPI tag (pilotproof/web/routes/), the guard that answers before a body is read
(guard.py), the request counter and the error handlers. Every endpoint but
`/api/health` needs a bearer token; its role decides what it may do. The OpenAPI
document (`/openapi.json`, browsable at `/docs`) describes every field.
"""

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures.process import BrokenProcessPool
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from pilotproof.web.guard import BodyRule, Guard
from pilotproof.web.jobs import Jobs, JobsBusyError
from pilotproof.web.models import ERRORS
from pilotproof.web.routes import ROUTERS
from pilotproof.web.routes.service import STATIC
from pilotproof.web.settings import WebSettings
from pilotproof.web.state import Service
from pilotproof.web.tokens import TokenStore
from telemetry import Store

__all__ = ["create_app"]


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
    svc = Service(store=store, settings=settings, tokens=tokens, jobs=jobs, version=version,
                  now=now)  # fmt: skip
    app.state.service = svc
    settings.work_dir.mkdir(parents=True, exist_ok=True)
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.middleware("http")
    async def count(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        t0 = time.perf_counter()
        response = await call_next(request)
        # the route's template, not the path: one series per endpoint, not per KPI id
        route = request.scope.get("route")
        path = getattr(route, "path", "(unmatched)")
        svc.metrics.observe(path, response.status_code, time.perf_counter() - t0)
        return response

    # the guard answers before FastAPI reads a byte of the body (see guard.py); the
    # multipart envelope around an upload gets 64 KiB on top of the bundle's own limit.
    # Added last, so outermost: once it has answered, nothing inside it reads the socket
    # again (a streaming response would otherwise drain the rest of the body).
    app.add_middleware(
        Guard,
        tokens=tokens,
        rules={
            ("POST", "/api/verify"): BodyRule(("auditor",), settings.max_upload_bytes + (2 << 20)),
            ("POST", "/api/evidence"): BodyRule(("operator",), settings.max_json_bytes),
            ("POST", "/api/tokens"): BodyRule(("admin",), settings.max_json_bytes),
        },
        counted=lambda path, status: svc.metrics.observe("(guard)", status, 0.0),
    )
    app.add_exception_handler(RequestValidationError, _invalid)  # type: ignore[arg-type]
    app.add_exception_handler(JobsBusyError, _busy)  # type: ignore[arg-type]
    app.add_exception_handler(BrokenProcessPool, _broken)  # type: ignore[arg-type]
    return app


async def _invalid(_: Request, e: RequestValidationError) -> JSONResponse:
    # FastAPI's own handler echoes the input, which may not encode (a lone surrogate)
    detail = [{"loc": list(x["loc"]), "msg": x["msg"], "type": x["type"]} for x in e.errors()]
    return JSONResponse({"detail": detail}, status_code=422)


async def _busy(_: Request, e: JobsBusyError) -> JSONResponse:
    return JSONResponse(
        {"detail": f"every worker is busy ({e}); retry in a few seconds"},
        status_code=503,
        headers={"Retry-After": "5"},
    )


async def _broken(_: Request, e: BrokenProcessPool) -> JSONResponse:
    return JSONResponse(
        {"detail": "a worker process died during this request; it has been restarted"},
        status_code=503,
        headers={"Retry-After": "5"},
    )


def _warm(jobs: Jobs) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Start the workers with the server, not on the first request (a server's lifespan;
    an app driven without one starts them on first use)."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await jobs.warm()
        yield

    return lifespan
