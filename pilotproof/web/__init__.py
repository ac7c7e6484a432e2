"""The web service and dashboard (FastAPI).

`create_app(store, settings, tokens, jobs)`: the ASGI app; `Jobs(JobSpec(...))`: the worker
processes that evaluate KPIs, build and verify bundles off the event loop. The app and the
workers (FastAPI, the KPI engine) load on first use, so `pilotproof tokens` does not.
"""

from typing import TYPE_CHECKING

from pilotproof.web.settings import WebSettings
from pilotproof.web.tokens import ROLES, Role, TokenInfo, TokenStore
from telemetry.lazy import lazy_exports

if TYPE_CHECKING:
    from pilotproof.web.app import create_app
    from pilotproof.web.jobs import Jobs, JobsBusyError, JobSpec

__getattr__ = lazy_exports(__name__, app="create_app", jobs="Jobs JobsBusyError JobSpec")

__all__ = [
    "ROLES",
    "JobSpec",
    "Jobs",
    "JobsBusyError",
    "Role",
    "TokenInfo",
    "TokenStore",
    "WebSettings",
    "create_app",
]
