"""Fixtures for evidence tests (verifier and web): keys, a sealed backfilled store, bundles."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kpi import Window
from simulators import backfill, load_scenario
from telemetry import SqliteStore, Store
from telemetry.seal import KPI_STREAM, Sealer
from verifier import TrustedKeys, build_bundle, load_trust, trust_entry

SCENARIO = "fiveg-factory-pass"
PROFILE = "miit2021-5g-factory"
#: a short history keeps the suite fast: half a local day, the window inside it
HISTORY = ("2026-10-29T00:00:00+08:00", "2026-10-29T12:00:00+08:00")
WINDOW = Window(
    start=datetime.fromisoformat("2026-10-29T02:00:00+08:00"),
    end=datetime.fromisoformat("2026-10-29T10:00:00+08:00"),
)


@dataclass
class Keys:
    builder: Ed25519PrivateKey
    agent: Ed25519PrivateKey
    other_agent: Ed25519PrivateKey
    stranger: Ed25519PrivateKey
    trust: TrustedKeys
    trust_file: Path


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    builder, agent, other, stranger = (Ed25519PrivateKey.generate() for _ in range(4))
    path = tmp_path_factory.mktemp("keys") / "trusted-keys.toml"
    path.write_text(
        trust_entry("builder", "verifier", builder.public_key())
        + "\n"
        # gw-a is pinned to the scenario's site: its bundles must carry gw-a's chain
        + trust_entry("gw-a", "agent", agent.public_key(), site=load_scenario(SCENARIO).site)
        + "\n"
        + trust_entry("gw-b", "agent", other.public_key()),
        encoding="utf-8",
    )
    return Keys(builder, agent, other, stranger, load_trust(path), path)


async def sealed_backfill(store: Store, key: Ed25519PrivateKey, agent: str) -> None:
    scenario = load_scenario(SCENARIO)
    span = Window(start=datetime.fromisoformat(HISTORY[0]), end=datetime.fromisoformat(HISTORY[1]))
    start, end = span.start_ns, span.end_ns
    await backfill(scenario, store, start, end, sealer=Sealer(key, agent, KPI_STREAM),
                   batch_lines=2000)  # fmt: skip


@pytest.fixture(scope="session")
async def sealed_sqlite(keys: Keys, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sealed") / "store.db"
    store = SqliteStore(path)
    await sealed_backfill(store, keys.agent, "gw-a")
    await store.close()
    return path


async def bundle_of(store_path: Path, keys: Keys, out: Path) -> Path:
    """The scenario's bundle over WINDOW, built from the SQLite store at `store_path`."""
    store = SqliteStore(store_path)
    try:
        await build_bundle(
            store, PROFILE, WINDOW, load_scenario(SCENARIO).inventory(), keys.builder, out
        )
    finally:
        await store.close()
    return out


@pytest.fixture(scope="session")
async def bundle(keys: Keys, sealed_sqlite: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return await bundle_of(sealed_sqlite, keys, tmp_path_factory.mktemp("bundle") / "bundle")


@pytest.fixture(scope="session")
async def other_agent_bundle(keys: Keys, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A valid bundle of the same site and window from another trusted agent (gw-b)."""
    base = tmp_path_factory.mktemp("other")
    store = SqliteStore(base / "store.db")
    try:
        await sealed_backfill(store, keys.other_agent, "gw-b")
        inventory = load_scenario(SCENARIO).inventory()
        await build_bundle(store, PROFILE, WINDOW, inventory, keys.builder, base / "bundle")
    finally:
        await store.close()
    return base / "bundle"


#: when gw-a's buffer was lost in the epoch fixture: its chain restarts as epoch 1
EPOCH_CHANGE = "2026-10-29T05:00:00+08:00"


@pytest.fixture(scope="session")
async def epoch_store(keys: Keys, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """gw-a's history with its buffer lost inside the window: epoch 0 up to 05:00, then
    (after `agent run --new-chain`) epoch 1 from seq 0 again."""
    path = tmp_path_factory.mktemp("epochs") / "store.db"
    store = SqliteStore(path)
    scenario = load_scenario(SCENARIO)
    cut = datetime.fromisoformat(EPOCH_CHANGE)
    try:
        for (a, b), epoch in (((HISTORY[0], EPOCH_CHANGE), 0), ((EPOCH_CHANGE, HISTORY[1]), 1)):
            span = Window(start=datetime.fromisoformat(a), end=datetime.fromisoformat(b))
            sealer = Sealer(keys.agent, "gw-a", KPI_STREAM, epoch=epoch)
            await backfill(scenario, store, span.start_ns, span.end_ns, sealer=sealer,
                           batch_lines=2000)  # fmt: skip
        assert cut  # (the window, 02:00–10:00, holds the change)
    finally:
        await store.close()
    return path


@pytest.fixture(scope="session")
async def epoch_bundle(
    keys: Keys, epoch_store: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    return await bundle_of(epoch_store, keys, tmp_path_factory.mktemp("epoch-bundle") / "bundle")
