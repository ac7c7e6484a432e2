"""What the API answers: the response and request bodies (every field is described in the
OpenAPI document)."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from kpi import KpiResult
from pilotproof.web.tokens import Role, TokenInfo


class Problem(BaseModel):
    """What every error answers: one sentence saying what is wrong and how to fix it."""

    detail: str = Field(description="what is wrong, and what to do about it")


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "a bad window or parameter"},
    401: {"model": Problem, "description": "no token, or an unknown or revoked one"},
    403: {"model": Problem, "description": "the token's role may not do this"},
    404: {"model": Problem, "description": "no such profile, KPI, bundle or token"},
    409: {
        "model": Problem,
        "description": "the request conflicts with the data (e.g. no seal yet)",
    },
    413: {"model": Problem, "description": "the upload is larger than the limit"},
    429: {"model": Problem, "description": "too many verifications or builds this minute"},
    503: {
        "model": Problem,
        "description": "the store, signing key or trusted keys are missing, or every "
        "worker is busy (retry after `Retry-After` seconds)",
    },
}


class Health(BaseModel):
    status: str = Field(description="`ok` when the store answers, else `degraded`")
    store: str = Field(description="the store the service reads")
    version: str


class ElementView(BaseModel):
    id: str
    kind: str
    declared_link: str = Field(description="the link the inventory declares")
    key_equipment: bool
    numerically_controlled: bool
    online: bool | None = Field(
        description="the last reported status in the last day; null if none"
    )
    last_seen: datetime | None = Field(description="when that status was reported")


class SiteView(BaseModel):
    """The site the service reads: what the dashboard needs to show times as the plant
    does."""

    site: str
    timezone: str = Field(description="IANA zone of the site: local days and the dashboard")
    status_interval_s: int = Field(description="how often elements report their status")
    elements: int


class ProfileView(BaseModel):
    id: str
    name_zh: str
    name_en: str


class SeriesPoint(BaseModel):
    day: str = Field(description="local calendar day (site time zone), YYYY-MM-DD")
    value: str | None = Field(description="the KPI over that day, as an exact decimal string")
    numerator: int | None = None
    denominator: int | None = None
    verdict: str


class KpiSeries(BaseModel):
    kpi: KpiResult = Field(description="the KPI over the whole window, with its breakdown")
    daily: list[SeriesPoint] = Field(description="the same KPI evaluated over each local day")


class EvidenceRequest(BaseModel):
    profile: str
    start: datetime = Field(
        alias="from",
        description="window start, ISO 8601; without an offset it is the site's local time",
    )
    end: datetime = Field(alias="to", description="window end (exclusive)")

    model_config = {"populate_by_name": True}


class EvidenceBuilt(BaseModel):
    id: str = Field(description="download it from /api/evidence/{id}")
    bytes: int
    lines: int
    batches: int
    verdict: str


class TokenCreate(BaseModel):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")
    role: Role


class TokenCreated(TokenInfo):
    token: str = Field(description="the bearer token; shown once, stored only as a hash")
