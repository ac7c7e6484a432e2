"""The OPC UA input (asyncua): subscriptions or polling, by namespace URI, reconnecting.

Node ids are written `nsu=<namespace URI>;s=<id>`; the namespace index is looked up after
every connect, so a server restart that renumbers its namespaces changes nothing. Nodes
are split into subscriptions of `nodes_per_subscription` and over `sessions` clients.
Every value's status becomes its quality (good 0, uncertain 1, bad 2): one bad node
never drops the others. A lost session is noticed by a watchdog read and re-created,
subscriptions included, without restarting the agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from typing import Any

from asyncua import Client, ua
from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256
from asyncua.crypto.uacrypto import CertProperties

from collectors.config import OpcUaNode, OpcUaSource, SiteConfig
from collectors.opcua.pki import ServerTrust, load_user_identity
from collectors.pipeline import Pipeline
from telemetry import Point
from telemetry.pki import make_certificate

log = logging.getLogger("pilotproof.opcua")
for noisy in ("asyncua", "asyncua.client.ua_client", "asyncua.common.subscription"):
    logging.getLogger(noisy).setLevel(logging.CRITICAL)

NSU = re.compile(r"^nsu=(?P<uri>[^;]+);(?P<rest>[isgb]=.+)$")


def quality(code: ua.StatusCode) -> int:
    if code.is_good():
        return 0
    return 1 if code.is_uncertain() else 2


def resolve(node: str, namespaces: list[str]) -> str:
    """`nsu=URI;s=x` → `ns=<index>;s=x` for this server's current namespace array."""
    m = NSU.match(node)
    if m is None:
        return node
    try:
        idx = namespaces.index(m.group("uri"))
    except ValueError:
        raise LookupError(f"namespace {m.group('uri')!r} is not on the server") from None
    return f"ns={idx};{m.group('rest')}"


class _Handler:
    def __init__(self, driver: OpcUaDriver, by_node: dict[str, OpcUaNode]) -> None:
        self.driver = driver
        self.by_node = by_node

    def datachange_notification(self, node: Any, val: Any, data: Any) -> None:
        target = self.by_node.get(node.nodeid.to_string())
        if target is not None:
            self.driver.queue_value(target, data.monitored_item.Value)


