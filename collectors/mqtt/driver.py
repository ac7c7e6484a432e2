"""The MQTT input (paho-mqtt 2.x): QoS 1, a persistent session, acknowledged after commit.

The client keeps one client id and `clean_session=False`, so the broker stores QoS 1
messages while the agent is away and replays them on reconnect. Messages are
acknowledged manually, only after their points are committed to the durable buffer: a
crash before the commit means the broker sends the message again. A payload that cannot
be parsed is counted (per reason), logged with its topic, and acknowledged — it would
never parse on a retry — so it never stalls the input.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Any
from urllib.parse import urlparse

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from collectors.config import MqttSource, SiteConfig
from collectors.mqtt.parse import PayloadError, PayloadParser, subscription_filter
from collectors.pipeline import Pipeline
from collectors.samples import Samples

log = logging.getLogger("pilotproof.mqtt")
ROUTES_MAX = 10_000


class MqttDriver:
    def __init__(self, source: MqttSource, config: SiteConfig) -> None:
        self.source = source
        self.name = f"mqtt:{source.name}"
        self.client_id = source.client_id or f"pilotproof-{config.agent.id}"
        self.parsers = [(subscription_filter(s.topic), PayloadParser(s, config.inventory))
                        for s in source.subscriptions]  # fmt: skip
        self.inventory = config.inventory
        self.rejected: list[tuple[str, str]] = []  # (topic, reason) of the last rejections
        self.pipeline: Pipeline | None = None
        self._tracked: set[str] = set()
        self._routes: dict[str, PayloadParser] = {}  # topic → the subscription it matched

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        if rc.is_failure:
            log.error("%s: broker refused the connection: %s", self.name, rc)
            return
        client.subscribe([(f, 1) for f, _ in self.parsers])

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, _mid: int, codes: Any, _p: Any) -> None:
        # connected for us means subscribed: only now do published messages reach us
        if any(c.is_failure for c in codes):
            log.error("%s: the broker refused a subscription: %s", self.name, codes)
        if self.pipeline is not None:
            self.pipeline.connected(self.name, True)

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        if self.pipeline is not None:
            self.pipeline.connected(self.name, False)
        log.warning("%s: disconnected (%s); paho reconnects", self.name, rc)

    def _on_message(self, client: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        pipeline = self.pipeline
        assert pipeline is not None
        topic = msg.topic  # a property that decodes the topic at each access
        parser = self._routes.get(topic)
        if parser is None:
            # our compiled template patterns: paho's topic_matches_sub builds a matcher a call
            parser = next((p for _, p in self.parsers if p.pattern.fullmatch(topic)), None)
            if parser is not None:
                if len(self._routes) >= ROUTES_MAX:  # bounded: junk topics cost a re-match
                    self._routes.clear()
                self._routes[topic] = parser
        try:
            if parser is None:
                raise PayloadError("bad_topic", f"no subscription matches {topic!r}")
            points = parser.parse(topic, msg.payload)
        except PayloadError as e:
            pipeline.metrics.reject(e.reason)
            self.rejected = [*self.rejected[-99:], (topic, e.reason)]
            log.warning("%s: rejected a payload on %s: %s", self.name, topic, e)
            client.ack(msg.mid, msg.qos)
            return
        if isinstance(points, Samples):
            elements = {element for element, _ in points.keys[:1]}  # one element a message
        else:
            elements = {p.tags.get("element", "") for p in points if p.measurement == "telemetry"}
        for element in elements - self._tracked:
            if element:
                self._tracked.add(element)
                pipeline.health.track(element)
        # acknowledged by the committer once the points are durable; if the buffer is
        # full it never is, and the broker keeps the message for a later delivery
        mid, qos = msg.mid, msg.qos

        def ack() -> None:
            client.ack(mid, qos)

        pipeline.submit(points, ack)

    def make_client(self) -> mqtt.Client:
        url = urlparse(self.source.url)
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            clean_session=False,
            protocol=mqtt.MQTTv311,
            manual_ack=True,
        )
        if self.source.username:
            client.username_pw_set(self.source.username, self.source.password)
        if url.scheme == "mqtts" or self.source.ca_file:
            ctx = ssl.create_default_context(
                cafile=str(self.source.ca_file) if self.source.ca_file else None
            )
            client.tls_set_context(ctx)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.reconnect_delay_set(1, 10)
        client.connect_async(url.hostname or "localhost", url.port or 1883, keepalive=30)
        return client

    async def run(self, pipeline: Pipeline, stop: asyncio.Event) -> None:
        self.pipeline = pipeline
        client = self.make_client()
        client.loop_start()
        try:
            await stop.wait()
        finally:
            client.disconnect()
            await asyncio.to_thread(client.loop_stop)
            pipeline.connected(self.name, False)
