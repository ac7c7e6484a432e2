"""Chain continuity: an agent never silently starts its evidence chain over.

An agent's chain lives in its buffer (the head: next seq and the hash it links to). If the
buffer is lost — a wiped disk, a replaced gateway, a deleted file — while the store
already holds that agent's records, a plain start would seal a new chain from seq 0 under
the same key and id, and its records would land on the old ones' rows. So at start
(DESIGN.md, "Chain epochs"):

* a buffer that continues what the store holds starts as usual;
* a buffer that never sealed anything, while the store holds a chain of this agent, is
  refused with what was found and what to do;
* `agent run --new-chain` (an explicit operator act) then begins a new *epoch*: its
  records carry the epoch number (signed), its `pp_batch` rows an `epoch` tag, so nothing
  of the earlier chain is overwritten, and `evidence verify` shows the change;
* a buffer that is *behind* the store (restored from an old backup) is refused too: it
  would fork the chain.

The store is asked once (`max(seq)` per stream and epoch, pushed down to the database).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from collectors.buffer import Buffer
from telemetry import Aggregate, InfluxStore, Store, StoreAuthError, StoreQueryError
from telemetry.errors import PilotproofError

log = logging.getLogger("pilotproof.agent")

#: `pp_batch` rows sit at time = seq: this bound reads them all
ALL_SEQ = 1 << 62


class ChainConflictError(PilotproofError, RuntimeError):
    """The buffer and the store disagree about this agent's chain; a person must decide."""

    code = "E_CHAIN_CONFLICT"


@dataclass(frozen=True)
class StoredChain:
    stream: str
    epoch: int
    last_seq: int


async def stored_chains(store: Store, site: str, agent: str) -> list[StoredChain]:
    """The agent's chains the store holds: the last seq of each stream and epoch."""
    try:
        df = await store.aggregate(
            Aggregate(measurement="pp_batch", field="seq", fn="max", start_ns=0,
                      end_ns=ALL_SEQ, group_by=("stream", "epoch"),
                      where={"site": site, "agent": agent})
        )  # fmt: skip
    except StoreQueryError as e:
        if "database not found" in str(e) or "not found" in str(e).lower():
            return []  # a new InfluxDB database: nothing stored yet
        raise
    return [
        StoredChain(str(r["stream"]), int(r["epoch"] or 0), int(r["value"]))
        for r in df.to_dict("records")
    ]


def _describe(chains: list[StoredChain]) -> str:
    return ", ".join(
        f"{c.stream} epoch {c.epoch} up to seq {c.last_seq}"
        for c in sorted(chains, key=lambda c: (c.epoch, c.stream))
    )


async def check_continuity(
    buffer: Buffer, store: Store, *, site: str, agent: str, new_chain: bool
) -> int:
    """The epoch this agent seals in, after checking its buffer against the store; raises
    ChainConflictError (the message says what was found and what to do), or a StoreError
    when the store cannot answer."""
    if isinstance(store, InfluxStore):
        try:
            await store.create_database()  # 1.x needs it before a query
        except (StoreAuthError, StoreQueryError) as e:  # 2.x/3.x: it exists, or is not ours
            log.debug("could not create the database (%s); assuming it exists", e)
    heads = buffer.heads()
    try:
        stored = await stored_chains(store, site, agent)
    except StoreQueryError as e:
        if not heads:
            raise  # a new buffer must know: the caller retries and says why
        # a buffer that holds a chain continues it; the store's answer only guarded it
        log.warning("%s %s: the store could not list its chains (%s); the buffer's chain "
                    "(epoch %d) goes on", site, agent, e, buffer.epoch() or 0)  # fmt: skip
        return buffer.epoch() or 0
    epoch = buffer.epoch()
    where = f"agent {agent!r} at site {site!r}"
    if heads:
        current = epoch or 0
        if new_chain:
            raise ChainConflictError(
                f"{where}: --new-chain, but the buffer {buffer.path} holds a chain (epoch "
                f"{current}, next seq {_heads(heads)}) that it continues; a new chain is only "
                "begun from an empty buffer. Run without --new-chain"
            )
        behind = [c for c in stored if c.epoch == current and c.last_seq >= heads.get(c.stream, 0)]
        if behind:
            raise ChainConflictError(
                f"{where}: the store already holds {_describe(behind)}, but the buffer "
                f"{buffer.path} would seal next seq {_heads(heads)}: the buffer is older than "
                "the store (restored from a backup?) and would fork the chain. Move it aside "
                "and start with `pilotproof agent run --new-chain`"
            )
        newer = [c for c in stored if c.epoch > current]
        if newer:
            raise ChainConflictError(
                f"{where}: the store holds a later chain ({_describe(newer)}) than this "
                f"buffer's epoch {current}: another agent uses this id, or the buffer is "
                "an old copy. Give each agent its own [agent] id"
            )
        return current
    # the buffer never sealed: new, wiped, or replaced
    mine = [c for c in stored if epoch is None or c.epoch >= epoch]
    if not mine:
        chosen = epoch if epoch is not None else 0
        buffer.set_epoch(chosen)
        return chosen
    if not new_chain:
        raise ChainConflictError(
            f"{where}: the store holds this agent's chain ({_describe(mine)}), but its buffer "
            f"{buffer.path} is new or empty — it was lost, wiped or replaced, and what it "
            "held that the store does not have is gone. Starting now would begin a second "
            "chain under the same key. If the buffer is really lost, begin a new chain "
            "epoch explicitly: `pilotproof agent run <site config> --new-chain` (auditors "
            "will see the change in the evidence); if it is not, put the buffer back"
        )
    chosen = max(c.epoch for c in stored) + 1
    buffer.set_epoch(chosen)
    log.warning("%s: began chain epoch %d (the store holds %s)", where, chosen, _describe(stored))
    return chosen


def _heads(heads: dict[str, int]) -> str:
    return ", ".join(f"{stream} {seq}" for stream, seq in sorted(heads.items()))
