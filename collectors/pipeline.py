"""The pipeline drivers hand samples to: committed to the durable buffer, then acknowledged.

`submit` queues a driver's Points or `Samples` for the committer thread, which commits
whatever has queued up in one transaction (one fsync for many polls or messages), feeds
health and point roles, and then runs each submitter's `done` callback — MQTT
acknowledges there. `accept` commits at once (the agent's own status rows).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable

from collectors.buffer import Buffer, BufferFullError, Chunk, chunks_of
from collectors.health import HealthTracker
from collectors.metrics import Metrics
from collectors.roles import RoleMapper
from collectors.samples import Accepted, Samples
from telemetry import Point
from telemetry.seal import TELEMETRY_STREAM

log = logging.getLogger("pilotproof.agent")

_Item = tuple[Accepted, Callable[[], None] | None, threading.Event | None]
_MAX_ITEMS = 5000  # submissions per commit: bounds one transaction's size
# Group commit: at most one commit per this many seconds. Each commit costs an fsync and
# hands the interpreter lock back and forth with the drivers' event loop; a few hundred a
# second of them slowed a Modbus poller by a third (bench/ingest.py: 0.01 s gave 0.68-0.80
# of the bare library's polls, 0.03-0.1 s 0.8-0.97). 50 ms more before an MQTT
# acknowledgement is nothing to a broker.
GROUP_COMMIT_S = 0.05


class Pipeline:
    """Thread-safe: MQTT calls it from paho's thread, pollers from the event loop."""

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

    def submit(self, item: Accepted, done: Callable[[], None] | None = None) -> None:
        self._queue.put((item, done, None))

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
                while len(items) < _MAX_ITEMS:
                    items.append(self._queue.get_nowait())
            try:
                self.accept_many([item for item, _, _ in items])
            except BufferFullError as e:
                log.error("%s", e)  # nobody is acknowledged: MQTT keeps them at the broker
            except Exception:
                log.exception("a commit failed; its samples are not acknowledged")
            else:
                for _, done, _ in items:
                    if done is not None:
                        done()
            for _, _, marker in items:
                if marker is not None:
                    marker.set()
            if any(not item and done is None and marker is None for item, done, marker in items):
                return
            time.sleep(GROUP_COMMIT_S)

    def accept(self, item: Accepted) -> None:
        """Commit at once; only then may a driver acknowledge. Raises BufferFullError at
        the size cap (nothing accepted)."""
        self.accept_many([item])

    def record(self, rows: list[Point]) -> None:
        """Commit the agent's own rows (status, health, roles, pp_agent) at once. They are
        not driver input: health must not take its own `element_status` rows for a
        network export (which would stop it writing them after the first instant)."""
        self.accept_many([rows], observe=False)

    def accept_many(self, items: list[Accepted], *, observe: bool = True) -> None:
        """Commit many submissions as one chunk per stream (a row insert each: every
        statement hands the interpreter lock over, so fewer is faster for everyone)."""
        lines: list[str] = []
        times: list[int] = []
        points = []
        for item in items:
            if isinstance(item, Samples):
                if item.lines:
                    lines += item.lines
                    times.append(item.t_ns)
            elif item:
                points += item
        chunks: list[Chunk] = chunks_of(points)
        if lines:
            chunks.append((TELEMETRY_STREAM, lines, min(times), max(times)))
        if not chunks:
            return
        try:
            n = self.buffer.append(chunks)
        except BufferFullError:
            self.metrics.buffer_full += sum(len(c[1]) for c in chunks)
            raise
        if observe:
            for item in items:
                self.health.observe(item)
                self.roles.observe(item)
        self.metrics.points_in += n

    def reachable(self, element: str, up: bool) -> None:
        self.health.track(element, up)

    def connected(self, driver: str, up: bool) -> None:
        self.metrics.connected[driver] = int(up)
