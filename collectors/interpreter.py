"""How a long-running agent process sets up its interpreter: the cyclic garbage collector.

Every message or poll allocates a dozen short-lived containers (the message, its lines,
its samples, its acknowledgement). With CPython's default thresholds the collector runs
every 700 allocations and, now and then, walks every object the process has — hundreds
of thousands, most of them imported modules and models that live as long as the process.
At 20,000 messages a second that cost a quarter of the agent's time (bench/e2e.py; the
same messages through the agent's code with and without this: 46 vs 34 µs a message).

`tune_collector` moves everything alive at start-up out of the collector's sight
(`gc.freeze`) and collects the young generation every 50,000 allocations instead of 700.
Objects without cycles are freed at once by reference counting, as before. Cyclic
garbage that reached the old generation (a dropped client of a restarted driver, a
session of a rebooted PLC) would now wait for a full collection that comes only after
millions of net allocations, so `collect_now_and_then` runs one every `FULL_EVERY_S`
(the agent's and the sealer's loops call it each round). The biggest such garbage was
httpx's: every finished request stays in a reference cycle with its body, so the store
client hands httpx bodies that let go of their bytes once sent (telemetry/store/influx.py).
"""

from __future__ import annotations

import gc
import time

#: allocations between young collections, and young collections between older ones
THRESHOLDS = (50_000, 20, 100)
FULL_EVERY_S = 60.0  # a full collection at least this often (cheap: the start-up heap is frozen)
_last_full = time.monotonic()


def tune_collector() -> None:
    """Freeze what is alive now and raise the collector's thresholds (see the module doc).
    For the agent's and the sealer's own processes only: it is process-wide."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)


def collect_now_and_then(every_s: float = FULL_EVERY_S) -> bool:
    """A full collection when the last is `every_s` ago; whether one ran."""
    global _last_full
    now = time.monotonic()
    if now - _last_full < every_s:
        return False
    _last_full = now
    gc.collect()
    return True
