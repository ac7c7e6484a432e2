"""Nothing lost, nothing doubled: store outages, broker restarts, a killed agent."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from paho.mqtt.enums import CallbackAPIVersion

from collectors import Agent, Sources
from collectors.mqtt import MqttSource, MqttSubscription
from telemetry import (
    Aggregate,
    DeclaredElement,
    DeclaredPoint,
    InfluxConfig,
    InfluxStore,
    Inventory,
    RetryPolicy,
    SqliteStore,
    Store,
)
from telemetry.localserver import LocalInfluxd, LocalMosquitto, free_port
from telemetry.seal import GENESIS, BatchRecord, load_key
from tests.collectors.conftest import running, site_config, wait_for

S = 1_000_000_000
T0 = 1_790_000_000 * S
INVENTORY = Inventory(
    site="lab",
    elements=(
        DeclaredElement(id="s1", kind="sensor", link="5g",
                        points=(DeclaredPoint(id="t", period_s=1),)),
    ),
)  # fmt: skip
TOPIC = "factory/lab/s1/telemetry"


def sources(url: str, client_id: str = "pp-resilience") -> Sources:
    return Sources(mqtt=(MqttSource(url=url, client_id=client_id, subscriptions=(
        MqttSubscription(topic="factory/{site}/{element}/telemetry"),)),))  # fmt: skip


class Publisher:
    """A plain paho publisher of numbered samples, QoS 1."""

    def __init__(self, url: str) -> None:
        port = int(url.rsplit(":", 1)[1])
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"pub-{port}-{time.time()}"
        )
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.sent = 0

    def publish(self, n: int) -> None:
        infos = []
        for _ in range(n):
            i = self.sent
            body = {"ts": (T0 + i * S) // 1_000_000, "values": {"t": i * 0.5}}
            infos.append(self.client.publish(TOPIC, json.dumps(body), qos=1))
            self.sent += 1
        for info in infos:
            info.wait_for_publish(timeout=30)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


async def assert_exactly_published(store: Store, sent: int) -> None:
    rows = await store.read("telemetry", T0, T0 + sent * S + S)
    got = sorted((p.time_ns, p.fields["value"]) for p in rows)
    assert got == [(T0 + i * S, i * 0.5) for i in range(sent)]


async def test_influxd_down_for_30_seconds_loses_and_doubles_nothing(
    tmp_path: Path, mosquitto: LocalMosquitto
) -> None:
    with LocalInfluxd(port=free_port()) as influxd:
        retry = RetryPolicy(max_elapsed_s=1, max_backoff_s=0.5)
        store = InfluxStore(InfluxConfig(url=influxd.url, database="outage", retry=retry))
        await store.create_database()
        agent = Agent(site_config(tmp_path, INVENTORY, sources(mosquitto.url, "pp-outage")),
                      store=store)  # fmt: skip
        pub = Publisher(mosquitto.url)
        try:
            async with running(agent):
                await wait_for(lambda: agent.metrics.connected.get("mqtt:mqtt") == 1)
                pub.publish(200)
                await wait_for(lambda: agent.metrics.points_out >= 200, what="first 200 stored")
                influxd.halt()
                for _ in range(30):  # 30 s of ingest with the store down
                    pub.publish(20)
                    await asyncio.sleep(1)
                assert agent.metrics.points_in >= 800
                assert agent.metrics.store_up == 0
                assert agent.buffer.depth()["sealed"] > 0
                influxd.start()
                pub.publish(100)
                await wait_for(lambda: agent.metrics.points_out >= pub.sent, 60, "drained")
            assert agent.metrics.retries > 0
            await assert_exactly_published(store, pub.sent)
        finally:
            pub.close()
            await store.close()


async def test_broker_restart_resumes_and_delivers_what_was_published_while_away(
    tmp_path: Path,
) -> None:
    with LocalMosquitto(persistence=True) as broker:
        store = SqliteStore(tmp_path / "store.db")
        config = site_config(tmp_path, INVENTORY, sources(broker.url, "pp-persistent"))
        pub = Publisher(broker.url)
        try:
            agent = Agent(config, store=store)
            async with running(agent):
                await wait_for(lambda: agent.metrics.connected.get("mqtt:mqtt") == 1)
                pub.publish(50)
                await wait_for(lambda: agent.metrics.points_in >= 50, what="first 50")
                pub.close()
                broker.halt()
                await wait_for(lambda: agent.metrics.connected.get("mqtt:mqtt") == 0)
                broker.start()
                await wait_for(lambda: agent.metrics.connected.get("mqtt:mqtt") == 1, 30,
                               "reconnected")  # fmt: skip
                pub = Publisher(broker.url)
                pub.sent = 50
                pub.publish(50)  # the subscription resumed
                await wait_for(lambda: agent.metrics.points_in >= 100, what="after restart")
            # the agent is away: QoS 1 messages wait in its persistent session, across a
            # broker restart too
            pub.publish(100)
            pub.close()
            broker.halt()
            broker.start()
            pub = Publisher(broker.url)
            agent = Agent(config, store=store)
            async with running(agent):
                await wait_for(lambda: agent.metrics.points_in >= 100, 30, "queued messages")
            await assert_exactly_published(store, 200)
        finally:
            pub.close()
            await store.close()


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pilotproof.cli", *args], capture_output=True,
                          text=True, timeout=60)  # fmt: skip


def chain_is_whole(records: list[BatchRecord], key: Ed25519PublicKey) -> None:
    for stream in {r.stream for r in records}:
        chain = sorted((r for r in records if r.stream == stream), key=lambda r: r.seq)
        assert [r.seq for r in chain] == list(range(len(chain))), stream
        prev = GENESIS
        for r in chain:
            assert r.prev == prev, (stream, r.seq)
            assert r.verify(key), (stream, r.seq)
            prev = r.digest()


async def test_sigkill_mid_run_loses_nothing_acknowledged_and_the_chain_has_no_gap(
    tmp_path: Path, mosquitto: LocalMosquitto
) -> None:
    db = tmp_path / "store.db"
    metrics_port = free_port()
    config = tmp_path / "site.toml"
    key = tmp_path / "agent.pem"
    assert cli("agent", "keygen", str(key)).returncode == 0
    config.write_text(f"""
