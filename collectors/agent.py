"""The agent runtime: drivers → pipeline (buffer, health, sealing) → forwarder → store.

`Agent.run(stop)` runs until `stop` is set (SIGTERM in `pilotproof agent run`), then
stops the drivers, seals what is pending and forwards it (bounded by `flush_timeout_s`;
what does not make it stays in the buffer for the next start).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from collectors.buffer import Buffer, BufferFullError
from collectors.config import SiteConfig
from collectors.forwarder import Forwarder
from collectors.health import HealthTracker
from collectors.metrics import Metrics, serve_metrics
from collectors.roles import RoleMapper
from telemetry import InfluxStore, Point, Store, StoreError, open_store
from telemetry.seal import load_key
from telemetry.timegrid import NS

log = logging.getLogger("pilotproof.agent")

_Item = tuple[list[Point], Callable[[], None] | None, threading.Event | None]


class Pipeline:
    """What drivers hand points to. Thread-safe: MQTT calls it from paho's thread.

    `submit` queues points for the committer thread, which commits whatever has queued
    up in one transaction (one fsync for many messages) and then runs each submitter's
    `done` callback — MQTT acknowledges there. `accept` commits at once.
    """

    def __init__(
        self, buffer: Buffer, health: HealthTracker, metrics: Metrics, roles: RoleMapper
    ) -> None:
        self.buffer = buffer
        self.health = health
        self.metrics = metrics
        self.roles = roles
        self._queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._commit_loop, name="committer", daemon=True)
        self._thread.start()

    def submit(self, points: list[Point], done: Callable[[], None] | None = None) -> None:
        self._queue.put((points, done, None))

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until everything submitted so far is committed (or refused)."""
        if self._thread is None:
            return
        marker = threading.Event()
        self._queue.put(([], None, marker))
        marker.wait(timeout)

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(([], None, None))
            self._thread.join(30)
            self._thread = None

    def _commit_loop(self) -> None:
        while True:
            items = [self._queue.get()]
            with contextlib.suppress(queue.Empty):
                while len(items) < 2000:
                    items.append(self._queue.get_nowait())
            points = [p for pts, _, _ in items for p in pts]
            try:
                self.accept(points)
            except BufferFullError as e:
                log.error("%s", e)  # nobody is acknowledged: MQTT keeps them at the broker
            except Exception:
                log.exception("commit of %d points failed; they are not acknowledged", len(points))
            else:
                for _, done, _ in items:
                    if done is not None:
                        done()
            for _, _, marker in items:
                if marker is not None:
                    marker.set()
            if any(not pts and done is None and marker is None for pts, done, marker in items):
                return

    def accept(self, points: list[Point]) -> None:
        """Commit `points` to the durable buffer; only then may a driver acknowledge them.

        Raises BufferFullError at the size cap (nothing accepted)."""
        if not points:
            return
        try:
            n = self.buffer.accept(points)
        except BufferFullError:
            self.metrics.buffer_full += len(points)
            raise
        self.health.observe(points)
        self.roles.observe(points)
        self.metrics.points_in += n

    def reachable(self, element: str, up: bool) -> None:
        self.health.track(element, up)

    def connected(self, driver: str, up: bool) -> None:
        self.metrics.connected[driver] = int(up)


class Driver(Protocol):
    name: str

    async def run(self, pipeline: Pipeline, stop: asyncio.Event) -> None: ...


def build_drivers(config: SiteConfig) -> list[Driver]:
    from collectors.modbus import ModbusDriver
    from collectors.mqtt import MqttDriver
    from collectors.opcua import OpcUaDriver

    drivers: list[Driver] = []
    drivers += [MqttDriver(s, config) for s in config.sources.mqtt]
    drivers += [ModbusDriver(d, config) for d in config.sources.modbus]
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
        self._wake = asyncio.Event()

    def _seal(self) -> None:
        records = self.buffer.seal(
            self.key, self.config.agent.id, self.config.agent.batch_max_lines
        )
        self.metrics.batches_sealed += len(records)
        if records:
            self._wake.set()

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
                self.pipeline.accept(rows)
            except BufferFullError as e:
                log.error("%s", e)
        return last_status, last_health

    async def run(self, stop: asyncio.Event) -> None:
        store = self.store or open_store(self.config.store.url)
        if isinstance(store, InfluxStore):
            try:
                await store.create_database()  # 1.x needs it; where not allowed, it exists
            except StoreError as e:
                log.warning("could not create the database (%s); assuming it exists", e)
        forwarder = Forwarder(self.buffer, store, self.site, self.metrics)
        stop_forwarding = asyncio.Event()
        drivers_stop = asyncio.Event()
        server = None
        if self.config.metrics.listen:
            host, _, port = self.config.metrics.listen.rpartition(":")
            server = await serve_metrics(self.metrics, host or "0.0.0.0", int(port))
        tasks = [
            asyncio.create_task(_guard(d.name, d.run(self.pipeline, drivers_stop)))
            for d in self.drivers
        ]
        self.pipeline.start()
        fwd = asyncio.create_task(forwarder.run(self._wake, stop_forwarding))
        t = self.clock()
        a = self.config.agent
        # the first status row is at the next instant: pollers have had a round by then,
        # so an element is not reported offline just because the agent started
        last_status = t - t % (a.status_interval_s * NS)
        last_health = 0
        try:
            while not stop.is_set():
                last_status, last_health = self._tick(self.clock(), last_status, last_health)
                await asyncio.to_thread(self.pipeline.flush)
                await asyncio.to_thread(self._seal)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), a.seal_interval_s)
        finally:
            drivers_stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.to_thread(self.pipeline.flush)
            await asyncio.to_thread(self.pipeline.stop)
            await asyncio.to_thread(self._seal)
            self._wake.set()
            stop_forwarding.set()
            try:
                await asyncio.wait_for(fwd, self.flush_timeout_s)
                await asyncio.wait_for(forwarder.forward_available(), self.flush_timeout_s)
            except Exception as e:  # the rest stays in the buffer for the next start
                log.warning("stopping with data still buffered: %s", e)
            if server is not None:
                server.close()
            if self.store is None:
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
