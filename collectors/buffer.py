"""The durable buffer: accepted points, sealed batches and the chain head, in one SQLite file.

A point is *accepted* once its canonical line is committed here (WAL, synchronous=FULL);
only then does a driver acknowledge it (an MQTT PUBACK, a completed poll). Sealing moves
pending lines into a signed batch in one transaction with the chain head, so a crash
either seals a batch completely or not at all and `seq` never skips. A batch leaves the
buffer only after the store confirmed its lines and its `pp_batch` record.

Accepted lines are kept in chunks, one row per stream of a submission (a poll, a
message, a status instant): one row insert per poll instead of one per value is what
lets the buffer keep up with the protocol libraries (bench/ingest.py).

When the lines it holds reach its size cap the buffer refuses new points with
`BufferFullError` — loudly, never by dropping accepted ones: MQTT messages then wait
unacknowledged (the pipeline retries them as soon as there is room), pollers lose the
round and count it.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from telemetry import Point, encode_lines
from telemetry.errors import PilotproofError
from telemetry.seal import GENESIS, KPI_STREAM, BatchRecord, seal, stream_of

SCHEMA = """
CREATE TABLE IF NOT EXISTS chunk (
    id INTEGER PRIMARY KEY,
    stream TEXT NOT NULL,
    n INTEGER NOT NULL,
    first_ns INTEGER NOT NULL,
    last_ns INTEGER NOT NULL,
    lines BLOB NOT NULL,
    accepted_ns INTEGER
);
CREATE INDEX IF NOT EXISTS chunk_stream ON chunk (stream, id);
CREATE TABLE IF NOT EXISTS batch (
    stream TEXT NOT NULL,
    seq INTEGER NOT NULL,
    record TEXT NOT NULL,
    lines BLOB NOT NULL,
    sealed_ns INTEGER,
    PRIMARY KEY (stream, seq)
);
CREATE TABLE IF NOT EXISTS chain (
    stream TEXT PRIMARY KEY,
    next_seq INTEGER NOT NULL,
    prev TEXT NOT NULL,
    high_water INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS refused (
    id INTEGER PRIMARY KEY,
    stream TEXT NOT NULL,
    seq INTEGER NOT NULL,
    line BLOB NOT NULL,
    reason TEXT NOT NULL,
    at_ns INTEGER NOT NULL
);
"""
# The buffer's logical size — the bytes of its pending and sealed lines — kept exact in the
# same transactions that add and remove them, so the agent and its sealer process (which
# share the file) always agree on it. The file itself is larger (pages, indexes, the WAL)
# and never shrinks while running; the cap is on what the buffer holds.
#
# Chunks and batches are counted by one `UPDATE usage` per transaction (`_grow`, and the
# `length()` sums before a DELETE, which SQLite answers from the row headers). Before 0.5
# row triggers did it: a trigger reads the whole deleted row (`OLD.lines`), and that was
# 0.7 µs of the sealer's ~3 µs per line (bench/e2e.py). The triggers an older buffer still
# has are dropped when it is opened, and every open counts the size afresh (from the row
# headers: cheap), so an agent of an older version that shared the file for a while — an
# upgrade in place, then a crash — leaves no lasting drift. The rare `refused` rows keep
# their triggers.
USAGE = """
DROP TRIGGER IF EXISTS chunk_in;
DROP TRIGGER IF EXISTS chunk_out;
DROP TRIGGER IF EXISTS batch_in;
DROP TRIGGER IF EXISTS batch_out;
CREATE TABLE IF NOT EXISTS usage (id INTEGER PRIMARY KEY CHECK (id = 0), bytes INTEGER NOT NULL);
INSERT OR IGNORE INTO usage (id, bytes) VALUES (0, 0);
UPDATE usage SET bytes =
    (SELECT coalesce(sum(length(lines)), 0) FROM chunk)
    + (SELECT coalesce(sum(length(lines)), 0) FROM batch)
    + (SELECT coalesce(sum(length(line)), 0) FROM refused) WHERE id = 0;
CREATE TRIGGER IF NOT EXISTS refused_in AFTER INSERT ON refused BEGIN
    UPDATE usage SET bytes = bytes + length(NEW.line) WHERE id = 0; END;
CREATE TRIGGER IF NOT EXISTS refused_out AFTER DELETE ON refused BEGIN
    UPDATE usage SET bytes = bytes - length(OLD.line) WHERE id = 0; END;
"""
#: the KPI stream (status, health, role rows: a few per element per minute) may use this
#: much more than the cap, so that a store outage long enough to fill the buffer with raw
#: telemetry still leaves room for the evidence the KPIs are computed from
KPI_HEADROOM = 0.05
_SEAL_LINES = 250_000  # lines sealed per transaction: bounds memory after a long backlog

Chunk = tuple[str, list[str], int, int]
"""Accepted lines of one stream, in order: (stream, canonical lines, first_ns, last_ns)."""


def chunks_of(points: Iterable[Point]) -> list[Chunk]:
    """Points as chunks, one per stream, in their order."""
    by_stream: dict[str, list[Point]] = {}
    for p in points:
        by_stream.setdefault(stream_of(p), []).append(p)
    return [
        (stream, encode_lines(pts), min(p.time_ns for p in pts), max(p.time_ns for p in pts))
        for stream, pts in by_stream.items()
    ]


def _line_time(line: bytes) -> int:
    return int(line[line.rindex(b" ") + 1 :])


class BufferFullError(PilotproofError, RuntimeError):
    """The buffer reached its size cap; nothing was accepted."""

    code = "E_BUFFER_FULL"


class BufferOpenError(PilotproofError, RuntimeError):
    """The buffer file cannot be opened (damaged, not SQLite, not writable)."""

    code = "E_BUFFER_OPEN"


@dataclass(frozen=True)
class Stages:
    """Lines waiting to be sealed (`pending`) and sealed but not yet stored (`sealed`),
    with when the oldest of each was accepted, or sealed (ns since 1970; None: none waits,
    or only rows of a buffer from before 0.4, which did not note it)."""

    pending: int
    sealed: int
    oldest_pending_ns: int | None
    oldest_sealed_ns: int | None


@dataclass(frozen=True)
class SealedBatch:
    record: BatchRecord
    data: bytes  # the canonical lines joined by "\n", as sealed

    @cached_property
    def lines(self) -> list[bytes]:
        return self.data.split(b"\n")


class Buffer:
    """The durable store-and-forward buffer: one SQLite file (WAL, `synchronous=FULL`)
    holding every accepted line until the store confirms it. Points are committed in
    chunks, sealed into batches of the agent's chain, and deleted only once forwarded.

    Args:
        path: the buffer file (created with its folder); the agent and its sealer
            process share it.
        max_bytes: the cap on the bytes of lines it holds; beyond it new points are
            refused (`BufferFullError`), never old ones dropped.

    Raises:
        BufferOpenError: the file cannot be opened or is not a buffer (the message says
            which and what to do).
    """

    def __init__(self, path: Path, max_bytes: int = 1 << 30) -> None:
        self.path = path
        self.max_bytes = max_bytes
        # one connection, used from the event loop and from driver threads: serialise it
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # the agent and its sealer process share the file: wait for each other's commits
            self._db = sqlite3.connect(
                path, check_same_thread=False, isolation_level=None, timeout=60.0
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")  # a commit survives power loss
            # Debian's SQLite zeroes every deleted page (SECURE_DELETE): forwarded lines
            # were written to the WAL once more as zeros, ten times the WAL traffic of
            # sealing, on a gateway's flash. They are in the store; FAST zeroes only what
            # is written anyway.
            self._db.execute("PRAGMA secure_delete=FAST")
            self._db.executescript(SCHEMA)
            columns = {r[1] for r in self._db.execute("PRAGMA table_info(chain)")}
            if "high_water" not in columns:  # a buffer written by an agent before 0.2
                self._db.execute(
                    "ALTER TABLE chain ADD COLUMN high_water INTEGER NOT NULL DEFAULT 0"
                )
            # when a chunk was accepted and a batch sealed (a buffer from before 0.4 has
            # neither: its rows leave them NULL, and count for no stage's lag)
            for table, column in (("chunk", "accepted_ns"), ("batch", "sealed_ns")):
                have = {r[1] for r in self._db.execute(f"PRAGMA table_info({table})")}
                if column not in have:
                    try:
                        self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} INTEGER")
                    except sqlite3.OperationalError as e:  # the sealer process was first
                        if "duplicate column" not in str(e):
                            raise
            self._migrate_pending()  # counted by USAGE, which recounts at every open
            self._db.executescript(f"BEGIN IMMEDIATE; {USAGE} COMMIT;")
        except (sqlite3.DatabaseError, OSError) as e:
            raise BufferOpenError(
                f"buffer {path}: cannot be opened as the agent's buffer ({e}). If the file "
                f"is damaged, move it aside (mv {path} {path}.damaged) — the points it held "
                "that the store does not have are lost, and the agent will then refuse to "
                "start until you begin a new chain with `pilotproof agent run --new-chain`"
            ) from e
        self.rejected_full = 0

    def _migrate_pending(self) -> None:
        """A buffer written before 0.3 keeps accepted lines one row each in `pending`:
        move them, in order, into chunks (one transaction; nothing is lost or resealed)."""
        tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master")}
        if "pending" not in tables:
            return
        with self._write():
            by_stream: dict[str, list[tuple[int, bytes]]] = {}
            for stream, t, line in self._db.execute(
                "SELECT stream, time, line FROM pending ORDER BY id"
            ):
                by_stream.setdefault(stream, []).append((int(t), bytes(line)))
            for stream, rows in sorted(by_stream.items()):
                times = [t for t, _ in rows]
                self._db.execute(
                    "INSERT INTO chunk (stream, n, first_ns, last_ns, lines) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (stream, len(rows), min(times), max(times), b"\n".join(x for _, x in rows)),
                )
            self._db.execute("DROP TABLE pending")

    @contextlib.contextmanager
    def _write(self) -> Iterator[None]:
        """One write transaction: committed at the end of the block unless the block rolled
        it back itself, rolled back if the block raises."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
            if self._db.in_transaction:
                self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:  # SQLite may have rolled back already (disk full)
                self._db.execute("ROLLBACK")
            raise

    def _grow(self, size: int) -> None:
        """Count `size` more bytes of lines (inside the transaction that added them)."""
        self._db.execute("UPDATE usage SET bytes = bytes + ? WHERE id = 0", (size,))

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def size_bytes(self) -> int:
        """The buffer's logical size: bytes of its pending and sealed lines (what the cap
        counts; the file on disk is larger and only grows)."""
        with self._lock:
            return int(self._db.execute("SELECT bytes FROM usage WHERE id = 0").fetchone()[0])

    def file_bytes(self) -> int:
        """The database file and its WAL on disk."""
        total = 0
        for p in (self.path, self.path.with_name(self.path.name + "-wal")):
            with contextlib.suppress(OSError):
                total += p.stat().st_size
        return total

    def accept(self, points: Iterable[Point]) -> int:
        """Commit points durably; returns how many. Raises BufferFullError at the cap."""
        return self.append(chunks_of(points))

    def append(self, chunks: list[Chunk]) -> int:
        """Commit chunks of canonical lines durably, in one transaction; returns the
        number of lines. Raises BufferFullError when they do not fit under the cap
        (nothing is accepted). The check runs inside the write transaction, against the
        exact logical size, so the cap is never passed and space freed by the sealer or
        the forwarder counts at once; the KPI stream alone may use `KPI_HEADROOM` more."""
        now = time.time_ns()
        rows = [
            (stream, len(lines), first, last, "\n".join(lines).encode(), now)
            for stream, lines, first, last in chunks
            if lines
        ]
        if not rows:
            return 0
        n = sum(r[1] for r in rows)
        size = sum(len(r[4]) for r in rows)
        only_kpi = all(r[0] == KPI_STREAM for r in rows)
        cap = int(self.max_bytes * (1 + KPI_HEADROOM)) if only_kpi else self.max_bytes
        with self._lock, self._write():
            used = int(self._db.execute("SELECT bytes FROM usage WHERE id = 0").fetchone()[0])
            full = used + size > cap
            if full:
                self._db.execute("ROLLBACK")
            else:
                self._db.executemany(
                    "INSERT INTO chunk (stream, n, first_ns, last_ns, lines, accepted_ns) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    rows,
                )
                self._grow(size)
        if full:
            self.rejected_full += n
            raise BufferFullError(
                f"buffer {self.path} holds {used:,} bytes of lines, its cap "
                f"(buffer.max_bytes) is {self.max_bytes:,}: the store has been unreachable "
                "too long. New points are refused (not dropped; MQTT leaves them with the "
                "broker). Fix the store, or raise the cap"
            )
        return n

    # --- the chain's epoch (DESIGN.md, "Chain epochs") ---------------------------------

    def epoch(self) -> int | None:
        """The epoch this buffer seals in; None when it has never been given one."""
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = 'epoch'").fetchone()
        return int(row[0]) if row else None

    def set_epoch(self, epoch: int) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO meta (key, value) VALUES ('epoch', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(epoch),),
            )

    def heads(self) -> dict[str, int]:
        """Per stream, the next seq the buffer will seal (empty: it never sealed)."""
        with self._lock:
            return {s: int(n) for s, n in self._db.execute("SELECT stream, next_seq FROM chain")}

    def pending_lines(self) -> int:
        """Lines accepted and not yet sealed, over all streams."""
        with self._lock:
            return int(self._db.execute("SELECT coalesce(sum(n), 0) FROM chunk").fetchone()[0])

    def pending(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT stream, sum(n) FROM chunk GROUP BY stream")
            return {s: int(n) for s, n in rows}

    def seal(self, key: Ed25519PrivateKey, agent: str, max_lines: int = 5000) -> list[BatchRecord]:
        """Seal every pending line, in batches of at most `max_lines` per stream."""
        out = []
        for stream in sorted(self.pending()):
            more = True
            while more:
                sealed, more = self._seal_stream(key, agent, max_lines, stream)
                out += sealed
        return out

    def _seal_stream(
        self, key: Ed25519PrivateKey, agent: str, max_lines: int, stream: str
    ) -> tuple[list[BatchRecord], bool]:
        """Seal the stream's oldest pending chunks (up to `_SEAL_LINES` lines); returns the
        records and whether more wait.

        The hashing and signing happen outside the write lock, so drivers keep committing
        meanwhile (the sealer is another process: the lock is the file's). The write
        transaction then checks that the chain head and the chunks are still what was
        sealed — another sealer (a dying agent's, say) may have got there first — and
        stores batches, head and deletion together, or nothing."""
        with self._lock:
            chunks: list[tuple[int, int, int, int, bytes]] = []
            total, more = 0, False
            for row in self._db.execute(
                "SELECT id, n, first_ns, last_ns, lines FROM chunk WHERE stream = ? ORDER BY id",
                (stream,),
            ):
                if chunks and total + row[1] > _SEAL_LINES:
                    more = True
                    break
                chunks.append(row)
                total += row[1]
            head = self._db.execute(
                "SELECT next_seq, prev, high_water FROM chain WHERE stream = ?", (stream,)
            ).fetchone()
        if not chunks:
            return [], False
        epoch = self.epoch() or 0
        seq0, prev0, high_water = head if head else (0, GENESIS, 0)
        seq, prev = seq0, prev0
        out, rows = [], []
        for lines, first, last in _batches(chunks, max_lines):
            # last_ns is the chain's high-water mark (see telemetry.seal.Sealer)
            high_water = max(int(high_water), last)
            record = seal(key, agent, stream, seq, prev, lines, first, high_water, epoch=epoch)
            rows.append(
                (stream, seq, record.model_dump_json(), zlib.compress(b"\n".join(lines), 1))
            )
            seq, prev = seq + 1, record.digest()
            out.append(record)
        last_id = chunks[-1][0]
        with self._lock, self._write():
            now = self._db.execute(
                "SELECT next_seq, prev FROM chain WHERE stream = ?", (stream,)
            ).fetchone()
            still = self._db.execute(
                "SELECT count(*) FROM chunk WHERE stream = ? AND id <= ?", (stream, last_id)
            ).fetchone()[0]
            if tuple(now or (0, GENESIS)) != (seq0, prev0) or still != len(chunks):
                self._db.execute("ROLLBACK")
                return [], True  # someone else sealed: start again from the new head
            sealed_at = time.time_ns()
            self._db.executemany(
                "INSERT INTO batch (stream, seq, record, lines, sealed_ns) VALUES (?, ?, ?, ?, ?)",
                [(*r, sealed_at) for r in rows],
            )
            self._grow(sum(len(r[3]) for r in rows))
            self._db.execute(
                "INSERT INTO chain (stream, next_seq, prev, high_water) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (stream) DO UPDATE SET "
                "next_seq = excluded.next_seq, prev = excluded.prev, "
                "high_water = excluded.high_water",
                (stream, seq, prev, high_water),
            )
            self._db.execute(
                "UPDATE usage SET bytes = bytes - (SELECT coalesce(sum(length(lines)), 0) "
                "FROM chunk WHERE stream = ? AND id <= ?) WHERE id = 0",
                (stream, last_id),
            )
            self._db.execute("DELETE FROM chunk WHERE stream = ? AND id <= ?", (stream, last_id))
        return out, more

    def unforwarded(self, limit: int = 10) -> list[SealedBatch]:
        """The oldest sealed batches not yet confirmed by the store."""
        with self._lock:
            rows = self._db.execute(
                "SELECT record, lines FROM batch ORDER BY seq, stream LIMIT ?", (limit,)
            ).fetchall()
        return [
            SealedBatch(BatchRecord.model_validate_json(r), zlib.decompress(b)) for r, b in rows
        ]

    def forwarded(self, record: BatchRecord, refused: Iterable[tuple[str, str]] = ()) -> None:
        """The store has the batch: it leaves the buffer. Lines the store refused for good
        (`refused`: line, reason — a field type conflict with rows another writer put
        there) stay, in the `refused` table: counted against the cap, never dropped, for
        an operator to look at (`sqlite3 buffer.db 'select * from refused'`)."""
        self.forwarded_many([(record, refused)])

    def forwarded_many(
        self, batches: Iterable[tuple[BatchRecord, Iterable[tuple[str, str]]]]
    ) -> None:
        """`forwarded` for several batches, in one transaction."""
        now = time.time_ns()
        gone: dict[tuple[str, int], None] = {}  # once each, or it would be counted twice
        rows = []
        for record, refused in batches:
            gone[(record.stream, record.seq)] = None
            rows += [(record.stream, record.seq, line.encode(), reason, now)
                     for line, reason in refused]  # fmt: skip
        with self._lock, self._write():
            if rows:
                self._db.executemany(
                    "INSERT INTO refused (stream, seq, line, reason, at_ns) VALUES (?, ?, ?, ?, ?)",
                    rows,
                )
            self._db.executemany(
                "UPDATE usage SET bytes = bytes - (SELECT coalesce(sum(length(lines)), 0) "
                "FROM batch WHERE stream = ? AND seq = ?) WHERE id = 0",
                list(gone),
            )
            self._db.executemany("DELETE FROM batch WHERE stream = ? AND seq = ?", list(gone))

    def refused(self) -> int:
        """Lines the store refused for good, kept in the buffer."""
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM refused").fetchone()[0])

    def depth(self) -> dict[str, int]:
        """Lines waiting: pending (not sealed) and sealed but not yet in the store."""
        d = self.stages()
        return {"pending": d.pending, "sealed": d.sealed}

    def stages(self) -> Stages:
        """Lines waiting at each stage, and since when the oldest of them has waited."""
        with self._lock:
            pending, oldest_pending = self._db.execute(
                "SELECT coalesce(sum(n), 0), min(accepted_ns) FROM chunk"
            ).fetchone()
            # summed in SQL: after a long store outage there are thousands of records, and
            # this runs at every status instant
            sealed, oldest_sealed = self._db.execute(
                "SELECT coalesce(sum(json_extract(record, '$.n')), 0), min(sealed_ns) FROM batch"
            ).fetchone()
        return Stages(int(pending), int(sealed), oldest_pending, oldest_sealed)

    def chain_head(self, stream: str) -> tuple[int, str]:
        with self._lock:
            head = self._db.execute(
                "SELECT next_seq, prev FROM chain WHERE stream = ?", (stream,)
            ).fetchone()
        return (int(head[0]), str(head[1])) if head else (0, GENESIS)


def _batches(
    chunks: list[tuple[int, int, int, int, bytes]], max_lines: int
) -> list[tuple[list[bytes], int, int]]:
    """Chunks regrouped into batches of at most `max_lines`, in order: (lines, first, last).

    Whole chunks are grouped while they fit, so a batch's first and last times come from
    the chunks; only a chunk larger than a batch is split, reading each line's time."""
    out: list[tuple[list[bytes], int, int]] = []
    lines: list[bytes] = []
    first = last = 0
    for _, n, c_first, c_last, blob in chunks:
        c_lines = bytes(blob).split(b"\n")
        if n > max_lines:
            if lines:
                out.append((lines, first, last))
                lines = []
            for i in range(0, n, max_lines):
                part = c_lines[i : i + max_lines]
                times = [_line_time(x) for x in part]
                out.append((part, min(times), max(times)))
            continue
        if lines and len(lines) + n > max_lines:
            out.append((lines, first, last))
            lines = []
        if lines:
            first, last = min(first, c_first), max(last, c_last)
        else:
            first, last = c_first, c_last
        lines += c_lines
    if lines:
        out.append((lines, first, last))
    return out
