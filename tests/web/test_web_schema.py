"""Schemathesis against the OpenAPI document: every operation, generated requests with a
valid admin token, no 5xx and every response conforming to the documented schema. The
app runs in-process on a real sealed SQLite history."""

from __future__ import annotations

import asyncio
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

import schemathesis
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error, response_schema_conformance

from kpi import Window
from pilotproof.web import Jobs, JobSpec, TokenStore, WebSettings, create_app
from simulators import backfill, load_scenario
from telemetry import SqliteStore
from telemetry.seal import KPI_STREAM, Sealer
from verifier import TrustedKeys

_TMP = Path(tempfile.mkdtemp(prefix="pilotproof-schema-"))
_SCENARIO = load_scenario("fiveg-factory-pass")
_SPAN = Window(
    start=datetime.fromisoformat("2026-10-30T00:00:00+08:00"),
    end=datetime.fromisoformat("2026-10-30T02:00:00+08:00"),
)


def _app() -> tuple[Any, str]:
    key = Ed25519PrivateKey.generate()

    async def history() -> SqliteStore:
        store = SqliteStore(_TMP / "store.db")
        await backfill(_SCENARIO, store, _SPAN.start_ns, _SPAN.end_ns,
                       sealer=Sealer(key, "gw-a", KPI_STREAM))  # fmt: skip
        return store

    store = asyncio.run(history())
    tokens = TokenStore(_TMP / "tokens.db")
    token = tokens.create("schema-admin", "admin")
    jobs = Jobs(
        JobSpec(
            store=store.config,
            inventory=_SCENARIO.inventory(),
            trust=TrustedKeys(),
            key=JobSpec.raw_key(key),
        )
    )
    app = create_app(
        store,
        WebSettings(default_profile="miit2021-5g-factory", default_days=1,
                    work_dir=_TMP / "bundles", verify_per_minute=1000, builds_per_minute=1000),
        tokens,
        jobs,
        now=lambda: _SPAN.end,
    )  # fmt: skip
    return app, token


APP, TOKEN = _app()
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
schema.config.update(headers={"Authorization": f"Bearer {TOKEN}"})
schema.config.generation.update(modes=[GenerationMode.POSITIVE], max_examples=8)
schema.config.phases.update(phases=["examples", "fuzzing"])


@schema.parametrize()
def test_every_operation_answers_within_its_schema(case: schemathesis.Case) -> None:
    case.call_and_validate(checks=[not_a_server_error, response_schema_conformance])
