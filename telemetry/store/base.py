"""The `Store` contract: writes of `Point`s and the aggregate reads KPIs need.

Both backends implement exactly these semantics, and one contract test suite runs
against both (tests/telemetry/test_store_contract.py):

* Writes are idempotent: a point with the same series, field and time overwrites the
  previous value (InfluxDB's rule), so a retried batch never doubles anything.
* A field has one type per measurement; a point whose field type conflicts with the
  stored type is rejected (reported in `WriteResult.rejected`), the rest are written.
* Windows are half-open, `[start_ns, end_ns)`.
* `last`/`first` pick the latest/earliest sample of a group; when several series of one
  group have samples at that very time, which one wins is unspecified — group by the
  tags that identify a series (e.g. `element`) when that matters.
* Aggregates run in the database and return a DataFrame with the `group_by` tag columns
  (a missing tag reads as `""`), a `time` column (bucket start, UTC ns) when bucketed
  (or the selected sample's time with `keep_time`),
  and `value`; rows sorted by group then time; empty buckets are omitted.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, Protocol, Self, runtime_checkable
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from telemetry.block import SeriesBlock
from telemetry.errors import PilotproofError
from telemetry.point import FieldValue, Point
from telemetry.timegrid import NS

if TYPE_CHECKING:
    import pandas as pd

AggregateFn = Literal["last", "first", "sum", "count", "mean", "min", "max"]
FieldType = Literal["float", "int", "bool", "str"]

NUMERIC_FNS = frozenset({"sum", "mean", "min", "max"})


class StoreError(PilotproofError):
    """Base of every store error."""

    code = "E_STORE"


class StoreAuthError(StoreError):
    """The store refused our credentials: retrying cannot help, a person must fix the config."""

    code = "E_STORE_AUTH"


class StoreUnavailableError(StoreError):
    """The store could not be reached or kept failing after every retry; data was not written."""

    code = "E_STORE_UNAVAILABLE"


class StoreQueryError(StoreError):
    """A read failed; the message carries the query and the store's reason."""

    code = "E_STORE_QUERY"


class FixedBuckets(BaseModel):
    """Buckets of `every_ns`, aligned to the Unix epoch plus `offset_ns` (InfluxQL's rule)."""

    model_config = ConfigDict(frozen=True)
    kind: Literal["fixed"] = "fixed"
    every_ns: int = Field(gt=0)
    offset_ns: int = 0


