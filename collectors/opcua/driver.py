"""The OPC UA input (asyncua): subscriptions or polling, by namespace URI, reconnecting.

Node ids are written `nsu=<namespace URI>;s=<id>`; the namespace index is looked up after
every connect, so a server restart that renumbers its namespaces changes nothing. Nodes
are split into subscriptions of `nodes_per_subscription` and over `sessions` clients.

* **One node never stops the others.** A node the server refuses (unknown after a
  restart, not readable, a namespace it no longer has) becomes that point's bad
  sample and one log line; the rest are subscribed or read as usual.
* **Every value's status becomes its quality** (good 0, uncertain 1, bad 2). Numbers
  and booleans are stored as `value`, strings as `text`; other types (arrays,
  structures) keep their quality only, noted once.
* **A lost server is noticed quickly.** A watchdog reads the server's state every
  `watchdog_s` (each read bounded by `timeout_s`); publish responses and keep-alives
  count as proof of life too. On a loss the session's elements are offline from the
  last proof, and the session is made again with back-off (`reconnect_s`, doubling to
  60 s; reset once a session was established), subscriptions included.
* **Every fault is caught here** — refused connections, wrong passwords, untrusted
  certificates, whatever asyncua raises — counted by kind
  (`pilotproof_driver_errors_total`), logged once and then rate-limited.
* **Report by exception.** A subscription sends nothing while a value stays the same,
  and a poll reads the same sample again; the elements are tracked `held`, so a point
  whose last value was good counts as received while its session is alive
  (collectors/health.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from asyncua import Client, ua
from asyncua.common.subscription import Subscription

from collectors.driver import Sink
from collectors.opcua.connect import ClientFactory, client_certificate
from collectors.opcua.limits import plan, read_limits
from collectors.opcua.settings import OpcUaNode, OpcUaSource
from collectors.plugin import DriverContext
from telemetry import Point, PointError
from telemetry.timegrid import NS

log = logging.getLogger("pilotproof.opcua")

BACKOFF_MAX_S = 60.0
FLUSH_S = 0.2  # queued values go to the pipeline this often
PUBLISHING_MAX_MS = 500  # the default publishing interval, at most (see the settings)
TEXT_MAX = 4096  # characters of a String value kept
_EPOCH_2000 = 946_684_800 * NS
_FUTURE_NS = 600 * NS  # a source time this far ahead of ours is a wrong clock

#: status codes that say "this node", not "this server": the point is bad, the rest go on
NODE_FAULTS = frozenset(
    {
        "BadNodeIdUnknown",
        "BadNodeIdInvalid",
        "BadAttributeIdInvalid",
        "BadNotReadable",
        "BadUserAccessDenied",
        "BadNotSupported",
        "BadMonitoredItemFilterUnsupported",
        "BadFilterNotAllowed",
        "BadIndexRangeInvalid",
    }
)
AUTH_FAULTS = frozenset(
    {"BadUserAccessDenied", "BadIdentityTokenRejected", "BadIdentityTokenInvalid",
     "BadUserSignatureInvalid"}
)  # fmt: skip


def quality(code: ua.StatusCode) -> int:
    if code.is_good():
        return 0
    return 1 if code.is_uncertain() else 2


def resolve(node: str, namespaces: list[str]) -> str:
    """`nsu=URI;s=x` → `ns=<index>;s=x` for this server's current namespace array."""
    if not node.startswith("nsu="):
        return node
    uri, _, rest = node[4:].partition(";")
    try:
        idx = namespaces.index(uri)
    except ValueError:
        raise LookupError(f"namespace {uri!r} is not on the server") from None
    return f"ns={idx};{rest}"


def _status_name(e: BaseException) -> str | None:
    code = getattr(e, "code", None)
    if isinstance(code, int):
        return str(ua.StatusCode(code).name)
    return None


