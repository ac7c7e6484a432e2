"""A paho subscriber through a real Mosquitto receives what the scenario says."""

from __future__ import annotations

import json
import threading
import time

import paho.mqtt.client as mqtt

from simulators import FactoryModel, MqttSimPublisher, Scenario, parse_scenario
from telemetry.localserver import LocalMosquitto
from tests.simulators.conftest import at

NORMAL = at("2026-10-01T12:00:00")
BAD = at("2026-10-02T12:00:00")
OFFLINE = at("2026-10-05T12:00:00")


class Subscriber:
    def __init__(self, broker: LocalMosquitto, topic: str = "#") -> None:
        self.messages: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"sub-{time.time_ns()}"
        )
        self.client.on_connect = lambda c, *a: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *a: self._ready.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()
        assert self._ready.wait(10)

    def _on_message(self, client: object, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((msg.topic, msg.payload))

    def wait_for(self, n: int, timeout: float = 10.0) -> list[tuple[str, bytes]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.messages) < n:
            time.sleep(0.02)
        with self._lock:
            return list(self.messages)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def test_telemetry_status_and_identifier_messages(
    types_scenario: Scenario, mosquitto: LocalMosquitto
) -> None:
    sub = Subscriber(mosquitto)
    pub = MqttSimPublisher(types_scenario, mosquitto.url, client_id="pub-1")
    pub.connect()
    try:
        # one minute of scenario time ending on a status instant and an identifier interval end
        end = NORMAL + 60 * 10**9
        sent = pub.publish_due(end, since_ns=NORMAL)
        got = sub.wait_for(sent)
    finally:
        pub.close()
        sub.close()
    assert len(got) == sent
    model = FactoryModel(types_scenario)
    telemetry = [json.loads(p) for t, p in got if t == "factory/lab/mq-01/telemetry"]
    assert len(telemetry) == 60  # temp every 1 s; hum every 2 s shares the even seconds
    for body in telemetry:
        t = body["ts"] * 1_000_000
        assert body["values"]["temp"] == model.value("mq-01", "temp", t)
        assert ("hum" in body["values"]) == (t // 10**9 % 2 == 0)
    status = {json.loads(p)["element"]: json.loads(p) for t, p in got if t.startswith("nms/lab/")}
    assert set(status) == {"mb-types", "ua-types", "mq-01"}
    assert status["ua-types"]["link"] == "5g"
    assert status["ua-types"]["online"] is True
    assert status["ua-types"]["rsrp"] == model.radio("ua-types", end)[0]
    ident = [json.loads(p) for t, p in got if t == "idnode/88.1.2/stats"]
    # 12:00:00 + 60 s ends no 300 s interval; the next one does
    assert ident == []


def test_identifier_counts_add_up_over_a_day(
    types_scenario: Scenario, mosquitto: LocalMosquitto
) -> None:
    pub = MqttSimPublisher(types_scenario, mosquitto.url, client_id="pub-2")
    day = at("2026-10-01T00:00:00")
    msgs = [
        m for kind, m in pub.messages(day + 86400 * 10**9, since_ns=day) if kind == "identifier"
    ]
    bodies = [json.loads(m.payload) for m in msgs]
    assert len(bodies) == 288 * 3
    assert sum(b["resolutions"] for b in bodies) == 2880
    assert sum(b["registrations"] for b in bodies) == 288
    assert {b["enterprise"] for b in bodies} == {"ent-001", "ent-002", "ent-003"}


def test_faults_offline_and_malformed(types_scenario: Scenario, mosquitto: LocalMosquitto) -> None:
    pub = MqttSimPublisher(types_scenario, mosquitto.url, client_id="pub-3")
    bad = [json.loads(m.payload) for k, m in pub.messages(BAD) if k == "telemetry"]
    assert bad[0]["quality"] == {"hum": 2}
    assert bad[0]["values"]["hum"] is None
    offline = pub.messages(OFFLINE)
    assert not [m for k, m in offline if k == "telemetry"]
    status = [json.loads(m.payload) for k, m in offline if k == "status"]
    assert all(s["online"] is False for s in status if s["element"] in ("mq-01", "ua-types"))

    text = (
        "name: mal\nsite: lab\n"
        "evaluation: {from: '2026-10-01T00:00:00', to: '2026-10-02T00:00:00'}\n"
        "serving: {mqtt_malformed_rate: 0.1}\nlink_status: {via: modbus}\n"
        "elements: [{id: s, kind: sensor, link: lora, protocol: mqtt, "
        "points: [{id: x, type: float64, period_s: 1, signal: {mean: 1}}]}]\n"
    )
    sub = Subscriber(mosquitto, "factory/lab/s/telemetry")
    pub = MqttSimPublisher(parse_scenario(text), mosquitto.url, client_id="pub-4")
    pub.connect()
    try:
        sent = pub.publish_due(NORMAL + 100 * 10**9, since_ns=NORMAL)
        got = sub.wait_for(sent)
    finally:
        pub.close()
        sub.close()
    assert sent == 100
    assert pub.stats.malformed_sent == 10
    broken = 0
    for _, payload in got:
        try:
            json.loads(payload)
        except json.JSONDecodeError:
            broken += 1
    assert broken == 10
