"""The durable buffer: sealing into a verifiable chain, and a loud size cap."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from collectors import Buffer, BufferFullError
from telemetry import Point, encode_line
from telemetry.seal import GENESIS, merkle_root

S = 1_000_000_000


def points(n: int, start: int = 0) -> list[Point]:
    tags = {"site": "s", "element": "e", "point": "p"}
    return [Point("telemetry", tags, {"value": float(i), "quality": 0}, (start + i) * S)
            for i in range(n)]  # fmt: skip


def test_sealed_batches_form_a_chain_that_recomputes(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    buf = Buffer(tmp_path / "b.db")
    buf.accept(points(12))
    buf.accept([Point("element_status", {"site": "s", "element": "e", "kind": "machine",
                                         "link": "5g"}, {"online": True}, 0)])  # fmt: skip
    records = buf.seal(key, "gw", max_lines=5)
    assert [(r.stream, r.seq, r.n) for r in records] == [
        ("kpi", 0, 1), ("telemetry", 0, 5), ("telemetry", 1, 5), ("telemetry", 2, 2)
    ]  # fmt: skip
    assert buf.pending() == {}
    batches = buf.unforwarded(limit=10)
    expected_lines = [encode_line(p).encode() for p in points(12)]
    telemetry = [b for b in batches if b.record.stream == "telemetry"]
    assert [line for b in telemetry for line in b.lines] == expected_lines
    prev = GENESIS
    for b in sorted(telemetry, key=lambda b: b.record.seq):
        assert b.record.prev == prev
        assert b.record.root == merkle_root(b.lines).hex()
        assert b.record.verify(key.public_key())
        prev = b.record.digest()
    # a reopened buffer continues the chain where it stopped
    buf.close()
    again = Buffer(tmp_path / "b.db")
    again.accept(points(1, start=100))
    (nxt,) = again.seal(key, "gw")
    assert (nxt.seq, nxt.prev) == (3, prev)
    for b in again.unforwarded(limit=10):
        again.forwarded(b.record)
    assert again.depth() == {"pending": 0, "sealed": 0}


def test_the_size_cap_refuses_loudly_and_drops_nothing(tmp_path: Path) -> None:
    buf = Buffer(tmp_path / "b.db", max_bytes=1 << 17)
    accepted = 0
    error = None
    for k in range(1000):
        buf._size_checked = 0.0  # measure every time in this test
        try:
            accepted += buf.accept(points(50, start=k * 50))
        except BufferFullError as e:
            error = str(e)
            break
    assert error is not None
    assert "its cap is 131,072" in error
    assert "raise buffer.max_bytes" in error
    assert buf.rejected_full == 50
    assert buf.depth()["pending"] == accepted  # everything accepted is still there
