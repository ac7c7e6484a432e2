"""`InfluxStore`: InfluxDB over plain HTTP (httpx) — line-protocol writes, InfluxQL reads.

Why not `influxdb-client`: it speaks only the v2 API (no `/write` before 1.8, Flux reads
that InfluxDB 3 dropped) and has no InfluxQL API at all. `/write` + `/query` serve
InfluxDB 1.x natively, 2.x through its v1-compatibility API and 3.x; `/api/v2/write`
(org, bucket, token) is there as an option for 2.x/3.x deployments without DBRP mappings
for writes. See docs/store.md.

Write errors are classified, never retried blindly:

* 400 / 422 naming bad data ("unable to parse", "partial write", "field type conflict")
  — the server refused some lines. InfluxDB 1.x writes the good lines of a batch anyway
  (2.x answers 422 for a partial write), and writes are idempotent, so the batch is
  bisected until each refused line stands alone; those come back in
  `WriteResult.rejected` with the server's message. Any other 400 (a proxy refusing gzip,
  a series limit, 2.x refusing a whole batch) is a `StoreQueryError` for the call: the
  lines are not declared bad, so the caller's buffer keeps them.
* 401 / 403 — `StoreAuthError` at once: retrying cannot fix credentials.
* 413 — the batch is split in halves and each half sent.
* 429, 5xx, timeouts, refused connections — retried with exponential backoff (honouring
  `Retry-After`) until `RetryPolicy.max_elapsed_s`, then `StoreUnavailableError`; the
  agent's durable buffer keeps the data meanwhile.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

import httpx

from telemetry.block import SeriesBlock
from telemetry.line_protocol import encode_lines
from telemetry.point import Point
from telemetry.store import influxql
from telemetry.store.base import (
    Aggregate,
    FieldType,
    RejectedLine,
    StoreAuthError,
    StoreQueryError,
    StoreUnavailableError,
    WriteResult,
    check_aggregable,
    check_limit,
    result_frame,
)
from telemetry.store.config import InfluxConfig

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

# Messages with which InfluxDB refuses particular lines (1.x, 2.x), as opposed to a batch.
_LINE_SPECIFIC = (
    "unable to parse",
    "partial write",
    "field type conflict",
    "invalid field",
    "invalid tag",
    "points beyond retention",
    "failure writing points",
)


_INFLUX_TYPES: dict[str, FieldType] = {
    "float": "float",
    "integer": "int",
    "unsigned": "int",
    "boolean": "bool",
    "string": "str",
}


Sleep = Callable[[float], Awaitable[None]]


class _SentOnce:
    """A request body that lets go of its bytes once they are sent.

    httpx keeps a finished request alive in a reference cycle (a response and its stream
    refer to each other, and the response to its request and body) until the cyclic
    collector's oldest generation runs — in the agent's tuned processes up to minutes
    later (collectors/interpreter.py). With 450 KB bodies, 20 writes a second held 10 MB
    more every second (bench/e2e.py). The `Content-Length` is sent with it, so the
    request is not chunked."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    async def __aiter__(self) -> AsyncIterator[bytes]:
        data, self._data = self._data, b""
        yield data


