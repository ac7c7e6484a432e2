"""The OPC UA input against the simulator's real asyncua server, restart included."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from collectors import Agent, Sources
from collectors.opcua import OpcUaNode, OpcUaSource, load_user_identity
from simulators import FactoryModel, OpcUaSimServer, Scenario, parse_scenario
from telemetry import SqliteStore
from telemetry.pki import make_certificate
from tests.collectors.conftest import running, site_config, wait_for
from tests.simulators.conftest import at
from tests.simulators.test_opcua_server import SECURE

NORMAL = at("2026-10-01T12:00:07")
S = 1_000_000_000
NUMERIC = ["v_int16", "v_uint16", "v_int32", "v_uint32", "v_int64", "v_uint64", "v_float32",
           "v_float64", "v_bool", "faulty"]  # fmt: skip


def source(server: OpcUaSimServer, **kw: object) -> OpcUaSource:
    return OpcUaSource(
        name="ua",
        url=server.url,
        sampling_interval_ms=50,
        reconnect_s=0.5,
        nodes=tuple(
            OpcUaNode(element="ua-types", point=p, node=server.node_id("ua-types", p))
            for p in NUMERIC
        ),
        **kw,  # type: ignore[arg-type]
    )


def agent_on(
    tmp_path: Path, scenario: Scenario, *sources: OpcUaSource
) -> tuple[Agent, SqliteStore]:
    """An agent of the scenario's site reading `sources` into a new SQLite store."""
    store = SqliteStore(tmp_path / "store.db")
    config = site_config(tmp_path, scenario.inventory(), Sources(opcua=sources))
    return Agent(config, store=store), store


async def stored_at(store: SqliteStore, t: int) -> dict[str, dict[str, object]]:
    rows = await store.read("telemetry", t, t + 1, where={"element": "ua-types"})
    return {p.tags["point"]: dict(p.fields) for p in rows}


async def test_values_arrive_with_status_and_resume_after_a_server_restart(
    tmp_path: Path, types_scenario: Scenario
) -> None:
    server = OpcUaSimServer(types_scenario)
    await server.start()
    agent, store = agent_on(tmp_path, types_scenario, source(server))
    model = FactoryModel(types_scenario)
    before = [NORMAL + k * S for k in range(3)]
    after = [NORMAL + 100 * S + k * S for k in range(3)]
    try:
        async with running(agent):
            await wait_for(lambda: agent.metrics.connected.get("opcua:ua") == 1, 30, "connect")
            for t in before:
                await server.update(t)
                await asyncio.sleep(0.4)
            await server.stop()
            await wait_for(lambda: agent.metrics.connected.get("opcua:ua") == 0, 30, "lost")
            # the restarted server numbers its namespaces differently: nsu= still finds them
            server = OpcUaSimServer(types_scenario, port=server.port,
                                    extra_namespaces=("urn:a", "urn:b"))  # fmt: skip
            await server.start()
            await wait_for(lambda: agent.metrics.connected.get("opcua:ua") == 1, 30, "again")
            for t in after:
                await server.update(t)
                await asyncio.sleep(0.4)
    finally:
        await server.stop()
    driver = agent.drivers[0]
    assert getattr(driver, "sessions_started", 0) >= 2
    checked = 0
    for t in before[1:] + after[1:]:  # the first update after a (re)start may equal the
        got = await stored_at(store, t)  # server's initial value and notify nothing
        for p in NUMERIC:
            if p == "faulty":
                continue
            want = model.value("ua-types", p, t)
            prev = model.value("ua-types", p, t - S)
            if want != prev:  # every change is notified, stamped with its source time
                assert got.get(p) == {"value": float(want), "quality": 0}, (t, p, got.get(p))
                checked += 1
    assert checked >= 20
    await store.close()


BAD_STATUS = at("2026-10-02T12:00:00")


async def test_a_bad_status_becomes_bad_quality_and_the_others_flow(
    tmp_path: Path, types_scenario: Scenario
) -> None:
    async with OpcUaSimServer(types_scenario) as server:
        agent, store = agent_on(tmp_path, types_scenario, source(server))
        async with running(agent):
            await wait_for(lambda: agent.metrics.connected.get("opcua:ua") == 1, 30, "connect")
            await server.update(BAD_STATUS)
            await asyncio.sleep(0.6)
    got = await stored_at(store, BAD_STATUS)
    assert got["faulty"] == {"quality": 2}
    assert got["v_float64"]["quality"] == 0
    await store.close()


