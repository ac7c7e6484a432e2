"""The agent runtime: drivers → pipeline (buffer, health, sealing) → forwarder → store.

`Agent(config)` only builds objects — no connection, no event loop needed (protocol
clients are made by each driver inside the running loop). `Agent.run(stop)` checks the
chain's continuity against the store (`collectors.continuity`), starts every driver under
the supervisor (`collectors.supervisor`), starts sealing and forwarding, writes the
status and health rows, and runs until `stop` is set (SIGTERM in `pilotproof agent run`);
then it stops the drivers, seals what is pending and forwards it (bounded by
`flush_timeout_s`; what does not make it stays in the buffer for the next start).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from collectors.buffer import Buffer, BufferFullError
from collectors.config import SiteConfig
from collectors.continuity import ChainConflictError, check_continuity
from collectors.driver import Driver, Sink
from collectors.health import HealthTracker
from collectors.interpreter import collect_now_and_then
from collectors.logs import Throttle
from collectors.metrics import Metrics, serve_metrics
from collectors.pipeline import Pipeline
from collectors.roles import RoleMapper
from collectors.sealer import (
    SealerProcess,
    SealerSpec,
    SealingLoop,
    StoreSpec,
    open_agent_store,
)
from collectors.supervisor import supervise
from telemetry import Point, Store, StoreError
from telemetry.errors import PilotproofError
from telemetry.seal import load_key
from telemetry.timegrid import NS

log = logging.getLogger("pilotproof.agent")

#: a health interval is closed this long after its end: samples stamped in its last slot
#: may still be on their way (an OPC UA publish, the committer's group commit)
HEALTH_GRACE_NS = 3 * NS
#: how long the start waits for the store to confirm the chain before starting the
#: drivers anyway (sealing then waits for the confirmation; nothing is lost meanwhile)
CONTINUITY_WAIT_S = 5.0


class AgentStartError(PilotproofError, RuntimeError):
    """The agent cannot start: the message names the setting or file and the fix."""

    code = "E_AGENT_START"


def build_drivers(config: SiteConfig) -> list[Driver]:
    """The drivers of every configured source, through the driver registry; silences the
    loggers of the protocol libraries in use (see `DriverPlugin.quiet`)."""
    context = config.driver_context
    drivers: list[Driver] = []
    for plugin, sources in config.sources.each():
        if sources:
            drivers += plugin.build(sources, context)
            plugin.silence()
    return drivers


class Agent:
    """The edge agent: the drivers of a site config, its durable buffer, sealing and
    forwarding, status and health rows, self-metrics. Building one connects to nothing;
    `run` does the work until its `stop` event is set.

    Args:
        config: the site config (`load_site_config`); its key is loaded now, so a
            missing or wrong key fails here.
        store: the store to check the chain against and forward to; default: the one
            `config.store.url` names, opened by the sealer.
        drivers: the drivers to run; default: those of `config`'s sources, through the
            driver registry (`build_drivers`).
        clock: nanoseconds since 1970, for status and health instants (tests fake it).
        flush_timeout_s: how long a stop may spend forwarding what is sealed; what does
            not make it stays in the buffer for the next start.
        new_chain: begin a new chain epoch (`agent run --new-chain`), for a buffer lost
            while the store holds this agent's chain.
    """

    def __init__(
        self,
        config: SiteConfig,
        *,
        store: Store | None = None,
        drivers: list[Driver] | None = None,
        clock: Callable[[], int] = time.time_ns,
        flush_timeout_s: float = 30.0,
        new_chain: bool = False,
    ) -> None:
        self.config = config
        self.site = config.inventory.site
        self.key = load_key(config.agent.key)  # a missing or wrong key fails now
        self.metrics = Metrics(config.agent.id)
        self.buffer = Buffer(config.buffer.path, config.buffer.max_bytes)
        self.metrics.buffer_max_bytes = config.buffer.max_bytes
        self.health = HealthTracker(
            config.inventory, config.agent.health_interval_s, clock=clock,
            status_interval_s=config.status_interval_s,
        )  # fmt: skip
        self.metrics.elements = self.health.elements_now
        self.roles = RoleMapper(config.roles, self.site)
        self.pipeline = Pipeline(self.buffer, self.health, self.metrics, self.roles)
        self.store = store
        self.drivers = drivers if drivers is not None else build_drivers(config)
        self.clock = clock
        self.flush_timeout_s = flush_timeout_s
        self.new_chain = new_chain
        self.throttle = Throttle()
        self.epoch: int | None = None
        self.fatal: BaseException | None = None  # why the agent stopped by itself

    def _tick(self, t_ns: int, last_status: int, last_health: int) -> tuple[int, int]:
        """Write status and health rows for every boundary passed since the last tick."""
        a = self.config.agent
        status_ns, health_ns = self.config.status_interval_s * NS, a.health_interval_s * NS
        rows: list[Point] = []
        now_status = t_ns - t_ns % status_ns
        if now_status > last_status:
            rows += self.health.status_points(now_status)
            rows += self.roles.rows(now_status)
            self.metrics.buffer_bytes = self.buffer.size_bytes()
            self.metrics.buffer_file_bytes = self.buffer.file_bytes()
            stages = self.buffer.stages()
            self.metrics.buffer_pending, self.metrics.buffer_sealed = (
                stages.pending,
                stages.sealed,
            )
            self.metrics.stage_since = {
                "seal": stages.oldest_pending_ns,
                "forward": stages.oldest_sealed_ns,
            }
            rows.append(self.metrics.point(self.site, now_status))
            last_status = now_status
        if not last_health:  # the first interval starts at the first tick's boundary
            last_health = t_ns - t_ns % health_ns + health_ns
        while t_ns >= last_health + health_ns + HEALTH_GRACE_NS:
            rows += self.health.health_points(last_health)
            last_health += health_ns
        if rows:
            try:
                self.pipeline.record(rows)
            except BufferFullError as e:
                self.throttle.log(log, logging.ERROR, "record-full", f"{e}")
            except Exception as e:  # a full disk, a failing one: said, counted, survived
                self.metrics.commit_errors += 1
                self.throttle.log(log, logging.ERROR, ("record", type(e).__name__),
                                  f"the agent's status and health rows could not be "
                                  f"committed to the buffer {self.buffer.path} "
                                  f"({type(e).__name__}: {e}); is its disk full?")  # fmt: skip
        return last_status, last_health

    def sealer_spec(self) -> SealerSpec:
        a = self.config.agent
        target = self.store if self.store is not None else self.config.store.url
        return SealerSpec(
            buffer_path=self.config.buffer.path,
            buffer_max_bytes=self.config.buffer.max_bytes,
            key_path=a.key,
            agent_id=a.id,
            site=self.site,
            batch_max_lines=a.batch_max_lines,
            seal_interval_s=a.seal_interval_s,
            flush_timeout_s=self.flush_timeout_s,
            store=StoreSpec.of(target),
            log_level=logging.getLogger().getEffectiveLevel(),
        )

    async def _continuity(self, store: Store, started: asyncio.Event, stop: asyncio.Event) -> None:
        """Confirm the chain against the store, retrying while it cannot answer; set
        `started` once sealing may begin. A conflict stops the agent (`self.fatal`)."""
        delay = 1.0
        while not stop.is_set():
            try:
                self.epoch = await check_continuity(
                    self.buffer, store, site=self.site, agent=self.config.agent.id,
                    new_chain=self.new_chain,
                )  # fmt: skip
            except ChainConflictError as e:
                self.fatal = e
                stop.set()
                return
            except (StoreError, OSError) as e:
                self.throttle.log(
                    log, logging.WARNING, "continuity",
                    f"cannot confirm agent {self.config.agent.id}'s chain with the store "
                    f"{store.describe()} ({e}); collecting into the buffer, sealing waits",
                )  # fmt: skip
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                delay = min(delay * 2, 30.0)
                continue
            started.set()
            return

    async def run(self, stop: asyncio.Event) -> None:
        """Run until `stop` is set. Raises ChainConflictError when the buffer and the
        store disagree about the chain (before any driver started, when the store
        answers at once), AgentStartError when the metrics port cannot be opened."""
        a = self.config.agent
        check_store = self.store or open_agent_store(self.config.store.url)
        confirmed = asyncio.Event()
        checking = asyncio.create_task(self._continuity(check_store, confirmed, stop))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(checking), CONTINUITY_WAIT_S)
        if self.fatal is not None:
            await self._close_store(check_store)
            self.buffer.close()
            raise self.fatal
        server = None
        if self.config.metrics.listen:
            host, _, port = self.config.metrics.listen.rpartition(":")
            try:
                server = await serve_metrics(self.metrics, host or "0.0.0.0", int(port))
            except OSError as e:
                checking.cancel()
                await self._close_store(check_store)
                self.buffer.close()
                raise AgentStartError(
                    f"metrics.listen = {self.config.metrics.listen!r}: cannot listen ({e}); "
                    "pick a free port or remove [metrics]"
                ) from None
        drivers_stop = asyncio.Event()
        tasks = [
            asyncio.create_task(
                supervise(d, Sink(d.name, self.pipeline, self.throttle), drivers_stop)
            )
            for d in self.drivers
        ]
        self.pipeline.start()
        sealing_stop = asyncio.Event()  # set once the drivers' last samples are committed
        sealing = asyncio.create_task(self._sealing(confirmed, sealing_stop))
        t = self.clock()
        # the first status row is at the next instant: pollers have had a round by then,
        # so an element is not reported offline just because the agent started
        last_status = t - t % (self.config.status_interval_s * NS)
        last_health = 0
        try:
            while not stop.is_set():
                collect_now_and_then()  # cyclic garbage that reached the old generation
                try:
                    last_status, last_health = self._tick(self.clock(), last_status, last_health)
                except Exception as e:  # never the end of the agent: the next tick tries again
                    self.throttle.log(log, logging.ERROR, ("tick", type(e).__name__),
                                      f"writing the status and health rows failed: "
                                      f"{type(e).__name__}: {e}", exc_info=e)  # fmt: skip
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), min(a.seal_interval_s, 1.0))
        finally:
            drivers_stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.to_thread(self.pipeline.flush)
            await asyncio.to_thread(self.pipeline.stop)
            checking.cancel()
            await asyncio.gather(checking, return_exceptions=True)
            sealing_stop.set()
            confirmed.set()  # an unconfirmed chain: the sealing task ends without sealing
            await asyncio.gather(sealing, return_exceptions=True)
            if server is not None:
                server.close()
            await self._close_store(check_store)
            self.buffer.close()
        if self.fatal is not None:
            raise self.fatal

    async def _sealing(self, confirmed: asyncio.Event, stop: asyncio.Event) -> None:
        """Sealing and forwarding, once the chain is confirmed: a child process by
        default (collectors/sealer.py); in this process when asked to, or when the store
        is an object a child cannot reopen."""
        await confirmed.wait()
        if self.epoch is None:  # stopped before the store confirmed the chain
            return
        spec = self.sealer_spec()
        if self.config.agent.sealer == "process" and spec.store:
            process = SealerProcess(spec, self.metrics)
            await process.start()
            await stop.wait()
            await process.stop()
            return
        store = self.store or open_agent_store(self.config.store.url)
        loop = SealingLoop(self.buffer, store, spec, self.metrics,
                           before_seal=self.pipeline.flush)  # fmt: skip
        self.metrics.sealer_up = 1
        try:
            await loop.run(stop)
        finally:
            self.metrics.sealer_up = 0
            if self.store is None:
                await store.close()

    async def _close_store(self, store: Store) -> None:
        if self.store is None:
            await store.close()
