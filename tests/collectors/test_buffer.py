"""The durable buffer: sealing into a verifiable chain, and a loud size cap."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings, strategies as st

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
    buf = Buffer(tmp_path / "b.db", max_bytes=1 << 20)
    accepted = 0
    error = None
    for k in range(10_000):
        try:
            accepted += buf.accept(points(50, start=k * 50))
        except BufferFullError as e:
            error = str(e)
            break
    assert error is not None
    assert "its cap (buffer.max_bytes) is 1,048,576" in error
    assert "raise the cap" in error
    assert buf.rejected_full == 50
    assert buf.depth()["pending"] == accepted  # everything accepted is still there
    # the cap counts the lines held, exactly: never passed, and not the WAL or free pages
    assert 0.98 * buf.max_bytes < buf.size_bytes() <= buf.max_bytes


def fill(buf: Buffer) -> int:
    """Accept telemetry until the buffer refuses it; returns the submissions accepted."""
    k = 0
    with contextlib.suppress(BufferFullError):
        while k < 100_000:
            buf.accept(points(200, start=k * 200))
            k += 1
    assert k < 100_000, "the buffer never refused"
    return k


def test_accepting_resumes_as_soon_as_the_buffer_drains(tmp_path: Path) -> None:
    """Regression: the cap used to count the file and its WAL, which never shrink while
    the agent runs, so after the store came back and the buffer drained to nothing every
    new point was still refused; and the cap overshot threefold."""
    key = Ed25519PrivateKey.generate()
    buf = Buffer(tmp_path / "b.db", max_bytes=1 << 20)
    k = fill(buf)
    assert buf.size_bytes() <= buf.max_bytes
    file_before = buf.file_bytes()
    for _ in buf.seal(key, "gw", max_lines=5000):
        pass
    for b in buf.unforwarded(limit=10_000):
        buf.forwarded(b.record)
    assert buf.depth() == {"pending": 0, "sealed": 0}
    assert buf.size_bytes() == 0
    assert buf.file_bytes() >= file_before * 0.5  # the file did not shrink …
    assert buf.accept(points(200, start=k * 200)) == 200  # … and yet points are accepted


def test_the_kpi_stream_keeps_a_little_room_when_telemetry_fills_the_buffer(
    tmp_path: Path,
) -> None:
    """A store outage long enough to fill the buffer with raw telemetry still leaves the
    status and health rows the KPIs are computed from a headroom (5 %), and no more."""
    from telemetry import Point

    buf = Buffer(tmp_path / "b.db", max_bytes=1 << 20)
    fill(buf)
    status = [
        Point("element_status", {"site": "s", "element": f"e{i}", "kind": "machine",
                                 "link": "5g"}, {"online": True}, S * i)
        for i in range(100)
    ]  # fmt: skip
    assert buf.accept(status) == 100
    with contextlib.suppress(BufferFullError):
        for _ in range(10_000):
            buf.accept(status)
    assert buf.max_bytes < buf.size_bytes() <= buf.max_bytes * 1.05


def test_a_buffer_from_before_chunks_is_migrated_with_nothing_lost(tmp_path: Path) -> None:
    """A gateway upgraded with lines still pending (one row each, the 0.2 layout) seals
    them, in their order, into the chain it had."""
    import sqlite3

    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE pending (id INTEGER PRIMARY KEY, stream TEXT NOT NULL, "
        "time INTEGER NOT NULL, line BLOB NOT NULL);"
        "CREATE INDEX pending_stream ON pending (stream, id);"
        "CREATE TABLE chain (stream TEXT PRIMARY KEY, next_seq INTEGER NOT NULL, "
        "prev TEXT NOT NULL, high_water INTEGER NOT NULL DEFAULT 0);"
    )
    old = points(7, start=50)
    db.executemany("INSERT INTO pending (stream, time, line) VALUES ('telemetry', ?, ?)",
                   [(p.time_ns, encode_line(p).encode()) for p in old])  # fmt: skip
    db.execute("INSERT INTO chain VALUES ('telemetry', 4, 'ab12', ?)", (49 * S,))
    db.commit()
    db.close()
    key = Ed25519PrivateKey.generate()
    buf = Buffer(path)
    assert buf.depth() == {"pending": 7, "sealed": 0}
    (record,) = buf.seal(key, "gw")
    assert (record.seq, record.prev, record.n) == (4, "ab12", 7)
    assert (record.first_ns, record.last_ns) == (50 * S, 56 * S)
    (batch,) = buf.unforwarded()
    assert batch.lines == [encode_line(p).encode() for p in old]


def test_batches_keep_whole_chunks_and_exact_times(tmp_path: Path) -> None:
    """Chunks are grouped while they fit; a chunk larger than a batch is split; every
    batch's first and last time are its lines' own, and the chain's high water rises."""
    key = Ed25519PrivateKey.generate()
    buf = Buffer(tmp_path / "b.db")
    buf.accept(points(3, start=10))  # times 10..12
    buf.accept(points(3, start=0))  # late: 0..2
    buf.accept(points(9, start=20))  # larger than a batch of 4
    records = buf.seal(key, "gw", max_lines=4)
    assert [r.n for r in records] == [3, 3, 4, 4, 1]
    for b in buf.unforwarded(limit=10):
        times = [int(x.rsplit(b" ", 1)[1]) // S for x in b.lines]
        assert b.record.first_ns // S == min(times)
    assert [(r.first_ns // S, r.last_ns // S) for r in records] == [
        (10, 12), (0, 12), (20, 23), (24, 27), (28, 28)
    ]  # fmt: skip


def test_lines_the_store_refuses_stay_in_the_buffer(tmp_path: Path) -> None:
    """A line the store refuses for good (a field type conflict with rows another writer
    put there) is not dropped with its batch: it is kept in the `refused` table, counted
    against the cap."""
    import asyncio

    from collectors import Forwarder, Metrics
    from telemetry import Point, SqliteStore

    key = Ed25519PrivateKey.generate()
    buf = Buffer(tmp_path / "b.db")
    store = SqliteStore(tmp_path / "store.db")
    tags = {"site": "s", "element": "e", "point": "p"}

    async def go() -> int:
        await store.write([Point("telemetry", tags, {"value": 1, "quality": 0}, 1)])  # an int
        buf.accept([Point("telemetry", tags, {"value": 2.5, "quality": 0}, 2 * S)])
        buf.seal(key, "gw")
        metrics = Metrics("gw")
        n = await Forwarder(buf, store, "s", metrics).forward_available()
        await store.close()
        assert metrics.store_rejected == 1
        return n

    assert asyncio.run(go()) == 1
    assert buf.depth() == {"pending": 0, "sealed": 0}
    assert buf.refused() == 1
    assert buf.size_bytes() > 0  # still held, and counted


def test_a_full_disk_is_survived_and_said(tmp_path: Path) -> None:
    """Regression: a full disk made the agent's status rows raise out of its main loop
    (exit 1, hidden behind "cannot rollback - no transaction is active"), and under
    systemd it never came back. SQLite's page limit gives the same SQLITE_FULL."""
    import sqlite3

    from collectors import Agent, Sources
    from telemetry.timegrid import NS
    from tests.collectors.conftest import site_config
    from tests.collectors.test_resilience import INVENTORY

    config = site_config(tmp_path, INVENTORY, Sources(), status_interval_s=1)
    agent = Agent(config, drivers=[])
    pages = agent.buffer._db.execute("PRAGMA page_count").fetchone()[0]
    agent.buffer._db.execute(f"PRAGMA max_page_count = {pages}")  # the disk is full

    def fill_the_last_free_bytes() -> None:
        for k in range(10_000):
            agent.buffer.accept(points(1, start=k))

    with pytest.raises(sqlite3.OperationalError, match="full"):
        fill_the_last_free_bytes()
    agent.health.reachable("s1", True)
    t0 = 1_790_000_000 * NS
    last = agent._tick(t0 + NS, t0, 0)  # the agent's own rows: refused, survived, counted
    assert agent.metrics.commit_errors == 1
    agent.buffer._db.execute("PRAGMA max_page_count = 1000000")
    agent._tick(t0 + 2 * NS + 1, *last)
    assert agent.buffer.depth()["pending"] > 0  # and once there is room again, it goes on
    agent.buffer.close()


def test_each_stage_says_since_when_its_oldest_line_waits(tmp_path: Path) -> None:
    import time

    key = Ed25519PrivateKey.generate()
    buf = Buffer(tmp_path / "b.db")
    assert buf.stages().oldest_pending_ns is None
    before = time.time_ns()
    buf.accept(points(3))
    buf.accept(points(2, start=10))
    st = buf.stages()
    assert st.pending == 5
    assert st.oldest_pending_ns is not None
    assert before <= st.oldest_pending_ns <= time.time_ns()
    assert st.oldest_sealed_ns is None
    buf.seal(key, "gw")
    st = buf.stages()
    assert (st.pending, st.sealed, st.oldest_pending_ns) == (0, 5, None)
    assert st.oldest_sealed_ns is not None
    assert st.oldest_sealed_ns >= before
    for b in buf.unforwarded(limit=10):
        buf.forwarded(b.record)
    assert buf.stages() == type(st)(0, 0, None, None)


def test_a_buffer_from_before_the_stage_times_opens_and_keeps_its_lines(tmp_path: Path) -> None:
    """A buffer written by an agent before 0.4 (no accepted_ns, sealed_ns): opened, its
    rows kept and sealed as before, and they count for no stage's lag."""
    import sqlite3

    key = Ed25519PrivateKey.generate()
    path = tmp_path / "old.db"
    buf = Buffer(path)
    buf.accept(points(4))
    buf.close()
    db = sqlite3.connect(path)
    for table, column in (("chunk", "accepted_ns"), ("batch", "sealed_ns")):
        db.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    db.commit()
    db.close()
    old = Buffer(path)
    st = old.stages()
    assert (st.pending, st.oldest_pending_ns) == (4, None)
    (record,) = old.seal(key, "gw")
    assert record.n == 4
    old.accept(points(1, start=50))
    assert old.stages().oldest_pending_ns is not None


def _held_bytes(buf: Buffer) -> int:
    """What the cap counts, summed from the tables themselves."""
    import sqlite3

    db = sqlite3.connect(buf.path)
    try:
        return int(db.execute(
            "SELECT (SELECT coalesce(sum(length(lines)), 0) FROM chunk)"
            " + (SELECT coalesce(sum(length(lines)), 0) FROM batch)"
            " + (SELECT coalesce(sum(length(line)), 0) FROM refused)"
        ).fetchone()[0])  # fmt: skip
    finally:
        db.close()


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(st.lists(st.tuples(st.sampled_from(["accept", "seal", "forward"]), st.integers(0, 60),
                          st.lists(st.integers(1, 40), min_size=1, max_size=5)),
                max_size=25))  # fmt: skip
def test_the_size_it_reports_is_what_it_holds_after_any_operations(
    tmp_path_factory: pytest.TempPathFactory, ops: list[tuple[str, int, list[int]]]
) -> None:
    """Chunks and batches are counted by explicit updates in the transactions that add and
    remove them (no row triggers): after any mix of accepting, sealing (any batch size)
    and forwarding with refusals, the reported size is the bytes in the tables."""
    buf = Buffer(tmp_path_factory.mktemp("usage") / "b.db")
    key = Ed25519PrivateKey.generate()
    t = 0
    for op, k, sizes in ops:
        if op == "accept":
            for n in sizes:
                buf.accept(points(n, start=t))
                t += n
        elif op == "seal":
            buf.seal(key, "gw", max_lines=k + 1)
        else:  # of up to 3 batches, the first k had a line refused
            batches = buf.unforwarded(limit=3)
            refused = [[(b.lines[0].decode(), "test")] if i < k else []
                       for i, b in enumerate(batches)]  # fmt: skip
            buf.forwarded_many(zip((b.record for b in batches), refused, strict=True))
        assert buf.size_bytes() == _held_bytes(buf)
    buf.close()


def test_a_buffer_with_the_old_row_triggers_counts_once_after_opening(tmp_path: Path) -> None:
    """A buffer written before 0.5 counted chunks and batches with row triggers; opened by
    this agent they are dropped, so nothing is counted twice, and its size stays exact."""
    import sqlite3

    path = tmp_path / "b.db"
    buf = Buffer(path)
    buf.accept(points(30))
    buf.close()
    db = sqlite3.connect(path)
    db.executescript(  # what 0.4 created
        "CREATE TRIGGER chunk_in AFTER INSERT ON chunk BEGIN UPDATE usage SET bytes = bytes"
        " + length(NEW.lines) WHERE id = 0; END;"
        "CREATE TRIGGER chunk_out AFTER DELETE ON chunk BEGIN UPDATE usage SET bytes = bytes"
        " - length(OLD.lines) WHERE id = 0; END;"
        "CREATE TRIGGER batch_in AFTER INSERT ON batch BEGIN UPDATE usage SET bytes = bytes"
        " + length(NEW.lines) WHERE id = 0; END;"
        "CREATE TRIGGER batch_out AFTER DELETE ON batch BEGIN UPDATE usage SET bytes = bytes"
        " - length(OLD.lines) WHERE id = 0; END;"
    )
    db.close()
    buf = Buffer(path)
    buf.accept(points(20, start=30))
    buf.seal(Ed25519PrivateKey.generate(), "gw", max_lines=7)
    assert buf.size_bytes() == _held_bytes(buf) > 0
    for b in buf.unforwarded(limit=100):
        buf.forwarded(b.record)
    assert buf.size_bytes() == _held_bytes(buf) == 0
