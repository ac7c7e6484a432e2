"""Stage 3 of verification: the agents' chains and the lines of every batch in range."""

from __future__ import annotations

import gzip
import hashlib
import io
import itertools
import os
import pickle
import subprocess
import sys
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError

from telemetry.merkle import scan_lines
from telemetry.seal import GENESIS, KPI_STREAM, BatchRecord
from telemetry.timegrid import NS
from verifier.chain import SAFE_NAME, ChainKey, intersects
from verifier.codes import Check, Finding
from verifier.keys import TrustedKeys
from verifier.statement import RECORDS_FILE, ChainHead, EpochChange, batch_path
from verifier.verify.report import ChainSummary, Progress, warn
from verifier.verify.step1_statement import Inputs, StatementError, strict_json


def _read_records(folder: Path, add: Callable[[Finding], None]) -> list[BatchRecord]:
    path = folder / RECORDS_FILE
    if not path.is_file():
        add(Finding(code="E_BUNDLE_LAYOUT", where=RECORDS_FILE, message="no batch records"))
        return []
    records = []
    for i, raw in enumerate(path.read_bytes().split(b"\n"), 1):
        if not raw.strip():
            continue
        where = f"{RECORDS_FILE}:{i}"
        try:
            # as strict as the statement: no repeated key, no unknown field, no coercion
            r = BatchRecord.model_validate(strict_json(raw, "E_RECORD_FORMAT", where), strict=True)
        except StatementError as e:
            add(e.finding)
            continue
        except ValidationError as e:
            add(Finding(code="E_RECORD_FORMAT", where=where, message=_first_error(e)))
            continue
        if not SAFE_NAME.match(r.agent) or r.stream != KPI_STREAM:
            add(
                Finding(
                    code="E_RECORD_FORMAT",
                    where=f"{RECORDS_FILE}:{i}",
                    message=(
                        f"agent {r.agent!r} / stream {r.stream!r}: not a KPI-stream record "
                        "of a well-named agent"
                    ),
                )
            )
            continue
        records.append(r)
    return records


#: no honest line is longer: string fields are cut into parts far below this when sealed
MAX_LINE_BYTES = 1 << 20


def _first_error(e: ValidationError) -> str:
    err = e.errors()[0]
    place = ".".join(str(x) for x in err["loc"]) or "record"
    return f"{place}: {err['msg']}"


@dataclass
class Chains:
    """What step 3 found.

    Args:
        check: the `chains` check, with a finding per fault.
        warnings: what does not fail the bundle (a declared new epoch …).
        verified: the batches whose lines verified, by (agent, epoch, seq): their file
            and its digest (read again for the recomputation instead of held: a month of
            a large site is 10^7–10^8 lines).
        batches: how many batches verified, and `lines` how many lines they hold.
    """

    check: Check
    warnings: list[Finding] = field(default_factory=list)
    verified: dict[tuple[str, int, int], tuple[Path, str]] = field(default_factory=dict)
    batches: int = 0
    lines: int = 0
    summaries: list[ChainSummary] = field(default_factory=list)


