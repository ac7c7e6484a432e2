"""Sealing and forwarding: pending lines → signed batches → the store, in a process of its own.

Sealing (a SHA-256 per line for the Merkle tree, a signature per batch) and forwarding
(HTTP to the store) cost about as much CPU as receiving the data does. In the agent's
process they would share one interpreter lock with the drivers, and the drivers would
slow down: bench/ingest.py measured MQTT at 0.66 and Modbus at 0.42 of the bare
libraries that way. So by default (`agent.sealer = "process"`) the agent runs them in a
child process (`collectors.sealer.main`), which

* reads its `SealerSpec` (JSON, secrets included: stdin, never argv) as its first line;
* shares nothing with the agent but the buffer file — SQLite WAL, each seal one
  transaction that checks the chain head it extends (see `Buffer.seal`);
* writes its counters as a JSON line on stdout after every round, which the agent adds
  to its own metrics;
* exits when the agent writes `stop` (after a last seal and forward, bounded by the
  flush timeout) or when stdin closes — the agent died; the next agent's sealer carries
  on from the same file.

`agent.sealer = "thread"` runs the same `SealingLoop` inside the agent (a one-core
gateway gains nothing from a second process).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, SecretStr

from collectors.buffer import Buffer
from collectors.forwarder import Forwarder
from collectors.interpreter import collect_now_and_then, tune_collector
from collectors.logs import CollapseRepeats, Throttle
from collectors.metrics import Metrics
from telemetry import (
    InfluxConfig,
    InfluxStore,
    RetryPolicy,
    SqliteConfig,
    SqliteStore,
    Store,
    StoreError,
    config_from_url,
    open_store,
)
from telemetry.seal import load_key

log = logging.getLogger("pilotproof.sealer")

#: how often the sealer looks whether a whole batch is pending (a sum over the few
#: pending chunk rows)
FULL_BATCH_POLL_S = 0.2
#: the counters the sealer owns; the agent's metrics get their increases
COUNTERS = ("points_out", "batches_sealed", "retries", "store_rejected")


class StoreSpec(BaseModel):
    kind: Literal["influx", "sqlite"]
    config: dict[str, Any]

    @classmethod
    def of(cls, store: Store | str) -> StoreSpec | None:
        """How a child reopens `store` (a URL or a store object); None if it cannot."""
        config: InfluxConfig | SqliteConfig
        if isinstance(store, str):
            parsed = config_from_url(store)
            if not isinstance(parsed, InfluxConfig | SqliteConfig):
                return None  # DuckDB: one process per file, so sealed in the agent's own
            config = parsed
        elif isinstance(store, InfluxStore | SqliteStore):
            config = store.config
        else:
            return None
        kind: Literal["influx", "sqlite"] = (
            "influx" if isinstance(config, InfluxConfig) else "sqlite"
        )
        return cls(kind=kind, config=_plain(config.model_dump()))

    def open(self) -> Store:
        if self.kind == "influx":
            return open_store(single_attempt(InfluxConfig.model_validate(self.config)))
        return open_store(SqliteConfig.model_validate(self.config))


def single_attempt(config: InfluxConfig) -> InfluxConfig:
    """`config` without the store's own retries: the forwarder backs off itself, and
    counts and reports every failed attempt (`store_up`, `store_retries_total`) — inside
    the store's retry loop a dead store would look alive for two minutes."""
    return config.model_copy(update={"retry": RetryPolicy(max_elapsed_s=0)})


def open_agent_store(url: str) -> Store:
    """The store at `url`, opened for the agent's own use (single attempts)."""
    config = config_from_url(url)
    if isinstance(config, InfluxConfig):
        config = single_attempt(config)
    return open_store(config)


