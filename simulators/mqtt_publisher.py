"""MQTT publishers (paho-mqtt 2.x) for a scenario: telemetry, link status, identifier counts.

Topics and payloads (JSON, UTF-8, QoS 1; `ts` is UTC milliseconds of the sample instant):

* telemetry of MQTT elements — `serving.mqtt_topic` (default
  `factory/{site}/{element}/telemetry`): `{"ts": ..., "values": {point: value},
  "quality": {point: 1|2}}` with only non-good points in `quality`; nothing while the
  element is offline.
* link status of every element when `link_status.via` is mqtt — `link_status.topic`
  (default `nms/{site}/{element}/status`), as a 5G NMS or CPE export would:
  `{"ts", "element", "link", "online", "rsrp", "sinr"}` once per status interval.
* identifier-node counts — `serving.identifier_topic` (default `idnode/{node}/stats`):
  `{"ts", "node", "enterprise", "interval_s", "resolutions", "registrations"}` per
  enterprise per interval, stamped with the interval start.

`serving.mqtt_malformed_rate` replaces that share of messages (every n-th) with a
payload that is not JSON, and counts them in `malformed_sent`.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from simulators.behaviour import FactoryModel
from simulators.intervals import NS
from simulators.scenario import Scenario

MALFORMED = b'{"ts": 17, "values": {"broken": '


@dataclass
class Message:
    topic: str
    payload: bytes


@dataclass
class MqttStats:
    published: int = 0
    malformed_sent: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)


def broker_address(url: str) -> tuple[str, int]:
    u = urlparse(url if "://" in url else f"mqtt://{url}")
    if u.scheme not in ("mqtt", "tcp"):
        raise ValueError(f"broker URL {url!r}: use mqtt://host:port")
    return u.hostname or "127.0.0.1", u.port or 1883


class MqttSimPublisher:
    """Builds the messages due at an instant and publishes them to a broker."""

    def __init__(self, scenario: Scenario, broker_url: str, client_id: str | None = None) -> None:
        self.scenario = scenario
        self.model = FactoryModel(scenario)
        self.host, self.port = broker_address(broker_url)
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"pilotproof-sim-{scenario.name}",
        )
        self.stats = MqttStats()
        self._every = (
            round(1 / scenario.serving.mqtt_malformed_rate)
            if scenario.serving.mqtt_malformed_rate
            else 0
        )
        self._connected = threading.Event()
        self.client.on_connect = lambda *a: self._connected.set()
        self.elements = [e for e in scenario.expanded_elements() if e.protocol == "mqtt"]

    def connect(self, timeout: float = 10.0) -> None:
        self.client.connect(self.host, self.port, keepalive=30)
        self.client.loop_start()
        if not self._connected.wait(timeout):
            raise ConnectionError(f"MQTT broker {self.host}:{self.port} did not accept us")

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()

    # --- messages --------------------------------------------------------------------

    def messages(self, t_ns: int, since_ns: int | None = None) -> list[tuple[str, Message]]:
        """(kind, message) of everything due in `(since_ns, t_ns]` (just `t_ns` if no since)."""
        s = self.scenario
        m = self.model
        lo = t_ns - 1 if since_ns is None else since_ns
        out: list[tuple[str, Message]] = []

        def due(step_ns: int) -> list[int]:
            first = (lo // step_ns + 1) * step_ns
            return list(range(first, t_ns + 1, step_ns))

        for e in self.elements:
            by_time: dict[int, dict[str, Any]] = {}
            quality: dict[int, dict[str, int]] = {}
            for p in e.points:
                if p.collection == "manual":
                    continue
                for t in due(int(p.period_s * NS)):
                    if not m.is_online(e.id, t):
                        continue
                    q = m.quality(e.id, p.id, t)
                    by_time.setdefault(t, {})[p.id] = None if q == 2 else m.value(e.id, p.id, t)
                    if q:
                        quality.setdefault(t, {})[p.id] = q
            topic = s.serving.mqtt_topic.format(site=s.site, element=e.id)
            for t in sorted(by_time):
                body = {"ts": t // 1_000_000, "values": by_time[t], "quality": quality.get(t, {})}
                out.append(("telemetry", Message(topic, json.dumps(body).encode())))
        if s.link_status.via == "mqtt":
            for t in due(s.status_interval_s * NS):
                for eid in m.elements:
                    rsrp, sinr = m.radio(eid, t)
                    online = m.is_online(eid, t)
                    body = {
                        "ts": t // 1_000_000,
                        "element": eid,
                        "link": m.link_at(eid, t),
                        "online": online,
                        "rsrp": rsrp if online else None,
                        "sinr": sinr if online else None,
                    }
                    topic = s.link_status.topic.format(site=s.site, element=eid)
                    out.append(("status", Message(topic, json.dumps(body).encode())))
        spec = s.identifier
        if spec is not None:
            step = spec.interval_s * NS
            # an interval's counts are exported when it ends, stamped with its start
            for end in due(step):
                start = end - step
                if not m.is_online(spec.element, start):
                    continue
                topic = s.serving.identifier_topic.format(node=spec.node, site=s.site)
                for ent, (res, reg) in m.identifier_interval(start).items():
                    body = {
                        "ts": start // 1_000_000,
                        "node": spec.node,
                        "enterprise": ent,
                        "interval_s": spec.interval_s,
                        "resolutions": res,
                        "registrations": reg,
                    }
                    out.append(("identifier", Message(topic, json.dumps(body).encode())))
        return out

    def publish_due(self, t_ns: int, since_ns: int | None = None) -> int:
        """Publish (QoS 1) everything due in `(since_ns, t_ns]`; returns how many."""
        infos = []
        for kind, msg in self.messages(t_ns, since_ns):
            payload = msg.payload
            if self._every and (self.stats.published + 1) % self._every == 0:
                payload = MALFORMED
                self.stats.malformed_sent += 1
            infos.append(self.client.publish(msg.topic, payload, qos=1))
            self.stats.published += 1
            self.stats.by_kind[kind] = self.stats.by_kind.get(kind, 0) + 1
        for info in infos:
            info.wait_for_publish(timeout=30)
        return len(infos)
