"""Building an evidence bundle from a store: chains, lines, results, report, signature.

Layout of a bundle directory (optionally packed as one `.tar.gz`):

    statement.dsse.json                 DSSE envelope over the in-toto statement (JCS)
    chain/records.jsonl                 the agents' signed batch records, one per line
    batches/<stream>/<agent>/<seq>.lp.gz   the canonical lines of each batch in a window
    report.html                         the report (中文 / English)

Every file but the envelope is a subject of the statement, by SHA-256.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import itertools
import shutil
import struct
import time
import zlib
from asyncio import FIRST_COMPLETED
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import BaseModel

from kpi import (
    Declarations,
    Evaluation,
    KpiParams,
    Profile,
    Window,
    catalog_digest,
    evaluate,
    read_ranges,
)
from telemetry import Inventory, Store
from telemetry.errors import PilotproofError
from telemetry.merkle import scan_lines
from telemetry.seal import KPI_STREAM, BatchRecord
from verifier.chain import (
    SAFE_NAME,
    ChainSelectionError,
    Selection,
    read_archives,
    read_chains,
    select,
)
from verifier.dsse import sign_envelope
from verifier.html_report import render_report
from verifier.statement import (
    RECORDS_FILE,
    REPORT_FILE,
    STATEMENT_FILE,
    ChainHead,
    EpochChange,
    Predicate,
    Software,
    Statement,
    Subject,
    WindowText,
    batch_path,
)

Progress = Callable[[str, int, int], None]


class BuildError(PilotproofError, RuntimeError):
    """The store cannot back a bundle for this window; the message says why and what to do."""

    code = "E_BUILD"


class BuildResult(BaseModel):
    out: Path
    files: int
    bytes: int
    batches: int
    lines: int
    agents: list[str]
    verdict: str
    seconds: float


def software_version() -> str:
    try:
        return version("pilotproof")
    except PackageNotFoundError:
        return "0.0.0+unknown"


def window_text(w: Window) -> WindowText:
    return WindowText(start=w.start.isoformat(), end=w.end.isoformat())


async def build_bundle(
    store: Store,
    profile: Profile | str,
    window: Window,
    inventory: Inventory,
    key: Ed25519PrivateKey,
    out: Path,
    *,
    params: KpiParams | None = None,
    baseline: Window | None = None,
    declarations: Declarations | None = None,
    progress: Progress | None = None,
    evaluation: Evaluation | None = None,
) -> BuildResult:
    """Evaluate `profile` over `window` from `store` and write a signed bundle to `out`.

    `evaluation`, when the caller has just evaluated the same profile and windows on the
    same store, is signed instead of evaluating again."""
    t0 = time.perf_counter()
    params = params or KpiParams()
    site = inventory.site
    if not await asyncio.to_thread(_empty_or_absent, out):
        raise BuildError(f"{out} exists and is not empty; choose a new --out directory")
    # the window, the baseline, and the history before the window for cumulative counts
    windows = read_ranges(profile, window, params, baseline=baseline)

    chains = await read_chains(store, site)
    if not chains:
        raise BuildError(
            f"the store has no sealed KPI-stream batches (pp_batch) for site {site!r}: only "
            "data an agent sealed can be evidence. Run the agent against this store, or "
            "backfill a scenario with `pilotproof simulate backfill --seal KEY`"
        )
    heads: list[ChainHead] = []
    records_out: list[bytes] = []
    digests: dict[str, str] = {}
    total_lines = total_batches = 0
    # the KPIs are evaluated while the batches are copied: the store answers both at once
    given = evaluation
    if given is not None and (
        (given.window, given.baseline) != (window, baseline)
        or given.profile != (profile if isinstance(profile, str) else profile.id)
    ):
        raise BuildError("the evaluation given is of another profile or window")
    evaluating = None
    if given is None:
        evaluating = asyncio.create_task(
            evaluate(
                profile, window, store, inventory, params,
                baseline=baseline, declarations=declarations,
            )
        )  # fmt: skip
    packing: set[asyncio.Future[None]] = set()

    async def pack(name: str, agent: str, record: BatchRecord, archive: bytes) -> None:
        digests[name] = await asyncio.to_thread(_pack, out / name, agent, record, archive)

    try:
        for agent, epoch in sorted(chains):
            later = sorted(e for a, e in chains if a == agent and e > epoch)
            ended_by = later[0] if later else None
            sel = _selection(agent, chains[(agent, epoch)], windows, ended=ended_by is not None)
            if sel is None:
                continue
            records = {r.seq: r for r in sel.with_lines}
            done = 0
            try:
                async for seq, archive in read_archives(store, site, agent, list(records),
                                                        epoch=epoch):  # fmt: skip
                    r = records[seq]
                    if archive is None:
                        raise BuildError(
                            f"agent {agent} batch {r.seq}: the store has no pp_lines archive "
                            "of it; was it forwarded by an agent older than 0.2, or is the "
                            "store still receiving it?"
                        )
                    name = batch_path(KPI_STREAM, agent, seq, epoch)
                    # checked and packed in threads (zlib and the Merkle roots let go of
                    # the interpreter lock), a few batches at a time: bounded memory,
                    # every core busy, the event loop free for the evaluation's queries
                    if len(packing) >= PACKING:
                        done_now, _ = await asyncio.wait(packing, return_when=FIRST_COMPLETED)
                        for t in done_now:
                            packing.discard(t)
                            t.result()
                    packing.add(asyncio.create_task(pack(name, agent, r, archive)))
                    total_lines += r.n
                    done += 1
                    if progress is not None:
                        progress(f"batches of {agent}", done, len(records))
            except ValueError as e:
                raise BuildError(str(e)) from None
            total_batches += len(records)
            records_out += [r.model_dump_json().encode() for r in sel.records]
            last = sel.records[-1]
            heads.append(
                ChainHead(
                    agent=agent,
                    stream=KPI_STREAM,
                    first_seq=sel.records[0].seq,
                    last_seq=last.seq,
                    head=last.digest(),
                    batches=len(records),
                    lines=sum(r.n for r in sel.with_lines),
                    epoch=epoch or None,
                    ended_by=ended_by if last.seq == chains[(agent, epoch)][-1].seq else None,
                )
            )
        if not heads:
            raise BuildError(
                f"no sealed batch of site {site!r} falls in the window {window.start} – "
                f"{window.end}: nothing to bundle"
            )
        await asyncio.gather(*packing)
        packing.clear()
        if evaluating is not None:
            if progress is not None and not evaluating.done():
                progress("evaluating the KPIs", 0, 1)
            evaluation = await evaluating
    except BaseException:
        if evaluating is not None:
            evaluating.cancel()
        # a batch being packed is let finish: its thread would write into the folder
        # after it was removed
        running: list[asyncio.Future[Any]] = [*packing, *([evaluating] if evaluating else [])]
        await asyncio.gather(*running, return_exceptions=True)
        await asyncio.to_thread(shutil.rmtree, out, True)  # no half-built bundle is left
        raise
    files = {RECORDS_FILE: b"\n".join(records_out) + b"\n"}

    assert evaluation is not None
    files[REPORT_FILE] = render_report(
        evaluation, verification=None, timezone=inventory.timezone
    ).encode()

    predicate = predicate_of(evaluation, inventory, params, declarations, heads)
    changes = epoch_changes(heads, chains)
    if changes:
        predicate = predicate.model_copy(update={"epoch_changes": changes})
    size = await asyncio.to_thread(_write_bundle, out, files, digests, predicate, key)
    return BuildResult(
        out=out,
        files=len(digests) + 1,  # _write_bundle added the last files to digests
        bytes=size,
        batches=total_batches,
        lines=total_lines,
        agents=sorted({h.agent for h in heads}),
        verdict=evaluation.verdict,
        seconds=time.perf_counter() - t0,
    )


def _empty_or_absent(out: Path) -> bool:
    return not out.exists() or not any(out.iterdir())


def _selection(
    agent: str, records: list[BatchRecord], windows: list[tuple[int, int]], *, ended: bool
) -> Selection | None:
    if not SAFE_NAME.match(agent):
        raise BuildError(f"agent id {agent!r} cannot name a folder in a bundle")
    try:
        return select(records, windows, ended=ended)
    except ChainSelectionError as e:
        raise BuildError(str(e)) from None


def epoch_changes(
    heads: list[ChainHead], chains: dict[tuple[str, int], list[BatchRecord]]
) -> list[EpochChange]:
    """Each agent's chain restarts between the chains the bundle carries: declared."""
    out = []
    by_agent: dict[str, list[ChainHead]] = {}
    for h in heads:
        by_agent.setdefault(h.agent, []).append(h)
    for agent, hs in sorted(by_agent.items()):
        hs.sort(key=lambda h: h.epoch or 0)
        for a, b in itertools.pairwise(hs):
            old = chains[(agent, a.epoch or 0)][-1]
            new = chains[(agent, b.epoch or 0)][0]
            out.append(
                EpochChange(
                    agent=agent,
                    previous_epoch=a.epoch or 0,
                    previous_last_seq=old.seq,
                    previous_last_ns=str(old.last_ns),
                    epoch=b.epoch or 0,
                    first_ns=str(new.first_ns),
                )
            )
    return out