async def test_sign_and_encrypt_with_a_username(tmp_path: Path) -> None:
    scenario = parse_scenario(SECURE)
    async with OpcUaSimServer(scenario, cert_dir=tmp_path / "server") as server:
        src = OpcUaSource(
            name="ua", url=server.url, security="SignAndEncrypt", auth="username",
            username="operator", password="s3cret-pw", cert_dir=tmp_path / "pki",
            sampling_interval_ms=50,
            nodes=(OpcUaNode(element="m1", point="speed", node=server.node_id("m1", "speed")),),
        )  # fmt: skip
        agent, store = agent_on(tmp_path, scenario, src)
        async with running(agent):
            await server.update(at("2026-10-01T08:00:00"))
            await wait_for(lambda: agent.metrics.points_in >= 1, 30, "a value")
    cert = tmp_path / "pki" / "pilotproof-agent.der"
    assert cert.exists()  # generated once and kept for the next start
    rows = await store.read("telemetry", 0, 2**62, where={"element": "m1"})
    assert rows
    assert {(p.tags["point"], p.fields.get("value"), p.fields["quality"]) for p in rows} == {
        ("speed", 42.0, 0)
    }
    await store.close()


def secure_source(server: OpcUaSimServer, name: str, tmp_path: Path, **kw: object) -> OpcUaSource:
    nodes = (OpcUaNode(element="m1", point="speed", node=server.node_id("m1", "speed")),)
    return OpcUaSource(
        name=name, url=server.url, security="SignAndEncrypt", cert_dir=tmp_path / "pki",
        sampling_interval_ms=50, reconnect_s=0.3, **{"nodes": nodes, **kw},  # type: ignore[arg-type]
    )  # fmt: skip


async def test_a_user_certificate_signs_in_and_an_unknown_one_is_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    users = tmp_path / "users"
    op_cert, op_key = make_certificate("urn:user:operator", "operator", users, client=True)
    other_cert, other_key = make_certificate("urn:user:other", "other", users, client=True)
    async with OpcUaSimServer(parse_scenario(SECURE), cert_dir=tmp_path / "server",
                              user_certificates=(op_cert,)) as server:  # fmt: skip
        sources = (
            secure_source(server, "operator", tmp_path, auth="certificate",
                          user_certificate=op_cert, user_key=op_key),
            secure_source(server, "other", tmp_path, auth="certificate",
                          user_certificate=other_cert, user_key=other_key,
                          nodes=(OpcUaNode(element="m1", point="torque",
                                           node=server.node_id("m1", "torque")),)),
        )  # fmt: skip
        agent, store = agent_on(tmp_path, parse_scenario(SECURE), *sources)
        caplog.set_level(logging.WARNING, logger="pilotproof.opcua")
        async with running(agent):
            await server.update(at("2026-10-01T08:00:00"))
            await wait_for(lambda: agent.metrics.points_in >= 1, 30, "a value")
            await wait_for(
                lambda: "opcua:other" in caplog.text and "auth: the server refused" in caplog.text,
                30, "the unknown user refused",
            )  # fmt: skip
            assert agent.metrics.connected.get("opcua:operator") == 1
        assert "BadUserAccessDenied" in caplog.text
        operator, other = agent.drivers
        assert getattr(operator, "sessions_started", 0) >= 1
        assert getattr(other, "sessions_started", 0) == 0  # never got a session
    rows = await store.read("telemetry", 0, 2**62, where={"element": "m1"})
    assert {(p.tags["point"], p.fields.get("value")) for p in rows} == {("speed", 42.0)}
    await store.close()


def test_a_user_key_that_does_not_match_its_certificate_fails_at_start(tmp_path: Path) -> None:
    cert, _ = make_certificate("urn:user:a", "a", tmp_path, client=True)
    _, key_b = make_certificate("urn:user:b", "b", tmp_path, client=True)
    with pytest.raises(ValueError, match=r"user_key .*b\.pem does not belong to user_certificate"):
        load_user_identity(cert, key_b)
    with pytest.raises(ValueError, match=r"user_certificate .*missing\.der: not a readable"):
        load_user_identity(tmp_path / "missing.der", key_b)


