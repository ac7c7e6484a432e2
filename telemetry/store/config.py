"""Where a store is: the config models of both backends, loaded without the backends
themselves (httpx, pandas), so that a site config validates its store URL fast."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator


class RetryPolicy(BaseModel):
    """Backoff for transient failures (429, 5xx, timeouts, refused connections)."""

    model_config = ConfigDict(frozen=True)
    initial_backoff_s: float = Field(default=0.5, gt=0)
    max_backoff_s: float = Field(default=30.0, gt=0)
    multiplier: float = Field(default=2.0, ge=1)
    jitter: float = Field(default=0.2, ge=0, le=1, description="± fraction of each delay")
    max_elapsed_s: float = Field(
        default=120.0, ge=0, description="give up (StoreUnavailableError) after this long"
    )


class InfluxConfig(BaseModel):
    """Where and how to reach InfluxDB. Credentials: username/password, or a token."""

    model_config = ConfigDict(frozen=True)

    url: str = Field(description="base URL, e.g. http://127.0.0.1:8086")
    database: str | None = Field(
        default=None, description="database (1.x) or DBRP-mapped database (2.x/3.x) for /write"
    )
    retention_policy: str | None = None
    username: str | None = None
    password: SecretStr | None = None
    token: SecretStr | None = None
    api: Literal["v1", "v2"] = Field(
        default="v1", description="v1: /write; v2: /api/v2/write with org and bucket"
    )
    org: str | None = None
    bucket: str | None = None
    gzip: bool | None = Field(
        default=None,
        description="gzip request bodies; default: yes, unless the server is on this host "
        "(loopback), where compressing costs both sides CPU and saves no network",
    )
    batch_size: int = Field(default=5000, gt=0, description="lines per write request")
    max_in_flight: int = Field(default=2, gt=0, description="concurrent write requests")
    timeout_s: float = Field(default=30.0, gt=0)
    retry: RetryPolicy = RetryPolicy()

    @property
    def compress(self) -> bool:
        """Whether write bodies are gzipped: `gzip`, or by default unless on loopback."""
        if self.gzip is not None:
            return self.gzip
        host = (urlsplit(self.url).hostname or "").lower()
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:  # a name: only localhost is known to be this host
            loopback = host == "localhost" or host.endswith(".localhost")
        return not loopback

    @model_validator(mode="after")
    def _check(self) -> InfluxConfig:
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"url {self.url!r} must start with http:// or https://")
        if self.api == "v2":
            missing = [k for k in ("org", "bucket", "token") if getattr(self, k) is None]
            if missing:
                raise ValueError(f"api 'v2' needs {', '.join(missing)}")
        if self.database is None:
            raise ValueError(
                "database is required: InfluxQL reads go through /query?db=...; on InfluxDB "
                "2.x/3.x map it to the bucket (DBRP mapping)"
            )
        if self.username is not None and self.password is None:
            raise ValueError("username given without password")
        return self


class SqliteConfig(BaseModel):
    model_config = ConfigDict(frozen=True)
    path: Path = Field(description="the database file; created with its folder if missing")


class DuckdbConfig(BaseModel):
    model_config = ConfigDict(frozen=True)
    path: Path = Field(description="the database file; created with its folder if missing")
    memory_limit: str = Field(
        default="512MB",
        description="DuckDB's working memory (beyond it, it spills to a temp folder)",
    )