def classify(e: BaseException, source: OpcUaSource, cert_hint: str) -> tuple[str, str]:
    """(kind, what to tell the operator) for a failed or lost session."""
    name = _status_name(e)
    if name in AUTH_FAULTS:
        who = f"user {source.username!r}" if source.auth == "username" else source.auth
        return "auth", (f"the server refused the {who} ({name}): check auth, username and "
                        "password (or the user certificate) of this source")  # fmt: skip
    if name is not None and (
        name.startswith("BadCertificate") or name == "BadSecurityChecksFailed"
    ):
        return "certificate", (
            f"the secure channel was refused ({name}): if the server has not trusted this "
            f"agent yet, trust {cert_hint} on the server"
        )
    if isinstance(e, TimeoutError):
        return "timeout", f"no answer within timeout_s = {source.timeout_s} s"
    if isinstance(e, ConnectionRefusedError):
        return "unreachable", f"connection refused ({e})"
    if isinstance(e, ConnectionError | OSError):
        return "lost", f"{type(e).__name__}: {e}"
    if name is not None:
        return "refused", f"{name}: {e}"
    # asyncua raises odd things when a strict server drops the channel mid-handshake
    # (an AttributeError from inside its client); the hint is the usual cause
    if source.security != "None":
        return "error", (f"{type(e).__name__}: {e} — a server that has not trusted this "
                         f"agent's certificate closes the channel like this; trust {cert_hint} "
                         "on the server")  # fmt: skip
    return "error", f"{type(e).__name__}: {e}"


def _closed(client: Client) -> bool:
    """Whether the socket is gone. asyncua notes it at once, but a request sent after that
    only fails after its whole timeout; looking first makes a killed server's loss known
    within a flush tick instead of `timeout_s`."""
    protocol = getattr(client.uaclient, "protocol", None)
    return getattr(protocol, "state", None) == "closed"


class _LiveSubscription(Subscription):  # type: ignore[misc]
    """asyncua's Subscription, noting every publish response — a notification or a
    keep-alive — as proof that the server is alive."""

    def __init__(self, server: Any, params: Any, handler: Any, alive: Callable[[], None]) -> None:
        super().__init__(server, params, handler)
        self._alive = alive

    async def publish_callback(self, publish_result: ua.PublishResult) -> None:
        self._alive()
        await super().publish_callback(publish_result)


class _Handler:
    def __init__(self, driver: OpcUaDriver, targets: dict[ua.NodeId, OpcUaNode]) -> None:
        self.driver = driver
        self.targets = targets
        self.lost = asyncio.Event()

    def datachange_notification(self, node: Any, val: Any, data: Any) -> None:
        try:
            target = self.targets.get(node.nodeid)
            if target is not None:
                self.driver.queue_value(target, data.monitored_item.Value)
        except Exception as e:  # never into asyncua, which would only log it
            self.driver.report("callback", e)

    def status_change_notification(self, status: Any) -> None:
        # the server ended the subscription (timed out, deleted): make the session again
        self.driver.report("subscription", f"the server ended a subscription: {status}")
        self.lost.set()


