"""Open a store from a URL, the form the CLI and site configs use.

* `sqlite:PATH` (or `sqlite:///abs/path.db`) — the embedded SqliteStore;
* `duckdb:PATH` (or `duckdb:///abs/path.duckdb`) — the columnar embedded DuckdbStore, for
  large single-box sites (a month of 1,000 elements evaluates in seconds);
* `http(s)://[user:password@]host:port/?db=NAME[&rp=RP][&gzip=0][&batch=5000]` — InfluxDB
  through `/write` + `/query` (1.x, or 2.x/3.x with a DBRP mapping);
* add `&api=v2&org=ORG&bucket=BUCKET` to write through `/api/v2/write`.

Tokens do not belong in URLs that end up in shell history: the token is taken from the
environment variable `PILOTPROOF_INFLUX_TOKEN` (or `token=` in the URL, if you must).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, unquote, urlsplit

from pydantic import SecretStr

from telemetry.store.config import DuckdbConfig, InfluxConfig, SqliteConfig

if TYPE_CHECKING:
    from telemetry.store.base import Store

TOKEN_ENV = "PILOTPROOF_INFLUX_TOKEN"


def config_from_url(url: str) -> InfluxConfig | SqliteConfig | DuckdbConfig:
    for scheme in ("sqlite", "duckdb"):
        if url.startswith(f"{scheme}:"):
            rest = url[len(scheme) + 1 :]
            if rest.startswith("//"):
                rest = rest[2:]
            if not rest:
                raise ValueError(f"store URL {url!r} names no file: use {scheme}:PATH")
            return (
                SqliteConfig(path=Path(rest))
                if scheme == "sqlite"
                else DuckdbConfig(path=Path(rest))
            )
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError(
            f"store URL {url!r}: unknown scheme {parts.scheme!r}; use sqlite:PATH, "
            "duckdb:PATH or http://host:8086/?db=NAME"
        )
    q = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    known = {"db", "rp", "gzip", "batch", "api", "org", "bucket", "token"}
    unknown = sorted(set(q) - known)
    if unknown:
        raise ValueError(
            f"store URL {url!r}: unknown parameter(s) {unknown}; known: {sorted(known)}"
        )
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port:
        netloc += f":{parts.port}"
    token = q.get("token") or os.environ.get(TOKEN_ENV)
    return InfluxConfig(
        url=f"{parts.scheme}://{netloc}{parts.path.rstrip('/')}",
        database=q.get("db"),
        retention_policy=q.get("rp"),
        username=unquote(parts.username) if parts.username else None,
        password=SecretStr(unquote(parts.password)) if parts.password else None,
        token=SecretStr(token) if token else None,
        api="v2" if q.get("api") == "v2" else "v1",
        org=q.get("org"),
        bucket=q.get("bucket"),
        gzip=None if "gzip" not in q else q["gzip"] not in ("0", "false", "no"),
        batch_size=int(q.get("batch", "5000")),
    )


def open_store(target: str | InfluxConfig | SqliteConfig | DuckdbConfig) -> Store:
    """A store from a URL or a config model."""
    config = config_from_url(target) if isinstance(target, str) else target
    if isinstance(config, SqliteConfig):
        from telemetry.store.sqlite import SqliteStore

        return SqliteStore(config)
    if isinstance(config, DuckdbConfig):
        from telemetry.store.duck import DuckdbStore

        return DuckdbStore(config)
    from telemetry.store.influx import InfluxStore

    return InfluxStore(config)
