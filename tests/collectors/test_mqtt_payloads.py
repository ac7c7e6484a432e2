"""Malformed MQTT payloads are counted with a reason and never stall the input."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from collectors import Agent, Samples
from collectors.mqtt import MqttSubscription, PayloadError, PayloadParser
from telemetry import SqliteStore, decode_lines, encode_line
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


# --- any payload at all, for every format -------------------------------------------------

ALL_REASONS = REASONS | {"bad_topic", "bad_line", "bad_measurement"}
KEYS = ["ts", "values", "quality", "element", "link", "online", "rsrp", "sinr", "node",
        "enterprise", "resolutions", "registrations", "t", "h"]  # fmt: skip
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(),  # NaN and the infinities included
    st.text(),
    st.sampled_from(["5g", "wifi", "wired", "lora"]),
)
any_json = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=4)), inner, max_size=6),
    ),
    max_leaves=25,
)
any_payload = st.one_of(
    st.binary(max_size=300),
    any_json.map(lambda v: json.dumps(v).encode()),  # allow_nan: NaN, Infinity appear
    st.dictionaries(st.sampled_from(KEYS), any_json, max_size=8).map(
        lambda v: json.dumps(v, ensure_ascii=False).encode("utf-8", "surrogatepass")
    ),
    st.text().map(str.encode),
)
PARSERS = {
    fmt: PayloadParser(MqttSubscription(topic=topic, format=fmt), INVENTORY)  # type: ignore[arg-type]
    for fmt, topic in [
        ("telemetry", "factory/{site}/{element}/telemetry"),
        ("status", "nms/{site}/{element}/status"),
        ("identifier", "idnode/{node}/stats"),
        ("line", "raw/{element}/lp"),
    ]
}
TOPICS = {"telemetry": "factory/lab/s1/telemetry", "status": "nms/lab/s1/status",
          "identifier": "idnode/n1/stats", "line": "raw/s1/lp"}  # fmt: skip


@settings(max_examples=4000, deadline=None, suppress_health_check=list(HealthCheck))
@given(fmt=st.sampled_from(sorted(PARSERS)), payload=any_payload)
def test_any_payload_gives_points_or_a_rejection_never_anything_else(
    fmt: str, payload: bytes
) -> None:
    """Regression: a 400-digit number, or `"link": ["5g"]`, raised OverflowError or
    TypeError inside paho's thread and stopped MQTT ingestion for good. Whatever the
    bytes, the parser returns points whose lines are canonical line protocol of this site,
    or raises its own PayloadError with a documented reason."""
    try:
        got = PARSERS[fmt].parse(TOPICS[fmt], payload)
    except PayloadError as e:
        reason = e.reason
    else:
        reason = ""
    if reason:
        assert reason in ALL_REASONS, reason
        return
    lines = got.lines if isinstance(got, Samples) else [encode_line(p) for p in got]
    assert lines, "an accepted payload carries at least one sample"
    for point, line in zip(decode_lines(lines), lines, strict=True):
        assert encode_line(point) == line  # canonical: what is sealed is what is stored
        assert point.tags["site"] == INVENTORY.site
        assert point.measurement in {"telemetry", "element_status", "identifier", "production",
                                     "control_loop"}  # fmt: skip


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
    body = json.dumps({"ts": 1_790_000_000_000, "values": {"t": 1.5}, "quality": {"t": 1.0}})
    body = body.encode()
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


# --- the data contract holds for line protocol; the site and the time are checked -------

LINE = PARSERS["line"]


def test_line_protocol_is_held_to_the_contract() -> None:
    """Regression: `value=7i` fixed the field as an integer in InfluxDB's shard, and every
    float sample after it was refused by the store (and lost)."""
    (p,) = LINE.parse("raw/s1/lp", b"telemetry,element=s1,point=t value=7i 1790000000000000000")
    assert p.fields == {"value": 7.0, "quality": 0}
    for bad, reason in [
        (b"element_status,element=s1,kind=sensor,link=5g online=1i 1", "bad_value"),
        (b"telemetry,element=s1,point=t value=1,extra=2 1", "bad_shape"),
        (b"telemetry,point=t value=1 1", "bad_shape"),
        (b"telemetry,element=s1,point=t,color=red value=1 1", "bad_shape"),
        (b"element_status,element=s1,kind=sensor,link=6g online=true 1", "bad_value"),
        (b"point_health,element=s1,point=t expected=1i,received=1i,good=1i 1", "bad_measurement"),
        (b"pp_batch,agent=gw,stream=kpi seq=0i,n=1i 0", "bad_measurement"),
    ]:
        with pytest.raises(PayloadError) as e:
            LINE.parse("raw/s1/lp", bad)
        assert e.value.reason == reason, (bad, e.value)


def test_another_sites_message_is_refused_and_not_asked_for() -> None:
    from collectors.mqtt import subscription_filter

    assert subscription_filter("factory/{site}/{element}/telemetry", "lab") == (
        "factory/lab/+/telemetry"
    )
    body = json.dumps({"ts": 1_790_000_000_000, "values": {"t": 1.0}}).encode()
    with pytest.raises(PayloadError, match="not this agent's site 'lab'"):
        PARSER.parse("factory/OTHER-plant/s1/telemetry", body)


def test_seconds_sent_to_a_milliseconds_subscription_are_refused() -> None:
    body = json.dumps({"ts": 1_790_000_000, "values": {"t": 1.0}}).encode()  # seconds
    with pytest.raises(PayloadError, match="before 2000: is the subscription's time_unit"):
        PARSER.parse("factory/lab/s1/telemetry", body)
