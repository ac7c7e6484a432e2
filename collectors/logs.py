"""Logging for an agent that runs for months: a fault is told once, then summarised.

A dead device, a wrong password or a flood of bad payloads would otherwise write the same
warning every second for as long as it lasts — filling the gateway's disk and burying the
one line that mattered. Two tools keep the log readable:

* `Throttle` — what the agent's own fault reports go through (`Sink.error`,
  `Sink.reject`, the supervisor): the first occurrence of a kind of fault is logged in
  full (with its traceback when it is unexpected), repeats are counted and summarised at
  most once per `every_s` ("… 57 more like this in the last 60 s").
* `CollapseRepeats` — a `logging.Filter` that `pilotproof agent run` puts on its handler,
  so that library loggers and any other line get the same treatment. Two messages are
  "the same" when they differ only in their numbers (a back-off delay, a counter).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable

_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_KEYS_MAX = 10_000  # distinct faults remembered; a flood of unique ones only costs a reset


def shape(message: str) -> str:
    """A message with its numbers blanked: the key under which repeats are collapsed."""
    return _NUMBER.sub("#", message)


class Throttle:
    """`allow(key)` is True for the first occurrence of `key` and then at most once per
    `every_s`; it returns how many were held back since the last one that passed."""

    def __init__(self, every_s: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.every_s = every_s
        self.clock = clock
        self._lock = threading.Lock()
        self._last: dict[object, float] = {}
        self._held: dict[object, int] = {}

    def allow(self, key: object) -> tuple[bool, int]:
        now = self.clock()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.every_s:
                self._held[key] = self._held.get(key, 0) + 1
                return False, 0
            if len(self._last) >= _KEYS_MAX:
                self._last.clear()
                self._held.clear()
            self._last[key] = now
            return True, self._held.pop(key, 0)

    def log(
        self,
        logger: logging.Logger,
        level: int,
        key: object,
        message: str,
        *,
        exc_info: BaseException | None = None,
    ) -> bool:
        """Log `message` under `key` if the throttle allows it (with a count of the held
        back repeats); a traceback only the first time a key is seen."""
        ok, held = self.allow(key)
        if not ok:
            return False
        if held:
            message += f" ({held} more like this in the last {self.every_s:.0f} s)"
        logger.log(level, "%s", message, exc_info=exc_info if not held else None)
        return True


class CollapseRepeats(logging.Filter):
    """Pass a record the first time its shape is seen, then at most once per `every_s`,
    noting how many repeats were held back."""

    def __init__(self, every_s: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.throttle = Throttle(every_s, clock)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # a malformed library message: let logging report it as usual
            return True
        ok, held = self.throttle.allow((record.name, record.levelno, shape(text)))
        if ok and held:
            record.msg = f"{text} ({held} more like this in the last {self.throttle.every_s:.0f} s)"
            record.args = None
        return ok
