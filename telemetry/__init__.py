"""telemetry — pilotproof's data contract: points, line protocol, the schema and the stores.

Every other package depends on this one, and this one on none of them. `InfluxStore`
(httpx) loads on first use. The canonical-line helpers of the agent's hot path
(`telemetry_prefix`, `telemetry_head`, `telemetry_stamp`, `telemetry_line`) are not part
of this API: they live in `telemetry.line_protocol` for the drivers that format lines.
"""

from typing import TYPE_CHECKING, Any

import telemetry.store
from telemetry import schema
from telemetry.block import SeriesBlock, decode_blocks
from telemetry.errors import PilotproofError
from telemetry.inventory import (
    DeclaredArea,
    DeclaredElement,
    DeclaredLine,
    DeclaredLoop,
    DeclaredPoint,
    Inventory,
    InventoryError,
    describe_validation_error,
    load_inventory,
    parse_inventory,
)
from telemetry.line_protocol import (
    LineProtocolError,
    decode_line,
    decode_lines,
    encode_line,
    encode_lines,
    iter_decode,
    series_key,
)
from telemetry.point import FieldValue, Point, PointError

if TYPE_CHECKING:  # the stores' names, re-exported (loaded on first use, below)
    from telemetry.store import (
        Aggregate as Aggregate,
        AggregateFn as AggregateFn,
        Buckets as Buckets,
        DuckdbConfig as DuckdbConfig,
        DuckdbStore as DuckdbStore,
        FieldType as FieldType,
        FixedBuckets as FixedBuckets,
        InfluxConfig as InfluxConfig,
        InfluxStore as InfluxStore,
        LocalDays as LocalDays,
        RejectedLine as RejectedLine,
        RetryPolicy as RetryPolicy,
        SqliteConfig as SqliteConfig,
        SqliteStore as SqliteStore,
        Store as Store,
        StoreAuthError as StoreAuthError,
        StoreError as StoreError,
        StoreQueryError as StoreQueryError,
        StoreUnavailableError as StoreUnavailableError,
        WriteResult as WriteResult,
        aggregate_statement as aggregate_statement,
        config_from_url as config_from_url,
        open_store as open_store,
    )


def __getattr__(name: str) -> Any:
    # the stores' names, loaded with their backend on first use (pandas, httpx)
    if name in telemetry.store.__all__:
        return getattr(telemetry.store, name)
    raise AttributeError(f"module 'telemetry' has no attribute {name!r}")


__all__ = [
    "DeclaredArea",
    "DeclaredElement",
    "DeclaredLine",
    "DeclaredLoop",
    "DeclaredPoint",
    "FieldValue",
    "Inventory",
    "InventoryError",
    "LineProtocolError",
    "PilotproofError",
    "Point",
    "PointError",
    "SeriesBlock",
    "decode_blocks",
    "decode_line",
    "decode_lines",
    "describe_validation_error",
    "encode_line",
    "encode_lines",
    "iter_decode",
    "load_inventory",
    "parse_inventory",
    "schema",
    "series_key",
]
__all__ += telemetry.store.__all__
