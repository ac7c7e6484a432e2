"""Reading agents' batch chains back from a store, and choosing what a window needs."""

from __future__ import annotations

import binascii
import itertools
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from telemetry import Point, Store
from telemetry.errors import PilotproofError
from telemetry.seal import KPI_STREAM, BatchRecord, archived_stream

#: time bound that reads every record (`pp_batch` and `pp_lines` rows sit at time = seq)
ALL_SEQ = 1 << 62
#: agent ids become folder names in a bundle
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def record_of(p: Point) -> BatchRecord:
    f = p.fields
    return BatchRecord(
        agent=p.tags["agent"],
        stream=p.tags["stream"],
        epoch=int(p.tags.get("epoch") or 0),
        seq=int(f["seq"]),
        prev=str(f["prev"]),
        root=str(f["root"]),
        n=int(f["n"]),
        first_ns=int(f["first_ns"]),
        last_ns=int(f["last_ns"]),
        sig=str(f.get("sig", "")),
    )


ChainKey = tuple[str, int]
"""(agent, epoch): an agent's chain, and after a lost buffer its later ones."""


async def read_chains(
    store: Store, site: str, stream: str = KPI_STREAM
) -> dict[ChainKey, list[BatchRecord]]:
    """Every agent's records of `stream` at `site`, by (agent, epoch), in seq order."""
    rows = await store.read("pp_batch", 0, ALL_SEQ, where={"site": site, "stream": stream})
    chains: dict[ChainKey, list[BatchRecord]] = {}
    for p in rows:
        r = record_of(p)
        chains.setdefault((r.agent, r.epoch), []).append(r)
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


class ChainSelectionError(PilotproofError, ValueError):
    code = "E_CHAIN_SELECTION"

    pass


def select(
    records: list[BatchRecord], windows: Sequence[tuple[int, int]], *, ended: bool = False
) -> Selection | None:
    """What a bundle carries of one chain. With no batch in the windows: just the anchor
    and the checkpoint around them (the chain then proves it had nothing there), or None
    when the chain has no record after them either (a retired agent).

    `ended`: a later epoch replaced this chain (its agent's buffer was lost), so it has
    no checkpoint after the windows; it is carried up to its last record, and the bundle
    declares the change."""
    end = max(e for _, e in windows)
    hits = [i for i, r in enumerate(records) if intersects(r, windows)]
    agent = records[0].agent
    if not hits:
        after = next((i for i, r in enumerate(records) if r.first_ns >= end), None)
        if after is None:
            if ended and records[-1].last_ns >= min(s for s, _ in windows):
                start = len(records) - 1  # its end, inside the range: the change shows
                return Selection(records[start:], [])
            return None
        start = max(0, after - 1)
        _check_start(agent, records, start, after)
        return Selection(records[start : after + 1], [])
    lo, hi = hits[0], hits[-1]
    start = max(0, lo - 1)
    _check_start(agent, records, start, lo)
    for a, b in itertools.pairwise(records[start : hi + 2]):
        if b.seq != a.seq + 1:
            raise ChainSelectionError(
                f"agent {agent}: the store has no record for seq {a.seq + 1} (it jumps from "
                f"{a.seq} to {b.seq}); the agent may still be forwarding its buffer, or the "
                "record was lost from the store"
            )
    if ended and hi + 1 >= len(records):
        return Selection(records[start:], [r for r in records[start:] if intersects(r, windows)])
    if hi + 1 >= len(records) or records[hi + 1].first_ns < end:
        raise ChainSelectionError(
            f"agent {agent}: no sealed batch after the window's end yet (the last one is seq "
            f"{records[hi].seq}); a bundle needs that checkpoint to show nothing was cut "
            "off. Wait for the agent's next seal, or end the window earlier"
        )
    chosen = records[start : hi + 2]
    return Selection(chosen, [r for r in chosen if intersects(r, windows)])


def _check_start(agent: str, records: list[BatchRecord], start: int, first_needed: int) -> None:
    """`records[start]` opens the selection: an anchor before `first_needed`, or — when
    the store holds nothing earlier — it must be the chain's genesis."""
    if start == first_needed and records[start].seq != 0:
        raise ChainSelectionError(
            f"agent {agent}: the store holds no record before seq {records[start].seq}, so "
            "nothing shows the window's start is complete; start the window later"
        )


async def read_archives(
    store: Store,
    site: str,
    agent: str,
    seqs: Sequence[int],
    stream: str = KPI_STREAM,
    *,
    epoch: int = 0,
) -> AsyncIterator[tuple[int, bytes | None]]:
    """The archive of each batch in `seqs` of one agent's chain (of `epoch`), in seq
    order: the zlib stream of its LF-joined lines (`telemetry.seal.archive_points`), or
    None for a batch the store has no archive of. Read a few hundred batches at a time,
    so a month of a large site never sits in memory at once. Raises `ValueError` for an
    archive whose parts are not base64."""
    tag = str(epoch) if epoch else ""
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
            if p.tags.get("epoch", "") != tag:  # another epoch's batch of the same seq
                continue
            parts.setdefault(p.time_ns, {})[int(p.tags["part"])] = str(p.fields["data"])
        for seq in chunk:
            got = parts.get(seq)
            if got is None:
                yield seq, None
                continue
            try:
                stream_ = archived_stream([got[k] for k in sorted(got)])
            except binascii.Error as e:
                raise ValueError(
                    f"agent {agent} batch {seq}: its pp_lines archive in the store is "
                    f"incomplete or damaged ({len(got)} parts: {e})"
                ) from e
            yield seq, stream_
