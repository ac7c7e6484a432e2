"""The agent as a process through store outages and buffer trouble: influxd stopped
mid-stream, the buffer's cap reached and drained, the buffer wiped, the buffer damaged.

Every case: nothing accepted is lost or doubled, /metrics tells the truth while it
happens (store_up, retries, back-off, refusals), and a start-up problem is one line that
names the file and the fix.
"""

from __future__ import annotations

import asyncio
import json
import threading

from telemetry import InfluxConfig, InfluxStore
from telemetry.localserver import LocalInfluxd, LocalMosquitto, free_port
from tests.field.conftest import SITE, Field
from tests.field.harness import ALL, assert_sealed_exactly_once, chains, count
from tests.field.test_mqtt_field import INVENTORY, Publisher, messages, source, stored_numbered

MIB = 1 << 20


def wide(pub: Publisher, n: int, values: int = 40) -> None:
    """`n` telemetry messages of `values` values each (seq-01.t = k and wide points)."""
    import random

    rng = random.Random(n)
    infos = []
    for _ in range(n):
        k = pub.sent
        body = {
            "ts": 1_790_000_000_000 + k * 1000,
            "values": {"t": float(k), **{f"w{i}": rng.random() for i in range(values)}},
        }
        infos.append(pub.client.publish("field/seq-01/telemetry", json.dumps(body), qos=1))
        pub.sent += 1
    for info in infos:
        info.wait_for_publish(timeout=120)


async def test_a_store_outage_loses_nothing_and_metrics_say_so(field: Field) -> None:
    """influxd stopped for a while mid-stream. Regression: /metrics showed store_up 1 and
    store_retries_total 0 for two minutes while the sealer retried a dead store."""
    influx = LocalInfluxd(port=free_port()).start()
    store = InfluxStore(InfluxConfig(url=influx.url, database="outage"))
    try:
        with LocalMosquitto() as broker:
            site = field.site(source(broker.url), INVENTORY, store_url=f"{influx.url}/?db=outage")
            agent = field.agent(site).start()
            await agent.connected("mqtt:plant")
            pub = Publisher(broker.port)
            pub.numbered(200)
            await agent.until(lambda: agent.metric("points_out_total") >= 200, what="stored")
            influx.halt()
            pub.numbered(500)
            await agent.until(lambda: agent.metric("store_up") == 0, what="store_up 0")
            await agent.until(lambda: agent.metric("store_retries_total") >= 2, what="retries")
            assert agent.metric("store_backoff_seconds") > 0
            assert agent.metric("buffer_sealed_lines") + agent.metric("buffer_pending_lines") > 0

            def lag() -> float:
                return max(agent.metric("stage_lag_seconds", stage=s) for s in ("seal", "forward"))

            # the backlog shows as lag: its oldest line has waited longer and longer
            await agent.until(lambda: lag() > 1, what="a stage lag above 1 s")
            await asyncio.sleep(2)
            influx.start()
            await agent.until(lambda: agent.metric("store_up") == 1, within_s=60,
                              what="store_up 1 again")  # fmt: skip
            await agent.until(lambda: agent.metric("buffer_sealed_lines") == 0, within_s=60,
                              what="the buffer drained")  # fmt: skip
            await agent.until(lambda: lag() < 1, within_s=30, what="the lag gone")
            pub.close()
            assert agent.stop() == 0, agent.log()[-3000:]
        rows = await store.read("telemetry", 0, ALL, where={"element": "seq-01"})
        assert sorted(float(p.fields["value"]) for p in rows) == [float(k) for k in range(700)]
        await assert_sealed_exactly_once(store, SITE, "gw-field", field.public_key)
        log = agent.log()
        assert "store unavailable" in log
        assert log.count("store unavailable") <= 3, log  # told once, then summarised
    finally:
        await store.close()
        influx.stop()


