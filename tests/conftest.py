"""Shared fixtures: a real influxd per test session, and every store behind one fixture."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from telemetry import DuckdbStore, InfluxConfig, InfluxStore, SqliteStore, Store
from telemetry.localserver import LocalInfluxd, LocalMosquitto

#: keys, sealed stores and bundles, shared by the verifier and web suites
pytest_plugins = ["tests.evidence_fixtures"]

_db_counter = itertools.count()


@pytest.fixture(scope="session")
def influxd() -> Iterator[LocalInfluxd]:
    """A real InfluxDB 1.x on a free loopback port, in a temp dir, for the whole session."""
    with LocalInfluxd() as server:
        yield server


@pytest.fixture(scope="session")
def mosquitto() -> Iterator[LocalMosquitto]:
    """A real Mosquitto broker on a free loopback port for the whole session."""
    with LocalMosquitto() as broker:
        yield broker


async def new_influx_store(influxd: LocalInfluxd, **overrides: object) -> InfluxStore:
    """An InfluxStore on a database of its own, so tests never see each other's data."""
    config = InfluxConfig(url=influxd.url, database=f"t{next(_db_counter)}", **overrides)  # type: ignore[arg-type]
    store = InfluxStore(config)
    await store.create_database()
    return store


@pytest.fixture(params=["sqlite", "influx", "duckdb"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """Each contract test runs once per backend."""
    s: Store
    if request.param == "sqlite":
        s = SqliteStore(tmp_path / "store.db")
    elif request.param == "duckdb":
        s = DuckdbStore(tmp_path / "store.duckdb")
    else:
        s = await new_influx_store(request.getfixturevalue("influxd"))
    yield s
    await s.close()
