"""`site`: the declared elements and their status, the agents' health, and warnings."""

from fastapi import APIRouter, Response

from pilotproof.web import health
from pilotproof.web.export import csv_response
from pilotproof.web.models import AgentView, ElementView, SiteView, Warning
from pilotproof.web.routes.kpis import EndQ, ProfileQ, StartQ
from pilotproof.web.state import Reader, ServiceDep

router = APIRouter(tags=["site"])


@router.get("/api/site")
async def site(svc: ServiceDep, _: Reader) -> SiteView:
    """The site, its time zone and status interval: times without an offset in a request
    are local times of this zone."""
    inv = svc.inventory
    return SiteView(site=inv.site, timezone=inv.timezone, status_interval_s=inv.status_interval_s,
                    elements=len(inv.elements))  # fmt: skip


@router.get("/api/elements")
async def elements(svc: ServiceDep, _: Reader) -> list[ElementView]:
    """Declared production elements with their last reported status (last 24 h)."""
    return await health.elements(svc)


@router.get("/api/elements.csv", response_class=Response,
            responses={200: {"content": {"text/csv": {}}}})  # fmt: skip
async def elements_csv(svc: ServiceDep, _: Reader) -> Response:
    """The element list as CSV (UTF-8 with BOM): declared link and last status."""
    rows = await health.elements(svc)
    return csv_response(
        f"{svc.inventory.site}-elements.csv",
        ["id", "kind", "declared_link", "key_equipment", "numerically_controlled", "online",
         "last_seen_utc"],
        ([e.id, e.kind, e.declared_link, e.key_equipment, e.numerically_controlled, e.online,
          e.last_seen.isoformat() if e.last_seen else None] for e in rows),
    )  # fmt: skip


@router.get("/api/agents")
async def agents(svc: ServiceDep, _: Reader) -> list[AgentView]:
    """Each agent of the site: its newest self-report (backlog, buffer fill, drivers
    connected, sealer and store state), whether it is stale, and its stored chain."""
    return await health.agents(svc)


@router.get("/api/warnings")
async def warnings(
    svc: ServiceDep, _: Reader, profile: ProfileQ = None, start: StartQ = None, end: EndQ = None
) -> list[Warning]:
    """What an operator should look at now: offline or silent elements, stale agents,
    filling buffers, forwarding or drivers down, and — for the window — coverage gaps."""
    evaluation = await svc.evaluations.one(
        profile or svc.settings.default_profile, svc.window(start, end)
    )
    return health.warnings(svc, await health.elements(svc), await health.agents(svc), evaluation)
