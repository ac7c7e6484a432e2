"""The forwarder stores sealed batches in groups: in their order, and every refused line
kept once. Against a real influxd; only a delay of the first write request is staged."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from collectors import Buffer
from collectors.forwarder import Forwarder
from collectors.metrics import Metrics
from telemetry import InfluxConfig, InfluxStore
from telemetry.localserver import LocalInfluxd

T = 1_767_225_600_000_000_000


def line(point: str, value: str, t: int = T) -> str:
    return f"telemetry,element=e,point={point},site=s quality=0i,value={value} {t}"


class FirstWriteLate(httpx.AsyncBaseTransport):
    """The real transport, with the first /write request held back: an older batch's
    request overtaken by a newer one's, as two requests in flight can be."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.writes = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/write":
            self.writes += 1
            if self.writes == 1:
                await asyncio.sleep(0.3)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def store_for(influxd: LocalInfluxd, db: str) -> InfluxStore:
    config = InfluxConfig(url=influxd.url, database=db, batch_size=2, max_in_flight=2)
    store = InfluxStore(config, transport=FirstWriteLate())
    await store.create_database()
    return store


async def test_a_later_batch_wins_for_the_same_series_and_time(
    influxd: LocalInfluxd, tmp_path: Path
) -> None:
    buf = Buffer(tmp_path / "b.db")
    buf.append([("telemetry", [line("a", "1.0"), line("x", "1.0")], T, T)])
    buf.append([("telemetry", [line("b", "2.0"), line("x", "2.0")], T, T)])  # x again, later
    buf.seal(Ed25519PrivateKey.generate(), "gw", max_lines=2)  # two batches, one group
    store = await store_for(influxd, "fwd_order")
    assert await Forwarder(buf, store, "s", Metrics("gw")).forward_available() == 2
    rows = await store._query("SELECT value FROM telemetry WHERE point = 'x'")
    assert rows[0]["values"] == [[T, 2.0]]
    await store.close()


async def test_a_refused_line_in_two_batches_is_kept_once_for_each(
    influxd: LocalInfluxd, tmp_path: Path
) -> None:
    store = await store_for(influxd, "fwd_refused")
    await store.write_lines([line("p1", '"text"', T - 1)])  # `value` is a string field now
    buf = Buffer(tmp_path / "b.db")
    again = line("p1", "1.5", T + 99)  # an MQTT redelivery: the same line in both batches
    buf.append([("telemetry", [line("p1", "1.5", T + 1), again], T + 1, T + 99)])
    buf.append([("telemetry", [line("p1", "1.5", T + 2), again], T + 2, T + 99)])
    buf.seal(Ed25519PrivateKey.generate(), "gw", max_lines=2)
    await Forwarder(buf, store, "s", Metrics("gw")).forward_available()
    assert buf.refused() == 4  # two lines of each batch, each once
    assert buf.depth() == {"pending": 0, "sealed": 0}
    await store.close()
