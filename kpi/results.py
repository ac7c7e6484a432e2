"""What an evaluation returns: per KPI its value, verdict, counts, breakdown, coverage,
queries and clause — the things an auditor reads."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from fractions import Fraction
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field, model_validator

from kpi.catalog import Comparator, Kind
from telemetry.timegrid import NS

Verdict = Literal["pass", "fail", "insufficient_data", "not_declared", "not_applicable"]
Source = Literal["measured", "declared", "composite", "rule"]
Role = Literal["required", "optional", "component", "conditional", "info"]
Cell = str | int | bool | None

VERDICT_LABELS: dict[Verdict, tuple[str, str]] = {
    "pass": ("达标", "pass"),
    "fail": ("未达标", "fail"),
    "insufficient_data": ("数据不足", "insufficient data"),
    "not_declared": ("未申报", "not declared"),
    "not_applicable": ("不适用", "not applicable"),
}


def ns_to_iso(ns: int) -> str:
    return datetime.fromtimestamp(ns // NS, UTC).isoformat().replace("+00:00", "Z")


class Window(BaseModel):
    """A half-open time range `[start, end)`, aware datetimes."""

    model_config = ConfigDict(frozen=True)
    start: datetime
    end: datetime

    @model_validator(mode="after")
    def _check(self) -> Window:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("window times need a time zone (e.g. 2026-10-01T00:00+08:00)")
        if self.end <= self.start:
            raise ValueError(f"window end {self.end} must be after its start {self.start}")
        return self

    @property
    def start_ns(self) -> int:
        return _to_ns(self.start)

    @property
    def end_ns(self) -> int:
        return _to_ns(self.end)

    @classmethod
    def of_ns(cls, start_ns: int, end_ns: int) -> Window:
        return cls(
            start=datetime.fromtimestamp(start_ns // NS, UTC),
            end=datetime.fromtimestamp(end_ns // NS, UTC),
        )


def _to_ns(dt: datetime) -> int:
    # integer arithmetic: a float timestamp loses nanoseconds past 2**53
    delta = dt - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * NS + delta.microseconds * 1000


def decimal_text(value: Fraction, places: int = 6) -> tuple[str, bool]:
    """The value as a decimal string and whether it is exact (a terminating decimal);
    otherwise rounded half-even to `places`."""
    den = value.denominator
    for p in (2, 5):
        while den % p == 0:
            den //= p
    with localcontext() as ctx:
        ctx.prec = 80  # enough for any terminating decimal of our counts
        d = Decimal(value.numerator) / Decimal(value.denominator)
        if den == 1:
            return _plain(d), True
        q = Decimal(1).scaleb(-places)
        return _plain(d.quantize(q, rounding=ROUND_HALF_EVEN)), False


def _plain(d: Decimal) -> str:
    s = format(d.normalize(), "f")
    return s if s != "-0" else "0"


class Gap(BaseModel):
    """A stretch of the window without a single row of the measurement."""

    start: str
    end: str
    hours: int


class Coverage(BaseModel):
    """How much of a window a measurement has data for, counted in whole hours."""

    measurement: str
    window: Window
    hours: int
    hours_with_data: int
    gaps: list[Gap] = Field(default_factory=list)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def fraction(self) -> Fraction:
        return Fraction(self.hours_with_data, self.hours) if self.hours else Fraction(0)


class QueryRecord(BaseModel):
    """One aggregate that ran in the store, as InfluxQL, and how many rows it returned."""

    statement: str
    rows: int


class Breakdown(BaseModel):
    """Rows behind a value: one per element, point, loop, line, day or enterprise."""

    by: str
    rows: list[dict[str, Cell]] = Field(default_factory=list)


class Clause(BaseModel):
    file: str
    document: str
    section: str
    quote: str = Field(description="verbatim Chinese clause (OCR as printed)")
    ocr_corrected_quote: str | None = None
    gloss: str = Field(description="English gloss of the clause")


class Measured(BaseModel):
    """What a measuring method found, before the threshold is applied: a number, or yes/no
    for a qualitative clause."""

    value: Fraction | bool | None
    numerator: int | None = None
    denominator: int | None = None
    breakdown: Breakdown | None = None
    notes: list[str] = Field(default_factory=list)
    coverage: list[Coverage] = Field(default_factory=list)


class KpiResult(BaseModel):
    """One indicator of a profile over a window: what the source document asks
    (`clause`, `formula`, `threshold`), what was measured (`value` exactly, `decimal`,
    `numerator`/`denominator`), the `verdict`, and how to check it (`breakdown` per
    element, day or line; `coverage` and its gaps; the `queries` that ran; `notes` on
    anything left out). Declared items carry the operator's `attachment` instead."""

    id: str
    kind: Kind
    name_zh: str
    name_en: str
    source: Source
    role: Role
    method: str | None = None
    formula: str
    unit: str | None = None
    comparator: Comparator
    threshold: Fraction | bool | None
    threshold_text: str = Field(description="the rule for people, e.g. '>= 20 %'")
    threshold_interpreted: bool = False
    value: Fraction | bool | None = None
    decimal: str | None = Field(default=None, description="the value as a decimal string")
    exact: bool = Field(default=True, description="whether `decimal` is exact or rounded")
    numerator: int | None = None
    denominator: int | None = None
    verdict: Verdict
    breakdown: Breakdown | None = None
    coverage: list[Coverage] = Field(default_factory=list)
    queries: list[QueryRecord] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    attachment: str | None = Field(default=None, description="for declared items")
    components: list[str] = Field(default_factory=list)
    clause: Clause

    def display_value(self) -> str:
        """For tables: percent for ratios, thousands separators for counts."""
        v = self.value
        if v is None:
            return "—"
        if isinstance(v, bool):
            return "是 yes" if v else "否 no"
        unit = self.unit or ""
        if unit.startswith("ratio"):
            text, exact = decimal_text(v * 100, 2)
            return f"{'' if exact else '≈'}{text} %"
        if v.denominator == 1:
            return f"{v.numerator:,}"
        text, exact = decimal_text(v, 2)
        return f"{'' if exact else '≈'}{text}"

    def display_threshold(self) -> str:
        return self.threshold_text


class Evaluation(BaseModel):
    """A profile evaluated over a window (and its baseline): one `KpiResult` per entry,
    the store it read, the parameters used, and the overall `verdict` (fail if a
    required KPI fails, pass if all pass, else incomplete). `kpi.evaluate` makes one;
    a verifier makes another from the bundled lines and compares the two."""

    profile: str
    profile_name_zh: str
    profile_name_en: str
    site: str
    window: Window
    baseline: Window | None
    store: str
    params: dict[str, str]
    results: list[KpiResult]
    evaluated_at: datetime
    rows_read: int = Field(description="rows all queries brought into Python")
    notes: list[str] = Field(
        default_factory=list,
        description="what the evaluation as a whole leaves out, e.g. declared points of "
        "categories no KPI of the profile reads",
    )

    def result(self, kpi_id: str) -> KpiResult:
        for r in self.results:
            if r.id == kpi_id:
                return r
        raise KeyError(kpi_id)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def verdict(self) -> Literal["pass", "fail", "incomplete"]:
        """fail if a required KPI fails; pass if every required one passes; else incomplete."""
        required = [r for r in self.results if r.role == "required"]
        if any(r.verdict == "fail" for r in required):
            return "fail"
        if all(r.verdict == "pass" for r in required):
            return "pass"
        return "incomplete"

    def failed(self) -> list[KpiResult]:
        return [r for r in self.results if r.role == "required" and r.verdict == "fail"]
