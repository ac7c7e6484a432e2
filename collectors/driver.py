"""The contract between the agent and its drivers: `Driver`, the `Sink` it writes to.

A driver reads one source (a broker, a device, a server) and hands what it reads to a
`Sink`. It sees nothing else of the agent: not the site config, not the buffer, not
the other drivers. The agent's supervisor (`collectors.supervisor`) runs every driver and
catches whatever it raises, so a driver may let any unexpected exception escape — it is
counted, logged once and the driver is restarted with back-off. Faults a driver survives
by itself (a refused node, a timed-out poll, a payload it could not parse) it reports
through the sink, which counts and rate-limits them the same way.

The `Sink` methods, all safe to call from any thread (MQTT calls them from paho's):

* `submit(item, done)` — samples for the durable buffer; `done()` runs once they are
  committed (an MQTT acknowledgement). Never blocks.
* `track(element, push=, held=)` — the driver reads `element`. `push`: the source pushes
  (MQTT), so the element is online in a status interval when heard from in it. `held`:
  the source reports by exception (an OPC UA subscription), so a point whose last value
  was good counts as received while the source is alive (DESIGN.md, "Point health").
* `reachable(element, up, since_ns=)` — the driver's view of the element changed;
  `since_ns` is when it was last known alive, for a loss noticed late.
* `connected(up)` — the driver's own connection (`pilotproof_driver_connected`).
* `message(outcome)` — a pushed message received, by outcome (`pilotproof_messages_total`).
* `reject(reason, detail, where=)` — an input refused for good (counted per reason).
* `error(kind, error, where=)` — a fault survived (`pilotproof_driver_errors_total`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from collectors.logs import Throttle, shape
from collectors.pipeline import Pipeline
from collectors.samples import Accepted

log = logging.getLogger("pilotproof.agent")


class Driver(Protocol):
    """One source the agent reads. `run` returns when `stop` is set; anything it raises
    before that is a crash the supervisor restarts it from."""

    name: str  # "<protocol>:<source name>", as in metrics and logs

    @property
    def elements(self) -> Sequence[str]:
        """The elements it reads: marked unreachable while it is down."""
        ...

    async def run(self, sink: Sink, stop: asyncio.Event) -> None: ...


class Sink:
    """What one driver sees of the agent (see the module docstring)."""

    def __init__(self, driver: str, pipeline: Pipeline, throttle: Throttle | None = None) -> None:
        self.driver = driver
        self._pipeline = pipeline
        self._metrics = pipeline.metrics
        self.throttle = throttle or Throttle()
        self.log = logging.getLogger(f"pilotproof.{driver.split(':', 1)[0]}")

    def submit(self, item: Accepted, done: Callable[[], None] | None = None) -> None:
        if n := len(item):
            # per driver: what it handed over and when (an operator sees a silent source)
            m = self._metrics
            m.driver_points[self.driver] = m.driver_points.get(self.driver, 0) + n
            m.driver_last_ns[self.driver] = time.time_ns()
        self._pipeline.submit(item, done)

    def flush(self, timeout_s: float = 30.0) -> None:
        """Block until everything submitted so far is committed and its `done` has run
        (MQTT: acknowledge what is committed before disconnecting)."""
        self._pipeline.flush(timeout_s)

    def track(self, element: str, *, push: bool = False, held: bool = False) -> None:
        self._pipeline.health.track(element, push=push, held=held)

    def reachable(self, element: str, up: bool, *, since_ns: int | None = None) -> None:
        self._pipeline.health.reachable(element, up, since_ns=since_ns)

    def connected(self, up: bool) -> None:
        self._metrics.connected[self.driver] = int(up)

    def crashed(self) -> None:
        """The supervisor's: the driver crashed and is being restarted."""
        m = self._metrics
        m.driver_restarts[self.driver] = m.driver_restarts.get(self.driver, 0) + 1
        m.driver_error(self.driver, "crash")

    def message(self, outcome: str) -> None:
        """A message of a push source (MQTT) received: `accepted`, `rejected` or
        `duplicate` (a redelivery of one already committed)."""
        self._metrics.message(self.driver, outcome)

    def reject(self, reason: str, detail: str, *, where: str) -> None:
        """An input that can never succeed: counted per reason, logged (rate-limited)."""
        self._metrics.reject(reason)
        self.throttle.log(self.log, logging.WARNING, (self.driver, "reject", reason),
                          f"{self.driver}: rejected {where}: {reason}: {detail}")  # fmt: skip

    def error(self, kind: str, error: BaseException | str, *, where: str = "") -> None:
        """A fault the driver survives: counted by kind, logged once per shape of
        message and then at most once a minute."""
        self._metrics.driver_error(self.driver, kind)
        text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        at = f" ({where})" if where else ""
        self.throttle.log(self.log, logging.WARNING, (self.driver, kind, shape(text)),
                          f"{self.driver}{at}: {kind}: {text}")  # fmt: skip

    def warn(self, key: str, message: str) -> None:
        """A notice worth telling once (then rate-limited), not counted as an error."""
        self.throttle.log(self.log, logging.WARNING, (self.driver, "note", key),
                          f"{self.driver}: {message}")  # fmt: skip