def check_chains(
    folder: Path, inputs: Inputs, trust: TrustedKeys, progress: Progress | None
) -> Chains:
    """Step 3: every chain the statement names, against the records and batch files."""
    out = Chains(check=Check(name="chains", name_zh="批次哈希链", ok=True))
    add, notes, verified = out.check.findings.append, out.warnings, out.verified
    pred = inputs.pred
    records = _read_records(folder, add)
    windows = inputs.ranges
    by_chain: dict[ChainKey, list[BatchRecord]] = {}
    for r in records:
        by_chain.setdefault((r.agent, r.epoch), []).append(r)
    heads: dict[ChainKey, ChainHead] = {}
    for h in pred.chains:
        key = (h.agent, h.epoch or 0)
        if key in heads or h.stream != KPI_STREAM or not SAFE_NAME.match(h.agent):
            add(
                Finding(
                    code="E_CHAIN_HEAD",
                    where=f"predicate.chains {h.agent}",
                    message="a chain named twice, of another stream, or with an unusable agent id",
                )
            )
            continue
        heads[key] = h
    for agent in sorted(trust.site_agents(pred.site) - {a for a, _ in heads}):
        add(
            Finding(
                code="E_CHAIN_MISSING",
                where=f"agent {agent}",
                message=(
                    f"the trusted-keys file names this agent at site {pred.site!r}; the "
                    "bundle has no chain of it"
                ),
            )
        )
    for agent, epoch in sorted(by_chain.keys() - heads.keys()):
        add(
            Finding(
                code="E_CHAIN_HEAD",
                where=f"{RECORDS_FILE} agent {agent}{_epoch_label(epoch)}",
                message="records of a chain the statement does not name",
            )
        )
    ended = _check_epochs(pred.epoch_changes or [], heads, by_chain, windows, add, notes)
    expected_files: set[str] = set()
    for (agent, epoch), head in sorted(heads.items()):
        chain = by_chain.get((agent, epoch), [])
        where = f"agent {agent}{_epoch_label(epoch)}"
        if not chain:
            add(
                Finding(
                    code="E_CHAIN_HEAD",
                    where=where,
                    message="the statement names this chain, the bundle has no record of it",
                )
            )
            continue
        _check_chain(chain, head, where, trust.agent_keys(agent), windows,
                     (agent, epoch) in ended, add, notes)  # fmt: skip
        in_range = [r for r in chain if intersects(r, windows)]
        summary = ChainSummary(agent=agent, epoch=epoch, batches=0, lines=0)
        out.summaries.append(summary)
        names = [batch_path(r.stream, agent, r.seq, epoch) for r in in_range]
        expected_files.update(names)
        for i, (r, (found, result)) in enumerate(
            zip(in_range, _check_batches(folder, names, in_range), strict=True)
        ):
            for f in found:
                add(f)
            if result is not None:
                verified[(agent, epoch, r.seq)] = result
                out.batches += 1
                out.lines += r.n
                summary.batches += 1
                summary.lines += r.n
                first, last = _iso(r.first_ns), _iso(r.last_ns)
                summary.first = min(summary.first or first, first)
                summary.last = max(summary.last or last, last)
            if progress is not None:
                progress(f"batches of {agent}", i + 1, len(in_range))
    batches = folder / "batches"
    present = (
        {p.relative_to(folder).as_posix() for p in batches.rglob("*") if p.is_file()}
        if batches.is_dir()
        else set()
    )
    for name in sorted(present - expected_files):
        add(
            Finding(
                code="E_BATCH_UNEXPECTED",
                where=name,
                message="no record in the data range owns this file",
            )
        )
    out.check.ok = not out.check.findings
    out.check.detail = f"{out.batches} batches, {out.lines:,} lines"
    return out


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns // NS, UTC).isoformat()


def _epoch_label(epoch: int) -> str:
    return f" epoch {epoch}" if epoch else ""


