"""The pipeline drivers hand samples to: committed to the durable buffer, then acknowledged.

`submit` queues a driver's Points or `Samples` for the committer thread, which commits
whatever has queued up in one transaction (one fsync for many polls or messages), feeds
health and point roles, and then runs each submitter's `done` callback — MQTT
acknowledges there. `accept` commits at once; `record` commits the agent's own rows.

An acknowledgement that has a `together` attribute (a callable taking a list of such
acknowledgements) is given with the others of its kind from the same commit, in the
order they were submitted: MQTT writes one socket send for a commit's PUBACKs instead of
one per message (a fifth of the agent's time at 20,000 messages/s, bench/e2e.py).

When the buffer refuses a commit (its cap reached, the disk failing), submissions with
an acknowledgement wait in memory and are committed first as soon as there is room, so
MQTT ingestion resumes by itself; a poll round is lost and counted.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from collectors.buffer import Buffer, BufferFullError, Chunk, chunks_of
from collectors.health import HealthTracker
from collectors.logs import Throttle
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
PARKED_RETRY_S = 0.5  # how often refused MQTT messages are tried again while the buffer is full
PARKED_MAX = 10_000  # beyond this they stay unacknowledged at the broker (redelivered later)


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
        self._parked: list[tuple[Accepted, Callable[[], None] | None]] = []
        self.throttle = Throttle()

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
            try:
                items = [self._queue.get(timeout=PARKED_RETRY_S if self._parked else None)]
            except queue.Empty:
                items = []
            with contextlib.suppress(queue.Empty):
                while len(items) < _MAX_ITEMS:
                    items.append(self._queue.get_nowait())
            stopping = any(not item and done is None and marker is None
                           for item, done, marker in items)  # fmt: skip
            work = [(item, done) for item, done, _ in items if item]
            for item, done, _ in items:
                if not item:  # nothing to commit: acknowledged at once, never left waiting
                    _acknowledge(done)
            if self._parked:
                self._retry_parked()
            if work:
                self._commit(work)
            for _, _, marker in items:
                if marker is not None:
                    marker.set()
            if stopping:
                return
            time.sleep(GROUP_COMMIT_S)

    def _commit(self, work: list[tuple[Accepted, Callable[[], None] | None]]) -> None:
        """Commit `work` as one transaction and acknowledge it; when the buffer refuses it
        (full, or the disk failing), park what can wait for a later try."""
        try:
            self.accept_many([item for item, _ in work])
        except Exception as e:
            self._refused(work, e)
            return
        _acknowledge_all([done for _, done in work])

    def _refused(self, work: list[tuple[Accepted, Callable[[], None] | None]],
                 error: Exception) -> None:  # fmt: skip
        """Submissions with an acknowledgement (MQTT) wait in memory for room — the
        broker sends no more than its in-flight window without acknowledgements, so
        they are few — and are committed first once there is; the others (a poll
        round) are lost and counted. Nothing is acknowledged that was not committed."""
        full = isinstance(error, BufferFullError)
        if not full:
            self.metrics.commit_errors += 1
        lost = 0
        for item, done in work:
            if done is not None and len(self._parked) < PARKED_MAX:
                self._parked.append((item, done))
            else:
                lost += len(item)
        self.metrics.buffer_full += lost
        self.metrics.parked = len(self._parked)
        self.throttle.log(
            log, logging.ERROR, ("commit", type(error).__name__),
            f"{error}" if full else f"a commit to the buffer failed ({type(error).__name__}: "
            f"{error}); its samples are not acknowledged and are retried",
            exc_info=None if full else error,
        )  # fmt: skip

    def _retry_parked(self) -> None:
        """Commit parked submissions in order, one by one, until one is refused again."""
        while self._parked:
            item, done = self._parked[0]
            try:
                self.accept_many([item])
            except Exception:
                return
            self._parked.pop(0)
            self.metrics.parked = len(self._parked)
            _acknowledge(done)

    def accept(self, item: Accepted) -> None:
        """Commit at once; only then may a driver acknowledge. Raises BufferFullError at
        the size cap (nothing accepted)."""
        self.accept_many([item])

    def record(self, rows: list[Point]) -> None:
        """Commit the agent's own rows (status, health, roles, pp_agent) at once. They are
        not driver input: health must not take its own `element_status` rows for a
        network export (which would stop it writing them after the first instant).
        Raises BufferFullError (counted) past the cap and its KPI headroom."""
        try:
            self.accept_many([rows], observe=False)
        except BufferFullError:
            self.metrics.buffer_full += len(rows)
            raise

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
        n = self.buffer.append(chunks)
        if observe:
            for item in items:
                self.health.observe(item)
                self.roles.observe(item)
        self.metrics.points_in += n


def _acknowledge_all(dones: list[Callable[[], None] | None]) -> None:
    """Run each `done`, those of one `together` kind as one call (see the module doc)."""
    groups: dict[Callable[[list[Any]], None], list[Any]] = {}
    for done in dones:
        together = getattr(done, "together", None)
        if together is None:
            _acknowledge(done)
        else:
            groups.setdefault(together, []).append(done)
    for together, acks in groups.items():
        try:
            together(acks)
        except Exception as e:  # the client went away: redelivered, harmless
            log.debug("acknowledgements failed: %s", e)


def _acknowledge(done: Callable[[], None] | None) -> None:
    if done is None:
        return
    try:
        done()
    except Exception as e:  # an MQTT ack after the client went away: redelivered, harmless
        log.debug("acknowledgement failed: %s", e)
