"""`SqliteStore`: the embedded store — one file, WAL mode, the `Store` contract in SQL.

Schema (a small time-series layout on purpose, so window reads are index range scans):

* `series(id, measurement, key)` — one row per series; `key` is its canonical series key;
* `series_tag(series_id, key, value)` — tags, indexed by (key, value) for filters;
* `field(id, measurement, name, type)` — one type per field per measurement, as InfluxDB;
* `sample(series_id, field_id, time, value)` — `WITHOUT ROWID`, primary key
  (series_id, field_id, time): a write of the same series/field/time replaces the value
  (InfluxDB's idempotent overwrite), and a window read is one range scan per series.

SQLite is synchronous; calls run in a worker thread so they never block the event loop.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from telemetry.block import SeriesBlock
from telemetry.line_protocol import encode_line, series_key
from telemetry.point import FieldValue, Point
from telemetry.store._embedded import (
    TYPE_OF,
    EmbeddedStore,
    buckets_sql,
    tag_filters,
    type_conflict,
)
from telemetry.store.base import (
    Aggregate,
    FieldType,
    RejectedLine,
    StoreQueryError,
    WriteResult,
    check_aggregable,
    result_frame,
)
from telemetry.store.config import SqliteConfig

if TYPE_CHECKING:
    import pandas as pd

SCHEMA = """
CREATE TABLE IF NOT EXISTS series (
    id INTEGER PRIMARY KEY,
    measurement TEXT NOT NULL,
    key TEXT NOT NULL UNIQUE
);
CREATE INDEX IF NOT EXISTS series_measurement ON series (measurement, id);
CREATE TABLE IF NOT EXISTS series_tag (
    series_id INTEGER NOT NULL REFERENCES series (id),
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (series_id, key)
) WITHOUT ROWID;

