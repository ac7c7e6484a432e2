"""Running the service as `pilotproof serve` and `pilotproof demo` do: uvicorn, the app,
its worker processes, and closing them all when it stops."""

from __future__ import annotations

import asyncio

from pilotproof.web.app import create_app
from pilotproof.web.jobs import Jobs, JobSpec
from pilotproof.web.settings import WebSettings
from pilotproof.web.tokens import TokenStore
from telemetry import open_store


def run_service(
    spec: JobSpec,
    settings: WebSettings,
    tokens: TokenStore,
    *,
    host: str,
    port: int,
    version: str,
    workers: int = 1,
) -> None:
    """Serve until interrupted, then close the workers and the store.

    Args:
        spec: the store, inventory, keys and limits the workers need.
        settings: the service's limits and defaults.
        tokens: the bearer tokens.
        host: address to listen on.
        port: port to listen on.
        version: shown by `/api/health`.
        workers: worker processes for evaluation, builds and verification.
    """
    import uvicorn

    store = open_store(spec.store)
    jobs = Jobs(spec, workers=workers)
    app = create_app(store, settings, tokens, jobs, version=version)
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        jobs.close()
        asyncio.run(store.close())  # the store is ours, not the app's
