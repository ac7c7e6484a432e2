"""Helpers for agent tests: a site config around real servers, and an agent in a task."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pandas as pd
import pytest

from collectors import Agent, AgentSection, BufferSection, SiteConfig, Sources, StoreSection
from simulators import Scenario, load_scenario
from telemetry import Aggregate, Inventory, Store
from telemetry.seal import generate_key

SCENARIOS = Path(__file__).parents[1] / "simulators" / "scenarios"


def read_by_anyone(inventory: Inventory) -> Inventory:
    """The inventory without its points' `protocol`: for a test that reads an element of
    another driver's on purpose (a site config would refuse it otherwise)."""
    return inventory.model_copy(
        update={
            "elements": tuple(
                e.model_copy(
                    update={
                        "points": tuple(p.model_copy(update={"protocol": None}) for p in e.points)
                    }
                )
                for e in inventory.elements
            )
        }
    )


def site_config(
    tmp_path: Path,
    inventory: Inventory,
    sources: Sources,
    store_url: str = "sqlite:unused.db",
    **agent: object,
) -> SiteConfig:
    key = tmp_path / "keys" / "agent.pem"
    if not key.exists():
        generate_key(key)
    if "status_interval_s" in agent:  # declared in the inventory, the interval KPIs count
        interval = agent.pop("status_interval_s")
        inventory = inventory.model_copy(update={"status_interval_s": interval})
    return SiteConfig(
        agent=AgentSection(id="gw-test", key=key, seal_interval_s=0.2, **agent),  # type: ignore[arg-type]
        store=StoreSection(url=store_url),
        buffer=BufferSection(path=tmp_path / "buffer.db"),
        inventory=inventory,
        sources=sources,
    )


@contextlib.asynccontextmanager
async def running(agent: Agent) -> AsyncIterator[asyncio.Event]:
    """Run `agent` in a task; leaving the block stops it and waits for its flush."""
    stop = asyncio.Event()
    task = asyncio.create_task(agent.run(stop))
    try:
        yield stop
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)


async def wait_for(predicate: object, within_s: float = 30.0, what: str = "") -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while not predicate():  # type: ignore[operator]
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        await asyncio.sleep(0.05)


async def counts(store: Store, measurement: str, field: str, start: int, end: int) -> pd.DataFrame:
    return await store.aggregate(
        Aggregate(measurement=measurement, field=field, fn="count", start_ns=start, end_ns=end,
                  group_by=("element", "point"))
    )  # fmt: skip


def scenario_inventory(s: Scenario) -> Inventory:
    return s.inventory()


@pytest.fixture(scope="session")
def types_scenario() -> Scenario:
    """One element per protocol with every data type, byte/word order and status."""
    return load_scenario(SCENARIOS / "protocol-types.yaml")