def _check_epochs(
    changes: list[EpochChange],
    heads: dict[ChainKey, ChainHead],
    by_chain: dict[ChainKey, list[BatchRecord]],
    windows: list[tuple[int, int]],
    add: Callable[[Finding], None],
    notes: list[Finding],
) -> set[ChainKey]:
    """An agent whose chain restarted inside the evidence range: every change between
    the chains the bundle carries must be declared, and match their records; a later
    epoch never begins unannounced. Returns the chains that a declared change ended
    (they need no checkpoint after the window)."""
    start = min(s for s, _ in windows)
    declared = {(c.agent, c.previous_epoch, c.epoch): c for c in changes}
    ended: set[ChainKey] = set()
    by_agent: dict[str, list[int]] = {}
    for agent, epoch in heads:
        by_agent.setdefault(agent, []).append(epoch)
    for agent, epochs in sorted(by_agent.items()):
        epochs.sort()
        for a, b in itertools.pairwise(epochs):
            c = declared.pop((agent, a, b), None)
            old, new = by_chain.get((agent, a), []), by_chain.get((agent, b), [])
            where = f"agent {agent} epoch {a} → {b}"
            if c is None:
                add(Finding(code="E_CHAIN_EPOCH", where=where, message=(
                    "the agent's chain restarts inside the evidence range and the bundle "
                    "does not declare it (predicate.epoch_changes)")))  # fmt: skip
                continue
            if (
                not old
                or not new
                or (c.previous_last_seq, c.previous_last_ns, c.first_ns)
                != (old[-1].seq, str(old[-1].last_ns), str(new[0].first_ns))
            ):
                add(Finding(code="E_CHAIN_EPOCH", where=where, message=(
                    "the declared epoch change does not match the chains' records")))  # fmt: skip
                continue
            ended.add((agent, a))
            warn(
                notes,
                "W_CHAIN_EPOCH",
                where,
                f"the agent's buffer was lost and a new chain begun (agent run --new-chain): "
                f"epoch {a} ends at seq {old[-1].seq}, epoch {b} begins at "
                f"{_utc(new[0].first_ns)}; what the lost buffer held was never sealed and is "
                "not in this evidence",
            )
        first_epoch = epochs[0]
        chain = by_chain.get((agent, first_epoch), [])
        if first_epoch and chain and chain[0].seq == 0 and chain[0].first_ns >= start:
            add(Finding(code="E_CHAIN_EPOCH", where=f"agent {agent} epoch {first_epoch}",
                        message=(f"chain epoch {first_epoch} begins inside the evidence range, "
                                 "but the bundle carries no earlier chain of this agent: the "
                                 "restart is not declared")))  # fmt: skip
    for agent, a, b in sorted(declared):
        add(Finding(code="E_CHAIN_EPOCH", where=f"agent {agent} epoch {a} → {b}",
                    message="a declared epoch change between chains not carried"))  # fmt: skip
    return ended


