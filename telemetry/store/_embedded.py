"""What the two embedded stores (SQLite, DuckDB) share: a synchronous engine behind an
async face, and the SQL of their series filter and time buckets.

Both engines are synchronous; every call runs in a worker thread under one lock, so it
never blocks the event loop and never meets another call on the same connection.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Self

from telemetry.store.base import (
    Aggregate,
    FieldType,
    FixedBuckets,
    LocalDays,
    WriteResult,
    check_limit,
)

if TYPE_CHECKING:
    import pandas as pd

    from telemetry.block import SeriesBlock
    from telemetry.point import Point


TYPE_OF: dict[type, FieldType] = {float: "float", int: "int", bool: "bool", str: "str"}
# InfluxDB's names, so every store explains a conflict in the same words
_INFLUX_NAME: dict[FieldType, str] = {
    "float": "float",
    "int": "integer",
    "bool": "boolean",
    "str": "string",
}


def type_conflict(measurement: str, key: str, kind: FieldType, stored: FieldType) -> str:
    """InfluxDB's refusal of a `kind` value for a field stored as another type."""
    return (
        f'field type conflict: input field "{key}" on measurement "{measurement}" is type '
        f"{_INFLUX_NAME[kind]}, already exists as type {_INFLUX_NAME[stored]}"
    )


class EmbeddedStore:
    """The async `Store` methods over a subclass's synchronous `_write_sync`,
    `_write_blocks_sync`, `_aggregate_sync` and `_read_sync`, and its connection `_db`."""

    _db: Any
    _lock: threading.Lock

    async def close(self) -> None:
        with self._lock:
            self._db.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _run(self, fn: Any, *args: Any) -> Any:
        def locked() -> Any:
            with self._lock:
                return fn(*args)

        return await asyncio.to_thread(locked)

    async def write(self, points: Iterable[Point]) -> WriteResult:
        return await self._run(self._write_sync, list(points))  # type: ignore[no-any-return]

    async def write_blocks(self, blocks: Iterable[SeriesBlock]) -> WriteResult:
        return await self._run(self._write_blocks_sync, list(blocks))  # type: ignore[no-any-return]

    async def aggregate(self, query: Aggregate) -> pd.DataFrame:
        return await self._run(self._aggregate_sync, query)  # type: ignore[no-any-return]

    async def read(
        self,
        measurement: str,
        start_ns: int,
        end_ns: int,
        where: dict[str, str | tuple[str, ...]] | None = None,
        limit: int | None = None,
    ) -> list[Point]:
        check_limit(limit)
        return await self._run(  # type: ignore[no-any-return]
            self._read_sync, measurement, start_ns, end_ns, where, limit
        )

    def _write_sync(self, points: list[Point]) -> WriteResult:
        raise NotImplementedError

    def _write_blocks_sync(self, blocks: list[SeriesBlock]) -> WriteResult:
        raise NotImplementedError

    def _aggregate_sync(self, query: Aggregate) -> pd.DataFrame:
        raise NotImplementedError

    def _read_sync(
        self,
        measurement: str,
        start_ns: int,
        end_ns: int,
        where: dict[str, str | tuple[str, ...]] | None,
        limit: int | None,
    ) -> list[Point]:
        raise NotImplementedError


def tag_filters(where: dict[str, str | tuple[str, ...]] | None, params: list[object]) -> list[str]:
    """SQL conditions on a series `s` for tag filters (a value, or any of several)."""
    conds = []
    for key, accepted in sorted((where or {}).items()):
        values = (accepted,) if isinstance(accepted, str) else accepted
        marks = ",".join("?" * len(values))
        conds.append(
            "EXISTS (SELECT 1 FROM series_tag t WHERE t.series_id = s.id "
            f"AND t.key = ? AND t.value IN ({marks}))"
        )
        params.extend([key, *values])
    return conds


def buckets_sql(q: Aggregate, ctes: list[str], params: list[object]) -> tuple[str, str]:
    """(a join on the sample rows `x`, the bucket-start expression) for `q`'s buckets;
    both empty without buckets. Local days join a list of their boundaries (computed
    with `zoneinfo`, so 23- and 25-hour days are right)."""
    if isinstance(q.buckets, LocalDays):
        days = q.buckets.boundaries(q.start_ns, q.end_ns)
        ctes.append("days(lo, hi) AS (VALUES " + ",".join("(?, ?)" for _ in days) + ")")
        for lo, hi in days:
            params.extend([lo, hi])
        return " JOIN days d ON x.time >= d.lo AND x.time < d.hi", "d.lo"
    if isinstance(q.buckets, FixedBuckets):
        every, off = q.buckets.every_ns, q.buckets.offset_ns % q.buckets.every_ns
        # floor to the bucket start, also before the epoch (`%` truncates toward zero)
        return "", f"(x.time - ((((x.time - {off}) % {every}) + {every}) % {every}))"
    return "", ""