class OpcUaDriver:
    """Reads an OPC UA server by subscription (report by exception) or by polling, over
    one or more sessions, with a watchdog that notices a lost server within about
    `watchdog_s + timeout_s`. A node the server refuses costs only that point.

    Args:
        source: the `[[sources.opcua]]` table: endpoint, security, identity, nodes.
        context: the site id and the agent id (its application URI and certificate).
            The user identity is loaded now, so a wrong file fails at start.
    """

    def __init__(self, source: OpcUaSource, context: DriverContext) -> None:
        self.source = source
        self.site = context.site
        self.agent_id = context.agent_id
        self.name = f"opcua:{source.name}"
        self.elements = sorted({n.element for n in source.nodes})
        self._queue: list[Point] = []
        self.sessions_started = 0
        self.polls = 0  # mode = poll: rounds that read every node
        self.factory = ClientFactory(source, context.agent_id)  # loads the user identity now
        self.sink: Sink | None = None
        self._noted: set[tuple[str, str]] = set()
        self._last: dict[tuple[str, str], tuple[int, tuple[tuple[str, object], ...]]] = {}

    # --- values ----------------------------------------------------------------------

    def report(self, kind: str, error: BaseException | str, where: str = "") -> None:
        if self.sink is not None:
            self.sink.error(kind, error, where=where)

    def _time(self, dv: ua.DataValue) -> int:
        now = time.time_ns()
        for t in (dv.SourceTimestamp, dv.ServerTimestamp):
            if isinstance(t, datetime):
                ns = int(t.timestamp() * 1_000_000) * 1000
                if _EPOCH_2000 <= ns <= now + _FUTURE_NS:
                    return ns
        return now

    def queue_value(self, target: OpcUaNode, dv: ua.DataValue) -> None:
        q = quality(dv.StatusCode)
        fields: dict[str, float | int | str] = {"quality": q}
        v = dv.Value.Value if dv.Value is not None else None
        if q < 2 and v is not None:
            if isinstance(v, bool | int | float) and not math.isfinite(v):
                # NaN or infinity with a good status: no value a store keeps, so the
                # sample is bad (as a Modbus register reading NaN is)
                fields["quality"] = 2
                self._note(target, f"{target.element}.{target.point} ({target.node}) reads "
                           f"{v!r}; stored as quality 2 without a value")  # fmt: skip
            elif isinstance(v, bool | int | float):
                fields["value"] = float(v)
            elif isinstance(v, str):
                fields["text"] = "".join(c if c.isprintable() else "\ufffd" for c in v[:TEXT_MAX])
            else:
                self._note(target, f"{target.element}.{target.point} ({target.node}) has "
                           f"a {type(v).__name__} value, which is not stored; only its "
                           "quality is")  # fmt: skip
        t_ns = self._time(dv)
        key = (target.element, target.point)
        seen = (t_ns, tuple(fields.items()))
        if self._last.get(key) == seen:
            # a server sends a monitored item's current value again when the session is
            # made again; unchanged (same time, status and value) it is the same sample
            return
        self._last[key] = seen
        tags = {"site": self.site, "element": target.element, "point": target.point}
        try:
            self._queue.append(Point("telemetry", tags, fields, t_ns))
        except PointError as e:
            self.report("bad_value", e, where=f"{target.element}.{target.point}")

    def _note(self, target: OpcUaNode, message: str) -> None:
        key = (target.element, target.point)
        if key not in self._noted and self.sink is not None:
            self._noted.add(key)
            self.sink.warn(f"type:{key}", message)

    def node_refused(self, target: OpcUaNode, why: str) -> None:
        """A node the server refuses: the point's bad sample, one log line."""
        self.report("node", f"{target.element}.{target.point} ({target.node}): {why}; "
                    "the point is bad, the other nodes go on")  # fmt: skip
        tags = {"site": self.site, "element": target.element, "point": target.point}
        self._queue.append(Point("telemetry", tags, {"quality": 2}, time.time_ns()))

    def _flush(self, sink: Sink) -> None:
        points, self._queue = self._queue, []
        if points:
            sink.submit(points)

    # --- sessions --------------------------------------------------------------------

    async def _targets(self, client: Client, nodes: list[OpcUaNode]) -> dict[ua.NodeId, OpcUaNode]:
        """The nodes as this server's node ids now (namespace indexes looked up again)."""
        namespaces = await client.get_namespace_array()
        out: dict[ua.NodeId, OpcUaNode] = {}
        for n in nodes:
            try:
                out[ua.NodeId.from_string(resolve(n.node, namespaces))] = n
            except (LookupError, ValueError, ua.UaError) as e:
                self.node_refused(n, str(e))
        return out

    async def _subscribe(
        self, client: Client, targets: dict[ua.NodeId, OpcUaNode], alive: Callable[[], None]
    ) -> _Handler:
        s = self.source
        handler = _Handler(self, targets)
        publishing = s.publishing_interval_ms or min(s.sampling_interval_ms, PUBLISHING_MAX_MS)
        # keep-alives at least every ~5 s: with nothing changing, they are the proof of life
        keepalive = max(1, math.ceil(5000 / max(publishing, 1)))
        params = ua.CreateSubscriptionParameters(
            RequestedPublishingInterval=publishing,
            RequestedMaxKeepAliveCount=keepalive,
            RequestedLifetimeCount=keepalive * 10,
            PublishingEnabled=True,
        )
        limits = await read_limits(client)
        layout = plan(list(targets.items()), s.nodes_per_subscription, limits)
        for _, target in layout.left_over:
            self.node_refused(target, f"more than one session may monitor here "
                              f"({limits.subscriptions_per_session} subscriptions of "
                              f"{limits.items_per_subscription}): raise sessions")  # fmt: skip
        subs: list[Subscription] = []
        shared = 0
        for part in layout.groups:
            sub = _LiveSubscription(client.uaclient, params, handler, alive)
            try:
                await sub.init()
                subs.append(sub)
            except ua.UaStatusCodeError as e:
                if e.code != ua.StatusCodes.BadTooManySubscriptions or not subs:
                    raise
                # a server that did not say its limit: its subscriptions so far take the rest
                sub, shared = subs[shared % len(subs)], shared + 1
            nodes = [client.get_node(nid) for nid, _ in part]
            results: list[Any] = []
            for i in range(0, len(nodes), layout.per_call):
                results += await self._monitor(sub, nodes[i : i + layout.per_call])
            for (_, target), result in zip(part, results, strict=True):
                if isinstance(result, ua.StatusCode):
                    self.node_refused(target, result.name)
        return handler

    async def _monitor(self, sub: Subscription, nodes: list[Any]) -> list[Any]:
        """Monitor `nodes` with the configured deadband (absolute, filtered at the server);
        returns a handle or a refusal (StatusCode) per node.

        A server refuses a deadband on a node that is not numeric (a Boolean, a String):
        those nodes are monitored again without one, every change reported, and noted."""
        s = self.source
        if not s.deadband:
            done = await sub.subscribe_data_change(
                nodes, queuesize=s.queue_size, sampling_interval=s.sampling_interval_ms
            )
            return list(done)
        deadband = ua.DataChangeFilter()
        deadband.Trigger = ua.DataChangeTrigger.StatusValue
        deadband.DeadbandType = ua.DeadbandType.Absolute
        deadband.DeadbandValue = s.deadband
        # asyncua's public deadband_monitor takes no sampling interval; _subscribe is what
        # both it and subscribe_data_change call
        results = list(await sub._subscribe(nodes, ua.AttributeIds.Value, deadband,
                                            queuesize=s.queue_size,
                                            sampling_interval=s.sampling_interval_ms))  # fmt: skip
        refused = [i for i, r in enumerate(results) if isinstance(r, ua.StatusCode)]
        if refused:
            if self.sink is not None:
                self.sink.warn("deadband", f"the server refused a deadband on {len(refused)} "
                               f"node(s) (e.g. {nodes[refused[0]].nodeid.to_string()}); they "
                               "report every change")  # fmt: skip
            again = await sub.subscribe_data_change(
                [nodes[i] for i in refused], queuesize=s.queue_size,
                sampling_interval=s.sampling_interval_ms)  # fmt: skip
            for i, r in zip(refused, again, strict=True):
                results[i] = r
        return results

    async def _poll(self, client: Client, targets: dict[ua.NodeId, OpcUaNode]) -> None:
        """One Read of every node, in chunks; a node's own bad status is its sample."""
        items = list(targets.items())
        step = self.source.nodes_per_subscription
        for i in range(0, len(items), step):
            part = items[i : i + step]
            values = await client.read_attributes([client.get_node(nid) for nid, _ in part])
            for (_, target), dv in zip(part, values, strict=True):
                name = dv.StatusCode.name if not dv.StatusCode.is_good() else ""
                if name in NODE_FAULTS:
                    self.report("node", f"{target.element}.{target.point} ({target.node}): "
                                f"{name}; the point is bad, the other nodes go on")  # fmt: skip
                self.queue_value(target, dv)

    async def _watch(
        self,
        client: Client,
        targets: dict[ua.NodeId, OpcUaNode],
        handler: _Handler | None,
        alive: Callable[[], None],
        sink: Sink,
        stop: asyncio.Event,
    ) -> None:
        """Until `stop`: poll (mode = poll), flush values, and watch the server; raises
        when the session is lost."""
        s = self.source
        loop = asyncio.get_running_loop()
        poll_s = s.sampling_interval_ms / 1000
        next_poll = loop.time()
        next_watch = loop.time() + s.watchdog_s
        while not stop.is_set():
            now = loop.time()
            if handler is None and now >= next_poll:
                await self._poll(client, targets)
                self.polls += 1
                alive()
                next_poll = max(next_poll + poll_s, now)
            if now >= next_watch:
                state = await asyncio.wait_for(client.nodes.server_state.read_value(),
                                               s.timeout_s)  # fmt: skip
                if state not in (ua.ServerState.Running, 0):
                    raise ConnectionError(f"the server reports state {state!r}")
                alive()
                next_watch = now + s.watchdog_s
            await client.check_connection()  # asyncua's own keep-alive and publish tasks
            if _closed(client):
                raise ConnectionError("the server closed the connection")
            if handler is not None and handler.lost.is_set():
                raise ConnectionError("the server ended a subscription")
            self._flush(sink)
            wait = min(next_watch, next_poll if handler is None else now + FLUSH_S) - now
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), max(0.01, min(wait, FLUSH_S)))

    async def _session(self, nodes: list[OpcUaNode], sink: Sink, stop: asyncio.Event) -> None:
        s = self.source
        elements = sorted({n.element for n in nodes})
        delay = s.reconnect_s
        cert_hint = str(client_certificate(s, self.agent_id)[0]) if s.security != "None" else "-"
        while not stop.is_set():
            client: Client | None = None
            established = False
            last_alive = time.time_ns()

            def alive() -> None:
                nonlocal last_alive
                last_alive = time.time_ns()

            try:
                client = await self.factory.make()
                await asyncio.wait_for(client.connect(), 2 * s.timeout_s)
                self.sessions_started += 1
                targets = await self._targets(client, nodes)
                handler = (
                    await self._subscribe(client, targets, alive)
                    if s.mode == "subscription" and targets
                    else None
                )
                established = True
                alive()
                for e in elements:
                    sink.reachable(e, True)
                sink.connected(True)
                await self._watch(client, targets, handler, alive, sink, stop)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                kind, message = classify(e, s, cert_hint)
                sink.error(kind, message, where=s.url)
            finally:
                self._flush(sink)
                for element in elements:
                    sink.reachable(element, False, since_ns=last_alive)
                sink.connected(False)
                if client is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(client.disconnect(), 2)
            if established:
                delay = s.reconnect_s
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            if not established:
                delay = min(delay * 2, BACKOFF_MAX_S)

    async def run(self, sink: Sink, stop: asyncio.Event) -> None:
        self.sink = sink
        for e in self.elements:
            # held in both modes: a subscription proves an unchanged value by keeping alive,
            # a poll by reading it (the repeated read carries the same source timestamp,
            # so it is one sample, not a new one)
            sink.track(e, held=True)
        n = self.source.sessions
        nodes = list(self.source.nodes)
        parts = [nodes[i::n] for i in range(n) if nodes[i::n]]
        await asyncio.gather(*(self._session(p, sink, stop) for p in parts))