class OpcUaDriver:
    def __init__(self, source: OpcUaSource, config: SiteConfig) -> None:
        self.source = source
        self.config = config
        self.site = config.inventory.site
        self.name = f"opcua:{source.name}"
        self.elements = sorted({n.element for n in source.nodes})
        self._queue: list[Point] = []
        self.sessions_started = 0
        # loaded now, so a wrong path or a key that does not match fails at start
        self._user = (
            load_user_identity(source.user_certificate, source.user_key)
            if source.user_certificate and source.user_key
            else None
        )
        self.trust = (
            ServerTrust(source.name, source.trust_dir, source.cert_dir / "rejected")
            if source.trust_dir
            else None
        )

    def queue_value(self, target: OpcUaNode, dv: ua.DataValue) -> None:
        t = dv.SourceTimestamp or dv.ServerTimestamp
        t_ns = int(t.timestamp() * 1_000_000) * 1000 if t else 0
        q = quality(dv.StatusCode)
        fields: dict[str, float | int] = {"quality": q}
        v = dv.Value.Value if dv.Value is not None else None
        if q < 2 and isinstance(v, int | float):  # bools too: True is 1.0
            fields["value"] = float(v)
        tags = {"site": self.site, "element": target.element, "point": target.point}
        try:
            self._queue.append(Point("telemetry", tags, fields, t_ns))
        except ValueError as e:
            log.warning("%s: %s.%s: unusable value %r: %s", self.name, target.element,
                        target.point, v, e)  # fmt: skip

    async def _flush(self, pipeline: Pipeline) -> None:
        points, self._queue = self._queue, []
        if points:
            pipeline.submit(points)

    async def _client(self) -> Client:
        s = self.source
        client = Client(s.url, timeout=10)
        client.application_uri = f"urn:pilotproof:agent:{self.config.agent.id}"
        if s.security != "None":
            cert, key = make_certificate(
                client.application_uri, "pilotproof-agent", s.cert_dir, client=True
            )
            await client.set_security(
                SecurityPolicyBasic256Sha256,
                certificate=str(cert),
                private_key=CertProperties(str(key), extension="pem"),
                mode=getattr(ua.MessageSecurityMode, s.security),
            )
            client.certificate_validator = self.trust
        if s.auth == "username":
            client.set_user(s.username or "")
            client.set_password(s.password or "")
        elif self._user is not None:  # auth = "certificate"
            client.user_certificate, client.user_private_key = self._user
        return client

    async def _session(
        self, nodes: list[OpcUaNode], pipeline: Pipeline, stop: asyncio.Event
    ) -> None:
        s = self.source
        while not stop.is_set():
            client = await self._client()
            try:
                await client.connect()
                self.sessions_started += 1
                namespaces = await client.get_namespace_array()
                by_node = {resolve(n.node, namespaces): n for n in nodes}
                handler = _Handler(self, {})
                ua_nodes = []
                for nid in by_node:
                    node = client.get_node(nid)
                    handler.by_node[node.nodeid.to_string()] = by_node[nid]
                    ua_nodes.append(node)
                targets = list(by_node.values())
                step = s.nodes_per_subscription
                if s.mode == "subscription":
                    params = ua.CreateSubscriptionParameters(
                        RequestedPublishingInterval=s.sampling_interval_ms,
                        RequestedMaxKeepAliveCount=10,
                        RequestedLifetimeCount=100,
                    )
                    for i in range(0, len(ua_nodes), step):
                        sub = await client.create_subscription(params, handler)
                        await self._monitor(sub, ua_nodes[i : i + step])
                for e in {n.element for n in nodes}:
                    pipeline.reachable(e, True)
                pipeline.connected(self.name, True)
                while not stop.is_set():
                    if s.mode == "poll":  # one Read of every node per interval, in chunks
                        for i in range(0, len(ua_nodes), step):
                            values = await client.read_attributes(ua_nodes[i : i + step])
                            for target, dv in zip(targets[i : i + step], values, strict=True):
                                self.queue_value(target, dv)
                    await self._flush(pipeline)
                    wait = s.sampling_interval_ms / 1000 if s.mode == "poll" else 0.2
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), wait)
                    # a watchdog: a dead session shows here, and we start over
                    await client.check_connection()
            except (OSError, TimeoutError, ua.UaError, LookupError, ConnectionError) as e:
                log.warning("%s: session lost or refused (%s); reconnecting", self.name, e)
            finally:
                await self._flush(pipeline)
                for element in {n.element for n in nodes}:
                    pipeline.reachable(element, False)
                pipeline.connected(self.name, False)
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(client.disconnect(), 2)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), s.reconnect_s)

    async def _monitor(self, sub: Any, nodes: list[Any]) -> None:
        """Monitor `nodes` with the configured deadband (absolute, filtered at the server).

        A server refuses a deadband on a node that is not numeric (a Boolean, a String):
        those nodes are monitored again without one, every change reported, and logged."""
        s = self.source
        if not s.deadband:
            await sub.subscribe_data_change(nodes, queuesize=s.queue_size,
                                            sampling_interval=s.sampling_interval_ms)  # fmt: skip
            return
        deadband = ua.DataChangeFilter()
        deadband.Trigger = ua.DataChangeTrigger.StatusValue
        deadband.DeadbandType = ua.DeadbandType.Absolute
        deadband.DeadbandValue = s.deadband
        # asyncua's public deadband_monitor takes no sampling interval; _subscribe is what
        # both it and subscribe_data_change call
        results = await sub._subscribe(nodes, ua.AttributeIds.Value, deadband,
                                       queuesize=s.queue_size,
                                       sampling_interval=s.sampling_interval_ms)  # fmt: skip
        refused = [n for n, r in zip(nodes, results, strict=True) if isinstance(r, ua.StatusCode)]
        if refused:
            log.warning("%s: the server refused a deadband on %d node(s) (e.g. %s); they "
                        "report every change", self.name, len(refused),
                        refused[0].nodeid.to_string())  # fmt: skip
            await sub.subscribe_data_change(refused, queuesize=s.queue_size,
                                            sampling_interval=s.sampling_interval_ms)  # fmt: skip

    async def run(self, pipeline: Pipeline, stop: asyncio.Event) -> None:
        n = self.source.sessions
        nodes = list(self.source.nodes)
        parts = [nodes[i::n] for i in range(n) if nodes[i::n]]
        await asyncio.gather(*(self._session(p, pipeline, stop) for p in parts))