def _utc(ns: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ns / NS, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _check_chain(
    chain: list[BatchRecord],
    head: ChainHead,
    where: str,
    keys: list[Ed25519PublicKey],
    windows: list[tuple[int, int]],
    ended: bool,
    add: Callable[[Finding], None],
    notes: list[Finding],
) -> None:
    """One chain: signatures, seq continuity, links, times, head, window coverage."""
    if not keys:
        add(
            Finding(
                code="E_AGENT_UNTRUSTED",
                where=where,
                message=f'no [[key]] with name = "{head.agent}" and role = "agent" in the '
                "trusted-keys file",
            )
        )
    for finding in (
        *_record_faults(chain, where, keys),
        *_link_faults(chain, where),
        *_coverage_faults(chain, head, where, windows, ended, notes),
    ):
        add(finding)


def _record_faults(
    chain: list[BatchRecord], where: str, keys: list[Ed25519PublicKey]
) -> list[Finding]:
    """Each record on its own: signed by a trusted agent key, its times in order."""
    out: list[Finding] = []
    for r in chain:
        w = f"{where} batch {r.seq}"
        if not r.sig:
            out.append(
                Finding(code="E_RECORD_UNSIGNED", where=w, message="the record has no signature")
            )
        elif keys and not any(r.verify(k) for k in keys):
            out.append(
                Finding(
                    code="E_RECORD_SIG",
                    where=w,
                    message="the signature does not verify with the agent's trusted key",
                )
            )
        if r.first_ns > r.last_ns:
            out.append(
                Finding(
                    code="E_CHAIN_TIME",
                    where=w,
                    message=f"first_ns {r.first_ns} > last_ns {r.last_ns}",
                )
            )
    return out


def _link_faults(chain: list[BatchRecord], where: str) -> list[Finding]:
    """Each record after the one before: the next seq, linked by hash, time not going back."""
    out: list[Finding] = []
    for a, b in itertools.pairwise(chain):
        w = f"{where} batch {b.seq}"
        if b.seq == a.seq:
            out.append(
                Finding(code="E_CHAIN_DUPLICATE", where=w, message=f"seq {b.seq} appears twice")
            )
        elif b.seq < a.seq:
            out.append(
                Finding(code="E_CHAIN_ORDER", where=w, message=f"seq {b.seq} follows {a.seq}")
            )
        elif b.seq != a.seq + 1:
            out.append(
                Finding(
                    code="E_CHAIN_GAP",
                    where=w,
                    message=f"seqs {a.seq + 1}…{b.seq - 1} are missing",
                )
            )
        elif b.prev != a.digest():
            out.append(
                Finding(
                    code="E_CHAIN_PREV",
                    where=w,
                    message=f"prev is not the hash of batch {a.seq}",
                )
            )
        if b.last_ns < a.last_ns:
            out.append(
                Finding(
                    code="E_CHAIN_TIME",
                    where=w,
                    message=f"last_ns {b.last_ns} goes back from {a.last_ns}",
                )
            )
    return out


def _coverage_faults(
    chain: list[BatchRecord],
    head: ChainHead,
    where: str,
    windows: list[tuple[int, int]],
    ended: bool,
    notes: list[Finding],
) -> list[Finding]:
    """The chain against the statement: its head, an anchor before and a checkpoint after
    the windows, and the batches and lines in range."""
    out: list[Finding] = []
    start = min(s for s, _ in windows)
    end = max(e for _, e in windows)
    first, last = chain[0], chain[-1]
    if first.seq == 0 and first.prev != GENESIS:
        out.append(
            Finding(
                code="E_CHAIN_PREV",
                where=f"{where} batch 0",
                message="the first record does not start from the genesis hash",
            )
        )
    if (first.seq, last.seq, last.digest()) != (head.first_seq, head.last_seq, head.head):
        out.append(
            Finding(
                code="E_CHAIN_HEAD",
                where=where,
                message=(
                    f"records {first.seq}…{last.seq} do not end in the head the "
                    f"statement names ({head.first_seq}…{head.last_seq})"
                ),
            )
        )
    if first.seq == 0 and start <= first.first_ns < end:  # (a chain born after: no data)
        if not first.epoch:  # a later epoch's start is the epoch change's to report
            warn(
                notes,
                "W_CHAIN_STARTS_INSIDE",
                f"{where} batch 0",
                "this agent's chain begins inside the data range: it was installed then, or "
                "its buffer was reset — ask for the agent's earlier records",
            )
    elif not (first.seq == 0 or first.last_ns < start):
        out.append(
            Finding(
                code="E_WINDOW_START",
                where=f"{where} batch {first.seq}",
                message=(
                    "the first record is neither the chain's genesis nor before the data range"
                ),
            )
        )
    if not ended and (last.first_ns < end or intersects(last, windows)):
        out.append(
            Finding(
                code="E_CHAIN_TRUNCATED",
                where=f"{where} batch {last.seq}",
                message="no checkpoint record after the window's end: the tail may be cut off",
            )
        )
    in_range = [r for r in chain if intersects(r, windows)]
    if (head.batches, head.lines) != (len(in_range), sum(r.n for r in in_range)):
        out.append(
            Finding(
                code="E_CHAIN_HEAD",
                where=where,
                message=(
                    f"the statement counts {head.batches} batches / {head.lines} lines, "
                    f"the records {len(in_range)} / {sum(r.n for r in in_range)}"
                ),
            )
        )
    return out


#: from this many batches on, they are checked in worker processes, one per core: the
#: Merkle roots are a SHA-256 per line in Python, and a month of a large site is 10^7-10^8
#: lines (below it, starting the workers costs more than it saves)
PARALLEL_BATCHES = 64


def _check_batches(
    folder: Path, names: list[str], records: list[BatchRecord]
) -> Iterator[tuple[list[Finding], tuple[Path, str] | None]]:
    """`_check_one` of each batch, in order: its findings and, if it verified, its file
    and digest.

    The workers are plain child processes (`python -c`, tasks and results pickled over
    their pipes), not a multiprocessing pool: a pool's spawned workers import the
    caller's main script again, which breaks a script without a `__main__` guard. Worker
    k checks batches k, k + w, …, so reading them in turn gives the order back; a worker
    that fails leaves its batches to this process."""
    tasks = list(zip(names, records, strict=True))
    workers = min(os.cpu_count() or 1, 8)
    if len(tasks) < PARALLEL_BATCHES or workers < 2:
        for name, r in tasks:
            yield _check_one(folder, name, r)
        return
    procs = [_spawn_checker(folder, tasks[k::workers]) for k in range(workers)]
    alive = [p is not None for p in procs]
    try:
        for i, (name, r) in enumerate(tasks):
            proc = procs[i % workers]
            if alive[i % workers] and proc is not None and proc.stdout is not None:
                try:
                    yield pickle.load(proc.stdout)
                    continue
                except (EOFError, OSError, pickle.UnpicklingError):
                    alive[i % workers] = False
            yield _check_one(folder, name, r)
    finally:
        for p in procs:
            if p is not None:
                p.kill()
                p.wait()


def _spawn_checker(
    folder: Path, share: list[tuple[str, BatchRecord]]
) -> subprocess.Popen[bytes] | None:
    try:
        proc = subprocess.Popen(
            [sys.executable, "-c", "from verifier.verify.step3_chains import serve; serve()"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        )  # fmt: skip
    except OSError:
        return None
    assert proc.stdin is not None
    try:
        pickle.dump((folder, share), proc.stdin)
        proc.stdin.close()
    except OSError:
        proc.kill()
        proc.wait()
        return None
    return proc


def serve() -> None:
    """A checker child: its share of batches from stdin, each result to stdout."""
    folder, share = pickle.load(sys.stdin.buffer)
    out = sys.stdout.buffer
    for name, r in share:
        pickle.dump(_check_one(folder, name, r), out)
        out.flush()


def _check_one(
    folder: Path, name: str, r: BatchRecord
) -> tuple[list[Finding], tuple[Path, str] | None]:
    found: list[Finding] = []
    return found, _check_batch(folder, name, r, found.append)


def _check_batch(
    folder: Path, name: str, r: BatchRecord, add: Callable[[Finding], None]
) -> tuple[Path, str] | None:
    path = folder / name
    if not path.is_file():
        add(
            Finding(
                code="E_BATCH_MISSING",
                where=name,
                message=f"batch {r.seq} is in the data range; its lines are not in the bundle",
            )
        )
        return None
    data = path.read_bytes()
    limit = r.n * MAX_LINE_BYTES
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as gz:
            raw = gz.read(limit + 1)  # a batch is signed, but its signer may be hostile
    except (OSError, EOFError, zlib.error) as e:
        add(Finding(code="E_BATCH_FORMAT", where=name, message=f"not gzip: {e}"))
        return None
    if len(raw) > limit:
        add(
            Finding(
                code="E_BATCH_FORMAT",
                where=name,
                message=f"inflates past {limit:,} bytes for {r.n} lines (a compression bomb)",
            )
        )
        return None
    scan = scan_lines(raw)
    if scan.n != r.n:
        add(
            Finding(
                code="E_BATCH_COUNT",
                where=name,
                message=f"{scan.n} lines, the record says n = {r.n}",
            )
        )
        return None
    if scan.root.hex() != r.root:
        add(
            Finding(
                code="E_BATCH_ROOT",
                where=name,
                message="the Merkle root of the lines differs from the signed record's",
            )
        )
        return None
    if scan.bad:
        add(
            Finding(
                code="E_BATCH_FORMAT",
                where=f"{name}:{scan.bad}",
                message="a line without a timestamp (an integer of nanoseconds after its "
                "last space)",
            )
        )
        return None
    if r.n and (scan.first_ns != r.first_ns or scan.last_ns > r.last_ns):
        add(
            Finding(
                code="E_BATCH_TIME",
                where=name,
                message=(
                    f"line times {scan.first_ns}…{scan.last_ns} do not fit first_ns "
                    f"{r.first_ns} / last_ns {r.last_ns}"
                ),
            )
        )
        return None
    return path, hashlib.sha256(data).hexdigest()