CREATE INDEX IF NOT EXISTS series_tag_kv ON series_tag (key, value, series_id);
CREATE TABLE IF NOT EXISTS field (
    id INTEGER PRIMARY KEY,
    measurement TEXT NOT NULL,
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    UNIQUE (measurement, name)
);
CREATE TABLE IF NOT EXISTS sample (
    series_id INTEGER NOT NULL,
    field_id INTEGER NOT NULL,
    time INTEGER NOT NULL,
    value,
    PRIMARY KEY (series_id, field_id, time)
) WITHOUT ROWID;
"""

INSERT_SAMPLE = "INSERT OR REPLACE INTO sample (series_id, field_id, time, value) VALUES (?,?,?,?)"


class SqliteStore(EmbeddedStore):
    """A `Store` in one SQLite file (the embedded default)."""

    def __init__(self, config: SqliteConfig | str | Path) -> None:
        self.config = (
            config if isinstance(config, SqliteConfig) else SqliteConfig(path=Path(config))
        )
        self.config.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.config.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()
        self._series: dict[tuple[str, tuple[tuple[str, str], ...]], int] = {}
        self._fields: dict[tuple[str, str], tuple[int, FieldType]] = {}
        self._load_fields()

    def _load_fields(self) -> None:
        self._fields = {
            (m, n): (i, t)
            for i, m, n, t in self._db.execute("SELECT id, measurement, name, type FROM field")
        }

    def describe(self) -> str:
        return f"SQLite store {self.config.path}"

    # --- writes -----------------------------------------------------------------------

    def _write_blocks_sync(self, blocks: list[SeriesBlock]) -> WriteResult:
        result = WriteResult()
        self._db.execute("BEGIN")
        try:
            for b in blocks:
                m = b.measurement
                kinds: dict[str, FieldType] = {}
                conflict = None
                for k, col in b.fields.items():
                    kind = next((type(v) for v in col if v is not None), None)
                    if kind is None:
                        continue
                    kinds[k] = TYPE_OF[kind]
                    entry = self._fields.get((m, k)) or self._stored_field(m, k)
                    if entry is not None and entry[1] != kinds[k]:
                        conflict = type_conflict(m, k, kinds[k], entry[1])
                if conflict is not None:
                    result.rejected.extend(
                        RejectedLine(line=ln, reason=conflict) for ln in b.lines()
                    )
                    continue
                sid = self._series_id(b._head)
                times = b.times
                present = [False] * len(times)
                for k, ftype in kinds.items():
                    fid = (self._fields.get((m, k)) or self._field_id(m, k, ftype))[0]
                    col = b.fields[k]
                    self._db.executemany(
                        INSERT_SAMPLE,
                        (
                            (sid, fid, t, v)
                            for t, v in zip(times, col, strict=True)
                            if v is not None
                        ),
                    )
                    for i, v in enumerate(col):
                        if v is not None:
                            present[i] = True
                result.written += sum(present)
            self._db.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        return result

    def _rollback(self) -> None:
        self._db.execute("ROLLBACK")
        # the caches may name rows the rollback removed
        self._series.clear()
        self._load_fields()

    def _series_id(self, p: Point) -> int:
        key = (p.measurement, tuple(p.tags.items()))
        sid = self._series.get(key)
        if sid is None:
            skey = series_key(p)
            row = self._db.execute("SELECT id FROM series WHERE key = ?", (skey,)).fetchone()
            if row is None:
                cur = self._db.execute(
                    "INSERT INTO series (measurement, key) VALUES (?, ?)", (p.measurement, skey)
                )
                sid = int(cur.lastrowid or 0)
                self._db.executemany(
                    "INSERT INTO series_tag (series_id, key, value) VALUES (?, ?, ?)",
                    [(sid, k, v) for k, v in p.tags.items()],
                )
            else:
                sid = int(row[0])
            self._series[key] = sid
        return sid

    def _stored_field(self, measurement: str, name: str) -> tuple[int, FieldType] | None:
        """A field another process (or an earlier run) created, or None."""
        row = self._db.execute(
            "SELECT id, type FROM field WHERE measurement = ? AND name = ?", (measurement, name)
        ).fetchone()
        if row is None:
            return None
        entry: tuple[int, FieldType] = (int(row[0]), row[1])
        self._fields[(measurement, name)] = entry
        return entry

    def _field_id(self, measurement: str, name: str, ftype: FieldType) -> tuple[int, FieldType]:
        # OR IGNORE + SELECT: another process on the same file may have created it first.
        self._db.execute(
            "INSERT OR IGNORE INTO field (measurement, name, type) VALUES (?, ?, ?)",
            (measurement, name, ftype),
        )
        fid, stored = self._db.execute(
            "SELECT id, type FROM field WHERE measurement = ? AND name = ?", (measurement, name)
        ).fetchone()
        entry: tuple[int, FieldType] = (int(fid), stored)
        self._fields[(measurement, name)] = entry
        return entry

    def _write_sync(self, points: list[Point]) -> WriteResult:
        result = WriteResult()
        rows: list[tuple[int, int, int, FieldValue]] = []
        fields_cache = self._fields
        self._db.execute("BEGIN")
        try:
            for p in points:
                m = p.measurement
                point_rows = []
                conflict = None
                # Check every field before creating any, so a refused point leaves no trace.
                for k, v in p.fields.items():
                    ftype = TYPE_OF[type(v)]
                    entry = fields_cache.get((m, k))
                    if entry is None:
                        entry = self._stored_field(m, k)
                    if entry is not None and entry[1] != ftype:
                        conflict = type_conflict(m, k, ftype, entry[1])
                        break
                if conflict is not None:
                    result.rejected.append(RejectedLine(line=encode_line(p), reason=conflict))
                    continue
                for k, v in p.fields.items():
                    entry = fields_cache.get((m, k)) or self._field_id(m, k, TYPE_OF[type(v)])
                    point_rows.append((entry[0], v))
                sid = self._series_id(p)
                t = p.time_ns
                for fid, v in point_rows:
                    rows.append((sid, fid, t, v))
                result.written += 1
            self._db.executemany(INSERT_SAMPLE, rows)
            self._db.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        return result

    # --- reads ------------------------------------------------------------------------

    async def field_types(self, measurement: str) -> dict[str, FieldType]:
        def read() -> dict[str, FieldType]:
            self._load_fields()  # another process may have added fields
            return {n: t for (m, n), (_, t) in self._fields.items() if m == measurement}

        return await self._run(read)  # type: ignore[no-any-return]

    def _series_cte(
        self,
        measurement: str,
        group_by: tuple[str, ...],
        where: dict[str, str | tuple[str, ...]] | None,
        params: list[object],
    ) -> str:
        cols = ["s.id AS id"]
        for i, g in enumerate(group_by):
            cols.append(
                f"(SELECT value FROM series_tag t WHERE t.series_id = s.id AND t.key = ?) AS g{i}"
            )
            params.append(g)
        conds = ["s.measurement = ?"]
        params.append(measurement)
        conds += tag_filters(where, params)
        # MATERIALIZED: computed once per series, not once per sample row (5-10x faster)
        return (
            f"sel AS MATERIALIZED (SELECT {', '.join(cols)} FROM series s "
            f"WHERE {' AND '.join(conds)})"
        )

    def _aggregate_sync(self, q: Aggregate) -> pd.DataFrame:
        entry = self._fields.get((q.measurement, q.field)) or self._stored_field(
            q.measurement, q.field
        )
        ftype = entry[1] if entry else None
        check_aggregable(q, ftype)
        if entry is None:
            return result_frame(q.group_by, q.has_time, [], q.fn, ftype)
        params: list[object] = []
        ctes = [self._series_cte(q.measurement, q.group_by, q.where, params)]
        join_days, bucket = buckets_sql(q, ctes, params)
        agg = {
            "last": "x.value, max(x.time)",
            "first": "x.value, min(x.time)",
            "sum": "sum(x.value)",
            "count": "count(x.value)",
            "mean": "avg(x.value)",
            "min": "min(x.value)",
            "max": "max(x.value)",
        }[q.fn]
        groups = [f"sel.g{i}" for i in range(len(q.group_by))]
        if bucket:
            groups.append(bucket)
        # count(*) last: an ungrouped aggregate over no rows still yields one SQL row
        # (count 0, sum NULL) where InfluxDB yields none; the contract says none.
        select = ", ".join([*groups, agg, "count(*)"])
        conds = ["x.field_id = ?", "x.time >= ?", "x.time < ?"]
        params.extend([entry[0], q.start_ns, q.end_ns])
        if q.field_equals is not None:
            conds.append("x.value = ?")
            params.append(q.field_equals)
        sql = (
            f"WITH {', '.join(ctes)} SELECT {select} FROM sel CROSS JOIN sample x "
            f"ON x.series_id = sel.id{join_days} WHERE {' AND '.join(conds)}"
        )
        if groups:
            sql += " GROUP BY " + ", ".join(groups)
        try:
            raw = self._db.execute(sql, params).fetchall()
        except sqlite3.Error as e:
            raise StoreQueryError(f"SQLite refused the aggregate {q!r}: {e}") from e
        width = len(groups) + 1
        if q.keep_time:  # (groups..., value, sample time) -> (groups..., time, value)
            rows = [(*r[: width - 1], r[width], r[width - 1]) for r in raw if r[-1]]
        else:
            rows = [tuple(r[:width]) for r in raw if r[-1]]
        if ftype == "bool" and q.fn in ("last", "first"):
            rows = [(*r[:-1], bool(r[-1])) for r in rows]
        return result_frame(q.group_by, q.has_time, rows, q.fn, ftype)

    def _read_sync(
        self,
        measurement: str,
        start_ns: int,
        end_ns: int,
        where: dict[str, str | tuple[str, ...]] | None,
        limit: int | None,
    ) -> list[Point]:
        params: list[object] = []
        cte = self._series_cte(measurement, (), where, params)
        params.extend([start_ns, end_ns])
        sql = (
            f"WITH {cte} SELECT x.series_id, x.time, f.name, f.type, x.value "
            "FROM sel CROSS JOIN sample x ON x.series_id = sel.id "
            "JOIN field f ON f.id = x.field_id "
            "WHERE x.time >= ? AND x.time < ? ORDER BY x.series_id, x.time"
        )
        tags_of: dict[int, dict[str, str]] = {}
        grouped: dict[tuple[int, int], dict[str, FieldValue]] = {}
        for sid, t, name, ftype, value in self._db.execute(sql, params):
            if ftype == "bool":
                value = bool(value)
            elif ftype == "float":
                value = float(value)
            grouped.setdefault((sid, t), {})[name] = value
            if sid not in tags_of:
                tags_of[sid] = dict(
                    self._db.execute(
                        "SELECT key, value FROM series_tag WHERE series_id = ?", (sid,)
                    ).fetchall()
                )
        points: list[Point] = []
        per_series: dict[int, int] = {}
        for (sid, t), fields in grouped.items():
            if limit is not None:
                if per_series.get(sid, 0) >= limit:
                    continue
                per_series[sid] = per_series.get(sid, 0) + 1
            points.append(Point(measurement, tags_of[sid], fields, t))
        points.sort(key=lambda p: (tuple(p.tags.items()), p.time_ns))
        return points
