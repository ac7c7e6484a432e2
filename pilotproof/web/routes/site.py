"""`site`: the declared elements and their last reported status."""

from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, HTTPException

from kpi import Window
from pilotproof.web.models import ElementView, SiteView
from pilotproof.web.state import Reader, ServiceDep
from telemetry import Aggregate, StoreError
from telemetry.timegrid import NS

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
    end = svc.now()
    day = Window(start=end - timedelta(days=1), end=end)
    q = Aggregate(
        measurement="element_status",
        field="online",
        fn="last",
        start_ns=day.start_ns,
        end_ns=day.end_ns,
        group_by=("element",),
        where={"site": svc.inventory.site},
        keep_time=True,
    )
    try:
        df = await svc.store.aggregate(q)
    except StoreError as e:
        raise HTTPException(503, f"the store is unavailable: {e}") from None
    last = {str(r["element"]): (bool(r["value"]), int(r["time"])) for _, r in df.iterrows()}
    out = []
    for el in svc.inventory.elements:
        seen = last.get(el.id)
        out.append(
            ElementView(
                id=el.id, kind=el.kind, declared_link=el.link, key_equipment=el.key_equipment,
                numerically_controlled=el.numerically_controlled,
                online=seen[0] if seen else None,
                last_seen=datetime.fromtimestamp(seen[1] // NS, UTC) if seen else None,
            )
        )  # fmt: skip
    return out
