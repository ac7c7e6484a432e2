"""Fixtures of the field suite: third-party servers, a store per test, site configs on disk."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from telemetry import InfluxConfig, InfluxStore
from telemetry.localserver import LocalInfluxd, free_port
from tests.field.harness import AgentProcess, keygen
from tests.field.thirdparty import ensure_node_modules

_db = itertools.count()
SITE = "field-plant"


@pytest.fixture(scope="session", autouse=True)
def node_modules() -> Path:
    """node-opcua and modbus-serial, installed once into the npm cache folder."""
    return ensure_node_modules()


class Field:
    """One test's world: a folder, an agent key, a database of its own on influxd."""

    def __init__(self, tmp: Path, influxd: LocalInfluxd) -> None:
        self.tmp = tmp
        self.influxd = influxd
        self.database = f"field{next(_db)}"
        self.key_path = tmp / "keys" / "agent.pem"
        self.public_key = keygen(self.key_path)
        self.metrics_port = free_port()
        self.store = InfluxStore(InfluxConfig(url=influxd.url, database=self.database))
        self.agents: list[AgentProcess] = []

    @property
    def store_url(self) -> str:
        return f"{self.influxd.url}/?db={self.database}"

    def site(
        self,
        sources: str,
        inventory: str,
        *,
        agent_id: str = "gw-field",
        status_s: int = 1,
        health_s: int = 5,
        buffer: str = "",
        store_url: str | None = None,
        name: str = "site.toml",
    ) -> Path:
        """A site config as a user writes one (TOML), next to the key."""
        path = self.tmp / name
        path.write_text(
            f"""[agent]
id = "{agent_id}"
key = "keys/agent.pem"
health_interval_s = {health_s}
seal_interval_s = 0.5

[store]
url = "{store_url or self.store_url}"

[buffer]
path = "buffer.db"
{buffer}

[metrics]
listen = "127.0.0.1:{self.metrics_port}"

[inventory]
site = "{SITE}"
status_interval_s = {status_s}
{inventory}

{sources}
""",
            encoding="utf-8",
        )
        return path

    def agent(self, site: Path, metrics_port: int | None = None) -> AgentProcess:
        agent = AgentProcess(site, metrics_port or self.metrics_port)
        self.agents.append(agent)
        return agent


@pytest.fixture
async def field(tmp_path: Path, influxd: LocalInfluxd) -> AsyncIterator[Field]:
    f = Field(tmp_path, influxd)
    await f.store.create_database()
    yield f
    for agent in f.agents:  # a failed test leaves no agent behind
        agent.kill()
    await f.store.close()
