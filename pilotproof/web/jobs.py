"""The service's heavy work — KPI evaluation, building and verifying bundles — in worker
processes, so the event loop only routes requests and `/api/health` always answers.

Each worker is a spawned process with its own store connection and event loop. A bounded
number of jobs wait for a worker; past that the service answers 503 with `Retry-After`
(`JobsBusyError`), rather than queueing without end. A worker that dies (killed, out of
memory) takes only its job with it: the pool is started anew for the next one.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from pydantic import BaseModel, Field

from kpi import Declarations, Evaluation, KpiParams, Window, evaluate, get_profile
from telemetry import InfluxConfig, Inventory, SqliteConfig, Store, open_store
from telemetry.errors import PilotproofError
from verifier import (
    ArchiveLimits,
    BuildResult,
    TrustedKeys,
    VerifyReport,
    build_bundle,
    pack,
    render_report,
    verify_bundle,
)

T = TypeVar("T")


class JobSpec(BaseModel):
    """What a worker needs to do the service's work (sent to it once, when it starts).

    Args:
        store: the store the service reads, as a config (each worker opens its own).
        inventory: the site's element inventory.
        params: KPI parameters (documented defaults when None).
        declarations: the site's declared values for indicators telemetry cannot show.
        key: the raw Ed25519 evidence signing key; building bundles needs it.
        trust: the trusted keys; verifying bundles needs them.
        limits: what an uploaded archive may hold.
    """

    store: InfluxConfig | SqliteConfig
    inventory: Inventory
    params: KpiParams | None = None
    declarations: Declarations | None = None
    key: bytes | None = Field(default=None, repr=False)
    trust: TrustedKeys | None = None
    limits: ArchiveLimits = Field(default_factory=ArchiveLimits)

    @staticmethod
    def raw_key(key: Ed25519PrivateKey | None) -> bytes | None:
        return None if key is None else key.private_bytes(
            Encoding.Raw, PrivateFormat.Raw, NoEncryption()
        )  # fmt: skip


class JobsBusyError(PilotproofError):
    """More jobs are waiting than the service accepts; retry after a while."""

    code = "E_BUSY"


class Jobs:
    """A pool of worker processes for the service's CPU work.

    Args:
        spec: what each worker needs.
        workers: processes working at once (one per spare core is plenty).
        waiting: jobs that may wait for a worker before new ones are refused.
    """

    def __init__(self, spec: JobSpec, *, workers: int = 1, waiting: int = 32) -> None:
        self.spec = spec
        self.workers = workers
        self.waiting = waiting
        self._pool: ProcessPoolExecutor | None = None
        self._queued = 0

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start,
                initargs=(self.spec, os.getpid()),
            )
        return self._pool

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._queued >= self.workers + self.waiting:
            raise JobsBusyError(f"{self._queued} jobs are running or waiting")
        self._queued += 1
        try:
            loop = asyncio.get_running_loop()
            try:
                return await loop.run_in_executor(self._executor(), fn, *args)
            except BrokenProcessPool:
                self._pool = None  # the next job starts a new pool
                raise
        finally:
            self._queued -= 1

    async def warm(self) -> None:
        """Start the workers now rather than on the first request."""
        await self._run(_ready)

    async def evaluate(self, profile: str, windows: list[tuple[int, int]]) -> list[Evaluation]:
        """The profile evaluated over each window (nanosecond bounds), in one job."""
        return await self._run(_evaluate, profile, windows)

    async def build(self, profile: str, window: tuple[int, int], out: Path) -> BuildResult:
        """A signed bundle in `out`, and packed beside it as `out.tar.gz`."""
        return await self._run(_build, profile, window, out)

    async def verify(
        self,
        archive: Path,
        *,
        name: str | None = None,
        inventory: Inventory | None = None,
        report: Path | None = None,
    ) -> VerifyReport:
        """An uploaded bundle verified against the trusted keys.

        Args:
            archive: the bundle, `.tar.gz`.
            name: what the report calls it (the upload's file name), in place of `archive`'s
                path: a report never shows the server's folders.
            inventory: the site's filed inventory; the bundle must have been computed from
                exactly this one (pinned).
            report: write the HTML report of this verification here (a refused bundle too).
        """
        return await self._run(_verify, archive, name, inventory, report)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


# --- inside a worker ---------------------------------------------------------------------


class _Worker:
    spec: JobSpec
    loop: asyncio.AbstractEventLoop
    store: Store


def _start(spec: JobSpec, parent: int) -> None:
    _watch_parent(parent)
    _Worker.spec = spec
    _Worker.loop = asyncio.new_event_loop()
    asyncio.set_event_loop(_Worker.loop)
    _Worker.store = open_store(spec.store)


def _watch_parent(parent: int) -> None:
    """Exit when the service dies: a service killed (SIGKILL, OOM) cannot shut its pool
    down, and its workers would otherwise live on, orphaned, holding their store."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _ready() -> bool:
    return True


def _evaluate(profile: str, windows: list[tuple[int, int]]) -> list[Evaluation]:
    s = _Worker.spec
    p = get_profile(profile)
    return [
        _Worker.loop.run_until_complete(
            evaluate(
                p,
                Window.of_ns(a, b),
                _Worker.store,
                s.inventory,
                s.params,
                declarations=s.declarations,
            )
        )
        for a, b in windows
    ]


def _build(profile: str, window: tuple[int, int], out: Path) -> BuildResult:
    s = _Worker.spec
    if s.key is None:
        raise RuntimeError("no evidence signing key")
    key = Ed25519PrivateKey.from_private_bytes(s.key)
    result = _Worker.loop.run_until_complete(
        build_bundle(
            _Worker.store,
            profile,
            Window.of_ns(*window),
            s.inventory,
            key,
            out,
            params=s.params,
            declarations=s.declarations,
        )
    )
    pack(out, out.with_name(out.name + ".tar.gz"))
    return result


def _verify(
    archive: Path, name: str | None, inventory: Inventory | None, report: Path | None
) -> VerifyReport:
    s = _Worker.spec
    if s.trust is None:
        raise RuntimeError("no trusted keys")
    result = _Worker.loop.run_until_complete(
        verify_bundle(archive, s.trust, inventory=inventory, limits=s.limits)
    )
    if name is not None:
        result.bundle = name
        folder = str(archive.parent)
        for x in [*(x for c in result.checks for x in c.findings), *result.warnings]:
            x.where = x.where.replace(str(archive), name).replace(folder, "")
            x.message = x.message.replace(str(archive), name).replace(folder, "")
    if report is not None:
        report.write_text(render_report(result.evaluation, result), encoding="utf-8")
    return result
