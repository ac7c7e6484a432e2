"""The sealer seals a full batch at once, and a quiet buffer once an interval."""

from __future__ import annotations

import asyncio
from pathlib import Path

from collectors.buffer import Buffer
from collectors.metrics import Metrics
from collectors.sealer import SealerSpec, SealingLoop
from telemetry import SqliteConfig, SqliteStore
from telemetry.seal import TELEMETRY_STREAM, generate_key


def loop(tmp_path: Path, interval_s: float, batch: int) -> SealingLoop:
    key = tmp_path / "k.pem"
    generate_key(key)
    spec = SealerSpec(buffer_path=tmp_path / "b.db", buffer_max_bytes=1 << 30, key_path=key,
                      agent_id="a", site="s", batch_max_lines=batch, seal_interval_s=interval_s,
                      flush_timeout_s=5, store=None)  # fmt: skip
    store = SqliteStore(SqliteConfig(path=tmp_path / "store.db"))
    return SealingLoop(Buffer(spec.buffer_path), store, spec, Metrics("a"))


def lines(n: int) -> list[str]:
    return [f"telemetry,element=e,point=p,site=s quality=0i,value={i}.0 {10**18 + i}"
            for i in range(n)]  # fmt: skip


async def test_a_full_batch_ends_the_wait_for_the_interval(tmp_path: Path) -> None:
    sealing = loop(tmp_path, interval_s=3600, batch=10)
    sealing.buffer.append([(TELEMETRY_STREAM, lines(10), 10**18, 10**18 + 9)])
    # an hour's interval: returning at all means the full batch ended the wait
    await asyncio.wait_for(sealing._next_round(asyncio.Event()), 30)


async def test_less_than_a_batch_waits_for_the_interval(tmp_path: Path) -> None:
    sealing = loop(tmp_path, interval_s=3600, batch=10)
    sealing.buffer.append([(TELEMETRY_STREAM, lines(9), 10**18, 10**18 + 8)])
    waiting = asyncio.ensure_future(sealing._next_round(asyncio.Event()))
    await asyncio.sleep(1)  # five looks at the buffer
    assert not waiting.done()
    waiting.cancel()


async def test_stop_ends_the_wait(tmp_path: Path) -> None:
    sealing = loop(tmp_path, interval_s=3600, batch=10)
    stop = asyncio.Event()
    stop.set()
    await asyncio.wait_for(sealing._next_round(stop), 30)


async def test_after_a_failed_seal_a_full_batch_waits_for_the_interval(tmp_path: Path) -> None:
    """A seal that failed (a full disk) is not retried five times a second."""
    sealing = loop(tmp_path, interval_s=3600, batch=10)
    sealing.buffer.append([(TELEMETRY_STREAM, lines(10), 10**18, 10**18 + 9)])
    waiting = asyncio.ensure_future(sealing._next_round(asyncio.Event(), early=False))
    await asyncio.sleep(1)
    assert not waiting.done()
    waiting.cancel()
