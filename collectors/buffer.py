"""The durable buffer: accepted points, sealed batches and the chain head, in one SQLite file.

A point is *accepted* once its canonical line is committed here (WAL, synchronous=FULL);
only then does a driver acknowledge it (an MQTT PUBACK, a completed poll). Sealing moves
pending lines into a signed batch in one transaction with the chain head, so a crash
either seals a batch completely or not at all and `seq` never skips. A batch leaves the
buffer only after the store confirmed its lines and its `pp_batch` record.

Accepted lines are kept in chunks, one row per stream of a submission (a poll, a
message, a status instant): one row insert per poll instead of one per value is what
lets the buffer keep up with the protocol libraries (bench/ingest.py).

When the file reaches its size cap the buffer refuses new points with `BufferFullError`
— loudly, never by dropping: MQTT then leaves messages with the broker, pollers skip a
round and count it.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from telemetry import Point, encode_lines
from telemetry.seal import GENESIS, BatchRecord, seal, stream_of

SCHEMA = """
CREATE TABLE IF NOT EXISTS chunk (
    id INTEGER PRIMARY KEY,
    stream TEXT NOT NULL,
    n INTEGER NOT NULL,
    first_ns INTEGER NOT NULL,
    last_ns INTEGER NOT NULL,
    lines BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS chunk_stream ON chunk (stream, id);
CREATE TABLE IF NOT EXISTS batch (
    stream TEXT NOT NULL,
    seq INTEGER NOT NULL,
    record TEXT NOT NULL,
    lines BLOB NOT NULL,
    PRIMARY KEY (stream, seq)
);
CREATE TABLE IF NOT EXISTS chain (
    stream TEXT PRIMARY KEY,
    next_seq INTEGER NOT NULL,
    prev TEXT NOT NULL,
    high_water INTEGER NOT NULL DEFAULT 0
);
"""
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


class BufferFullError(RuntimeError):
    """The buffer reached its size cap; nothing was accepted."""


@dataclass(frozen=True)
class SealedBatch:
    record: BatchRecord
    data: bytes  # the canonical lines joined by "\n", as sealed

    @cached_property
    def lines(self) -> list[bytes]:
        return self.data.split(b"\n")


class Buffer:
    def __init__(self, path: Path, max_bytes: int = 1 << 30) -> None:
        self.path = path
        self.max_bytes = max_bytes
        path.parent.mkdir(parents=True, exist_ok=True)
        # one connection, used from the event loop and from driver threads: serialise it
        self._lock = threading.Lock()
        # the agent and its sealer process share the file: wait for each other's commits
        self._db = sqlite3.connect(
            path, check_same_thread=False, isolation_level=None, timeout=60.0
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # a commit survives power loss
        self._db.executescript(SCHEMA)
        columns = {r[1] for r in self._db.execute("PRAGMA table_info(chain)")}
        if "high_water" not in columns:  # a buffer written by an agent before 0.2
            self._db.execute("ALTER TABLE chain ADD COLUMN high_water INTEGER NOT NULL DEFAULT 0")
        self._migrate_pending()
        self.rejected_full = 0
        self._size = 0
        self._size_checked = 0.0

    def _migrate_pending(self) -> None:
        """A buffer written before 0.3 keeps accepted lines one row each in `pending`:
        move them, in order, into chunks (one transaction; nothing is lost or resealed)."""
        tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master")}
        if "pending" not in tables:
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
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
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def size_bytes(self) -> int:
        with self._lock:
            pages = self._db.execute("PRAGMA page_count").fetchone()[0]
            size = self._db.execute("PRAGMA page_size").fetchone()[0]
            free = self._db.execute("PRAGMA freelist_count").fetchone()[0]
        wal = self.path.with_name(self.path.name + "-wal")
        wal_size = wal.stat().st_size if wal.exists() else 0
        return int((pages - free) * size) + wal_size

    def accept(self, points: Iterable[Point]) -> int:
        """Commit points durably; returns how many. Raises BufferFullError at the cap."""
        return self.append(chunks_of(points))

    def append(self, chunks: list[Chunk]) -> int:
        """Commit chunks of canonical lines durably, in one transaction; returns the
        number of lines. Raises BufferFullError at the cap (nothing is accepted)."""
        rows = [
            (stream, len(lines), first, last, "\n".join(lines).encode())
            for stream, lines, first, last in chunks
            if lines
        ]
        if not rows:
            return 0
        n = sum(r[1] for r in rows)
        if self._near_cap():
            self.rejected_full += n
            raise BufferFullError(
                f"buffer {self.path} holds {self.size_bytes():,} bytes, its cap is "
                f"{self.max_bytes:,}: the store has been unreachable too long. Points are "
                "refused (not dropped); raise buffer.max_bytes or fix the store"
            )
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "INSERT INTO chunk (stream, n, first_ns, last_ns, lines) "
                    "VALUES (?, ?, ?, ?, ?)",
                    rows,
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return n

    def _near_cap(self) -> bool:
        """Whether the file reached its cap. Measured at most every 0.5 s (three PRAGMAs
        and a stat per commit cost more than the commit); in between, an estimate."""
        now = time.monotonic()
        if now - self._size_checked > 0.5 or self._size >= self.max_bytes * 0.9:
            self._size = self.size_bytes()
            self._size_checked = now
        return self._size >= self.max_bytes

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
        seq0, prev0, high_water = head if head else (0, GENESIS, 0)
        seq, prev = seq0, prev0
        out, rows = [], []
        for lines, first, last in _batches(chunks, max_lines):
            # last_ns is the chain's high-water mark (see telemetry.seal.Sealer)
            high_water = max(int(high_water), last)
            record = seal(key, agent, stream, seq, prev, lines, first, high_water)
            rows.append(
                (stream, seq, record.model_dump_json(), zlib.compress(b"\n".join(lines), 1))
            )
            seq, prev = seq + 1, record.digest()
            out.append(record)
        last_id = chunks[-1][0]
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                now = self._db.execute(
                    "SELECT next_seq, prev FROM chain WHERE stream = ?", (stream,)
                ).fetchone()
                still = self._db.execute(
                    "SELECT count(*) FROM chunk WHERE stream = ? AND id <= ?", (stream, last_id)
                ).fetchone()[0]
                if tuple(now or (0, GENESIS)) != (seq0, prev0) or still != len(chunks):
                    self._db.execute("ROLLBACK")
                    return [], True  # someone else sealed: start again from the new head
                self._db.executemany(
                    "INSERT INTO batch (stream, seq, record, lines) VALUES (?, ?, ?, ?)", rows
                )
                self._db.execute(
                    "INSERT INTO chain (stream, next_seq, prev, high_water) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (stream) DO UPDATE SET "
                    "next_seq = excluded.next_seq, prev = excluded.prev, "
                    "high_water = excluded.high_water",
                    (stream, seq, prev, high_water),
                )
                self._db.execute(
                    "DELETE FROM chunk WHERE stream = ? AND id <= ?", (stream, last_id)
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
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

    def forwarded(self, record: BatchRecord) -> None:
        with self._lock:
            self._db.execute(
                "DELETE FROM batch WHERE stream = ? AND seq = ?", (record.stream, record.seq)
            )

    def depth(self) -> dict[str, int]:
        """Lines waiting: pending (not sealed) and sealed but not yet in the store."""
        with self._lock:
            pending = self._db.execute("SELECT coalesce(sum(n), 0) FROM chunk").fetchone()[0]
            # summed in SQL: after a long store outage there are thousands of records, and
            # this runs at every status instant
            sealed = self._db.execute(
                "SELECT coalesce(sum(json_extract(record, '$.n')), 0) FROM batch"
            ).fetchone()[0]
        return {"pending": int(pending), "sealed": int(sealed)}

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