#: batches checked and packed at once, each in a thread
PACKING = 4
#: the last member of every batch file: the LF that ends its last line
_LF_MEMBER = gzip.compress(b"\n", mtime=0)
# a gzip member's header (RFC 1952): deflate, no flags, no time, no extra flags, OS unknown
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"


def _pack(path: Path, agent: str, r: BatchRecord, archive: bytes) -> str:
    """Check one batch's archive against its signed record and write it as the bundle's
    gzip file (reproducibly: no time in any header); the file's SHA-256.

    The archive's deflate data is reused, not compressed again: the file is two gzip
    members (RFC 1952 §2.2) — the archived lines, then the final LF — which every gzip
    reader inflates as one text."""
    damaged = BuildError(
        f"agent {agent} batch {r.seq}: the archived lines in the store do not match the "
        f"sealed record (n={r.n}); the store's copy was altered or damaged"
    )
    inflate = zlib.decompressobj()
    try:
        raw = inflate.decompress(archive)
    except zlib.error:
        raise damaged from None
    if not inflate.eof or inflate.unused_data:
        raise damaged
    text = raw + b"\n"  # as the bundle holds it, and as verify step 3 will scan it
    scan = scan_lines(text)
    if scan.n != r.n or scan.root.hex() != r.root:
        raise damaged
    if archive[1] & 0x20:  # a preset dictionary (never written by archive_points)
        data = gzip.compress(text, compresslevel=6, mtime=0)
    else:
        trailer = struct.pack("<II", zlib.crc32(raw), len(raw) & 0xFFFFFFFF)
        data = _GZIP_HEADER + archive[2:-4] + trailer + _LF_MEMBER
    _write_file(path, data)
    return hashlib.sha256(data).hexdigest()


