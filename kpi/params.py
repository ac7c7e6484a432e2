"""The documented, overridable parameters of KPI semantics (DESIGN.md, "KPI semantics")."""

from __future__ import annotations

from fractions import Fraction

from pydantic import BaseModel, ConfigDict, Field


class KpiParams(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    min_online_fraction: Fraction = Field(
        default=Fraction(1, 2),
        description="an element is online in a window if reported online in at least this "
        "share of its status intervals",
    )
    min_point_completeness: Fraction = Field(
        default=Fraction(95, 100),
        description="a point counts as collected automatically if good ÷ expected samples "
        "reaches this",
    )
    min_coverage: Fraction = Field(
        default=Fraction(4, 5),
        description="below this share of the window's hours with data, a KPI's verdict is "
        "'insufficient data' (its value is still reported)",
    )
    last_days: int = Field(
        default=30, ge=1, description="days of the 'last N days' resolution average"
    )
    history_start_ns: int = Field(
        default=0, ge=0, description="cumulative counts (registrations) start here (UTC ns)"
    )
    decimal_places: int = Field(
        default=6,
        ge=0,
        le=30,
        description="places of the rounded decimal of a non-terminating value",
    )

    def as_text(self) -> dict[str, str]:
        return {k: str(v) for k, v in self.model_dump().items()}
