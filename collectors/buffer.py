"""The durable buffer: accepted points, sealed batches and the chain head, in one SQLite file.

A point is *accepted* once its canonical line is committed here (WAL, synchronous=FULL);
only then does a driver acknowledge it (an MQTT PUBACK, a completed poll). Sealing moves
pending lines into a signed batch in one transaction with the chain head, so a crash
either seals a batch completely or not at all and `seq` never skips. A batch leaves the
buffer only after the store confirmed its lines and its `pp_batch` record.

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
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from telemetry import Point, encode_line
from telemetry.seal import GENESIS, BatchRecord, seal, stream_of

SCHEMA = """
CREATE TABLE IF NOT EXISTS pending (
    id INTEGER PRIMARY KEY,
    stream TEXT NOT NULL,
    time INTEGER NOT NULL,
    line BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS pending_stream ON pending (stream, id);
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


class BufferFullError(RuntimeError):
    """The buffer reached its size cap; nothing was accepted."""


@dataclass(frozen=True)
class SealedBatch:
    record: BatchRecord
    lines: list[bytes]


class Buffer:
    def __init__(self, path: Path, max_bytes: int = 1 << 30) -> None:
        self.path = path
        self.max_bytes = max_bytes
        path.parent.mkdir(parents=True, exist_ok=True)
        # one connection, used from the event loop and from driver threads: serialise it
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # a commit survives power loss
        self._db.executescript(SCHEMA)
        columns = {r[1] for r in self._db.execute("PRAGMA table_info(chain)")}
        if "high_water" not in columns:  # a buffer written by an agent before 0.2
            self._db.execute("ALTER TABLE chain ADD COLUMN high_water INTEGER NOT NULL DEFAULT 0")
        self.rejected_full = 0
        self._size = 0
        self._size_checked = 0.0

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
        rows = [(stream_of(p), p.time_ns, encode_line(p).encode()) for p in points]
        if not rows:
            return 0
        if self._near_cap():
            self.rejected_full += len(rows)
            raise BufferFullError(
                f"buffer {self.path} holds {self.size_bytes():,} bytes, its cap is "
                f"{self.max_bytes:,}: the store has been unreachable too long. Points are "
                "refused (not dropped); raise buffer.max_bytes or fix the store"
            )
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "INSERT INTO pending (stream, time, line) VALUES (?, ?, ?)", rows
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return len(rows)

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
            rows = self._db.execute("SELECT stream, count(*) FROM pending GROUP BY stream")
            return {s: int(n) for s, n in rows}

    def seal(self, key: Ed25519PrivateKey, agent: str, max_lines: int = 5000) -> list[BatchRecord]:
        """Seal every pending line, in batches of at most `max_lines` per stream."""
        out = []
        streams = sorted(self.pending())
        while streams:
            sealed = self._seal_once(key, agent, max_lines, streams)
            out += sealed
            streams = [r.stream for r in sealed if r.n == max_lines]  # maybe more pending
        return out

    def _seal_once(
        self, key: Ed25519PrivateKey, agent: str, max_lines: int, streams: list[str]
    ) -> list[BatchRecord]:
        out = []
        for stream in streams:
            with self._lock:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    rows = self._db.execute(
                        "SELECT id, time, line FROM pending WHERE stream = ? ORDER BY id LIMIT ?",
                        (stream, max_lines),
                    ).fetchall()
                    if not rows:
                        self._db.execute("COMMIT")
                        continue
                    head = self._db.execute(
                        "SELECT next_seq, prev, high_water FROM chain WHERE stream = ?",
                        (stream,),
                    ).fetchone()
                    seq, prev, high_water = head if head else (0, GENESIS, 0)
                    lines = [bytes(r[2]) for r in rows]
                    times = [int(r[1]) for r in rows]
                    # last_ns is the chain's high-water mark (see telemetry.seal.Sealer)
                    high_water = max(int(high_water), max(times))
                    record = seal(key, agent, stream, seq, prev, lines, min(times), high_water)
                    self._db.execute(
                        "INSERT INTO batch (stream, seq, record, lines) VALUES (?, ?, ?, ?)",
                        (
                            stream,
                            seq,
                            record.model_dump_json(),
                            zlib.compress(b"\n".join(lines), 1),
                        ),
                    )
                    self._db.execute(
                        "INSERT INTO chain (stream, next_seq, prev, high_water) "
                        "VALUES (?, ?, ?, ?) ON CONFLICT (stream) DO UPDATE SET "
                        "next_seq = excluded.next_seq, prev = excluded.prev, "
                        "high_water = excluded.high_water",
                        (stream, seq + 1, record.digest(), high_water),
                    )
                    self._db.execute(
                        "DELETE FROM pending WHERE stream = ? AND id <= ?", (stream, rows[-1][0])
                    )
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
            out.append(record)
        return out

    def unforwarded(self, limit: int = 10) -> list[SealedBatch]:
        """The oldest sealed batches not yet confirmed by the store."""
        with self._lock:
            rows = self._db.execute(
                "SELECT record, lines FROM batch ORDER BY seq, stream LIMIT ?", (limit,)
            ).fetchall()
        return [
            SealedBatch(BatchRecord.model_validate_json(r), zlib.decompress(b).split(b"\n"))
            for r, b in rows
        ]

    def forwarded(self, record: BatchRecord) -> None:
        with self._lock:
            self._db.execute(
                "DELETE FROM batch WHERE stream = ? AND seq = ?", (record.stream, record.seq)
            )

    def depth(self) -> dict[str, int]:
        """Lines waiting: pending (not sealed) and sealed but not yet in the store."""
        with self._lock:
            pending = self._db.execute("SELECT count(*) FROM pending").fetchone()[0]
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
