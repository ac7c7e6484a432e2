"""The web service and dashboard (FastAPI).

`create_app(store, settings, tokens, jobs)`: the ASGI app; `Jobs(JobSpec(...))`: the worker
processes that evaluate KPIs, build and verify bundles off the event loop.
"""

from pilotproof.web.app import WebSettings, create_app
from pilotproof.web.jobs import Jobs, JobsBusyError, JobSpec
from pilotproof.web.tokens import ROLES, Role, TokenInfo, TokenStore

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
