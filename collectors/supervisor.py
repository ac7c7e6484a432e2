"""Supervision: every driver runs under `supervise`, which survives whatever it raises.

One mechanism for all drivers (DESIGN.md, "Drivers and the agent"): an exception that
escapes a driver's `run` — from its own code, from a protocol library, from a callback
thread the driver forwards it from — is counted (`pilotproof_driver_errors_total{kind=
"crash"}`), logged once with its traceback (then rate-limited), the driver's elements are
marked unreachable, and the driver is started again after a capped exponential back-off
(1 s, 2 s, 4 s … 60 s; back to 1 s after it ran for a minute). The rest of the agent never
notices. A driver that returns without being asked to stop is restarted the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from collectors.driver import Driver, Sink

log = logging.getLogger("pilotproof.agent")

BACKOFF_S = (1.0, 60.0)
HEALTHY_S = 60.0  # a run this long resets the back-off


async def supervise(
    driver: Driver,
    sink: Sink,
    stop: asyncio.Event,
    *,
    backoff_s: tuple[float, float] = BACKOFF_S,
) -> None:
    delay = backoff_s[0]
    while not stop.is_set():
        started = time.monotonic()
        try:
            await driver.run(sink, stop)
            if stop.is_set():
                return
            raise RuntimeError("the driver returned without being asked to stop")
        except asyncio.CancelledError:
            raise
        except Exception as e:
            crashed = e
        finally:
            sink.connected(False)
            for element in driver.elements:
                sink.reachable(element, False)
        if time.monotonic() - started > HEALTHY_S:
            delay = backoff_s[0]
        sink.crashed()
        sink.throttle.log(
            log,
            logging.ERROR,
            (driver.name, "crash", type(crashed).__name__, str(crashed)),
            f"driver {driver.name} stopped with {type(crashed).__name__}: {crashed}; "
            f"restarting it in {delay:.0f} s (the other drivers go on)",
            exc_info=crashed,
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
        delay = min(delay * 2, backoff_s[1])