class InfluxStore:
    """A `Store` on InfluxDB 1.x/2.x/3.x over HTTP."""

    def __init__(
        self,
        config: InfluxConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        headers = {"User-Agent": "pilotproof"}
        auth: httpx.BasicAuth | None = None
        if config.token is not None:
            headers["Authorization"] = f"Token {config.token.get_secret_value()}"
        elif config.username is not None and config.password is not None:
            auth = httpx.BasicAuth(config.username, config.password.get_secret_value())
        self._client = httpx.AsyncClient(
            base_url=config.url.rstrip("/"),
            headers=headers,
            auth=auth,
            timeout=config.timeout_s,
            transport=transport,
        )
        self._sleep = sleep
        self._clock = clock
        self._field_types: dict[str, dict[str, FieldType]] = {}

    # --- lifecycle --------------------------------------------------------------------

    def describe(self) -> str:
        c = self.config
        target = f"bucket {c.bucket!r}" if c.api == "v2" else f"database {c.database!r}"
        return f"InfluxDB at {c.url} ({target})"

    async def close(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> InfluxStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def ping(self) -> str:
        """The server's version; raises StoreUnavailableError when it does not answer."""
        resp = await self._request("GET", "/ping")
        return str(resp.headers.get("X-Influxdb-Version", "unknown"))

    async def create_database(self) -> None:
        """`CREATE DATABASE` (InfluxDB 1.x; idempotent). 2.x/3.x: create the bucket instead."""
        await self._query(f"CREATE DATABASE {influxql.quote_ident(self.config.database or '')}")

    # --- writes -----------------------------------------------------------------------

    async def write(self, points: Iterable[Point]) -> WriteResult:
        return await self.write_lines(encode_lines(points))

    async def write_blocks(self, blocks: Iterable[SeriesBlock]) -> WriteResult:
        lines: list[str] = []
        for b in blocks:
            lines.extend(b.lines())
        return await self.write_lines(lines)

    async def write_lines(self, lines: list[str]) -> WriteResult:
        """Write already-encoded (canonical) lines in batches, `max_in_flight` at a time."""
        result = WriteResult()
        if not lines:
            return result
        size = self.config.batch_size
        pending: set[asyncio.Task[WriteResult]] = set()
        try:
            for i in range(0, len(lines), size):
                batch = lines[i : i + size]
                task = asyncio.create_task(self._write_batch(batch))
                pending.add(task)
                if len(pending) >= self.config.max_in_flight:
                    done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                    for t in done:
                        result.merge(t.result())
            for finished in asyncio.as_completed(pending):
                result.merge(await finished)
            pending = set()
        finally:
            self._field_types.clear()  # a write may have created fields
            for t in pending:
                t.cancel()
            # Collect every outcome so no task's exception goes unretrieved.
            await asyncio.gather(*pending, return_exceptions=True)
        return result

    async def _write_batch(self, lines: list[str]) -> WriteResult:
        body = "\n".join(lines).encode()
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        if self.config.compress:
            body = gzip.compress(body, compresslevel=1)
            headers["Content-Encoding"] = "gzip"
        resp = await self._request(
            "POST",
            self._write_path,
            content=body,
            headers=headers,
            params=self._write_params(),
            expect=(204, 200, 400, 413, 422),
        )
        if resp.status_code in (200, 204):
            return WriteResult(written=len(lines))
        if resp.status_code in (400, 422):
            reason = _error_message(resp)
            if not any(m in reason for m in _LINE_SPECIFIC):
                raise StoreQueryError(
                    f"{self.describe()} refused a batch of {len(lines)} lines (HTTP "
                    f"{resp.status_code}: {reason}); the reason names no line, so none is "
                    "dropped — fix the server or proxy setting it names and retry"
                )
        if len(lines) == 1:
            reason = (
                "line larger than the server's max body size (HTTP 413)"
                if resp.status_code == 413
                else _error_message(resp)
            )
            log.warning("%s refused a line: %s", self.describe(), reason)
            return WriteResult(rejected=[RejectedLine(line=lines[0], reason=reason)])
        # 413: too big; 400: some lines refused (the good ones were written, and rewriting
        # them is idempotent). Either way, halve until every refused line stands alone.
        mid = len(lines) // 2
        result = await self._write_batch(lines[:mid])
        result.merge(await self._write_batch(lines[mid:]))
        return result

    @property
    def _write_path(self) -> str:
        return "/api/v2/write" if self.config.api == "v2" else "/write"

    def _write_params(self) -> dict[str, str]:
        c = self.config
        if c.api == "v2":
            return {"org": c.org or "", "bucket": c.bucket or "", "precision": "ns"}
        params = {"db": c.database or "", "precision": "ns"}
        if c.retention_policy:
            params["rp"] = c.retention_policy
        return params

    # --- transport with classification and backoff --------------------------------------

    async def _request(
        self,
        method: str,
        path: str,
        *,
        content: bytes | None = None,
        data: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        expect: tuple[int, ...] = (200, 204),
    ) -> httpx.Response:
        policy = self.config.retry
        started = self._clock()
        delay = policy.initial_backoff_s
        attempt = 0
        while True:
            attempt += 1
            problem: str
            retry_after: float | None = None
            try:
                body: bytes | _SentOnce | None = content
                sent = headers
                if content is not None:  # a fresh one each attempt: a retry sends it again
                    body = _SentOnce(content)
                    sent = {**(headers or {}), "Content-Length": str(len(content))}
                resp = await self._client.request(
                    method, path, content=body, data=data, headers=sent, params=params
                )
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as e:
                problem = f"{type(e).__name__}: {e}"
            else:
                if resp.status_code in (401, 403):
                    raise StoreAuthError(
                        f"{self.describe()} refused our credentials (HTTP {resp.status_code}: "
                        f"{_error_message(resp)}). Check the username/password or token in the "
                        "store settings; for InfluxDB 2.x/3.x the token needs write and read "
                        "permission on the bucket."
                    )
                if resp.status_code in expect:
                    return resp
                if resp.status_code == 429 or resp.status_code >= 500:
                    problem = f"HTTP {resp.status_code}: {_error_message(resp)}"
                    retry_after = _retry_after(resp)
                else:
                    raise StoreQueryError(
                        f"{self.describe()} answered HTTP {resp.status_code} to {method} {path}: "
                        f"{_error_message(resp)}"
                    )
            elapsed = self._clock() - started
            if elapsed >= policy.max_elapsed_s:
                raise StoreUnavailableError(
                    f"{self.describe()} unavailable after {attempt} attempts over "
                    f"{elapsed:.1f} s; last error: {problem}. Is the server running and the URL "
                    "right? This request was not written (earlier batches of the same call may "
                    "have been; rewriting them is harmless)."
                )
            wait = retry_after if retry_after is not None else delay
            wait *= 1 + random.uniform(-policy.jitter, policy.jitter)
            wait = max(0.0, min(wait, policy.max_backoff_s, policy.max_elapsed_s - elapsed))
            log.warning("%s: %s; retry %d in %.2f s", self.describe(), problem, attempt, wait)
            await self._sleep(wait)
            delay = min(delay * policy.multiplier, policy.max_backoff_s)

    # --- reads ------------------------------------------------------------------------

    async def _query(self, statement: str) -> list[dict[str, Any]]:
        data = {"q": statement, "epoch": "ns"}
        if self.config.database:
            data["db"] = self.config.database
        resp = await self._request("POST", "/query", data=data, expect=(200, 400))
        if resp.status_code == 400:
            raise StoreQueryError(f"InfluxQL refused {statement!r}: {_error_message(resp)}")
        payload = resp.json()
        series: list[dict[str, Any]] = []
        for res in payload.get("results", []):
            if "error" in res:
                raise StoreQueryError(f"InfluxQL error for {statement!r}: {res['error']}")
            if res.get("partial"):
                raise StoreQueryError(
                    f"{self.describe()} cut the result of {statement!r} short (max-row-limit); "
                    "ask for a smaller window or a limit"
                )
            series.extend(res.get("series", []))
        return series

    async def field_types(self, measurement: str, *, refresh: bool = False) -> dict[str, FieldType]:
        cached = self._field_types.get(measurement)
        if cached is not None and not refresh:
            return dict(cached)
        stmt = f"SHOW FIELD KEYS FROM {influxql.quote_ident(measurement)}"
        types: dict[str, FieldType] = {}
        for s in await self._query(stmt):
            for key, kind in s.get("values", []):
                types[key] = _INFLUX_TYPES.get(kind, "float")
        if types:
            self._field_types[measurement] = types
        return dict(types)

    async def aggregate(self, query: Aggregate) -> pd.DataFrame:
        ftype = (await self.field_types(query.measurement)).get(query.field)
        if ftype is None:  # another writer may have created it since we looked
            ftype = (await self.field_types(query.measurement, refresh=True)).get(query.field)
        check_aggregable(query, ftype)
        rows: list[tuple[object, ...]] = []
        if ftype is not None:
            stmt = influxql.aggregate_statement(query)
            # selectors without time buckets report the selected sample's own time
            timed = query.has_time
            for s in await self._query(stmt):
                tags = s.get("tags") or {}
                group = tuple(tags.get(g, "") for g in query.group_by)
                for t, v in s.get("values", []):
                    if v is None:
                        continue
                    rows.append((*group, t, v) if timed else (*group, v))
        return result_frame(query.group_by, query.has_time, rows, query.fn, ftype)

    async def read(
        self,
        measurement: str,
        start_ns: int,
        end_ns: int,
        where: dict[str, str | tuple[str, ...]] | None = None,
        limit: int | None = None,
    ) -> list[Point]:
        check_limit(limit)
        types = await self.field_types(measurement)
        stmt = influxql.select_statement(measurement, start_ns, end_ns, where, limit)
        series = await self._query(stmt)
        columns_seen = {c for s in series for c in s["columns"][1:]}
        if not columns_seen <= types.keys():
            types = await self.field_types(measurement, refresh=True)
        points: list[Point] = []
        for s in series:
            tags = {k: v for k, v in (s.get("tags") or {}).items() if v != ""}
            columns: list[str] = s["columns"]
            for row in s.get("values", []):
                fields = {
                    col: _as_type(val, types.get(col))
                    for col, val in zip(columns[1:], row[1:], strict=True)
                    if val is not None
                }
                if fields:
                    points.append(Point(measurement, tags, fields, int(row[0])))
        points.sort(key=lambda p: (tuple(p.tags.items()), p.time_ns))
        return points


def _as_type(value: object, kind: FieldType | None) -> object:
    # InfluxDB's JSON writes an integral float as `3`; the field type restores it.
    if kind == "float" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _error_message(resp: httpx.Response) -> str:
    try:
        body = resp.json()
        if isinstance(body, dict):
            return str(body.get("error") or body.get("message") or body)
    except (json.JSONDecodeError, ValueError):
        pass
    return resp.text.strip()[:500] or resp.reason_phrase


def _retry_after(resp: httpx.Response) -> float | None:
    value = resp.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
