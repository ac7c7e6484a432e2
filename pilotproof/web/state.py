"""What the routes share — the store, the tokens, the workers, limits, the shared
evaluations — and the dependencies that hand it to them: `ServiceDep` (the service),
`role(...)` (a token of one of these roles), `Reader` (an operator's or an auditor's).

No `from __future__ import annotations`: FastAPI reads these annotations at run time.
"""

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from kpi import Evaluation, UnknownProfileError, Window, get_profile
from pilotproof.web.jobs import Jobs
from pilotproof.web.settings import WebSettings
from pilotproof.web.tokens import Role, TokenInfo, TokenStore
from telemetry import Inventory, Store, StoreError
from telemetry.prometheus import Family, exposition

#: the range of times a window may take (nanoseconds since 1970 fit in 64 bits until 2262)
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


class RateLimit:
    """A sliding one-minute window per key."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self.seen: dict[str, deque[float]] = {}

    def allow(self, key: str) -> bool:
        t = time.monotonic()
        q = self.seen.setdefault(key, deque())
        while q and t - q[0] > 60:
            q.popleft()
        if len(q) >= self.per_minute:
            return False
        q.append(t)
        return True


class RequestMetrics:
    """Requests and seconds per route template (one series per endpoint, not per id)."""

    def __init__(self) -> None:
        self.count: dict[tuple[str, int], int] = {}
        self.seconds: dict[str, float] = {}

    def observe(self, route: str, status: int, seconds: float) -> None:
        self.count[(route, status)] = self.count.get((route, status), 0) + 1
        self.seconds[route] = self.seconds.get(route, 0.0) + seconds

    def text(self) -> str:
        return exposition([
            Family("pilotproof_http_requests_total", "counter", "requests, by route and status",
                   [({"path": p, "status": str(s)}, n)
                    for (p, s), n in sorted(self.count.items())]),
            Family("pilotproof_http_request_seconds_total", "counter",
                   "seconds spent answering, by route",
                   [({"path": p}, v) for p, v in sorted(self.seconds.items())]),
        ])  # fmt: skip


class Evaluations:
    """An evaluation is shared: by every request for the same profile and windows while it
    runs (fifty auditors opening one dashboard cost one evaluation), and for `cache_s`
    after it. Per process, so replicas need nothing in common."""

    def __init__(self, jobs: Jobs, cache_s: float) -> None:
        self.jobs = jobs
        self.cache_s = cache_s
        self.flights: dict[tuple[Any, ...], tuple[float, asyncio.Future[list[Evaluation]]]] = {}

    async def many(self, profile: str, windows: list[tuple[int, int]]) -> list[Evaluation]:
        try:
            p = get_profile(profile)
        except UnknownProfileError as e:
            raise HTTPException(404, str(e)) from None
        key = (p.id, *windows)
        t = time.monotonic()
        hit = self.flights.get(key)
        if hit is None or (hit[1].done() and t - hit[0] > self.cache_s):
            if len(self.flights) >= 256:  # forget the oldest finished ones
                for k, (_, f) in sorted(self.flights.items(), key=lambda kv: kv[1][0])[:64]:
                    if f.done():
                        del self.flights[k]
            hit = (t, asyncio.ensure_future(self.jobs.evaluate(p.id, windows)))
            self.flights[key] = hit
        try:
            return await asyncio.shield(hit[1])
        except StoreError as e:
            self.flights.pop(key, None)  # a failure is not kept
            raise HTTPException(503, f"the store is unavailable: {e}") from None
        except Exception:
            self.flights.pop(key, None)
            raise

    async def one(self, profile: str, window: Window) -> Evaluation:
        return (await self.many(profile, [(window.start_ns, window.end_ns)]))[0]


@dataclass
class Service:
    """Everything a route may use.

    Args:
        store: the store, for the light reads done on the event loop (health, elements).
        settings: limits and defaults.
        tokens: the bearer tokens and their roles.
        jobs: the worker processes that evaluate, build and verify.
        version: shown by `/api/health` and the OpenAPI document.
        now: the clock, for default windows.
    """

    store: Store
    settings: WebSettings
    tokens: TokenStore
    jobs: Jobs
    version: str
    now: Callable[[], datetime]
    metrics: RequestMetrics = field(default_factory=RequestMetrics)
    verifies: RateLimit = field(init=False)
    builds: RateLimit = field(init=False)
    evaluations: Evaluations = field(init=False)

    def __post_init__(self) -> None:
        self.verifies = RateLimit(self.settings.verify_per_minute)
        self.builds = RateLimit(self.settings.builds_per_minute)
        self.evaluations = Evaluations(self.jobs, self.settings.kpi_cache_s)

    @property
    def inventory(self) -> Inventory:
        return self.jobs.spec.inventory

    def window(self, start: datetime | None, end: datetime | None) -> Window:
        """The window a request asks for (default: the last `default_days`), or 400. A time
        without an offset is the site's local time (the inventory's `timezone`), as on the
        command line: `from=2026-10-29` is midnight in the plant, whatever the browser's
        zone."""
        zone = ZoneInfo(self.inventory.timezone)
        if start is not None and start.tzinfo is None:
            start = start.replace(tzinfo=zone)
        if end is not None and end.tzinfo is None:
            end = end.replace(tzinfo=zone)
        # compared in UTC: two times of one zone compare by wall clock, and a local time
        # that a DST change skips would pass for later than the time after it
        limits = f"times must lie between {EARLIEST.date()} and {LATEST.date()}"
        try:
            end = (end or self.now()).astimezone(UTC)
            start = (start.astimezone(UTC) if start is not None
                     else end - timedelta(days=self.settings.default_days))  # fmt: skip
        except (OverflowError, ValueError):  # year 1, minus the default days
            raise HTTPException(400, limits) from None
        if end <= start:
            raise HTTPException(400, f"window end {end} must be after its start {start}")
        if start < EARLIEST or end > LATEST:
            raise HTTPException(400, limits)
        days = self.settings.max_window_days
        if end - start > timedelta(days=days):
            raise HTTPException(
                400,
                f"a window covers at most {days} days (this one {(end - start).days}); "
                "evaluate a longer period in parts, or with `pilotproof kpi evaluate` on a "
                "machine of your own",
            )
        return Window(start=start.astimezone(zone), end=end.astimezone(zone))


def service(request: Request) -> Service:
    """The app's `Service` (set by `create_app`)."""
    svc: Service = request.app.state.service
    return svc


ServiceDep = Annotated[Service, Depends(service)]
_bearer = HTTPBearer(auto_error=False)


def role(*allowed: Role) -> Callable[..., Awaitable[TokenInfo]]:
    """A dependency: the request's token, if its role is one of `allowed` (or admin)."""

    async def check(
        svc: ServiceDep,
        cred: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> TokenInfo:
        if cred is None or cred.scheme.lower() != "bearer":
            raise HTTPException(401, "a bearer token is required", {"WWW-Authenticate": "Bearer"})
        info = svc.tokens.check(cred.credentials)
        if info is None:
            raise HTTPException(401, "unknown or revoked token", {"WWW-Authenticate": "Bearer"})
        if info.role != "admin" and info.role not in allowed:
            raise HTTPException(403, f"role {info.role} may not do this ({', '.join(allowed)} may)")
        return info

    return check


Reader = Annotated[TokenInfo, Depends(role("operator", "auditor"))]
Operator = Annotated[TokenInfo, Depends(role("operator"))]
Auditor = Annotated[TokenInfo, Depends(role("auditor"))]
Admin = Annotated[TokenInfo, Depends(role("admin"))]
