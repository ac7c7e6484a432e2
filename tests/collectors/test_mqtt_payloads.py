"""Malformed MQTT payloads are counted with a reason and never stall the input."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collectors import Agent, Samples
from collectors.config import MqttSubscription
from collectors.mqtt import PayloadError, PayloadParser
from telemetry import SqliteStore, encode_line
from telemetry.localserver import LocalMosquitto
from tests.collectors.conftest import running, site_config, wait_for
from tests.collectors.test_resilience import INVENTORY, TOPIC, Publisher, sources

REASONS = {"not_utf8", "not_json", "too_large", "bad_shape", "bad_value", "bad_time"}
PARSER = PayloadParser(MqttSubscription(topic="factory/{site}/{element}/telemetry"), INVENTORY)
VALID = json.dumps({"ts": 1_790_000_000_000, "values": {"t": 1.5, "h": 2}, "quality": {"h": 1}})

junk_value = st.one_of(st.text(max_size=5), st.lists(st.integers(), max_size=2),
                       st.dictionaries(st.text(max_size=2), st.integers(), max_size=1))  # fmt: skip
malformed = st.one_of(
    # truncated JSON: every proper prefix of an object is invalid
    st.integers(0, len(VALID) - 1).map(lambda n: VALID[:n].encode()),
    # wrong types where numbers, objects or a time belong
    junk_value.map(lambda v: json.dumps({"ts": 1_790_000_000_000, "values": {"t": v}}).encode()),
    junk_value.map(lambda v: json.dumps({"ts": v, "values": {"t": 1.0}}).encode()),
    st.one_of(st.text(max_size=5), st.lists(st.integers(), max_size=2)).map(
        lambda v: json.dumps({"ts": 1, "values": v}).encode()
    ),
    st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999"]).map(
        lambda x: f'{{"ts": 1790000000000, "values": {{"t": {x}}}}}'.encode()
    ),
    st.integers(1 << 20, (1 << 20) + 100).map(lambda n: b"[" + b"1," * (n // 2) + b"1]"),
    st.binary(min_size=1, max_size=64).filter(lambda b: not b.strip().startswith(b"{")),
    st.binary(min_size=1, max_size=32).map(lambda b: b"\xff\xfe" + b),  # invalid UTF-8
    st.sampled_from([b"[]", b"1", b'"x"', b"null", b"{}", b'{"values": {}}']),
)


@settings(max_examples=10_000, deadline=None, suppress_health_check=list(HealthCheck))
@given(payload=malformed)
def test_every_malformed_payload_is_rejected_with_a_reason(payload: bytes) -> None:
    with pytest.raises(PayloadError) as err:
        PARSER.parse("factory/lab/s1/telemetry", payload)
    assert err.value.reason in REASONS, err.value


def test_a_valid_payload_gives_one_point_per_value() -> None:
    samples = PARSER.parse("factory/lab/s1/telemetry", VALID.encode())
    assert isinstance(samples, Samples)
    assert samples.lines == [encode_line(p) for p in samples.points()]
    points = samples.points()
    assert {(p.tags["point"], p.fields["value"], p.fields["quality"]) for p in points} == {
        ("t", 1.5, 0),
        ("h", 2.0, 1),
    }


def test_a_quality_must_be_an_integer_code() -> None:
    """1.0 equals 1 in Python, but stored it would be a float field beside integer ones."""
    body = json.dumps({"ts": 1, "values": {"t": 1.5}, "quality": {"t": 1.0}}).encode()
    with pytest.raises(PayloadError) as err:
        PARSER.parse("factory/lab/s1/telemetry", body)
    assert err.value.reason == "bad_value"


def draw_malformed(rng: random.Random) -> bytes:
    """Deterministic samples of the same kinds, for the run through the broker."""
    return rng.choice([
        lambda: VALID[: rng.randrange(len(VALID))].encode(),
        lambda: json.dumps({"ts": 1, "values": {"t": "warm"}}).encode(),
        lambda: b'{"ts": 1, "values": {"t": NaN}}',
        lambda: b"\xff\xfe\x00garbage",
        lambda: bytes(rng.randrange(256) for _ in range(20)).replace(b"{", b"("),
        lambda: b"[" + b"1," * (1 << 19) + b"1]",
    ])()  # fmt: skip


async def test_ten_thousand_malformed_payloads_are_counted_and_the_rest_flows(
    tmp_path: Path, mosquitto: LocalMosquitto
) -> None:
    store = SqliteStore(tmp_path / "store.db")
    agent = Agent(site_config(tmp_path, INVENTORY, sources(mosquitto.url, "pp-malformed")),
                  store=store)  # fmt: skip
    rng = random.Random(7)
    pub = Publisher(mosquitto.url)
    bad = 10_000
    try:
        async with running(agent):
            await wait_for(lambda: agent.metrics.connected.get("mqtt:mqtt") == 1)
            infos = []
            for i in range(bad):
                infos.append(pub.client.publish(TOPIC, draw_malformed(rng), qos=1))
                if i % 50 == 0:
                    pub.publish(1)  # valid samples in between
            for info in infos:
                info.wait_for_publish(timeout=60)
            await wait_for(lambda: agent.metrics.parse_errors >= bad, 120, "all rejected")
            await wait_for(lambda: agent.metrics.points_in >= pub.sent, 60, "valid ones")
        m = agent.metrics
        assert m.parse_errors == bad
        assert sum(m.errors_by_reason.values()) == bad
        assert set(m.errors_by_reason) <= REASONS
        assert len(m.errors_by_reason) >= 4
        rows = await store.read("telemetry", 0, 2**62)
        assert len(rows) == pub.sent
        assert "pilotproof_parse_errors_total" in m.prometheus()
    finally:
        pub.close()
        await store.close()
