"""Reading agents' batch chains back from a store, and choosing what a window needs."""

from __future__ import annotations

import binascii
import itertools
import re
import zlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from telemetry import Point, Store
from telemetry.seal import KPI_STREAM, BatchRecord, unarchive

#: time bound that reads every record (`pp_batch` and `pp_lines` rows sit at time = seq)
ALL_SEQ = 1 << 62
#: agent ids become folder names in a bundle
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def record_of(p: Point) -> BatchRecord:
    f = p.fields
    return BatchRecord(
        agent=p.tags["agent"],
        stream=p.tags["stream"],
        seq=int(f["seq"]),
        prev=str(f["prev"]),
        root=str(f["root"]),
        n=int(f["n"]),
        first_ns=int(f["first_ns"]),
        last_ns=int(f["last_ns"]),
        sig=str(f.get("sig", "")),
    )


async def read_chains(
    store: Store, site: str, stream: str = KPI_STREAM
) -> dict[str, list[BatchRecord]]:
    """Every agent's records of `stream` at `site`, by agent, in seq order."""
    rows = await store.read("pp_batch", 0, ALL_SEQ, where={"site": site, "stream": stream})
    chains: dict[str, list[BatchRecord]] = {}
    for p in rows:
        r = record_of(p)
        chains.setdefault(r.agent, []).append(r)
    for records in chains.values():
        records.sort(key=lambda r: r.seq)
    return chains


def intersects(record: BatchRecord, windows: Sequence[tuple[int, int]]) -> bool:
    """Whether the batch may hold a sample in one of the `[start, end)` windows."""
    return any(record.first_ns < end and record.last_ns >= start for start, end in windows)


@dataclass(frozen=True)
class Selection:
    """The part of one chain a bundle carries: an anchor record before the windows (or
    the chain's genesis), every record up to a checkpoint after them, and the lines of
    the records that intersect a window."""

    records: list[BatchRecord]
    with_lines: list[BatchRecord]


class ChainSelectionError(ValueError):
    pass


def select(records: list[BatchRecord], windows: Sequence[tuple[int, int]]) -> Selection | None:
    """None when no batch of this chain touches the windows."""
    hits = [i for i, r in enumerate(records) if intersects(r, windows)]
    if not hits:
        return None
    lo, hi = hits[0], hits[-1]
    agent = records[lo].agent
    start = lo - 1 if lo > 0 else lo
    if start == lo and records[lo].seq != 0:
        raise ChainSelectionError(
            f"agent {agent}: the store holds no record before seq {records[lo].seq}, so "
            "nothing shows the window's start is complete; start the window later"
        )
    for a, b in itertools.pairwise(records[start : hi + 2]):
        if b.seq != a.seq + 1:
            raise ChainSelectionError(
                f"agent {agent}: the store has no record for seq {a.seq + 1} (it jumps from "
                f"{a.seq} to {b.seq}); the agent may still be forwarding its buffer, or the "
                "record was lost from the store"
            )
    end = max(e for _, e in windows)
    if hi + 1 >= len(records) or records[hi + 1].first_ns < end:
        raise ChainSelectionError(
            f"agent {agent}: no sealed batch after the window's end yet (the last one is seq "
            f"{records[hi].seq}); a bundle needs that checkpoint to show nothing was cut "
            "off. Wait for the agent's next seal, or end the window earlier"
        )
    chosen = records[start : hi + 2]
    return Selection(chosen, [r for r in chosen if intersects(r, windows)])


async def read_lines(
    store: Store, site: str, agent: str, seqs: Sequence[int], stream: str = KPI_STREAM
) -> AsyncIterator[tuple[int, list[bytes] | None]]:
    """The archived lines of each batch in `seqs` of one agent's chain, in seq order; None
    for a batch the store has no archive of. Read a few hundred batches at a time, so a
    month of a large site never sits in memory at once."""
    ordered = sorted(set(seqs))
    step = 256
    for i in range(0, len(ordered), step):
        chunk = ordered[i : i + step]
        rows = await store.read(
            "pp_lines",
            chunk[0],
            chunk[-1] + 1,
            where={"site": site, "agent": agent, "stream": stream},
        )
        parts: dict[int, dict[int, str]] = {}
        for p in rows:
            parts.setdefault(p.time_ns, {})[int(p.tags["part"])] = str(p.fields["data"])
        for seq in chunk:
            got = parts.get(seq)
            if got is None:
                yield seq, None
                continue
            try:
                yield seq, unarchive([got[k] for k in sorted(got)])
            except (zlib.error, binascii.Error) as e:
                raise ValueError(
                    f"agent {agent} batch {seq}: its pp_lines archive in the store is "
                    f"incomplete or damaged ({len(got)} parts: {e})"
                ) from e