async def test_an_untrusted_server_is_refused_until_its_certificate_is_trusted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The trust list starts empty: the server is refused and its certificate saved to
    pki/rejected; moved into the trust dir, it is accepted at the next attempt, no restart."""
    caplog.set_level(logging.WARNING, logger="pilotproof.opcua")
    trusted = tmp_path / "trusted"
    trusted.mkdir()
    rejected = tmp_path / "pki" / "rejected"
    async with OpcUaSimServer(parse_scenario(SECURE), cert_dir=tmp_path / "server") as server:
        src = secure_source(server, "ua", tmp_path, auth="username", username="operator",
                            password="s3cret-pw", trust_dir=trusted)  # fmt: skip
        agent, store = agent_on(tmp_path, parse_scenario(SECURE), src)
        async with running(agent):
            await server.update(at("2026-10-01T08:00:00"))
            await wait_for(lambda: any(rejected.glob("*.der")), 30, "the certificate rejected")
            assert agent.metrics.points_in == 0
            assert getattr(agent.drivers[0], "sessions_started", 0) == 0
            (saved,) = rejected.glob("*.der")
            assert saved.read_bytes() == server.server_certificate.read_bytes()  # type: ignore[union-attr]
            assert (
                f"is not in the trust list (nor issued by a CA in it) "
                f"(BadCertificateUntrusted); if it is the right server, move {saved} into "
                f"{trusted}" in caplog.text
            )
            saved.rename(trusted / saved.name)
            await wait_for(lambda: agent.metrics.points_in >= 1, 30, "a value once trusted")
    rows = await store.read("telemetry", 0, 2**62, where={"element": "m1"})
    assert {p.fields.get("value") for p in rows} == {42.0}
    await store.close()


async def test_discover_finds_every_variable_by_namespace_uri(types_scenario: Scenario) -> None:
    import tomllib

    from collectors.opcua import OpcUaNode, OpcUaSource, discover, toml_snippet

    async with OpcUaSimServer(types_scenario) as server:
        source = OpcUaSource(name="found", url=server.url,
                             nodes=(OpcUaNode(element="-", point="-", node="i=2258"),))  # fmt: skip
        found = await discover(source)
    by_point = {(f.element, f.point): f.node for f in found}
    for p in [*NUMERIC, "v_string"]:
        assert by_point[("ua-types", p)] == server.node_id("ua-types", p)
    snippet = toml_snippet(source, found)
    assert f'node = "{server.node_id("ua-types", "v_int16")}"' in snippet
    # the snippet is a source the config accepts as it is
    block = tomllib.loads(snippet)["sources"]["opcua"][0]
    assert OpcUaSource.model_validate(block).nodes[0].node == found[0].node


async def test_poll_mode_reads_every_node_each_interval(
    tmp_path: Path, types_scenario: Scenario
) -> None:
    async with OpcUaSimServer(types_scenario) as server:
        src = source(server, mode="poll").model_copy(update={"sampling_interval_ms": 100})
        agent, store = agent_on(tmp_path, types_scenario, src)
        model = FactoryModel(types_scenario)
        driver = agent.drivers[0]
        async with running(agent):
            await server.update(NORMAL)
            polled = getattr(driver, "polls", 0)
            await wait_for(lambda: getattr(driver, "polls", 0) >= polled + 3, 30, "3 reads")
    # an unchanged value read again keeps its source timestamp: one sample, stored once
    got = await stored_at(store, NORMAL)
    for p in NUMERIC:
        if p != "faulty":
            assert got[p] == {"value": float(model.value("ua-types", p, NORMAL)), "quality": 0}
    await store.close()


async def test_a_deadband_is_filtered_at_the_server(
    tmp_path: Path, types_scenario: Scenario
) -> None:
    """Two sources on one server: a huge deadband on v_float64 reports its first value
    only; v_float32 without one reports every update. v_bool cannot take a deadband and
    falls back to every change."""
    server = OpcUaSimServer(types_scenario)
    await server.start()

    def src(name: str, points: list[str], deadband: float) -> OpcUaSource:
        nodes = tuple(OpcUaNode(element="ua-types", point=p, node=server.node_id("ua-types", p))
                      for p in points)  # fmt: skip
        return OpcUaSource(name=name, url=server.url, sampling_interval_ms=50, reconnect_s=0.5,
                           deadband=deadband, nodes=nodes)  # fmt: skip

    both = src("db", ["v_float64", "v_bool"], 1e12), src("all", ["v_float32"], 0)
    agent, store = agent_on(tmp_path, types_scenario, *both)
    updates = [NORMAL + k * S for k in range(1, 6)]
    try:
        await server.update(NORMAL)
        async with running(agent):
            up = agent.metrics.connected
            await wait_for(lambda: up.get("opcua:db") == 1 and up.get("opcua:all") == 1, 30, "up")
            await asyncio.sleep(0.5)
            for t in updates:
                await server.update(t)
                await asyncio.sleep(0.4)
            await wait_for(lambda: agent.metrics.points_out >= agent.metrics.points_in, 30, "out")
        rows = await store.read("telemetry", NORMAL, updates[-1] + 1, where={"element": "ua-types"})
        times: dict[str, set[int]] = {}
        for p in rows:
            times.setdefault(p.tags["point"], set()).add(p.time_ns)
        assert times["v_float32"] >= set(updates)  # every update reported
        assert not times["v_float64"] & set(updates)  # none passed the deadband
        assert len(times["v_float64"]) == 1  # only the value at subscription
        assert "v_bool" in times  # refused the deadband, monitored without it
    finally:
        await store.close()
        await server.stop()
