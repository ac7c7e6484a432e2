"""telemetry — pilotproof's data contract: points, line protocol, the schema and the stores.

Every other package depends on this one, and this one on none of them.
"""

from telemetry import schema
from telemetry.block import SeriesBlock
from telemetry.inventory import (
    DeclaredElement,
    DeclaredLine,
    DeclaredLoop,
    DeclaredPoint,
    Inventory,
)
from telemetry.line_protocol import (
    LineProtocolError,
    decode_line,
    decode_lines,
    encode_line,
    encode_lines,
    format_field_value,
    iter_decode,
    series_key,
)
from telemetry.point import FieldValue, Point, PointError
from telemetry.store import (
    Aggregate,
    AggregateFn,
    Buckets,
    FieldType,
    FixedBuckets,
    InfluxConfig,
    InfluxStore,
    LocalDays,
    RejectedLine,
    RetryPolicy,
    SqliteConfig,
    SqliteStore,
    Store,
    StoreAuthError,
    StoreError,
    StoreQueryError,
    StoreUnavailableError,
    WriteResult,
    config_from_url,
    open_store,
)

__all__ = [
    "Aggregate",
    "AggregateFn",
    "Buckets",
    "DeclaredElement",
    "DeclaredLine",
    "DeclaredLoop",
    "DeclaredPoint",
    "FieldType",
    "FieldValue",
    "FixedBuckets",
    "InfluxConfig",
    "InfluxStore",
    "Inventory",
    "LineProtocolError",
    "LocalDays",
    "Point",
    "PointError",
    "RejectedLine",
    "RetryPolicy",
    "SeriesBlock",
    "SqliteConfig",
    "SqliteStore",
    "Store",
    "StoreAuthError",
    "StoreError",
    "StoreQueryError",
    "StoreUnavailableError",
    "WriteResult",
    "config_from_url",
    "decode_line",
    "decode_lines",
    "encode_line",
    "encode_lines",
    "format_field_value",
    "iter_decode",
    "open_store",
    "schema",
    "series_key",
]
