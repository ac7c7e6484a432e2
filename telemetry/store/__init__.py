"""Stores: the `Store` contract and its backends: InfluxDB, and embedded SQLite or DuckDB.

Each name loads its module on first use, so that `config_from_url` (a site config"s store
URL) loads neither backend nor pandas nor httpx.
"""

from typing import TYPE_CHECKING

from telemetry.lazy import lazy_exports

if TYPE_CHECKING:
    from telemetry.store.base import (
        Aggregate,
        AggregateFn,
        Buckets,
        FieldType,
        FixedBuckets,
        LocalDays,
        RejectedLine,
        Store,
        StoreAuthError,
        StoreError,
        StoreQueryError,
        StoreUnavailableError,
        WriteResult,
    )
    from telemetry.store.config import DuckdbConfig, InfluxConfig, RetryPolicy, SqliteConfig
    from telemetry.store.duck import DuckdbStore
    from telemetry.store.influx import InfluxStore
    from telemetry.store.influxql import aggregate_statement
    from telemetry.store.open import TOKEN_ENV, config_from_url, open_store
    from telemetry.store.sqlite import SqliteStore

__getattr__ = lazy_exports(
    __name__,
    base="Aggregate AggregateFn Buckets FieldType FixedBuckets LocalDays RejectedLine Store "
    "StoreAuthError StoreError StoreQueryError StoreUnavailableError WriteResult",
    config="DuckdbConfig InfluxConfig RetryPolicy SqliteConfig",
    duck="DuckdbStore",
    influx="InfluxStore",
    influxql="aggregate_statement",
    open="TOKEN_ENV config_from_url open_store",
    sqlite="SqliteStore",
)


__all__ = [
    "TOKEN_ENV",
    "Aggregate",
    "AggregateFn",
    "Buckets",
    "DuckdbConfig",
    "DuckdbStore",
    "FieldType",
    "FixedBuckets",
    "InfluxConfig",
    "InfluxStore",
    "LocalDays",
    "RejectedLine",
    "RetryPolicy",
    "SqliteConfig",
    "SqliteStore",
    "Store",
    "StoreAuthError",
    "StoreError",
    "StoreQueryError",
    "StoreUnavailableError",
    "WriteResult",
    "aggregate_statement",
    "config_from_url",
    "open_store",
]
