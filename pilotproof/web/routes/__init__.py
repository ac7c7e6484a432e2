"""The API, one router per OpenAPI tag; `create_app` includes them all."""

from pilotproof.web.routes.admin import router as admin
from pilotproof.web.routes.evidence import router as evidence
from pilotproof.web.routes.kpis import router as kpis
from pilotproof.web.routes.points import router as points
from pilotproof.web.routes.service import router as service
from pilotproof.web.routes.site import router as site

ROUTERS = (service, kpis, site, points, evidence, admin)

__all__ = ["ROUTERS"]