[agent]
id = "gw-kill"
key = "agent.pem"
seal_interval_s = 0.1

[store]
url = "sqlite:{db}"

[metrics]
listen = "127.0.0.1:{metrics_port}"

[buffer]
path = "buffer.db"

[inventory]
site = "lab"
status_interval_s = 1
elements = [{{id = "s1", kind = "sensor", link = "5g", points = [{{id = "t", period_s = 1}}]}}]

[[sources.mqtt]]
url = "{mosquitto.url}"
client_id = "pp-sigkill"
subscriptions = [{{topic = "factory/{{site}}/{{element}}/telemetry"}}]
""")
    check = cli("agent", "check", str(config))
    assert check.returncode == 0, check.stdout + check.stderr

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", "pilotproof.cli", "agent", "run",
                                 str(config)], cwd=tmp_path, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)  # fmt: skip

    async def subscribed() -> None:
        """Until the agent's /metrics says its MQTT driver is connected (and subscribed)."""
        import httpx

        line = 'pilotproof_driver_connected{agent="gw-kill",driver="mqtt:mqtt"} 1'
        async with httpx.AsyncClient() as http:
            for _ in range(600):
                with contextlib.suppress(httpx.HTTPError):
                    r = await http.get(f"http://127.0.0.1:{metrics_port}/metrics")
                    if line in r.text:  # reported once the broker acknowledged SUBSCRIBE
                        return
                await asyncio.sleep(0.1)
        raise AssertionError("the agent never connected to the broker")

    pub = Publisher(mosquitto.url)
    proc = start()
    try:
        await subscribed()
        for _ in range(10):
            pub.publish(100)
            await asyncio.sleep(0.1)
        os.kill(proc.pid, signal.SIGKILL)  # mid-run: some points sealed, some pending
        proc.wait(10)
        pub.publish(300)  # while the agent is dead: kept by its persistent session
        proc = start()
        await subscribed()
        pub.publish(200)
        store = SqliteStore(db)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                rows = await store.aggregate(Aggregate(measurement="telemetry", field="value",
                                                       fn="count", start_ns=T0,
                                                       end_ns=T0 + 10**6 * S))  # fmt: skip
                if len(rows) and int(rows["value"].iloc[0]) >= pub.sent:
                    break
                await asyncio.sleep(0.5)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(60) == 0
            await assert_exactly_published(store, pub.sent)
            records = [
                BatchRecord(agent=p.tags["agent"], stream=p.tags["stream"],
                            seq=int(p.fields["seq"]), n=int(p.fields["n"]),
                            first_ns=int(str(p.fields["first_ns"])),
                            last_ns=int(str(p.fields["last_ns"])), root=str(p.fields["root"]),
                            prev=str(p.fields["prev"]), sig=str(p.fields["sig"]))
                for p in await store.read("pp_batch", 0, 2**62)
            ]  # fmt: skip
            assert len({r.seq for r in records if r.stream == "telemetry"}) >= 2
            chain_is_whole(records, load_key(key).public_key())
        finally:
            await store.close()
    finally:
        pub.close()
        if proc.poll() is None:
            proc.kill()
