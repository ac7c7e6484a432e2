"""The agent runtime: drivers → pipeline (buffer, health, sealing) → forwarder → store.

`Agent.run(stop)` runs until `stop` is set (SIGTERM in `pilotproof agent run`), then
stops the drivers, seals what is pending and forwards it (bounded by `flush_timeout_s`;
what does not make it stays in the buffer for the next start).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from collectors.buffer import Buffer, BufferFullError
from collectors.config import SiteConfig
from collectors.health import HealthTracker
from collectors.metrics import Metrics, serve_metrics
from collectors.pipeline import Pipeline
from collectors.roles import RoleMapper
from collectors.sealer import SealerProcess, SealerSpec, SealingLoop, StoreSpec
from telemetry import Point, Store, open_store
from telemetry.seal import load_key
from telemetry.timegrid import NS

log = logging.getLogger("pilotproof.agent")


class Driver(Protocol):
    name: str

    async def run(self, pipeline: Pipeline, stop: asyncio.Event) -> None: ...


def build_drivers(config: SiteConfig) -> list[Driver]:
    from collectors.modbus import modbus_drivers
    from collectors.mqtt import MqttDriver
    from collectors.opcua import OpcUaDriver

    drivers: list[Driver] = []
    drivers += [MqttDriver(s, config) for s in config.sources.mqtt]
    drivers += modbus_drivers(config)
    drivers += [OpcUaDriver(s, config) for s in config.sources.opcua]
    return drivers


class Agent:
    def __init__(
        self,
        config: SiteConfig,
        *,
        store: Store | None = None,
        drivers: list[Driver] | None = None,
        clock: Callable[[], int] = time.time_ns,
        flush_timeout_s: float = 30.0,
    ) -> None:
        self.config = config
        self.site = config.inventory.site
        self.key = load_key(config.agent.key)
        self.metrics = Metrics(config.agent.id)
        self.buffer = Buffer(config.buffer.path, config.buffer.max_bytes)
        self.health = HealthTracker(config.inventory, config.agent.health_interval_s)
        self.roles = RoleMapper(config.roles, self.site)
        self.pipeline = Pipeline(self.buffer, self.health, self.metrics, self.roles)
        self.store = store
        self.drivers = drivers if drivers is not None else build_drivers(config)
        self.clock = clock
        self.flush_timeout_s = flush_timeout_s

    def _tick(self, t_ns: int, last_status: int, last_health: int) -> tuple[int, int]:
        """Write status and health rows for every boundary passed since the last tick."""
        a = self.config.agent
        status_ns, health_ns = a.status_interval_s * NS, a.health_interval_s * NS
        rows: list[Point] = []
        now_status = t_ns - t_ns % status_ns
        if now_status > last_status:
            rows += self.health.status_points(now_status)
            rows += self.roles.rows(now_status)
            self.metrics.buffer_bytes = self.buffer.size_bytes()
            depth = self.buffer.depth()
            self.metrics.buffer_pending, self.metrics.buffer_sealed = (
                depth["pending"],
                depth["sealed"],
            )
            rows.append(self.metrics.point(self.site, now_status))
            last_status = now_status
        now_health = t_ns - t_ns % health_ns
        while now_health > last_health:
            if last_health:  # the interval [last_health, +health) has ended
                rows += self.health.health_points(last_health)
            last_health = last_health + health_ns if last_health else now_health
        if rows:
            try:
                self.pipeline.record(rows)
            except BufferFullError as e:
                log.error("%s", e)
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

    async def run(self, stop: asyncio.Event) -> None:
        a = self.config.agent
        spec = self.sealer_spec()
        drivers_stop = asyncio.Event()
        server = None
        if self.config.metrics.listen:
            host, _, port = self.config.metrics.listen.rpartition(":")
            server = await serve_metrics(self.metrics, host or "0.0.0.0", int(port))
        # sealing and forwarding: a child process by default (see collectors/sealer.py);
        # in this process when asked to, or when the store is an object a child cannot
        # reopen
        process = (
            SealerProcess(spec, self.metrics) if a.sealer == "process" and spec.store else None
        )
        store: Store | None = None
        sealing_stop = asyncio.Event()
        sealing: asyncio.Task[None] | None = None
        if process is not None:
            await process.start()
        else:
            store = self.store or open_store(self.config.store.url)
            loop = SealingLoop(self.buffer, store, spec, self.metrics,
                               before_seal=self.pipeline.flush)  # fmt: skip
            sealing = asyncio.create_task(loop.run(sealing_stop))
            self.metrics.sealer_up = 1
        tasks = [
            asyncio.create_task(_guard(d.name, d.run(self.pipeline, drivers_stop)))
            for d in self.drivers
        ]
        self.pipeline.start()
        t = self.clock()
        # the first status row is at the next instant: pollers have had a round by then,
        # so an element is not reported offline just because the agent started
        last_status = t - t % (a.status_interval_s * NS)
        last_health = 0
        try:
            while not stop.is_set():
                last_status, last_health = self._tick(self.clock(), last_status, last_health)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), min(a.seal_interval_s, 1.0))
        finally:
            drivers_stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.to_thread(self.pipeline.flush)
            await asyncio.to_thread(self.pipeline.stop)
            if process is not None:
                await process.stop()
            if sealing is not None:
                sealing_stop.set()
                await asyncio.gather(sealing, return_exceptions=True)
            if server is not None:
                server.close()
            if store is not None and self.store is None:
                await store.close()
            self.buffer.close()


async def _guard(name: str, job: Awaitable[None]) -> None:
    """A driver that crashes is logged loudly; it never takes the others down."""
    try:
        await job
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("driver %s stopped with an error", name)
