"""The service's limits and defaults."""

from pathlib import Path

from pydantic import BaseModel, Field


class WebSettings(BaseModel):
    """What the service needs besides the store: limits and defaults."""

    default_profile: str = Field(description="profile the dashboard opens with")
    default_days: int = Field(
        default=30, ge=1, description="window length the dashboard opens with"
    )
    max_window_days: int = Field(
        default=400, ge=1, description="longest window one request may evaluate (400 beyond)"
    )
    max_upload_bytes: int = Field(
        default=256 << 20, ge=1, description="largest bundle /api/verify accepts"
    )
    max_json_bytes: int = Field(
        default=16 << 10, ge=1, description="largest JSON body of the other routes"
    )
    verify_per_minute: int = Field(
        default=6, ge=1, description="verifications per token per minute"
    )
    builds_per_minute: int = Field(
        default=2, ge=1, description="evidence builds per token per minute"
    )
    keep_bundles: int = Field(
        default=20, ge=1, description="built bundles kept for download; the oldest go first"
    )
    keep_bundle_days: float = Field(
        default=30, gt=0, description="built bundles older than this are removed"
    )
    work_dir: Path = Field(description="where built bundles are kept for download")
    kpi_cache_s: float = Field(
        default=30.0, ge=0, description="how long an evaluation is reused for the same window"
    )
