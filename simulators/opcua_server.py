"""An OPC UA server (asyncua) playing a scenario's OPC UA elements.

Address space: under Objects, one object per element (`ns=<site namespace>;s=<element>`)
with one variable per point (`s=<element>.<point>`), in the namespace
`urn:pilotproof:sim:<site>` — clients should address nodes as `nsu=<uri>;s=...`, which
survives a restart that renumbers namespaces (`extra_namespaces` simulates that).

Status codes: an offline element's variables are `BadNotConnected`; a point in a `bad`
fault is `BadSensorFailure` (asyncua drops the value of a Bad write), an `uncertain`
one `UncertainLastUsableValue` with its value. Source timestamps are the sample instants.

Security: `serving.opcua_security` sign / sign_and_encrypt offers Basic256Sha256 only,
with a certificate generated into `cert_dir`, and `serving.opcua_users` as the only
accepted username/password pairs; `user_certificates` are the only user certificates
accepted (X509 identity tokens, each user named after its file).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from asyncua import Server, ua
from asyncua.crypto.permission_rules import User, UserRole
from asyncua.server.user_managers import UserManager
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from simulators.behaviour import FactoryModel
from simulators.intervals import NS
from simulators.scenario import Scenario
from simulators.serving import SimServer
from telemetry.pki import make_certificate

VARIANT_TYPES: dict[str, ua.VariantType] = {
    "bool": ua.VariantType.Boolean,
    "int16": ua.VariantType.Int16,
    "uint16": ua.VariantType.UInt16,
    "int32": ua.VariantType.Int32,
    "uint32": ua.VariantType.UInt32,
    "int64": ua.VariantType.Int64,
    "uint64": ua.VariantType.UInt64,
    "float32": ua.VariantType.Float,
    "float64": ua.VariantType.Double,
    "string": ua.VariantType.String,
}
STATUS_OFFLINE = ua.StatusCodes.BadNotConnected
STATUS_BAD = ua.StatusCodes.BadSensorFailure
STATUS_UNCERTAIN = ua.StatusCodes.UncertainLastUsableValue
SERVER_URI = "urn:pilotproof:simulator"


def namespace_uri(site: str) -> str:
    return f"urn:pilotproof:sim:{site}"


class _Users(UserManager):  # type: ignore[misc]
    def __init__(self, users: dict[str, str], certificates: dict[bytes, str]) -> None:
        self.users = users
        self.certificates = certificates  # DER → user name

    def get_user(
        self,
        iserver: Any,
        username: str | None = None,
        password: str | None = None,
        certificate: Any = None,
    ) -> User | None:
        if username is not None and self.users.get(username) == password:
            return User(role=UserRole.User, name=username)
        # asyncua has checked the token's signature against this certificate already
        if certificate is not None and certificate in self.certificates:
            return User(role=UserRole.User, name=self.certificates[certificate])
        return None


def _der(path: Path) -> bytes:
    raw = path.read_bytes()
    if raw.lstrip().startswith(b"-----BEGIN"):
        return x509.load_pem_x509_certificate(raw).public_bytes(Encoding.DER)
    return raw


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class OpcUaSimServer(SimServer):
    """Serves the scenario's OPC UA elements; `update(t_ns)` moves every value to instant `t`."""

    def __init__(
        self,
        scenario: Scenario,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        cert_dir: Path | None = None,
        extra_namespaces: tuple[str, ...] = (),
        user_certificates: tuple[Path, ...] = (),
    ) -> None:
        self.scenario = scenario
        self.model = FactoryModel(scenario)
        self.host = host
        self.port = port or free_port(host)
        self.cert_dir = cert_dir
        self.extra_namespaces = extra_namespaces
        self.user_certificates = user_certificates
        self.namespace = namespace_uri(scenario.site)
        self._server: Server | None = None
        self._nodes: dict[tuple[str, str], tuple[ua.NodeId, ua.VariantType]] = {}
        self.elements = [e for e in scenario.expanded_elements() if e.protocol == "opcua"]
        if not self.elements:
            raise ValueError(f"scenario {scenario.name!r} has no OPC UA elements to serve")

    @property
    def url(self) -> str:
        return f"opc.tcp://{self.host}:{self.port}/pilotproof/"

    @property
    def server_certificate(self) -> Path | None:
        return None if self.cert_dir is None else self.cert_dir / "simulator.der"

    async def start(self) -> None:
        logging.getLogger("asyncua").setLevel(logging.ERROR)  # a simulator's chatter
        serving = self.scenario.serving
        certs = {_der(p): p.stem for p in self.user_certificates}
        users = _Users(serving.opcua_users, certs) if serving.opcua_users or certs else None
        server = Server(user_manager=users) if users else Server()
        await server.init()
        server.set_endpoint(self.url)
        server.set_server_name(f"pilotproof simulator — {self.scenario.name}")
        await server.set_application_uri(SERVER_URI)
        server.disable_clock()  # its 1 s clock task makes stop() slow, and nothing needs it
        if serving.opcua_security != "none":
            if self.cert_dir is None:
                raise ValueError("OPC UA security needs a cert_dir for the server certificate")
            cert, key = make_certificate(SERVER_URI, "simulator", self.cert_dir)
            await server.load_certificate(str(cert))
            await server.load_private_key(key.read_bytes(), format="pem")
            policy = {
                "sign": [ua.SecurityPolicyType.Basic256Sha256_Sign],
                "sign_and_encrypt": [ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt],
            }[serving.opcua_security]
            server.set_security_policy(policy)
        tokens = [ua.UserNameIdentityToken] if serving.opcua_users else []
        tokens += [ua.X509IdentityToken] if certs else []
        if tokens:
            server.set_identity_tokens(tokens)
        for uri in self.extra_namespaces:
            await server.register_namespace(uri)
        idx = await server.register_namespace(self.namespace)
        objects = server.nodes.objects
        for e in self.elements:
            obj = await objects.add_object(ua.NodeId(e.id, idx), ua.QualifiedName(e.id, idx))
            for p in e.points:
                if p.collection == "manual":
                    continue
                vtype = VARIANT_TYPES[p.type]
                initial = {"string": "", "bool": False}.get(p.type, 0.0 if "float" in p.type else 0)
                node = await obj.add_variable(
                    ua.NodeId(f"{e.id}.{p.id}", idx),
                    ua.QualifiedName(p.id, idx),
                    ua.Variant(initial, vtype),
                )
                self._nodes[(e.id, p.id)] = (node.nodeid, vtype)
        await server.start()
        self._server = server

    async def stop(self) -> None:
        if self._server is None:
            return
        server, self._server = self._server, None
        stopping = asyncio.ensure_future(server.stop())
        # a client that reconnects while the server is closing (an agent notices a lost
        # server within a fraction of a second) holds a connection asyncio then waits for
        # without end: cut such connections until the server is down
        while not stopping.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(stopping), 2)
            for transport in list(getattr(server.iserver, "asyncio_transports", ())):
                transport.abort()
        stopping.result()

    def node_id(self, element: str, point: str) -> str:
        """The node id a client should use: `nsu=<uri>;s=<element>.<point>`."""
        return f"nsu={self.namespace};s={element}.{point}"

    def expected(self, element: str, point: str, t_ns: int) -> tuple[Any, int]:
        """(value, status code) a client should read after `update(t_ns)`."""
        m = self.model
        if not m.is_online(element, t_ns):
            return None, STATUS_OFFLINE
        q = m.quality(element, point, t_ns)
        if q == 2:
            return None, STATUS_BAD
        value = m.value(element, point, t_ns)
        return value, STATUS_UNCERTAIN if q == 1 else ua.StatusCodes.Good

    async def update(self, t_ns: int) -> None:
        assert self._server is not None, "start() the server first"
        ts = datetime.fromtimestamp(t_ns // NS, UTC)
        now = datetime.now(UTC)
        for (eid, pid), (nodeid, vtype) in self._nodes.items():
            value, status = self.expected(eid, pid, t_ns)
            if value is None:
                value = self.model.value(eid, pid, t_ns)  # the server drops it for Bad anyway
            dv = ua.DataValue(
                ua.Variant(value, vtype),
                StatusCode_=ua.StatusCode(status),
                SourceTimestamp=ts,
                ServerTimestamp=now,
            )
            await self._server.write_attribute_value(nodeid, dv)
