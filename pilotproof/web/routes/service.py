"""`service`: health, metrics, and the pages (the dashboard, the API reference)."""

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, PlainTextResponse

from pilotproof.web.apidocs import reference_page
from pilotproof.web.models import Health
from pilotproof.web.state import Reader, ServiceDep
from telemetry import StoreError

#: the dashboard: plain HTML, CSS and JavaScript, no CDN and no build step
STATIC = Path(__file__).resolve().parents[1] / "static"

router = APIRouter(tags=["service"])


@router.get("/api/health")
async def health(svc: ServiceDep) -> Health:
    """Liveness and store reachability; needs no token."""
    try:
        await svc.store.field_types("element_status")
        status = "ok"
    except StoreError:
        status = "degraded"
    return Health(status=status, store=svc.store.describe(), version=svc.version)


@router.get("/metrics", response_class=PlainTextResponse)
async def prometheus(svc: ServiceDep, _: Reader) -> str:
    """Requests and latency per route, Prometheus text format."""
    return svc.metrics.text()


@router.get("/", include_in_schema=False)
async def dashboard() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html")


@router.get("/docs", include_in_schema=False)
async def reference(request: Request) -> HTMLResponse:
    return HTMLResponse(reference_page(request.app.openapi()))
