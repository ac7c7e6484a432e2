"""Payloads of every shape a broker can deliver, from a seed: arbitrary bytes, arbitrary JSON,
and valid messages broken in one place (a type swapped, a number past every range, a key
gone, nesting a parser recurses into). The field suite publishes thousands of them at a
running agent; the parser's property tests (tests/collectors/test_mqtt_payloads.py) cover
the same space with hypothesis.
"""

from __future__ import annotations

import json
import random
from typing import Any

KEYS = ["ts", "values", "quality", "element", "link", "online", "rsrp", "sinr", "node",
        "enterprise", "resolutions", "registrations", "speed", "t", "", "💥",
        "a\u0000b"]  # fmt: skip
LINKS = ["5g", "wifi", "wired", "lora", "nb-iot", "fieldbus", "wireless-other"]


def _number(rng: random.Random) -> Any:
    return rng.choice([
        0, -1, 1.5, -0.0, 2**53 + 1, 2**63, -(2**63) - 1, 10**400, -(10**30), 1e308, 5e-324,
        rng.uniform(-1e12, 1e12), rng.randint(-(2**70), 2**70), True, False,
    ])  # fmt: skip


def _text(rng: random.Random) -> str:
    alphabet = "abcXYZ09 _-./\\\"'{}[],=\n\r\t\u0000\u00e9\u4e2d\u6587\ud7ff\U0001f4a5"
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 24)))


def json_value(rng: random.Random, depth: int = 0) -> Any:
    """Any JSON value, nested up to a few levels (deeper ones are made separately)."""
    kind = rng.randint(0, 7 if depth < 4 else 3)
    if kind == 0:
        return None
    if kind == 1:
        return _number(rng)
    if kind == 2:
        return _text(rng)
    if kind == 3:
        return rng.choice([True, False])
    if kind in (4, 5):
        return {rng.choice([*KEYS, _text(rng)]): json_value(rng, depth + 1)
                for _ in range(rng.randint(0, 6))}  # fmt: skip
    return [json_value(rng, depth + 1) for _ in range(rng.randint(0, 6))]


def _valid(rng: random.Random, fmt: str) -> dict[str, Any]:
    ts = rng.randint(1_700_000_000_000, 1_800_000_000_000)
    if fmt == "telemetry":
        return {"ts": ts, "values": {"speed": rng.uniform(0, 5), "t": 1}, "quality": {"t": 0}}
    if fmt == "status":
        return {"ts": ts, "element": "agv-01", "link": rng.choice(LINKS), "online": True,
                "rsrp": -90.5, "sinr": 12}  # fmt: skip
    return {"ts": ts, "node": "idnode-1", "enterprise": "ent-1", "resolutions": 10,
            "registrations": 2}  # fmt: skip


def broken(rng: random.Random, fmt: str) -> dict[str, Any]:
    """A valid message of `fmt` with one thing wrong (or, by chance, still right)."""
    body = _valid(rng, fmt)
    target: dict[str, Any] = body
    if fmt == "telemetry" and rng.random() < 0.5:
        target = body["values"] if rng.random() < 0.7 else body["quality"]
    key = rng.choice([*target, *KEYS[:3]])
    action = rng.randint(0, 2)
    if action == 0:
        target.pop(key, None)
    else:
        target[key] = json_value(rng) if action == 1 else _number(rng)
    return body


def payload(rng: random.Random, fmt: str) -> bytes:
    """One payload for a subscription of `fmt` (telemetry, status, identifier, line)."""
    roll = rng.random()
    if roll < 0.15:
        return rng.randbytes(rng.randint(0, 300))
    if roll < 0.2:
        depth = rng.randint(50, 20_000)  # recursion: a parser must refuse, not overflow
        return (b"[" * depth + b"]" * depth) if rng.random() < 0.5 else b'{"a":' * depth
    if roll < 0.22:
        return b"9" * rng.randint(4_000, 5_000)  # past Python's int-string limit
    if roll < 0.23:
        return b'{"ts": 1, "values": {"x": 1}, "pad": "' + b"x" * (1 << 20) + b'"}'  # > 1 MiB
    if fmt == "line":
        ts = str(rng.randint(1_700_000_000, 1_800_000_000) * 10**9).encode()
        line = rng.choice([
            b"telemetry,element=s1,point=p value=1,quality=0i " + ts,
            b"pp_batch,agent=gw-field,stream=kpi seq=0i,n=1i 0",  # evidence: never accepted
            b"point_health,element=x,point=y expected=1i,received=1i,good=1i " + ts,
            b"weird measurement=\"x\" " + ts,
        ])  # fmt: skip
        if rng.random() < 0.7:
            cut = rng.randint(0, len(line))
            line = line[:cut] + rng.randbytes(rng.randint(0, 8)) + line[cut:]
        return line
    if roll < 0.6:
        return json.dumps(json_value(rng), ensure_ascii=rng.random() < 0.5).encode(
            "utf-8", "surrogatepass"
        )
    return json.dumps(broken(rng, fmt)).encode()
