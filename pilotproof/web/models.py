"""What the API answers: the response and request bodies (every field is described in the
OpenAPI document)."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from kpi import KpiResult
from pilotproof.web.tokens import Role, TokenInfo
from verifier import VerifyReport


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
    value: str | None = Field(
        description="the KPI over that day: an exact decimal string, or true/false"
    )
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


class AgentView(BaseModel):
    """An agent's health as its own `pp_agent` rows report it (one per status interval,
    forwarded through its buffer: a row stored late means forwarding is late)."""

    agent: str
    pinned_site: str | None = Field(
        default=None, description="the site the trusted-keys file pins this agent to"
    )
    last_report: datetime | None = Field(description="time of its newest `pp_agent` row")
    stale: bool = Field(description="no row for 3 status intervals (or none at all)")
    points_in: int | None = None
    points_out: int | None = None
    parse_errors: int | None = None
    driver_errors: int | None = None
    store_rejected: int | None = None
    buffer_full: int | None = Field(default=None, description="points refused at the cap")
    backlog_lines: int | None = Field(
        default=None, description="lines in the buffer not yet in the store (pending + sealed)"
    )
    buffer_bytes: int | None = None
    buffer_max_bytes: int | None = Field(default=None, description="0: an agent before 0.3")
    buffer_fill: float | None = Field(default=None, description="buffer_bytes / buffer_max_bytes")
    drivers: int | None = None
    connected: int | None = Field(default=None, description="drivers connected")
    sealer_up: bool | None = None
    store_up: bool | None = None
    batches_stored: int | None = Field(
        default=None, description="KPI-stream batches of its current chain in the store"
    )
    sealed_until: datetime | None = Field(
        default=None, description="newest point time of its newest stored KPI-stream batch"
    )


class PointView(BaseModel):
    """A raw point with samples in the window (`telemetry`)."""

    element: str
    point: str
    samples: int
    unit: str = ""
    period_s: float | None = Field(default=None, description="declared sampling period")


class TrendRow(BaseModel):
    time: datetime = Field(description="bucket start")
    mean: float | None
    min: float | None
    max: float | None
    samples: int


class PointTrend(BaseModel):
    """A raw point's value over a window, in buckets of `every_s` (mean, min and max)."""

    element: str
    point: str
    unit: str = ""
    every_s: int
    rows: list[TrendRow]


class Warning(BaseModel):
    """Something an operator should look at now."""

    code: str = Field(description="W_ELEMENT_OFFLINE, W_AGENT_STALE, W_BUFFER_FILLING, …")
    severity: str = Field(description="`alert` (act now) or `notice`")
    subject: str = Field(description="the element, agent or measurement it is about")
    message_zh: str
    message_en: str


class Verified(VerifyReport):
    """A verification, and where its HTML report can be downloaded."""

    report: str = Field(description="GET this path for the HTML report (auditor)")
