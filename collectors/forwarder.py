"""The forwarder: sealed batches from the buffer to the store, retried until they land.

A batch leaves the buffer only after the store accepted its lines, for the KPI stream
their verbatim archive (`pp_lines`), and its `pp_batch` record. Store writes are
idempotent (same series, field and time overwrite), so a batch re-sent after a crash or a
timeout never doubles a point. A store outage only stops the forwarder; it retries with
capped exponential backoff and loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter

from collectors.buffer import Buffer, SealedBatch
from collectors.logs import Throttle
from collectors.metrics import Metrics
from telemetry import InfluxStore, Store, StoreError, WriteResult, decode_lines
from telemetry.seal import KPI_STREAM, archive_points

log = logging.getLogger("pilotproof.forwarder")

#: sealed batches stored together: their lines batch after batch, their records in one
#: request, their removal from the buffer in one transaction (one record request and one
#: transaction per batch cost a tenth of the sealer process, bench/e2e.py)
GROUP_BATCHES = 10


def _refused_by_batch(
    batches: list[SealedBatch], result: WriteResult
) -> list[list[tuple[str, str]]]:
    """Each refused line given to exactly one batch that holds it, in order: a line in two
    batches (an MQTT redelivery) comes back refused once per copy, and each copy is kept
    once (rare: looked up only when some were)."""
    out: list[list[tuple[str, str]]] = [[] for _ in batches]
    if not result.rejected:
        return out
    left = [Counter(b.data.decode().split("\n")) for b in batches]
    for r in result.rejected:
        for k, lines in enumerate(left):
            if lines[r.line] > 0:
                lines[r.line] -= 1
                out[k].append((r.line, r.reason))
                break
    return out


class Forwarder:
    def __init__(
        self,
        buffer: Buffer,
        store: Store,
        site: str,
        metrics: Metrics,
        *,
        backoff_s: tuple[float, float] = (0.5, 10.0),
    ) -> None:
        self.buffer = buffer
        self.store = store
        self.site = site
        self.metrics = metrics
        self.backoff_s = backoff_s
        self.throttle = Throttle()

    async def _write(self, batches: list[SealedBatch]) -> None:
        """Store a group of batches: their lines batch by batch, then their records in one
        write, then one buffer transaction that lets them all go. A record is never written
        before all of its lines were accepted; a failure anywhere leaves the whole group
        in the buffer, to be written again (idempotently)."""
        result = WriteResult()
        for b in batches:  # in order: a later batch's value for a series and time wins
            lines = b.data.decode().split("\n")
            if isinstance(self.store, InfluxStore):
                result.merge(await self.store.write_lines(lines))  # canonical: not re-encoded
            else:
                result.merge(await self.store.write(decode_lines(lines)))
        for r in result.rejected:
            # the store refuses it for good (e.g. a field type conflict with rows another
            # writer put there): it stays in the sealed evidence and in the buffer's
            # `refused` table, counted and logged (once per reason, then summarised)
            self.throttle.log(
                log, logging.ERROR, ("refused", r.reason[:60]),
                f"store {self.store.describe()} refused {r.line[:200]!r}: {r.reason}; the "
                "line is kept in the buffer's refused table",
            )  # fmt: skip
        self.metrics.store_rejected += len(result.rejected)
        # KPI-stream lines are kept verbatim too: the evidence bundle ships them as sealed
        # (low rate, so the copy is cheap); raw telemetry is not archived
        records = [
            p
            for b in batches
            for p in (
                *(archive_points(b.record, b.lines, self.site) if b.record.stream == KPI_STREAM
                  else ()),
                b.record.to_point(self.site),
            )
        ]  # fmt: skip
        await self.store.write(records)
        await asyncio.to_thread(
            self.buffer.forwarded_many,
            list(zip((b.record for b in batches), _refused_by_batch(batches, result), strict=True)),
        )
        self.metrics.points_out += result.written

    async def forward_available(self) -> int:
        """Forward every sealed batch now in the buffer; raises StoreError on failure."""
        done = 0
        while batches := await asyncio.to_thread(self.buffer.unforwarded, GROUP_BATCHES):
            await self._write(batches)
            done += len(batches)
        return done

    async def run(self, wake: asyncio.Event, stop: asyncio.Event) -> None:
        """Forward whenever woken, until `stop`; on store failure back off and retry."""
        delay = self.backoff_s[0]
        while True:
            try:
                await self.forward_available()
                delay = self.backoff_s[0]
                self.metrics.store_up = 1
                self.metrics.store_backoff_s = 0.0
            except Exception as e:
                self.metrics.retries += 1
                self.metrics.store_up = 0
                self.metrics.store_backoff_s = delay
                what = "store unavailable" if isinstance(e, StoreError) else "forwarding failed"
                self.throttle.log(
                    log, logging.WARNING, ("forward", type(e).__name__),
                    f"{what} ({type(e).__name__}: {e}); the batches stay in the buffer, "
                    f"retrying in {delay:.1f} s",
                    exc_info=None if isinstance(e, StoreError) else e,
                )  # fmt: skip
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                delay = min(delay * 2, self.backoff_s[1])
                if stop.is_set():
                    return
                continue
            if stop.is_set():
                return
            wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), 1.0)
