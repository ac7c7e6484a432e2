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
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import BaseModel

from kpi import Declarations, Evaluation, KpiParams, Profile, Window, catalog_digest, evaluate
from telemetry import Inventory, Store
from telemetry.merkle import merkle_root
from telemetry.seal import KPI_STREAM, key_id
from verifier.chain import SAFE_NAME, ChainSelectionError, read_chains, read_lines, select
from verifier.dsse import sign_envelope
from verifier.report import render_report
from verifier.statement import (
    RECORDS_FILE,
    REPORT_FILE,
    STATEMENT_FILE,
    ChainHead,
    Predicate,
    Software,
    Statement,
    Subject,
    WindowText,
)

Progress = Callable[[str, int, int], None]


class BuildError(RuntimeError):
    """The store cannot back a bundle for this window; the message says why and what to do."""


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


def batch_path(stream: str, agent: str, seq: int) -> str:
    return f"batches/{stream}/{agent}/{seq}.lp.gz"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


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
) -> BuildResult:
    """Evaluate `profile` over `window` from `store` and write a signed bundle to `out`."""
    t0 = time.perf_counter()
    params = params or KpiParams()
    site = inventory.site
    if not await asyncio.to_thread(_empty_or_absent, out):
        raise BuildError(f"{out} exists and is not empty; choose a new --out directory")
    windows = [(window.start_ns, window.end_ns)]
    if baseline is not None:
        windows.append((baseline.start_ns, baseline.end_ns))

    chains = await read_chains(store, site)
    if not chains:
        raise BuildError(
            f"the store has no sealed KPI-stream batches (pp_batch) for site {site!r}: only "
            "data an agent sealed can be evidence. Run the agent against this store, or "
            "backfill a scenario with `pilotproof simulate backfill --seal KEY`"
        )
    heads: list[ChainHead] = []
    records_out: list[bytes] = []
    files: dict[str, bytes] = {}
    total_lines = total_batches = 0
    for agent in sorted(chains):
        if not SAFE_NAME.match(agent):
            raise BuildError(f"agent id {agent!r} cannot name a folder in a bundle")
        try:
            sel = select(chains[agent], windows)
        except ChainSelectionError as e:
            raise BuildError(str(e)) from None
        if sel is None:
            continue
        seqs = [r.seq for r in sel.with_lines]
        try:
            lines_of = await read_lines(store, site, agent, seqs)
        except ValueError as e:
            raise BuildError(str(e)) from None
        for i, r in enumerate(sel.with_lines):
            try:
                lines = lines_of[r.seq]
            except KeyError:
                raise BuildError(
                    f"agent {agent} batch {r.seq}: the store has no pp_lines archive of it; "
                    "was it written by an agent older than the evidence feature?"
                ) from None
            if len(lines) != r.n or merkle_root(lines).hex() != r.root:
                raise BuildError(
                    f"agent {agent} batch {r.seq}: the archived lines in the store do not "
                    f"match the sealed record (n={r.n}, {len(lines)} archived); the store's "
                    "copy was altered or damaged"
                )
            files[batch_path(KPI_STREAM, agent, r.seq)] = gzip.compress(
                b"\n".join(lines) + b"\n", compresslevel=6, mtime=0
            )
            total_lines += len(lines)
            if progress is not None:
                progress(f"batches of {agent}", i + 1, len(sel.with_lines))
        total_batches += len(sel.with_lines)
        records_out += [r.model_dump_json().encode() for r in sel.records]
        last = sel.records[-1]
        heads.append(
            ChainHead(
                agent=agent,
                stream=KPI_STREAM,
                first_seq=sel.records[0].seq,
                last_seq=last.seq,
                head=last.digest(),
                batches=len(sel.with_lines),
                lines=sum(r.n for r in sel.with_lines),
            )
        )
    if not heads:
        raise BuildError(
            f"no sealed batch of site {site!r} falls in the window {window.start} – "
            f"{window.end}: nothing to bundle"
        )
    files[RECORDS_FILE] = b"\n".join(records_out) + b"\n"

    evaluation = await evaluate(
        profile, window, store, inventory, params, baseline=baseline, declarations=declarations
    )
    files[REPORT_FILE] = render_report(evaluation, verification=None).encode()

    predicate = predicate_of(evaluation, inventory, params, declarations, heads)
    size = await asyncio.to_thread(_write_bundle, out, files, predicate, key)
    return BuildResult(
        out=out,
        files=len(files) + 1,
        bytes=size,
        batches=total_batches,
        lines=total_lines,
        agents=[h.agent for h in heads],
        verdict=evaluation.verdict,
        seconds=time.perf_counter() - t0,
    )


def _empty_or_absent(out: Path) -> bool:
    return not out.exists() or not any(out.iterdir())


def _write_bundle(
    out: Path, files: dict[str, bytes], predicate: Predicate, key: Ed25519PrivateKey
) -> int:
    """Write the files and the signed statement over them; returns the bundle's bytes."""
    out.mkdir(parents=True, exist_ok=True)
    subjects = []
    for name in sorted(files):
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(files[name])
        subjects.append(
            Subject(name=name, digest={"sha256": hashlib.sha256(files[name]).hexdigest()})
        )
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


def signer_id(key: Ed25519PrivateKey) -> str:
    return key_id(key.public_key())
