"""InfluxStore beyond the shared contract: authentication, size limits, outages, backoff.

Against a real influxd wherever the server can produce the condition (400, 401, 413,
refused connections). 429 and 5xx cannot be provoked from influxd 1.6 on demand, so the
backoff policy is unit-tested with a faked clock and a scripted transport.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import tracemalloc

import httpx
import pytest
from pydantic import SecretStr

from telemetry import (
    InfluxConfig,
    InfluxStore,
    Point,
    RetryPolicy,
    StoreAuthError,
    StoreQueryError,
    StoreUnavailableError,
    config_from_url,
    open_store,
)
from telemetry.localserver import LocalInfluxd, free_port
from tests.conftest import new_influx_store

T0 = 1_767_225_600_000_000_000


def pts(n: int, start: int = 0) -> list[Point]:
    return [Point("m", {"e": f"e{i % 7}"}, {"v": float(i)}, T0 + i) for i in range(start, n)]


async def count(store: InfluxStore) -> int:
    rows = await store._query('SELECT count("v") FROM "m"')
    return int(rows[0]["values"][0][1]) if rows else 0


@pytest.fixture(scope="module")
def auth_influxd() -> object:
    with LocalInfluxd(auth_enabled=True) as srv:
        # With auth on, influxd still lets the very first admin user be created.
        r = httpx.post(
            f"{srv.url}/query",
            data={"q": "CREATE USER admin WITH PASSWORD 's3cret' WITH ALL PRIVILEGES"},
        )
        assert r.status_code == 200, r.text
        yield srv


async def test_wrong_password_stops_with_an_auth_error(auth_influxd: LocalInfluxd) -> None:
    bad = InfluxStore(
        InfluxConfig(
            url=auth_influxd.url, database="d", username="admin", password=SecretStr("wrong")
        )
    )
    with pytest.raises(StoreAuthError, match=r"refused our credentials \(HTTP 401"):
        await bad.write(pts(3))
    await bad.close()
    good = InfluxStore(
        InfluxConfig(
            url=auth_influxd.url, database="d", username="admin", password=SecretStr("s3cret")
        )
    )
    await good.create_database()
    assert (await good.write(pts(3))).written == 3
    assert await count(good) == 3
    await good.close()


async def test_no_credentials_is_an_auth_error_not_a_retry(auth_influxd: LocalInfluxd) -> None:
    anon = InfluxStore(InfluxConfig(url=auth_influxd.url, database="d"))
    with pytest.raises(StoreAuthError):
        await anon.field_types("m")
    await anon.close()


async def test_413_splits_the_batch_and_rejects_only_an_oversized_line() -> None:
    with LocalInfluxd(max_body_size=4000) as srv:
        store = await new_influx_store(srv, batch_size=1000, gzip=False)
        huge = Point("m", {"e": "big"}, {"s": "x" * 6000}, T0 + 10_000)
        result = await store.write([*pts(300), huge])
        assert result.written == 300
        assert [r.line[:12] for r in result.rejected] == ['m,e=big s="x']
        assert "413" in result.rejected[0].reason
        assert await count(store) == 300
        await store.close()


async def test_a_written_body_is_freed_without_the_cyclic_collector(influxd: LocalInfluxd) -> None:
    """httpx keeps a finished request in a reference cycle until the collector's oldest
    generation runs, which the agent's tuned processes run rarely: the body must not stay
    with it (20 writes of 450 KB a second once held 10 MB more every second). With the
    collector off, 20 writes of ~1 MB leave less than one body allocated."""
    store = await new_influx_store(influxd, batch_size=100_000, gzip=False)
    lines = [f"m,e=e{i % 7} v={i}i {T0 + i}" for i in range(40_000)]  # ~1 MB a write
    body = len("\n".join(lines))
    await store.write_lines(lines)  # connection and imports warmed up
    gc.collect()
    gc.disable()
    try:
        tracemalloc.start()
        for _ in range(20):
            await store.write_lines(lines)
        held, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    finally:
        gc.enable()
    await store.close()
    assert held < body, f"{held:,} bytes still allocated after 20 writes of {body:,}"


async def test_bad_lines_are_isolated_by_bisection(influxd: LocalInfluxd) -> None:
    store = await new_influx_store(influxd, batch_size=64)
    await store.write([Point("m", {"e": "e0"}, {"v": 1.0}, T0 - 1)])
    batch = pts(100)
    bad = [Point("m", {"e": "x"}, {"v": f"s{i}"}, T0 + 1000 + i) for i in range(3)]
    mixed = batch[:40] + bad[:2] + batch[40:] + bad[2:]
    result = await store.write(mixed)
    assert result.written == 100
    assert sorted(r.line for r in result.rejected) == sorted(
        f'm,e=x v="s{i}" {T0 + 1000 + i}' for i in range(3)
    )
    assert all("field type conflict" in r.reason for r in result.rejected)
    assert await count(store) == 101
    await store.close()


async def test_refused_connection_gives_up_after_the_retry_budget() -> None:
    store = InfluxStore(
        InfluxConfig(
            url=f"http://127.0.0.1:{free_port()}",
            database="d",
            retry=RetryPolicy(initial_backoff_s=0.05, max_elapsed_s=0.5),
        )
    )
    with pytest.raises(StoreUnavailableError, match=r"unavailable after \d+ attempts.*Connect"):
        await store.write(pts(5))
    await store.close()


async def test_writes_survive_a_server_restart() -> None:
    srv = LocalInfluxd(port=free_port()).start()
    store = await new_influx_store(
        srv, retry=RetryPolicy(initial_backoff_s=0.1, max_backoff_s=0.5, max_elapsed_s=60)
    )
    assert (await store.write(pts(10))).written == 10
    srv.halt()
    starter = threading.Timer(1.0, srv.start)  # back on the same port, same data
    starter.start()
    try:
        result = await store.write(pts(50, start=10))
        starter.join()
        assert result.written == 40
        assert await count(store) == 50
    finally:
        starter.join()
        await store.close()
        srv.stop()


# --- backoff policy (faked clock; scripted responses) ------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def scripted(
    *statuses: int, retry_after: str | None = None
) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    seen: list[httpx.Request] = []
    queue = list(statuses)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        status = queue.pop(0) if queue else 204
        headers = {"Retry-After": retry_after} if retry_after and status == 429 else {}
        body = b"" if status == 204 else b'{"error":"busy"}'
        return httpx.Response(status, headers=headers, content=body)

    return httpx.MockTransport(handler), seen


def store_with(transport: httpx.MockTransport, clock: FakeClock, **kw: object) -> InfluxStore:
    policy = RetryPolicy(
        initial_backoff_s=1, multiplier=2, max_backoff_s=8, jitter=0, max_elapsed_s=20
    )
    cfg = InfluxConfig(url="http://influx.invalid:8086", database="d", retry=policy, **kw)  # type: ignore[arg-type]
    return InfluxStore(cfg, transport=transport, sleep=clock.sleep, clock=clock)


async def test_5xx_and_429_back_off_exponentially_then_succeed() -> None:
    clock = FakeClock()
    transport, seen = scripted(503, 500, 429, 502)
    store = store_with(transport, clock)
    assert (await store.write(pts(3))).written == 3
    assert clock.sleeps == [1, 2, 4, 8]
    assert len(seen) == 5


async def test_retry_after_is_honoured() -> None:
    clock = FakeClock()
    transport, _ = scripted(429, retry_after="3")
    store = store_with(transport, clock)
    await store.write(pts(1))
    assert clock.sleeps == [3]


async def test_persistent_5xx_gives_up_with_the_last_error() -> None:
    clock = FakeClock()
    transport, seen = scripted(*([503] * 50))
    store = store_with(transport, clock)
    with pytest.raises(StoreUnavailableError, match=r"HTTP 503: busy"):
        await store.write(pts(1))
    assert clock.sleeps == [1, 2, 4, 8, 5]  # the last wait is cut to the 20 s budget
    assert len(seen) == 6


async def test_v2_write_goes_to_api_v2_with_org_bucket_and_token() -> None:
    clock = FakeClock()
    transport, seen = scripted(204)
    store = store_with(
        transport, clock, api="v2", org="acme", bucket="plant", token=SecretStr("tkn")
    )
    await store.write(pts(2))
    req = seen[0]
    assert req.url.path == "/api/v2/write"
    assert dict(req.url.params) == {"org": "acme", "bucket": "plant", "precision": "ns"}
    assert req.headers["Authorization"] == "Token tkn"
    assert req.headers["Content-Encoding"] == "gzip"


@pytest.mark.parametrize(
    ("url", "zipped"),
    [
        ("http://influx.invalid:8086/?db=d", True),
        ("https://10.0.0.7:8086/?db=d", True),
        ("http://127.0.0.1:8086/?db=d", False),
        ("http://localhost:8086/?db=d", False),
        ("http://[::1]:8086/?db=d", False),
        ("http://LOCALHOST:8086/?db=d", False),
        ("http://127.0.0.2:8086/?db=d", False),
        ("http://127.example.com:8086/?db=d", True),  # a name, not an address
        ("http://127.0.0.1:8086/?db=d&gzip=1", True),
        ("http://influx.invalid:8086/?db=d&gzip=0", False),
    ],
)
async def test_bodies_are_gzipped_unless_the_server_is_on_this_host(url: str, zipped: bool) -> None:
    # on loopback compressing costs the agent and influxd CPU and saves no network
    # (bench/e2e.py); `gzip=` in the URL decides either way
    clock = FakeClock()
    transport, seen = scripted(204)
    config = config_from_url(url)
    assert isinstance(config, InfluxConfig)
    store = InfluxStore(config, transport=transport, sleep=clock.sleep, clock=clock)
    await store.write(pts(2))
    assert (seen[0].headers.get("Content-Encoding") == "gzip") is zipped


def test_store_urls(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PILOTPROOF_INFLUX_TOKEN", "from-env")
    c = config_from_url("https://u:p%40ss@db.example:8086/?db=pp&rp=90d&gzip=0")
    assert isinstance(c, InfluxConfig)
    assert (c.url, c.database, c.retention_policy, c.username, c.gzip) == (
        "https://db.example:8086",
        "pp",
        "90d",
        "u",
        False,
    )
    assert c.password is not None
    assert c.password.get_secret_value() == "p@ss"
    assert c.token is not None
    assert c.token.get_secret_value() == "from-env"
    with pytest.raises(ValueError, match="unknown parameter"):
        config_from_url("http://h:8086/?db=x&dbname=y")
    with pytest.raises(ValueError, match="database is required"):
        config_from_url("http://h:8086/")
    with pytest.raises(ValueError, match="unknown scheme"):
        config_from_url("influx://h")
    assert open_store("sqlite:///tmp/pp-url-test.db").describe().endswith("/tmp/pp-url-test.db")


def test_credentials_never_appear_in_descriptions() -> None:
    store = InfluxStore(
        InfluxConfig(url="http://h:8086", database="d", username="u", password=SecretStr("hunter2"))
    )
    assert "hunter2" not in store.describe() + repr(store.config)
    asyncio.run(store.close())


def answering(status: int, body: bytes, bad: set[str]) -> tuple[httpx.MockTransport, list[int]]:
    """A scripted server that refuses, with `status` and `body`, any batch holding a bad line."""
    sizes: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        import gzip as gz

        lines = gz.decompress(request.content).decode().split("\n")
        sizes.append(len(lines))
        if any(line.split(" ")[0] in bad for line in lines):
            return httpx.Response(status, content=body)
        return httpx.Response(204)

    return httpx.MockTransport(handler), sizes


async def test_422_partial_write_is_bisected_like_400() -> None:
    # InfluxDB 2.x answers a partial write with 422.
    transport, _ = answering(
        422,
        b'{"code":"unprocessable entity","message":"partial write: field type conflict"}',
        {"m,e=e3"},
    )
    store = store_with(transport, FakeClock())
    result = await store.write(pts(20))
    assert result.written == 20 - 3  # e3 holds i = 3, 10, 17
    assert {r.line.split(" ")[0] for r in result.rejected} == {"m,e=e3"}
    assert all("partial write" in r.reason for r in result.rejected)


async def test_a_batch_wide_400_drops_nothing() -> None:
    # e.g. a proxy that refuses gzip, or a series limit: no line is to blame.
    transport, sizes = answering(400, b'{"error":"max series per database exceeded"}', {"m,e=e0"})
    store = store_with(transport, FakeClock())
    with pytest.raises(StoreQueryError, match="names no line, so none is dropped"):
        await store.write(pts(20))
    assert sizes == [20]  # no bisection storm
