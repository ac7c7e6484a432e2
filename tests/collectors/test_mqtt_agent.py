"""The MQTT input against a real Mosquitto and a real influxd."""

from __future__ import annotations

from pathlib import Path

from collectors import Agent, Sources
from collectors.mqtt import MqttSource, MqttSubscription
from simulators import MqttSimPublisher, Scenario
from telemetry import Aggregate
from telemetry.localserver import LocalInfluxd, LocalMosquitto
from tests.collectors.conftest import running, site_config, wait_for
from tests.conftest import new_influx_store
from tests.simulators.conftest import at

S = 1_000_000_000


def mqtt_sources(url: str) -> Sources:
    return Sources(
        mqtt=(
            MqttSource(
                url=url,
                subscriptions=(
                    MqttSubscription(topic="factory/{site}/{element}/telemetry"),
                    MqttSubscription(topic="nms/{site}/{element}/status", format="status"),
                    MqttSubscription(topic="idnode/{node}/stats", format="identifier"),
                ),
            ),
        )
    )


async def test_every_published_point_is_stored_once_with_its_value(
    tmp_path: Path, types_scenario: Scenario, mosquitto: LocalMosquitto, influxd: LocalInfluxd
) -> None:
    store = await new_influx_store(influxd)
    config = site_config(tmp_path, types_scenario.inventory(), mqtt_sources(mosquitto.url))
    agent = Agent(config, store=store, drivers=None)
    pub = MqttSimPublisher(types_scenario, mosquitto.url)
    pub.connect()
    t0 = at("2026-10-02T23:59:00")  # the bad-quality period of `hum` ends inside the run
    expected = {kind: 0 for kind in ("telemetry", "status", "identifier")}
    values: dict[tuple[str, int], float | None] = {}
    try:
        async with running(agent):
            await wait_for(lambda: agent.metrics.connected.get("mqtt:mqtt") == 1, what="connect")
            for kind, msg in pub.messages(t0 + 120 * S, t0):
                import json

                body = json.loads(msg.payload)
                if kind == "telemetry":
                    expected["telemetry"] += len(body["values"])
                    for point, v in body["values"].items():
                        values[(point, body["ts"] * 1_000_000)] = v
                else:
                    expected[kind] += 1
            sent = pub.publish_due(t0 + 120 * S, t0)
            assert sent == sum(1 for _ in pub.messages(t0 + 120 * S, t0))
            total = sum(expected.values())
            await wait_for(lambda: agent.metrics.points_in >= total, what="all accepted")
        assert agent.metrics.parse_errors == 0
        a, b = t0 - 600 * S, t0 + 121 * S  # identifier counts carry their interval start
        for measurement, field, kind in (
            ("telemetry", "quality", "telemetry"),
            ("element_status", "online", "status"),
            ("identifier", "resolutions", "identifier"),
        ):
            df = await store.aggregate(
                Aggregate(measurement=measurement, field=field, fn="count", start_ns=a, end_ns=b)
            )
            got = int(df["value"].sum()) if len(df) else 0
            assert got == expected[kind], (measurement, got, expected[kind])
        stored = await store.read("telemetry", a, b)
        assert len(stored) == expected["telemetry"]
        for p in stored:
            v = values[(p.tags["point"], p.time_ns)]
            assert p.fields.get("value") == v, p
            assert p.tags["element"] == "mq-01"
    finally:
        pub.close()
        await store.close()