def _plain(value: Any) -> Any:
    """JSON-ready, secrets revealed: the spec travels over a pipe to our own child."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


class SealerSpec(BaseModel):
    buffer_path: Path
    buffer_max_bytes: int
    key_path: Path
    agent_id: str
    site: str
    batch_max_lines: int
    seal_interval_s: float
    flush_timeout_s: float
    store: StoreSpec | None  # None: a store object only this process has
    log_level: int = logging.INFO


class SealingLoop:
    """Seal every `seal_interval_s`, forward whenever something was sealed, until `stop`."""

    def __init__(
        self,
        buffer: Buffer,
        store: Store,
        spec: SealerSpec,
        metrics: Metrics,
        *,
        before_seal: Callable[[], None] | None = None,
        report: Callable[[], None] | None = None,
    ) -> None:
        self.buffer = buffer
        self.store = store
        self.spec = spec
        self.metrics = metrics
        self.key = load_key(spec.key_path)
        self.before_seal = before_seal
        self.report = report or (lambda: None)
        self.throttle = Throttle()

    def seal(self) -> int:
        if self.before_seal is not None:
            self.before_seal()
        records = self.buffer.seal(self.key, self.spec.agent_id, self.spec.batch_max_lines)
        self.metrics.batches_sealed += len(records)
        return len(records)

    async def _next_round(self, stop: asyncio.Event, *, early: bool = True) -> None:
        """Wait `seal_interval_s`, or less once a whole batch (`batch_max_lines`) is
        pending: under load a batch is sealed as soon as it is full, not up to an
        interval later; a quiet site still seals once an interval."""
        deadline = time.monotonic() + self.spec.seal_interval_s
        while (left := deadline - time.monotonic()) > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), min(left, FULL_BATCH_POLL_S))
            if stop.is_set():
                return
            if early and (
                await asyncio.to_thread(self.buffer.pending_lines) >= self.spec.batch_max_lines
            ):
                return

    async def run(self, stop: asyncio.Event) -> None:
        if isinstance(self.store, InfluxStore):
            try:
                await self.store.create_database()  # 1.x needs it; where not allowed, it exists
            except StoreError as e:
                log.warning("could not create the database (%s); assuming it exists", e)
        forwarder = Forwarder(self.buffer, self.store, self.spec.site, self.metrics)
        wake, stop_forwarding = asyncio.Event(), asyncio.Event()
        fwd = asyncio.create_task(forwarder.run(wake, stop_forwarding))
        try:
            while not stop.is_set():
                sealed = False
                try:
                    if await asyncio.to_thread(self.seal):
                        wake.set()
                    sealed = True
                except Exception as e:
                    # a seal that cannot be written (a full disk) is tried again; the
                    # forwarder goes on meanwhile and frees the space it can
                    self.throttle.log(log, logging.ERROR, ("seal", type(e).__name__),
                                      f"sealing failed ({type(e).__name__}: {e}); the lines "
                                      "stay pending and are tried again")  # fmt: skip
                    wake.set()
                self.report()
                collect_now_and_then()
                # after a failed seal (a full disk), the whole interval: no retry 5 times a second
                await self._next_round(stop, early=sealed)
        finally:
            try:
                await asyncio.to_thread(self.seal)
            except Exception:
                log.exception("the last seal failed; the lines stay pending in the buffer")
            wake.set()
            stop_forwarding.set()
            timeout = self.spec.flush_timeout_s
            try:
                await asyncio.wait_for(fwd, timeout)
                await asyncio.wait_for(forwarder.forward_available(), timeout)
            except Exception as e:  # the rest stays in the buffer for the next start
                log.warning("stopping with data still buffered: %s", e)
            self.report()


class SealerProcess:
    """The agent's handle on its sealer child: start, counters in, stop, restart on a crash."""

    def __init__(self, spec: SealerSpec, metrics: Metrics) -> None:
        self.spec = spec
        self.metrics = metrics
        self._proc: asyncio.subprocess.Process | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._stopping = False

    async def start(self) -> None:
        self._supervisor = asyncio.create_task(self._supervise())

    async def _spawn(self) -> asyncio.subprocess.Process:
        proc = await asyncio.create_subprocess_exec(
            # not `-m collectors.sealer`: the package imports this module first
            sys.executable, "-c", "from collectors.sealer import main; main()",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert proc.stdin is not None
        proc.stdin.write(self.spec.model_dump_json().encode() + b"\n")
        await proc.stdin.drain()
        return proc

    async def _supervise(self) -> None:
        delay = 1.0
        while not self._stopping:
            started = time.monotonic()
            self._proc = proc = await self._spawn()
            assert proc.stdout is not None
            last = dict.fromkeys(COUNTERS, 0)
            async for raw in proc.stdout:
                try:
                    snapshot = json.loads(raw)
                except ValueError:
                    continue
                for k in COUNTERS:
                    setattr(self.metrics, k, getattr(self.metrics, k) + snapshot[k] - last[k])
                    last[k] = snapshot[k]
                self.metrics.store_up = snapshot["store_up"]
                self.metrics.store_backoff_s = snapshot.get("store_backoff_s", 0.0)
                self.metrics.sealer_up = 1
            code = await proc.wait()
            self.metrics.sealer_up = 0
            if self._stopping:
                return
            log.error("the sealer process exited with %s; restarting it in %.0f s", code, delay)
            await asyncio.sleep(delay)
            delay = 1.0 if time.monotonic() - started > 60 else min(delay * 2, 30.0)

    async def stop(self) -> None:
        """Ask for a last seal and forward, and wait for it (bounded)."""
        self._stopping = True
        proc = self._proc
        if proc is not None and proc.returncode is None and proc.stdin is not None:
            with contextlib.suppress(ConnectionError):
                proc.stdin.write(b"stop\n")
                await proc.stdin.drain()
                proc.stdin.close()
            try:
                await asyncio.wait_for(proc.wait(), 2 * self.spec.flush_timeout_s + 10)
            except TimeoutError:
                log.error("the sealer did not stop in time; killed (its data stays buffered)")
                proc.kill()
                await proc.wait()
        if self._supervisor is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._supervisor, 10)


async def _child(spec: SealerSpec) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def watch_stdin() -> None:
        for line in sys.stdin:
            if line.strip() == "stop":
                break
        loop.call_soon_threadsafe(stop.set)  # `stop`, or EOF: the agent is gone

    threading.Thread(target=watch_stdin, name="stdin", daemon=True).start()
    metrics = Metrics(spec.agent_id)
    buffer = Buffer(spec.buffer_path, spec.buffer_max_bytes)
    assert spec.store is not None
    store = spec.store.open()

    def report() -> None:
        snapshot: dict[str, float] = {k: getattr(metrics, k) for k in COUNTERS}
        snapshot["store_up"] = metrics.store_up
        snapshot["store_backoff_s"] = metrics.store_backoff_s
        try:
            sys.stdout.write(json.dumps(snapshot) + "\n")
            sys.stdout.flush()
        except (BrokenPipeError, ValueError):
            stop.set()

    try:
        await SealingLoop(buffer, store, spec, metrics, report=report).run(stop)
    finally:
        await store.close()
        buffer.close()


def main() -> None:
    # SIGTERM and Ctrl-C reach the whole process group (systemd stops the agent's cgroup,
    # a terminal interrupts its foreground group): the agent, not a signal, tells this
    # process when to stop, after its drivers' last samples are committed
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    spec = SealerSpec.model_validate_json(sys.stdin.readline())
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter(f"%(asctime)s %(levelname)s sealer[{spec.agent_id}] %(message)s")
    )
    handler.addFilter(CollapseRepeats())
    logging.basicConfig(level=spec.log_level, handlers=[handler])
    tune_collector()
    asyncio.run(_child(spec))


if __name__ == "__main__":
    main()
