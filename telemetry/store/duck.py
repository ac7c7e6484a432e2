"""`DuckdbStore`: the columnar embedded store — one DuckDB file, the `Store` contract in SQL.

SQLite groups a KPI's aggregate row by row over every sample; a month of a 1,000-element
site is 4.4 × 10^7 status rows, and its profile took half a minute there. DuckDB scans
the same rows column-wise on every core, so this backend serves large single-box sites
and is the verifier's scratch store (`verifier.verify.step4_kpis`), where a bundle's
lines are bulk-loaded straight from text (`DuckdbStore.loader`, `LineLoader`).

Schema (the same layout as `SqliteStore`, one sample table per field type, since a
DuckDB column has one type):

* `series(id, measurement, key)`, `series_tag(series_id, key, value)`;
* `field(id, measurement, name, type)` — one type per field per measurement, as InfluxDB;
* `sample_float|int|bool|str(series_id, field_id, time, value)` — no primary key: an
  index would cost more than the load. Overwrites (InfluxDB's and SQLite's idempotent
  rewrite of the same series, field and time) are kept exact by remembering, per series
  and field, the latest time stored: a write entirely after it (every in-order write)
  appends; any other first deletes the rows it replaces. Within one write the last
  value of a series, field and time wins, as on the other stores.

Calls run in a worker thread under one lock, so they never block the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from telemetry.block import SeriesBlock
from telemetry.line_protocol import LineProtocolError, decode_line, encode_line, series_key
from telemetry.point import INT64_MAX, INT64_MIN, FieldValue, Point
from telemetry.store._embedded import (
    TYPE_OF,
    EmbeddedStore,
    buckets_sql,
    tag_filters,
    type_conflict,
)
from telemetry.store._split import split_batch
from telemetry.store.base import (
    Aggregate,
    FieldType,
    RejectedLine,
    StoreQueryError,
    WriteResult,
    check_aggregable,
    result_frame,
)
from telemetry.store.config import DuckdbConfig

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

FIELD_TYPES: tuple[FieldType, ...] = ("float", "int", "bool", "str")
_SQL_TYPE: dict[FieldType, str] = {
    "float": "DOUBLE",
    "int": "BIGINT",
    "bool": "BOOLEAN",
    "str": "VARCHAR",
}

SCHEMA = """
CREATE TABLE IF NOT EXISTS series (
    id INTEGER PRIMARY KEY,
    measurement VARCHAR NOT NULL,
    key VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS series_tag (
    series_id INTEGER NOT NULL,
    key VARCHAR NOT NULL,
    value VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS field (
    id INTEGER PRIMARY KEY,
    measurement VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    type VARCHAR NOT NULL
);
""" + "".join(
    f"CREATE TABLE IF NOT EXISTS sample_{t} (series_id INTEGER NOT NULL, "
    f"field_id INTEGER NOT NULL, time BIGINT NOT NULL, value {_SQL_TYPE[t]} NOT NULL);\n"
    for t in FIELD_TYPES
)

# One write's staged rows: per field type, columns (series, field, time, value), in order.
_Rows = dict[FieldType, tuple[list[int], list[int], list[int], list[Any]]]


def _empty_rows() -> _Rows:
    return {t: ([], [], [], []) for t in FIELD_TYPES}


class DuckdbStore(EmbeddedStore):
    """A `Store` in one DuckDB file (the columnar embedded backend).

    Args:
        config: the file (created with its folder if missing) and DuckDB's memory cap,
            or just the file's path.
        threads: DuckDB's worker threads (default: one per core).
    """

    def __init__(self, config: DuckdbConfig | str | Path, *, threads: int | None = None) -> None:
        import duckdb

        self.config = (
            config if isinstance(config, DuckdbConfig) else DuckdbConfig(path=Path(config))
        )
        self.config.path.parent.mkdir(parents=True, exist_ok=True)
        settings: dict[str, Any] = {"memory_limit": self.config.memory_limit}
        if threads is not None:
            settings["threads"] = threads
        self._db: duckdb.DuckDBPyConnection = duckdb.connect(str(self.config.path), config=settings)
        self._db.execute(SCHEMA)
        self._lock = threading.Lock()
        self._series: dict[str, int] = {}
        self._raw_series: dict[str, int] = {}  # a line's series part as written → its id
        self._fields: dict[tuple[str, str], tuple[int, FieldType]] = {}
        self._latest: dict[tuple[int, int], int] = {}
        # series made in the open transaction, inserted at its commit
        self._new_series: list[tuple[int, str, str]] = []
        self._new_tags: list[tuple[int, str, str]] = []
        self._load_caches()

    def _load_caches(self) -> None:
        db = self._db
        self._series = {k: int(i) for i, k in db.execute("SELECT id, key FROM series").fetchall()}
        self._fields = {
            (m, n): (int(i), t)
            for i, m, n, t in db.execute("SELECT id, measurement, name, type FROM field").fetchall()
        }
        self._tag_keys: dict[int, frozenset[str]] = {}
        for sid, keys in db.execute(
            "SELECT s.id, list(t.key) FILTER (WHERE t.key IS NOT NULL) FROM series s "
            "LEFT JOIN series_tag t ON t.series_id = s.id GROUP BY s.id"
        ).fetchall():
            self._tag_keys[int(sid)] = frozenset(keys or ())
        self._raw_series = {}
        self._new_series = []
        self._new_tags = []
        self._latest = {}
        for t in FIELD_TYPES:
            for sid, fid, hi in db.execute(
                f"SELECT series_id, field_id, max(time) FROM sample_{t} GROUP BY ALL"
            ).fetchall():
                self._latest[(int(sid), int(fid))] = int(hi)

    def describe(self) -> str:
        return f"DuckDB store {self.config.path}"

    # --- writes -----------------------------------------------------------------------

    def _conflict(self, m: str, k: str, kind: FieldType) -> str | None:
        """InfluxDB's refusal of `kind` for field `k` of `m` when it is another type."""
        entry = self._fields.get((m, k))
        return None if entry is None or entry[1] == kind else type_conflict(m, k, kind, entry[1])

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """One transaction: committed (with the series it made) at the end of the block,
        rolled back, caches and all, if the block raises."""
        self._db.execute("BEGIN")
        try:
            yield
            self._commit()
        except BaseException:
            self._rollback()
            raise

    def _write_blocks_sync(self, blocks: list[SeriesBlock]) -> WriteResult:
        result = WriteResult()
        rows = _empty_rows()
        with self._transaction():
            for b in blocks:
                m = b.measurement
                kinds: dict[str, FieldType] = {}
                conflict = None
                for k, col in b.fields.items():
                    kind = next((type(v) for v in col if v is not None), None)
                    if kind is None:
                        continue
                    kinds[k] = TYPE_OF[kind]
                    conflict = conflict or self._conflict(m, k, kinds[k])
                if conflict is not None:
                    result.rejected.extend(
                        RejectedLine(line=ln, reason=conflict) for ln in b.lines()
                    )
                    continue
                sid = self._series_id(b._head)
                times = b.times
                present = [False] * len(times)
                for k, ftype in kinds.items():
                    fid = self._field_id(m, k, ftype)
                    sids, fids, ts, vs = rows[ftype]
                    for i, (t, v) in enumerate(zip(times, b.fields[k], strict=True)):
                        if v is not None:
                            sids.append(sid)
                            fids.append(fid)
                            ts.append(t)
                            vs.append(v)
                            present[i] = True
                result.written += sum(present)
            self._insert(rows)
        return result

    def _write_sync(self, points: list[Point]) -> WriteResult:
        result = WriteResult()
        rows = _empty_rows()
        with self._transaction():
            for p in points:
                m = p.measurement
                conflict = None
                # every field checked before any is created: a refused point leaves no trace
                for k, v in p.fields.items():
                    conflict = self._conflict(m, k, TYPE_OF[type(v)])
                    if conflict is not None:
                        break
                if conflict is not None:
                    result.rejected.append(RejectedLine(line=encode_line(p), reason=conflict))
                    continue
                sid = self._series_id(p)
                for k, v in p.fields.items():
                    ftype = TYPE_OF[type(v)]
                    sids, fids, ts, vs = rows[ftype]
                    sids.append(sid)
                    fids.append(self._field_id(m, k, ftype))
                    ts.append(p.time_ns)
                    vs.append(v)
                result.written += 1
            self._insert(rows)
        return result

    def _insert(self, rows: _Rows) -> None:
        import pandas as pd

        for ftype, (sids, fids, ts, vs) in rows.items():
            if not sids:
                continue
            frame = pd.DataFrame(
                {
                    "series_id": pd.array(sids, dtype="int32"),
                    "field_id": pd.array(fids, dtype="int32"),
                    "time": pd.array(ts, dtype="int64"),
                    "value": pd.Series(vs, dtype=_PANDAS_TYPE[ftype]),
                    "seq": range(len(sids)),
                }
            )
            self._merge(ftype, frame)

    def _merge(self, ftype: FieldType, frame: object) -> None:
        """Insert staged rows (series_id, field_id, time, value, seq): the last of each
        series, field and time wins, within the rows and over what is stored."""
        db = self._db
        db.register("staged", frame)
        try:
            self._merge_from("staged", ftype)
        finally:
            db.unregister("staged")

    def _merge_from(self, source: str, ftype: FieldType) -> None:
        db = self._db
        spans = db.execute(
            f"SELECT series_id, field_id, min(time), max(time), count(*), "
            f"count(DISTINCT time) FROM {source} GROUP BY ALL"
        ).fetchall()
        repeats = any(n != distinct for *_, n, distinct in spans)
        overlap = [
            (int(s), int(f))
            for s, f, lo, _, _, _ in spans
            if (hi := self._latest.get((int(s), int(f)))) is not None and lo <= hi
        ]
        table = f"sample_{ftype}"
        if overlap:
            db.execute("CREATE OR REPLACE TEMP TABLE overlap (series_id INTEGER, field_id INTEGER)")
            import pandas as pd

            self._insert_frame("overlap", pd.DataFrame(overlap))
            db.execute(
                f"DELETE FROM {table} t USING (SELECT x.series_id, x.field_id, x.time FROM "
                f"{source} x JOIN overlap o USING (series_id, field_id)) d WHERE "
                "t.series_id = d.series_id AND t.field_id = d.field_id AND t.time = d.time"
            )
            db.execute("DROP TABLE overlap")
        if repeats:
            db.execute(
                f"INSERT INTO {table} SELECT series_id, field_id, time, value FROM (SELECT "
                f"DISTINCT ON (series_id, field_id, time) * FROM {source} "
                "ORDER BY series_id, field_id, time, seq DESC)"
            )
        else:
            db.execute(f"INSERT INTO {table} SELECT series_id, field_id, time, value FROM {source}")
        for s, f, _, hi, _, _ in spans:
            key = (int(s), int(f))
            self._latest[key] = max(int(hi), self._latest.get(key, int(hi)))

    def _rollback(self) -> None:
        self._db.execute("ROLLBACK")
        self._load_caches()  # the caches may name rows the rollback removed

    def _series_id(self, p: Point) -> int:
        skey = series_key(p)
        sid = self._series.get(skey)
        if sid is None:
            # rows kept until `_commit`: one insert per table, not one per series
            sid = len(self._series) + 1
            self._new_series.append((sid, p.measurement, skey))
            self._new_tags += [(sid, k, v) for k, v in p.tags.items()]
            self._tag_keys[sid] = frozenset(p.tags)
            self._series[skey] = sid
        return sid

    def _commit(self) -> None:
        """Write the series made in this transaction, then commit it."""
        if self._new_series:
            import pandas as pd

            self._insert_frame("series", pd.DataFrame(self._new_series))
            if self._new_tags:
                self._insert_frame("series_tag", pd.DataFrame(self._new_tags))
            self._new_series, self._new_tags = [], []
        self._db.execute("COMMIT")

    def _insert_frame(self, table: str, frame: object) -> None:
        self._db.register("frame", frame)
        try:
            self._db.execute(f"INSERT INTO {table} SELECT * FROM frame")
        finally:
            self._db.unregister("frame")

    def _field_id(self, measurement: str, name: str, ftype: FieldType) -> int:
        entry = self._fields.get((measurement, name))
        if entry is None:
            entry = (len(self._fields) + 1, ftype)
            self._db.execute(
                "INSERT INTO field (id, measurement, name, type) VALUES (?, ?, ?, ?)",
                (entry[0], measurement, name, ftype),
            )
            self._fields[(measurement, name)] = entry
        return entry[0]

    # --- bulk loading -----------------------------------------------------------------

    def loader(self) -> LineLoader:
        """A `LineLoader` into this store."""
        return LineLoader(self)

    def _load_segment(self, seg: _Segment) -> WriteResult:
        """Load one segment of split lines (see `LineLoader`), as one transaction."""
        db = self._db
        db.execute("BEGIN")
        try:
            result = self._load_segment_in(seg)
            if result.rejected:
                db.execute("ROLLBACK")
                self._load_caches()
            else:
                self._commit()
        except BaseException:
            self._rollback()
            raise
        finally:
            for view in ("seg_rows", "seg_fparts", "seg_skeys"):
                db.unregister(view)
            for t in ("fx", "mf", "fids", *_STAGED.values(), *_CAST.values()):
                db.execute(f"DROP TABLE IF EXISTS {t}")
        return result

    def _load_segment_in(self, seg: _Segment) -> WriteResult:
        import numpy as np
        import pandas as pd

        db = self._db
        result = WriteResult()
        lines, keys, parts, times = seg.columns()
        series, fields = list(seg.series), seg.field_strings()
        staged = self._decode_odd(seg.odd, result)
        # each new series part checked by the data contract, through its first line
        skeys: list[tuple[int, int, str]] = []
        if len(keys):
            ks, first = np.unique(keys, return_index=True)
            for k, pos in zip(ks.tolist(), first.tolist(), strict=True):
                skey = series[k]
                if skey not in self._raw_series:
                    line = f"{skey} {fields[parts[pos]]} {times[pos]}"
                    self._raw_series[skey] = self._series_id(_decode(line))
                skeys.append((k, self._raw_series[skey], skey.split(",", 1)[0]))
        db.register("seg_rows", pd.DataFrame({"r": lines, "k": keys, "f": parts, "time": times}))
        db.register(
            "seg_fparts",
            pd.DataFrame(
                {
                    "f": np.arange(len(fields), dtype=np.int32),
                    "fsec": pd.Series(fields, dtype=object),
                }
            ),
        )
        db.register(
            "seg_skeys",
            pd.DataFrame(
                {
                    "k": pd.array([k for k, _, _ in skeys], dtype="int32"),
                    "sid": pd.array([s for _, s, _ in skeys], dtype="int32"),
                    "measurement": pd.Series([m for *_, m in skeys], dtype=object),
                }
            ),
        )
        # every distinct field part split once: its fields, in order, typed by their text
        db.execute(
            "CREATE TEMP TABLE fx AS SELECT f, i, split_part(kv, '=', 1) AS fkey, "
            "split_part(kv, '=', 2) AS raw, CASE WHEN split_part(kv, '=', 2) IN ('true', "
            "'false') THEN 'bool' WHEN suffix(kv, 'i') THEN 'int' ELSE 'float' END AS ftype "
            "FROM (SELECT f, unnest(kvs) AS kv, generate_subscripts(kvs, 1) AS i FROM "
            "(SELECT f, string_split(CAST(fsec AS VARCHAR), ',') AS kvs FROM seg_fparts))"
        )
        self._check_tag_keys([sid for _, sid, _ in skeys])
        db.execute(
            "CREATE TEMP TABLE mf AS SELECT s.measurement, r.f, count(*) AS n FROM seg_rows r "
            "JOIN (SELECT k, CAST(measurement AS VARCHAR) AS measurement FROM seg_skeys) s "
            "USING (k) GROUP BY ALL"
        )
        fids: list[tuple[str, str, str, int]] = []
        for m, k, ftype, n, example in db.execute(
            "SELECT m.measurement, x.fkey, x.ftype, sum(m.n), any_value(x.raw) FROM mf m "
            "JOIN fx x USING (f) GROUP BY ALL ORDER BY ALL"
        ).fetchall():
            try:
                Point(m, {}, {k: _EXAMPLE[ftype]}, 0)  # the field key, by the contract's rules
            except ValueError as e:
                raise LineProtocolError(f"field {k!r}={example} of {m!r}: {e}") from None
            conflict = self._conflict(m, k, ftype)
            if conflict is not None:
                result.rejected.append(
                    RejectedLine(line=f"{n} line(s) with {m} {k}={example}", reason=conflict)
                )
                continue
            # creates the field: a second type of it in this segment is then a conflict
            fids.append((m, k, ftype, self._field_id(m, k, ftype)))
        if result.rejected:
            return result
        db.execute(
            "CREATE TEMP TABLE fids (measurement VARCHAR, fkey VARCHAR, ftype VARCHAR, fid INTEGER)"
        )
        if fids:
            db.executemany("INSERT INTO fids VALUES (?, ?, ?, ?)", fids)
        result.written += len(lines)
        for ftype in FIELD_TYPES:
            table = _STAGED[ftype]
            db.execute(
                f"CREATE TEMP TABLE {table} (series_id INTEGER, field_id INTEGER, time BIGINT, "
                f"value {_SQL_TYPE[ftype]}, seq BIGINT)"
            )
            if ftype != "str" and any(t == ftype for *_, t, _ in fids):
                # each distinct value text cast once, then joined to its lines
                value = {
                    "bool": "raw = 'true'",
                    "int": "CAST(rtrim(raw, 'i') AS BIGINT)",
                    "float": "CAST(raw AS DOUBLE)",
                }[ftype]
                cast = _CAST[ftype]
                db.execute(
                    f"CREATE TEMP TABLE {cast} AS SELECT f, i, fkey, {value} AS v FROM fx "
                    "WHERE ftype = ?",
                    [ftype],
                )
                db.execute(
                    f"INSERT INTO {table} SELECT s.sid, d.fid, r.time, x.v, "
                    f"r.r * {_SEQ} + x.i - 1 FROM seg_rows r JOIN seg_skeys s USING (k) "
                    f"JOIN {cast} x USING (f) JOIN fids d ON d.measurement = s.measurement "
                    "AND d.fkey = x.fkey AND d.ftype = ?",
                    [ftype],
                )
            sids, fids_, ts, vs = staged[ftype]
            if sids:
                frame = pd.DataFrame({
                    "series_id": pd.array(sids, dtype="int32"),
                    "field_id": pd.array(fids_, dtype="int32"),
                    "time": pd.array(ts, dtype="int64"),
                    "value": pd.Series([v for v, _ in vs], dtype=_PANDAS_TYPE[ftype]),
                    "seq": pd.array([q for _, q in vs], dtype="int64"),
                })  # fmt: skip
                db.register("odd_rows", frame)
                db.execute(f"INSERT INTO {table} SELECT * FROM odd_rows")
                db.unregister("odd_rows")
            self._merge_from(table, ftype)
        return result

    def _decode_odd(self, odd: list[tuple[int, str]], result: WriteResult) -> _Rows:
        """The lines off the plain road, decoded one by one; their rows carry their line's
        place (merge sequence) so that later lines still win."""
        staged = _empty_rows()
        for r, line in odd:
            p = _decode(line)
            kinds = {k: TYPE_OF[type(v)] for k, v in p.fields.items()}
            conflict = next(
                (c for k, t in kinds.items() if (c := self._conflict(p.measurement, k, t))), None
            )
            if conflict is not None:
                result.rejected.append(RejectedLine(line=line, reason=conflict))
                continue
            sid = self._series_id(p)
            for pos, (k, v) in enumerate(p.fields.items()):
                rows = staged[kinds[k]]
                rows[0].append(sid)
                rows[1].append(self._field_id(p.measurement, k, kinds[k]))
                rows[2].append(p.time_ns)
                rows[3].append((v, r * _SEQ + pos))
            result.written += 1
        return staged

    def _check_tag_keys(self, sids: list[int]) -> None:
        """Refuse a field key that is a tag key of its line's series, as `Point` does."""
        tagged = set().union(*(self._tag_keys[s] for s in sids))
        fkeys = {k for (k,) in self._db.execute("SELECT DISTINCT fkey FROM fx").fetchall()}
        if not tagged & fkeys:  # the usual case: no join over every line needed
            return
        for sid, k, example in self._db.execute(
            "SELECT s.sid, x.fkey, any_value(x.raw) FROM seg_rows r JOIN seg_skeys s "
            "USING (k) JOIN fx x USING (f) GROUP BY ALL ORDER BY ALL"
        ).fetchall():
            if k in self._tag_keys[int(sid)]:
                raise LineProtocolError(
                    f"field {k}={example}: {k!r} is both a tag and a field key of its series"
                )

    # --- reads ------------------------------------------------------------------------

    async def field_types(self, measurement: str) -> dict[str, FieldType]:
        def read() -> dict[str, FieldType]:
            return {n: t for (m, n), (_, t) in self._fields.items() if m == measurement}

        return await self._run(read)  # type: ignore[no-any-return]

    async def tag_values(self, measurement: str, key: str) -> set[str]:
        """Every value tag `key` has in a series of `measurement`."""

        def read() -> set[str]:
            rows = self._db.execute(
                "SELECT DISTINCT t.value FROM series_tag t JOIN series s ON s.id = t.series_id "
                "WHERE s.measurement = ? AND t.key = ?",
                [measurement, key],
            ).fetchall()
            return {str(v) for (v,) in rows}

        return await self._run(read)  # type: ignore[no-any-return]

    def _series_cte(
        self,
        measurement: str,
        group_by: Sequence[str],
        where: dict[str, str | tuple[str, ...]] | None,
        params: list[object],
    ) -> str:
        cols = ["s.id AS id"]
        joins = []
        for i, g in enumerate(group_by):
            cols.append(f"g{i}.value AS g{i}")
            joins.append(f"LEFT JOIN series_tag g{i} ON g{i}.series_id = s.id AND g{i}.key = ?")
            params.append(g)
        conds = ["s.measurement = ?"]
        params.append(measurement)
        conds += tag_filters(where, params)
        return (
            f"sel AS MATERIALIZED (SELECT {', '.join(cols)} FROM series s {' '.join(joins)} "
            f"WHERE {' AND '.join(conds)})"
        )

    def _aggregate_sync(self, q: Aggregate) -> pd.DataFrame:
        entry = self._fields.get((q.measurement, q.field))
        ftype = entry[1] if entry else None
        check_aggregable(q, ftype)
        if entry is None or ftype is None:
            return result_frame(q.group_by, q.has_time, [], q.fn, ftype)
        params: list[object] = []
        ctes = [self._series_cte(q.measurement, q.group_by, q.where, params)]
        join_days, bucket = buckets_sql(q, ctes, params)
        in_order = " ORDER BY x.series_id, x.time" if ftype == "float" else ""
        agg = {
            "last": "arg_max(x.value, x.time), max(x.time)",
            "first": "arg_min(x.value, x.time), min(x.time)",
            # floats: added one by one in SQLite's order (series, then time), the same on
            # every run whatever the threads; integers: checked against int64 below
            "sum": f"sum(x.value{in_order})",
            "count": "count(x.value)",
            "mean": f"sum(x.value{in_order}) / count(x.value)",
            "min": "min(x.value)",
            "max": "max(x.value)",
        }[q.fn]
        groups = [f"sel.g{i}" for i in range(len(q.group_by))]
        if bucket:
            groups.append(bucket)
        # count(*) last: an ungrouped aggregate over no rows still yields one SQL row
        # where InfluxDB yields none; the contract says none
        select = ", ".join([*groups, agg, "count(*)"])
        conds = ["x.field_id = ?", "x.time >= ?", "x.time < ?"]
        params.extend([entry[0], q.start_ns, q.end_ns])
        if q.field_equals is not None:
            # as SQLite (and InfluxDB) compare: a string equals only a string, numbers and
            # booleans compare as numbers (true = 1); DuckDB would cast one to the other
            want = q.field_equals
            if isinstance(want, str) != (ftype == "str"):
                return result_frame(q.group_by, q.has_time, [], q.fn, ftype)
            if ftype == "bool":
                conds.append("CAST(x.value AS DOUBLE) = ?")
                params.append(float(want))
            else:
                conds.append("x.value = ?")
                params.append(float(want) if isinstance(want, bool) else want)
        sql = (
            f"WITH {', '.join(ctes)} SELECT {select} FROM sel JOIN sample_{ftype} x "
            f"ON x.series_id = sel.id{join_days} WHERE {' AND '.join(conds)}"
        )
        if groups:
            sql += " GROUP BY " + ", ".join(groups)
        try:
            raw = self._db.execute(sql, params).fetchall()
        except Exception as e:  # duckdb.Error, imported lazily
            raise StoreQueryError(f"DuckDB refused the aggregate {q!r}: {e}") from e
        width = len(groups) + 1
        if q.keep_time:  # (groups..., value, sample time) -> (groups..., time, value)
            rows = [(*r[: width - 1], r[width], r[width - 1]) for r in raw if r[-1]]
        else:
            rows = [tuple(r[:width]) for r in raw if r[-1]]
        if (
            q.fn == "sum"
            and ftype == "int"
            and any(not INT64_MIN <= r[-1] <= INT64_MAX for r in rows)
        ):
            raise StoreQueryError(f"integer overflow in the aggregate {q!r}")  # as SQLite
        return result_frame(q.group_by, q.has_time, rows, q.fn, ftype)

    def _read_sync(
        self,
        measurement: str,
        start_ns: int,
        end_ns: int,
        where: dict[str, str | tuple[str, ...]] | None,
        limit: int | None,
    ) -> list[Point]:
        names = {i: n for (m, n), (i, _) in self._fields.items() if m == measurement}
        grouped: dict[tuple[int, int], dict[str, FieldValue]] = {}
        for ftype in FIELD_TYPES:
            params: list[object] = []
            cte = self._series_cte(measurement, (), where, params)
            params.extend([start_ns, end_ns])
            sql = (
                f"WITH {cte} SELECT x.series_id, x.time, x.field_id, x.value FROM sel "
                f"JOIN sample_{ftype} x ON x.series_id = sel.id "
                "WHERE x.time >= ? AND x.time < ?"
            )
            for sid, t, fid, value in self._db.execute(sql, params).fetchall():
                grouped.setdefault((int(sid), int(t)), {})[names[int(fid)]] = value
        tags_of: dict[int, dict[str, str]] = {}
        for sid, _ in grouped:
            if sid not in tags_of:
                tags_of[sid] = dict(
                    self._db.execute(
                        "SELECT key, value FROM series_tag WHERE series_id = ?", (sid,)
                    ).fetchall()
                )
        points: list[Point] = []
        per_series: dict[int, int] = {}
        for (sid, t), fields in sorted(grouped.items()):
            if limit is not None:
                if per_series.get(sid, 0) >= limit:
                    continue
                per_series[sid] = per_series.get(sid, 0) + 1
            points.append(Point(measurement, tags_of[sid], dict(sorted(fields.items())), t))
        points.sort(key=lambda p: (tuple(p.tags.items()), p.time_ns))
        return points


_STAGED: dict[FieldType, str] = {t: f"staged_{t}" for t in FIELD_TYPES}
_CAST: dict[FieldType, str] = {t: f"cast_{t}" for t in FIELD_TYPES}
_EXAMPLE: dict[str, FieldValue] = {"float": 0.0, "int": 0, "bool": True, "str": ""}
_PANDAS_TYPE: dict[FieldType, str] = {
    "float": "float64",
    "int": "int64",
    "bool": "bool",
    "str": "object",
}


# --- bulk loading of canonical lines ----------------------------------------------------

#: lines per bulk load (one transaction): bounds the loader's memory
SEGMENT_LINES = 1 << 22
#: text per bulk load: the distinct field parts are kept as Python strings until then
SEGMENT_BYTES = 256 << 20
#: a longer line goes to `decode_blocks` with its batch
MAX_PLAIN_LINE = 4 << 20
# field positions per line in a merge sequence number: a line of at most MAX_PLAIN_LINE
# bytes has fewer than 2^21 fields (`k=1` and a comma each)
_SEQ = 1 << 22


def _decode(line: str) -> Point:
    try:
        return decode_line(line)
    except ValueError as e:
        raise LineProtocolError(f"{line[:200]!r}: {e}") from None


class _Segment:
    """Split lines queued for one bulk load, numbered across their batches in order."""

    def __init__(self) -> None:
        self.series: dict[str, int] = {}  # series part → index, by first appearance
        self._fields: list[list[str]] = []  # each batch's distinct field parts
        self._nfields = 0
        self._cols: list[tuple[Any, Any, Any, Any]] = []
        self.odd: list[tuple[int, str]] = []  # (line number, text) of the other lines
        self.lines = 0  # non-empty lines queued
        self.bytes = 0
        self._base = 0  # the number of the next batch's first line

    def add(self, data: bytes) -> None:
        import numpy as np

        s = split_batch(data)
        try:  # the usual batch: no series the segment has not seen
            ids = list(map(self.series.__getitem__, s.series))
        except KeyError:
            ids = [self.series.setdefault(x, len(self.series)) for x in s.series]
        remap = np.array(ids, dtype=np.int32)
        self._cols.append(
            (s.lines.astype(np.int64) + self._base, remap[s.keys], s.field_parts + self._nfields,
             s.times)
        )  # fmt: skip
        self._fields.append(s.fields)
        self._nfields += len(s.fields)
        if len(s.odd):
            raw = data.split(b"\n")
            self.odd += [(self._base + i, raw[i].decode()) for i in s.odd.tolist()]
        self._base += len(data) + 1  # more than its lines: numbers only need to grow
        self.lines += len(s.lines) + len(s.odd)
        self.bytes += len(data)

    def columns(self) -> tuple[Any, Any, Any, Any]:
        """The plain lines' numbers, series indices, field-part indices and times."""
        import numpy as np

        if not self._cols:
            empty = np.zeros(0, dtype=np.int32)
            return empty.astype(np.int64), empty, empty, empty.astype(np.int64)
        return tuple(np.concatenate(c) for c in zip(*self._cols, strict=True))  # type: ignore[return-value]

    def field_strings(self) -> list[str]:
        return [f for batch in self._fields for f in batch]


class LineLoader:
    """Bulk-loads LF-separated line-protocol text into a `DuckdbStore`, in order.

    `add` takes the bytes of one batch of lines and splits it at once
    (`telemetry.store._split.split_batch`, in C where built); segments of up to
    `SEGMENT_LINES` lines are loaded in one pass of SQL each. Each line takes one of two
    roads with the same result: a plain canonical line (`PLAIN_LINE`) is cast in SQL —
    each distinct field part once — every other non-empty line goes through
    `decode_line`, and a batch with a line longer than `MAX_PLAIN_LINE` through
    `decode_blocks` whole. The series part of each new series is decoded in Python too,
    so names are checked by the data contract's own rules. Later lines win, as in
    `write_blocks`.

    Raises `LineProtocolError` for a line that does not decode, naming it, and
    `UnicodeDecodeError` for a batch that is not UTF-8. A field type conflict refuses the
    segment's lines of that field (in `WriteResult.rejected`); the segment is then not
    loaded.

    Args:
        store: the store loaded into.
    """

    def __init__(self, store: DuckdbStore) -> None:
        self.store = store
        self.result = WriteResult()
        self._segment = _Segment()

    async def add(self, data: bytes) -> None:
        """Queue one batch's lines (loaded at the segment's end or by `finish`)."""
        if not data.isascii():
            data.decode()  # not UTF-8: raises, naming the place
        if len(data) > MAX_PLAIN_LINE and max(map(len, data.split(b"\n"))) > MAX_PLAIN_LINE:
            await self._flush()
            from telemetry.block import decode_blocks

            blocks = await asyncio.to_thread(decode_blocks, data.decode().split("\n"))
            self.result.merge(await self.store.write_blocks(blocks))
            return
        await asyncio.to_thread(self._segment.add, data)
        if self._segment.lines >= SEGMENT_LINES or self._segment.bytes >= SEGMENT_BYTES:
            await self._flush()

    async def finish(self) -> WriteResult:
        """Load what is queued; the merged result of every segment."""
        await self._flush()
        return self.result

    async def _flush(self) -> None:
        seg, self._segment = self._segment, _Segment()
        if seg.bytes:
            self.result.merge(await self.store._run(self.store._load_segment, seg))
