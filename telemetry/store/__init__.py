"""Stores: the `Store` contract and its two backends, InfluxDB and embedded SQLite."""

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
from telemetry.store.influx import InfluxConfig, InfluxStore, RetryPolicy
from telemetry.store.influxql import aggregate_statement
from telemetry.store.open import TOKEN_ENV, config_from_url, open_store
from telemetry.store.sqlite import SqliteConfig, SqliteStore

__all__ = [
    "TOKEN_ENV",
    "Aggregate",
    "AggregateFn",
    "Buckets",
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