def _write_file(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _write_bundle(
    out: Path,
    files: dict[str, bytes],
    digests: dict[str, str],
    predicate: Predicate,
    key: Ed25519PrivateKey,
) -> int:
    """Write the remaining files and the signed statement over all of them; returns the
    bundle's size in bytes."""
    for name, data in files.items():
        _write_file(out / name, data)
        digests[name] = hashlib.sha256(data).hexdigest()
    subjects = [Subject(name=n, digest={"sha256": digests[n]}) for n in sorted(digests)]
    statement = Statement(subject=subjects, predicate=predicate)
    envelope = sign_envelope(statement.canonical(), key)
    (out / STATEMENT_FILE).write_bytes(envelope.canonical())
    return sum(p.stat().st_size for p in out.rglob("*") if p.is_file())


def predicate_of(
    evaluation: Evaluation,
    inventory: Inventory,
    params: KpiParams,
    declarations: Declarations | None,
    heads: list[ChainHead],
) -> Predicate:
    return Predicate(
        profile=evaluation.profile,
        site=evaluation.site,
        catalog_digest=catalog_digest(),
        window=window_text(evaluation.window),
        baseline=window_text(evaluation.baseline) if evaluation.baseline else None,
        params=params.model_dump(mode="json"),
        inventory=inventory.model_dump(mode="json"),
        declarations=declarations.model_dump(mode="json") if declarations else None,
        verdict=evaluation.verdict,
        results=[r.model_dump(mode="json", exclude={"queries"}) for r in evaluation.results],
        chains=heads,
        software=Software(version=software_version()),
        built_at=datetime.now(UTC).isoformat(),
    )
