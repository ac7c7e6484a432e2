"""The MQTT input (paho-mqtt 2.x): QoS 1, a persistent session, acknowledged after commit.

The client keeps one client id and `clean_session=False`, so the broker stores QoS 1
messages while the agent is away and replays them on reconnect. Messages are
acknowledged manually, only after their points are committed to the durable buffer: a
crash before the commit means the broker sends the message again.

**No message stops the input.** Every callback paho runs in its network thread is
wrapped: a payload that cannot be used — for whatever reason, the parser's own refusals
and anything else it raises — is rejected, counted per reason, logged (rate-limited)
and acknowledged, since it would fail again on every redelivery. If paho's network
thread itself dies, the exception is handed to the driver's coroutine, which raises it
to the supervisor: the driver is started again and the broker redelivers whatever was
not acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
from collections import OrderedDict
from typing import Any
from urllib.parse import urlparse

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from collectors.driver import Sink
from collectors.mqtt.client import Ack, ReadAheadClient
from collectors.mqtt.parse import PayloadError, PayloadParser, subscription_filter
from collectors.mqtt.settings import MqttSource
from collectors.plugin import DriverContext
from collectors.samples import Samples

ROUTES_MAX = 10_000
RECONNECT_S = (1, 10)
#: messages remembered as committed, to recognise the broker's redeliveries after a
#: reconnect (only what was in flight can come again: the broker's in-flight window)
RECENT_MAX = 20_000


class MqttDriver:
    """Subscribes to a broker and turns each message into samples or one rejection. paho's
    network loop runs in a thread of the driver's own; a message is acknowledged (QoS 1)
    only once what it carried is committed to the buffer.

    Args:
        source: the `[[sources.mqtt]]` table: broker, credentials, subscriptions.
        context: the site id, the agent id (the default client id) and the inventory
            (a message for an undeclared element is rejected).
    """

    def __init__(self, source: MqttSource, context: DriverContext) -> None:
        self.source = source
        self.name = f"mqtt:{source.name}"
        self.client_id = source.client_id or f"pilotproof-{context.agent_id}"
        site = context.site
        self.parsers = [(subscription_filter(s.topic, site), PayloadParser(s, context.inventory))
                        for s in source.subscriptions]  # fmt: skip
        self.declared = {e.id for e in context.inventory.elements}
        self.elements: tuple[str, ...] = ()  # push elements are marked by what arrives
        self.rejected: list[tuple[str, str]] = []  # (topic, reason) of the last rejections
        self.sink: Sink | None = None
        self._tracked: set[str] = set()
        self._routes: dict[str, PayloadParser] = {}  # topic → the subscription it matched
        self._stopping = False
        # (topic, payload) hashes, oldest first (an OrderedDict: a dict's next(iter())
        # after many deletions from its front scans them all, a tenth of the agent's time)
        self._committed: OrderedDict[int, None] = OrderedDict()

    # --- paho callbacks (its network thread): none of them may raise -----------------

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        sink = self.sink
        assert sink is not None
        try:
            if rc.is_failure:
                text = str(rc).lower()
                kind = "auth" if "authori" in text or "password" in text else "refused"
                sink.error(kind, f"the broker refused the connection: {rc}",
                           where=self.source.url)  # fmt: skip
                return
            client.subscribe([(f, 1) for f, _ in self.parsers])
        except Exception as e:
            sink.error("callback", e, where="on_connect")

    def _on_connect_fail(self, _c: mqtt.Client, _u: Any) -> None:
        if self.sink is not None:
            self.sink.error("unreachable", "cannot connect to the broker; paho retries",
                            where=self.source.url)  # fmt: skip

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, _mid: int, codes: Any, _p: Any) -> None:
        sink = self.sink
        assert sink is not None
        try:
            # connected for us means subscribed: only now do published messages reach us
            if any(c.is_failure for c in codes):
                sink.error("refused", f"the broker refused a subscription: {codes}")
            sink.connected(True)
        except Exception as e:
            sink.error("callback", e, where="on_subscribe")

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        sink = self.sink
        assert sink is not None
        sink.connected(False)
        if not self._stopping:
            sink.error("lost", f"disconnected from the broker ({rc}); paho reconnects",
                       where=self.source.url)  # fmt: skip

    def _on_message(self, client: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        sink = self.sink
        assert sink is not None
        if self._stopping:  # neither taken nor acknowledged: the broker keeps it for later
            return
        mid, qos = msg.mid, msg.qos
        try:
            topic = msg.topic  # a property that decodes the topic at each access
        except Exception as e:  # not UTF-8 (a broker should have refused it)
            self._reject(sink, client, mid, qos, _topic_of(msg), "bad_topic", str(e)[:200])
            return
        key = hash((topic, msg.payload))
        if msg.dup and key in self._committed:
            # the broker sends again what we committed but whose acknowledgement it did
            # not get (a reconnect): acknowledge it, do not seal the same samples twice
            with contextlib.suppress(Exception):
                client.ack(mid, qos)
            sink.message("duplicate")
            return
        try:
            points = self._parse(topic, msg.payload)
        except PayloadError as e:
            self._reject(sink, client, mid, qos, topic, e.reason, e.detail)
            return
        except Exception as e:  # a parser bug: counted as one, and the message still goes
            sink.error("parse", e, where=f"a payload on {topic}")
            self._reject(sink, client, mid, qos, topic, "parser_error",
                         f"{type(e).__name__}: {e}")  # fmt: skip
            return
        try:
            self._track(sink, points)
            # acknowledged by the committer once the points are durable
            connection = getattr(client, "connection", 0)
            sink.submit(points, Ack(client, mid, qos, key, self._acknowledge, connection))
            sink.message("accepted")
        except Exception as e:
            sink.error("callback", e, where=f"on_message {topic}")

    def _acknowledge(self, acks: list[Ack]) -> None:
        """The committer's call for the messages one commit made durable: remember them
        (a redelivery is then acknowledged, not sealed twice) and send their PUBACKs."""
        committed = self._committed
        by_client: dict[tuple[mqtt.Client, int], list[int]] = {}
        for a in acks:
            committed[a.key] = None
            if a.qos == 1:
                by_client.setdefault((a.client, a.connection), []).append(a.mid)
            elif a.qos == 2:  # never granted (we subscribe at QoS 1), but answered if sent
                a.client.ack(a.mid, 2)
        while len(committed) > RECENT_MAX:
            committed.popitem(last=False)
        for (client, connection), mids in by_client.items():
            if isinstance(client, ReadAheadClient):
                # a connection gone since: the broker sends them again, and they are
                # recognised as committed then
                client.ack_many(mids, connection)
            else:
                for mid in mids:
                    client.ack(mid, 1)

    def _parse(self, topic: str, payload: bytes | bytearray) -> Samples | list[Any]:
        parser = self._routes.get(topic)
        if parser is None:
            # our compiled template patterns: paho's topic_matches_sub builds a matcher a call
            parser = next((p for _, p in self.parsers if p.pattern.fullmatch(topic)), None)
            if parser is None:
                raise PayloadError("bad_topic", f"no subscription matches {topic!r}")
            if len(self._routes) >= ROUTES_MAX:  # bounded: junk topics cost a re-match
                self._routes.clear()
            self._routes[topic] = parser
        return parser.parse(topic, payload)

    def _reject(self, sink: Sink, client: mqtt.Client, mid: int, qos: int, topic: str,
                reason: str, detail: str) -> None:  # fmt: skip
        sink.reject(reason, detail, where=f"a payload on {topic!r:.200}")
        sink.message("rejected")
        self.rejected = [*self.rejected[-99:], (topic, reason)]
        with contextlib.suppress(Exception):  # it would fail again on every redelivery
            client.ack(mid, qos)

    def _track(self, sink: Sink, points: Samples | list[Any]) -> None:
        # declared elements only: a flood of made-up element names must not grow the
        # agent's state or write status rows for elements nobody declared
        if isinstance(points, Samples):  # one element a message: the hot path
            if points.keys:
                element = points.keys[0][0]
                if element not in self._tracked and element in self.declared:
                    self._tracked.add(element)
                    sink.track(element, push=True)
            return
        elements = {p.tags.get("element", "") for p in points if p.measurement == "telemetry"}
        for element in (elements & self.declared) - self._tracked:
            self._tracked.add(element)
            sink.track(element, push=True)

    # --- the client -----------------------------------------------------------------

    def make_client(self) -> ReadAheadClient:
        url = urlparse(self.source.url)
        client = ReadAheadClient(
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
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.reconnect_delay_set(*RECONNECT_S)
        client.connect_async(url.hostname or "localhost", url.port or 1883, keepalive=30)
        return client

    async def run(self, sink: Sink, stop: asyncio.Event) -> None:
        self.sink = sink
        self._stopping = False
        self._tracked.clear()
        loop = asyncio.get_running_loop()
        died: asyncio.Future[bool] = loop.create_future()
        client = self.make_client()

        def network() -> None:
            """paho's loop in a thread we own, so that its death reaches the supervisor."""
            try:
                client.loop_forever(retry_first_connection=True)
            except BaseException as e:  # handed on to the supervisor, never swallowed
                if not self._stopping:
                    loop.call_soon_threadsafe(_fail, died, e)
                return
            if not self._stopping:
                loop.call_soon_threadsafe(
                    _fail, died, RuntimeError("paho's network loop ended by itself")
                )

        thread = threading.Thread(target=network, name=f"mqtt-{self.source.name}", daemon=True)
        thread.start()
        stopping: asyncio.Future[bool] = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({stopping, died}, return_when=asyncio.FIRST_COMPLETED)
            if died.done():
                died.result()  # raises what killed paho's thread, for the supervisor
        finally:
            stopping.cancel()
            self._stopping = True
            # acknowledge what is committed while still connected: an acknowledgement
            # lost at shutdown would have the broker deliver the message again
            await asyncio.to_thread(sink.flush)
            with contextlib.suppress(Exception):
                client.disconnect()
            await asyncio.to_thread(thread.join, 10)
            sink.connected(False)


def _fail(future: asyncio.Future[bool], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)


def _topic_of(msg: mqtt.MQTTMessage) -> str:
    try:
        return msg.topic
    except Exception:
        return repr(msg._topic)
