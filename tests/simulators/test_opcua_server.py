"""A real asyncua Client reads what the scenario says: every type, status codes, security."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from asyncua import Client, ua
from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256
from asyncua.crypto.uacrypto import CertProperties

from simulators import FactoryModel, OpcUaSimServer, Scenario, make_certificate, parse_scenario
from tests.simulators.conftest import at

NORMAL = at("2026-10-01T12:00:07")
BAD = at("2026-10-02T12:00:00")
UNCERTAIN = at("2026-10-03T12:00:00")
OFFLINE = at("2026-10-05T12:00:00")
CLIENT_URI = "urn:pilotproof:test-client"


def resolve(node_id: str, namespaces: list[str]) -> ua.NodeId:
    """`nsu=<uri>;s=<id>` → a NodeId with the server's current namespace index."""
    x = ua.NodeId.from_string(node_id)
    assert isinstance(x, ua.ExpandedNodeId)
    assert x.NamespaceUri
    return ua.NodeId(x.Identifier, namespaces.index(x.NamespaceUri), x.NodeIdType)


@pytest.fixture(scope="module")
async def server(types_scenario: Scenario) -> AsyncIterator[OpcUaSimServer]:
    async with OpcUaSimServer(types_scenario, extra_namespaces=("urn:other:vendor",)) as srv:
        yield srv


@pytest.fixture
async def client(server: OpcUaSimServer) -> AsyncIterator[Client]:
    c = Client(server.url, timeout=5)
    async with c:
        yield c


async def read(c: Client, srv: OpcUaSimServer, point: str) -> ua.DataValue:
    ns = await c.get_namespace_array()
    node = c.get_node(resolve(srv.node_id("ua-types", point), ns))
    return await node.read_data_value(raise_on_bad_status=False)


async def test_every_type_reads_back_with_its_variant_type(
    server: OpcUaSimServer, client: Client
) -> None:
    model = FactoryModel(server.scenario)
    want_types = {
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
    for t in (NORMAL, NORMAL + 11 * 10**9):
        await server.update(t)
        for vtype, variant in want_types.items():
            dv = await read(client, server, f"v_{vtype}")
            assert dv.StatusCode.is_good()
            assert dv.Value.VariantType == variant
            assert dv.Value.Value == model.value("ua-types", f"v_{vtype}", t), vtype
            assert int(dv.SourceTimestamp.timestamp()) * 10**9 == t


async def test_status_codes_for_faults_and_offline(server: OpcUaSimServer, client: Client) -> None:
    await server.update(BAD)
    dv = await read(client, server, "faulty")
    assert dv.StatusCode.value == ua.StatusCodes.BadSensorFailure
    assert (await read(client, server, "v_float64")).StatusCode.is_good()  # one bad node only
    await server.update(UNCERTAIN)
    dv = await read(client, server, "faulty")
    assert dv.StatusCode.value == ua.StatusCodes.UncertainLastUsableValue
    assert dv.Value.Value == 5.0
    await server.update(OFFLINE)
    for point in ("faulty", "v_int32", "v_string"):
        assert (
            await read(client, server, point)
        ).StatusCode.value == ua.StatusCodes.BadNotConnected
    await server.update(NORMAL)
    assert (await read(client, server, "faulty")).StatusCode.is_good()


async def test_subscription_sees_bad_status(server: OpcUaSimServer, client: Client) -> None:
    import asyncio

    seen: list[int] = []

    class Handler:
        def datachange_notification(self, node: object, val: object, data: object) -> None:
            seen.append(data.monitored_item.Value.StatusCode.value)  # type: ignore[attr-defined]

    await server.update(NORMAL)
    ns = await client.get_namespace_array()
    sub = await client.create_subscription(20, Handler())
    await sub.subscribe_data_change(
        [client.get_node(resolve(server.node_id("ua-types", "faulty"), ns))]
    )
    await server.update(BAD)
    for _ in range(100):
        if ua.StatusCodes.BadSensorFailure in seen:
            break
        await asyncio.sleep(0.02)
    await sub.delete()
    assert ua.StatusCodes.BadSensorFailure in seen


async def read_int32(srv: OpcUaSimServer) -> tuple[ua.NodeId, object]:
    """Where `v_int32` is at NORMAL (resolved by its namespace URI), and its value."""
    await srv.update(NORMAL)
    async with Client(srv.url, timeout=5) as c:
        ns = await c.get_namespace_array()
        node = resolve(srv.node_id("ua-types", "v_int32"), ns)
        return node, (await c.get_node(node).read_data_value()).Value.Value


async def test_namespace_uri_survives_renumbering(types_scenario: Scenario) -> None:
    """A restarted server registers namespaces in another order; `nsu=` still finds the node."""
    async with OpcUaSimServer(types_scenario) as srv:
        first, v1 = await read_int32(srv)
    renumbered = OpcUaSimServer(types_scenario, port=srv.port, extra_namespaces=("urn:a", "urn:b"))
    async with renumbered as srv2:
        second, v2 = await read_int32(srv2)
    assert second.NamespaceIndex == first.NamespaceIndex + 2
    assert v2 == v1


SECURE = """
name: ua-secure
site: lab
evaluation: {from: "2026-10-01T00:00:00", to: "2026-10-02T00:00:00"}
serving: {opcua_security: sign_and_encrypt, opcua_users: {operator: "s3cret-pw"}}
elements:
  - id: m1
    kind: machine
    link: wired
    protocol: opcua
    points: [{id: speed, type: float64, signal: {mean: 42}},
             {id: torque, type: float64, signal: {mean: 7}}]
"""


async def test_sign_and_encrypt_with_username(tmp_path: Path) -> None:
    scenario = parse_scenario(SECURE)
    async with OpcUaSimServer(scenario, cert_dir=tmp_path / "server") as srv:
        await srv.update(NORMAL)
        cert, key = make_certificate(CLIENT_URI, "client", tmp_path / "client", client=True)

        async def connect(user: str, password: str) -> float:
            c = Client(srv.url, timeout=5)
            c.application_uri = CLIENT_URI
            await c.set_security(
                SecurityPolicyBasic256Sha256,
                certificate=str(cert),
                private_key=CertProperties(str(key), extension="pem"),
                server_certificate=str(srv.server_certificate),
                mode=ua.MessageSecurityMode.SignAndEncrypt,
            )
            c.set_user(user)
            c.set_password(password)
            async with c:
                ns = await c.get_namespace_array()
                node = c.get_node(resolve(srv.node_id("m1", "speed"), ns))
                return float((await node.read_data_value()).Value.Value)

        assert await connect("operator", "s3cret-pw") == 42.0
        with pytest.raises(ua.uaerrors.BadUserAccessDenied):
            await connect("operator", "wrong")
        plain = Client(srv.url, timeout=5)
        with pytest.raises(ua.UaError):
            async with plain:
                pass