async def test_the_buffer_cap_is_held_and_accepting_resumes_when_it_drains(field: Field) -> None:
    """A 1 MiB buffer and a dead store: telemetry is refused at the cap (counted, never
    dropped: MQTT messages wait unacknowledged), the cap holds within its KPI headroom,
    and once the store is back and the buffer drains, accepting resumes by itself.
    Regression: the cap counted the WAL file, which never shrinks, and after the drain
    every new point was still refused; it also overshot threefold."""
    influx = LocalInfluxd(port=free_port()).start()
    store = InfluxStore(InfluxConfig(url=influx.url, database="cap"))
    try:
        with LocalMosquitto() as broker:
            site = field.site(source(broker.url), INVENTORY, store_url=f"{influx.url}/?db=cap",
                              buffer=f"max_bytes = {MIB}")  # fmt: skip
            agent = field.agent(site).start()
            await agent.connected("mqtt:plant")
            pub = Publisher(broker.port)
            wide(pub, 20)
            await agent.until(lambda: agent.metric("points_out_total") > 0, what="stored")
            influx.halt()
            sender = threading.Thread(target=wide, args=(pub, 3000))
            sender.start()
            await agent.until(lambda: agent.metric("buffer_parked_messages") > 0, within_s=120,
                              what="the cap reached")  # fmt: skip
            peak = 0.0
            for _ in range(12):  # the cap holds while the outage lasts
                peak = max(peak, agent.metric("buffer_bytes"))
                await asyncio.sleep(0.5)
            assert 0.5 * MIB < peak <= 1.05 * MIB, peak
            committed_at_cap = agent.metric("points_in_total")
            await asyncio.sleep(2)
            assert agent.metric("buffer_parked_messages") > 0  # still waiting, not dropped
            influx.start()
            sender.join(180)
            await agent.until(lambda: agent.metric("buffer_parked_messages") == 0, within_s=180,
                              what="the parked messages committed")  # fmt: skip
            await agent.until(lambda: messages(agent, "accepted") >= pub.sent, within_s=180,
                              what="every message accepted after the drain")  # fmt: skip
            assert agent.metric("points_in_total") > committed_at_cap
            await agent.until(lambda: agent.metric("buffer_sealed_lines") == 0, within_s=60,
                              what="drained")  # fmt: skip
            pub.close()
            assert agent.stop() == 0, agent.log()[-3000:]
        rows = await store.read("telemetry", 0, ALL, where={"element": "seq-01", "point": "t"})
        assert sorted(float(p.fields["value"]) for p in rows) == [float(k) for k in range(pub.sent)]
        await assert_sealed_exactly_once(store, SITE, "gw-field", field.public_key)
        assert "cap (buffer.max_bytes)" in agent.log()
    finally:
        await store.close()
        influx.stop()


async def test_a_wiped_buffer_refuses_to_start_until_a_new_chain_is_asked_for(
    field: Field,
) -> None:
    """Regression: a wiped buffer restarted the chain at seq 0 with the same key and
    overwrote the store's pp_batch rows — the evidence history. Now the agent refuses,
    says what it found and what to do; `--new-chain` begins epoch 1 beside epoch 0."""
    with LocalMosquitto() as broker:
        site = field.site(source(broker.url), INVENTORY)
        agent = field.agent(site).start()
        await agent.connected("mqtt:plant")
        pub = Publisher(broker.port)
        pub.numbered(100)
        await agent.until(lambda: agent.metric("points_out_total") >= 100, what="stored")
        await asyncio.sleep(1.5)
        assert agent.stop() == 0
        before = await chains(field.store, SITE, "gw-field", field.public_key)
        rows_before = await count(field.store, "pp_batch", "seq", agent="gw-field")
        for p in field.tmp.glob("buffer.db*"):
            p.unlink()
        code = agent.start().wait_exit(60)
        out = agent.run_log()
        assert code == 2, out
        assert "holds this agent's chain" in out, out
        assert "--new-chain" in out, out
        assert "Traceback" not in out
        assert out.strip().splitlines()[-1].startswith(str(site)), out  # one line, the file
        agent.start("--new-chain")
        await agent.connected("mqtt:plant")
        pub.numbered(100)
        await agent.until(lambda: messages(agent, "accepted") >= 100, what="accepted")
        await asyncio.sleep(1.5)
        pub.close()
        assert agent.stop() == 0, agent.log()[-3000:]
    after = await chains(field.store, SITE, "gw-field", field.public_key)
    assert {e for _, e in after} == {0, 1}
    for key, records in before.items():  # every record of epoch 0 is still there, unchanged
        assert after[key] == records
    assert await count(field.store, "pp_batch", "seq", agent="gw-field") == rows_before + sum(
        len(r) for (_, e), r in after.items() if e == 1
    )
    assert await stored_numbered(field) == [float(k) for k in range(200)]
    assert "began chain epoch 1" in agent.log()


async def test_a_damaged_buffer_is_one_clear_line_not_a_traceback(field: Field) -> None:
    """Regression: a corrupt buffer file printed a raw traceback that blamed the store."""
    site = field.site("", INVENTORY)
    (site.parent / "buffer.db").write_bytes(b"not a database, says the disk " * 200)
    agent = field.agent(site).start()
    assert agent.wait_exit(60) == 2
    out = agent.run_log().strip()
    assert "Traceback" not in out, out
    assert "buffer.db" in out, out
    assert "move it aside" in out, out
    assert "store" not in out.splitlines()[-1].split("(")[0], out


async def test_a_metrics_port_in_use_is_one_clear_line(field: Field) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", field.metrics_port))
        taken.listen()
        agent = field.agent(field.site("", INVENTORY)).start()
        assert agent.wait_exit(60) == 2
    out = agent.run_log().strip()
    assert "metrics.listen" in out, out
    assert "Traceback" not in out, out