class LocalDays(BaseModel):
    """Calendar days in a time zone: each bucket runs from local midnight to local midnight."""

    model_config = ConfigDict(frozen=True)
    kind: Literal["days"] = "days"
    tz: str = "Asia/Shanghai"

    @field_validator("tz")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except Exception:
            raise ValueError(
                f"unknown time zone {v!r}; use an IANA name such as 'Asia/Shanghai'"
            ) from None
        return v

    def boundaries(self, start_ns: int, end_ns: int) -> list[tuple[int, int]]:
        """[start, end) of every local day that overlaps the window, in UTC ns."""
        zone = ZoneInfo(self.tz)
        # floor to whole seconds: a float would round 1 ns before midnight up to midnight
        day = datetime.fromtimestamp(start_ns // NS, zone).date()
        out: list[tuple[int, int]] = []
        while True:
            lo = _local_midnight_ns(day, zone)
            if lo >= end_ns:
                break
            day = day + timedelta(days=1)
            out.append((lo, _local_midnight_ns(day, zone)))
        return out


def _local_midnight_ns(day: object, zone: ZoneInfo) -> int:
    from datetime import date, time

    assert isinstance(day, date)
    dt = datetime.combine(day, time(0), zone)
    return int(dt.timestamp()) * NS


Buckets = FixedBuckets | LocalDays


class Span(Protocol):
    """A half-open time range `[start_ns, end_ns)`: a KPI window, a scenario period."""

    @property
    def start_ns(self) -> int: ...

    @property
    def end_ns(self) -> int: ...


class Aggregate(BaseModel):
    """One aggregate read: `fn(field)` of `measurement` over `[start_ns, end_ns)`.

    `where` filters tags (a value, or a list of accepted values); `field_equals` keeps
    only samples whose aggregated field equals the value (e.g. `online = true`).
    `keep_time` (only for unbucketed `last`/`first`) adds a `time` column holding the time
    of the sample selected, e.g. when an element was last seen on each link.
    """

    model_config = ConfigDict(frozen=True)

    measurement: str
    field: str
    fn: AggregateFn
    start_ns: int
    end_ns: int
    group_by: tuple[str, ...] = ()
    where: dict[str, str | tuple[str, ...]] = Field(default_factory=dict)
    field_equals: FieldValue | None = None
    buckets: Buckets | None = Field(default=None, discriminator="kind")
    keep_time: bool = False

    @classmethod
    def over(
        cls, span: Span, measurement: str, field: str, fn: AggregateFn, **options: Any
    ) -> Self:
        """`fn(field)` of `measurement` over the whole of `span`; `options` are its other fields."""
        return cls(
            measurement=measurement,
            field=field,
            fn=fn,
            start_ns=span.start_ns,
            end_ns=span.end_ns,
            **options,
        )

    @property
    def has_time(self) -> bool:
        """Whether the result carries a `time` column (bucket start or selected sample)."""
        return self.buckets is not None or self.keep_time

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.keep_time and (self.fn not in ("last", "first") or self.buckets is not None):
            raise ValueError(
                f"keep_time needs an unbucketed last() or first(), not {self.fn}() "
                f"{'with' if self.buckets else 'without'} buckets"
            )
        if self.end_ns <= self.start_ns:
            raise ValueError(
                f"window end {self.end_ns} must be after start {self.start_ns} (ns, half-open)"
            )
        if len(set(self.group_by)) != len(self.group_by):
            raise ValueError(f"group_by {self.group_by} names a tag twice")
        for k, v in self.where.items():
            if isinstance(v, tuple) and not v:
                raise ValueError(f"tag filter {k!r} lists no values")
        return self


class RejectedLine(BaseModel):
    """A point the store refused, with the store's own reason. Never retried."""

    line: str
    reason: str


class WriteResult(BaseModel):
    written: int = 0
    rejected: list[RejectedLine] = Field(default_factory=list)

    def merge(self, other: WriteResult) -> None:
        self.written += other.written
        self.rejected.extend(other.rejected)


@runtime_checkable
class Store(Protocol):
    """What collectors write to and KPIs read from."""

    async def write(self, points: Iterable[Point]) -> WriteResult:
        """Write points; conflicting ones come back in `rejected`, the rest are stored."""
        ...

    async def write_blocks(self, blocks: Iterable[SeriesBlock]) -> WriteResult:
        """Write column blocks (the bulk path): same semantics as `write` of their points."""
        ...

    async def aggregate(self, query: Aggregate) -> pd.DataFrame:
        """Run one aggregate in the store (never by pulling raw points)."""
        ...

    async def read(
        self,
        measurement: str,
        start_ns: int,
        end_ns: int,
        where: dict[str, str | tuple[str, ...]] | None = None,
        limit: int | None = None,
    ) -> list[Point]:
        """Raw points of a window, sorted by tags then time, at most `limit` per series:
        for drill-downs and evidence, never for aggregation."""
        ...

    async def field_types(self, measurement: str) -> dict[str, FieldType]: ...

    async def close(self) -> None: ...

    def describe(self) -> str:
        """Where the data goes, for logs and errors (credentials never included)."""
        ...


def check_limit(limit: int | None) -> None:
    if limit is not None and limit < 1:
        raise StoreQueryError(f"limit {limit} must be at least 1 (or None for no limit)")


def result_frame(
    group_by: Sequence[str],
    timed: bool,
    rows: list[tuple[object, ...]],
    fn: AggregateFn,
    field_type: FieldType | None,
) -> pd.DataFrame:
    """Build the contract's DataFrame (column order, dtypes, sorting) from raw rows."""
    columns = [*group_by, *(["time"] if timed else []), "value"]
    import pandas as pd

    df = pd.DataFrame(rows, columns=columns)
    for g in group_by:
        df[g] = df[g].fillna("").astype(str)
    if timed:
        df["time"] = df["time"].astype("int64")
    df["value"] = df["value"].astype(value_dtype(fn, field_type))  # type: ignore[call-overload]
    order = [*group_by, *(["time"] if timed else [])]
    if order and len(df):
        df = df.sort_values(order, kind="stable").reset_index(drop=True)
    return df


def value_dtype(fn: AggregateFn, field_type: FieldType | None) -> str:
    if fn == "count":
        return "int64"
    if fn == "mean":
        return "float64"
    return {"float": "float64", "int": "int64", "bool": "bool", "str": "object"}.get(
        field_type or "float", "float64"
    )


def check_aggregable(query: Aggregate, field_type: FieldType | None) -> None:
    """Refuse aggregates InfluxQL refuses, so both stores fail the same way."""
    if field_type in ("bool", "str") and query.fn in NUMERIC_FNS:
        raise StoreQueryError(
            f"{query.fn}() of {query.measurement}.{query.field} is not possible: the field is "
            f"{field_type}; use count(), first() or last() (with field_equals to count values)"
        )
