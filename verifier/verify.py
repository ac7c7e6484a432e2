"""Offline verification of an evidence bundle: no database, no network.

Stages, each stopping the next when it fails (later stages would only repeat the noise):
1. the envelope: a signature by a trusted verifier key over the statement;
2. the files: every subject's SHA-256, nothing missing, nothing extra;
3. the chains: each record's agent signature, `seq` continuity, `prev` links, monotonic
   times, the anchor before and the checkpoint after the windows, and for every batch
   in a window its lines — count, Merkle root and times recomputed;
4. the KPIs: every result recomputed from the bundled lines by the same `kpi` code, in a
   temporary SQLite store, and compared exactly with the statement.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import itertools
import json
import tempfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from kpi import (
    Declarations,
    Evaluation,
    KpiParams,
    UnknownProfileError,
    Window,
    catalog_digest,
    evaluate,
    get_profile,
)
from telemetry import Inventory, LineProtocolError, SqliteStore, decode_blocks
from telemetry.merkle import merkle_root
from telemetry.seal import GENESIS, BatchRecord
from verifier.archive import UnsafeArchiveError, safe_member_name, unpack
from verifier.bundle import batch_path, sha256_file
from verifier.chain import intersects
from verifier.codes import Check, Finding
from verifier.dsse import DsseError, parse_envelope, verify_envelope
from verifier.keys import TrustedKeys
from verifier.statement import (
    PREDICATE_TYPE,
    RECORDS_FILE,
    STATEMENT_FILE,
    STATEMENT_TYPE,
    Predicate,
    Statement,
)

Progress = Callable[[str, int, int], None]
#: lines decoded and written to the scratch store at a time
LOAD_LINES = 200_000

#: what must recompute exactly, per KPI
COMPARED = (
    "verdict",
    "value",
    "decimal",
    "exact",
    "numerator",
    "denominator",
    "breakdown",
    "coverage",
)


class VerifyReport(BaseModel):
    bundle: str
    ok: bool
    checks: list[Check] = Field(default_factory=list)
    signer: str | None = Field(default=None, description="key id of the bundle's signer")
    profile: str | None = None
    site: str | None = None
    window: tuple[str, str] | None = None
    batches: int = 0
    lines: int = 0
    evaluation: Evaluation | None = Field(default=None, description="the KPIs as recomputed")

    @property
    def findings(self) -> list[Finding]:
        return [f for c in self.checks for f in c.findings]

    @property
    def codes(self) -> set[str]:
        return {f.code for f in self.findings}


@contextmanager
def opened(bundle: Path) -> Iterator[Path]:
    """The bundle as a folder: itself, or a `.tar.gz` unpacked safely into a temp folder."""
    if bundle.is_dir():
        yield bundle
        return
    with tempfile.TemporaryDirectory(prefix="pilotproof-verify-") as tmp:
        unpack(bundle, Path(tmp))
        yield Path(tmp)


async def verify_bundle(
    bundle: Path, trust: TrustedKeys, *, progress: Progress | None = None
) -> VerifyReport:
    report = VerifyReport(bundle=str(bundle), ok=False)
    if not await asyncio.to_thread(bundle.exists):
        report.checks.append(
            _fail("bundle", "证据包", "E_BUNDLE_LAYOUT", str(bundle), "no such file or folder")
        )
        return report
    try:
        with opened(bundle) as folder:
            # signatures, digests and chains are CPU and file work: off the event loop
            checked = await asyncio.to_thread(_static_checks, folder, trust, report, progress)
            if checked is not None:
                kpis = Check(name="kpis", name_zh="指标复算", ok=True)
                await _recompute(*checked, kpis, report, progress)
                kpis.ok = not kpis.findings
                report.checks.append(kpis)
    except UnsafeArchiveError as e:
        report.checks.append(_fail("bundle", "证据包", "E_ARCHIVE_UNSAFE", str(bundle), str(e)))
    report.ok = bool(report.checks) and all(c.ok for c in report.checks) and len(report.checks) == 4
    return report


def _fail(name: str, zh: str, code: str, where: str, message: str) -> Check:
    return Check(
        name=name, name_zh=zh, ok=False, findings=[Finding(code=code, where=where, message=message)]
    )


def _static_checks(
    folder: Path, trust: TrustedKeys, report: VerifyReport, progress: Progress | None
) -> tuple[Predicate, dict[tuple[str, int], tuple[Path, str]]] | None:
    """Stages 1–3; the predicate and the verified lines when all of them pass."""
    # 1. envelope --------------------------------------------------------------------
    env_path = folder / STATEMENT_FILE
    if not env_path.is_file():
        report.checks.append(
            _fail(
                "envelope",
                "签名信封",
                "E_BUNDLE_LAYOUT",
                STATEMENT_FILE,
                "the bundle has no statement",
            )
        )
        return None
    try:
        envelope = parse_envelope(env_path.read_bytes())
        body, signer = verify_envelope(envelope, trust.verifier_keys())
    except DsseError as e:
        report.checks.append(_fail("envelope", "签名信封", e.code, STATEMENT_FILE, str(e)))
        return None
    report.signer = signer
    try:
        statement = Statement.model_validate(json.loads(body))
        if statement.type != STATEMENT_TYPE or statement.predicateType != PREDICATE_TYPE:
            raise ValueError(f"_type {statement.type!r}, predicateType {statement.predicateType!r}")
    except (ValueError, ValidationError) as e:
        report.checks.append(
            _fail("envelope", "签名信封", "E_STATEMENT_FORMAT", STATEMENT_FILE, str(e))
        )
        return None
    pred = statement.predicate
    report.profile, report.site = pred.profile, pred.site
    report.window = (pred.window.start, pred.window.end)
    report.checks.append(
        Check(name="envelope", name_zh="签名信封", ok=True, detail=f"signed by key {signer[:16]}…")
    )

    # 2. files -----------------------------------------------------------------------
    files = Check(name="files", name_zh="文件摘要", ok=True)
    listed: dict[str, str] = {}
    for s in statement.subject:
        name = safe_member_name(s.name)
        if name is None or name == STATEMENT_FILE:
            files.findings.append(
                Finding(code="E_STATEMENT_FORMAT", where=s.name, message="unsafe subject name")
            )
            continue
        listed[name] = s.digest.get("sha256", "")
    present = {
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and p.relative_to(folder).as_posix() != STATEMENT_FILE
    }
    for name in sorted(present - listed.keys()):
        files.findings.append(
            Finding(code="E_FILE_UNLISTED", where=name, message="not a subject of the statement")
        )
    for name, digest in sorted(listed.items()):
        if name not in present:
            files.findings.append(
                Finding(code="E_SUBJECT_MISSING", where=name, message="listed but absent")
            )
        elif (got := sha256_file(folder / name)) != digest:
            files.findings.append(
                Finding(
                    code="E_SUBJECT_DIGEST",
                    where=name,
                    message=f"sha256 {got}, statement says {digest}",
                )
            )
    files.ok = not files.findings
    files.detail = f"{len(listed)} files"
    report.checks.append(files)
    if not files.ok:
        return None

    # 3. chains ----------------------------------------------------------------------
    chains = Check(name="chains", name_zh="批次哈希链", ok=True)
    lines_by_batch = _check_chains(folder, pred, trust, chains, report, progress)
    chains.ok = not chains.findings
    chains.detail = f"{report.batches} batches, {report.lines:,} lines"
    report.checks.append(chains)
    if not chains.ok:
        return None
    return pred, lines_by_batch


def _windows(pred: Predicate) -> list[tuple[int, int]]:
    out = [_window(pred.window.start, pred.window.end)]
    if pred.baseline is not None:
        out.append(_window(pred.baseline.start, pred.baseline.end))
    return [(w.start_ns, w.end_ns) for w in out]


def _window(start: str, end: str) -> Window:
    return Window(start=datetime.fromisoformat(start), end=datetime.fromisoformat(end))


def _read_records(folder: Path, check: Check) -> list[BatchRecord]:
    path = folder / RECORDS_FILE
    if not path.is_file():
        check.findings.append(
            Finding(code="E_BUNDLE_LAYOUT", where=RECORDS_FILE, message="no batch records")
        )
        return []
    records = []
    for i, raw in enumerate(path.read_bytes().splitlines(), 1):
        if not raw.strip():
            continue
        try:
            records.append(BatchRecord.model_validate_json(raw))
        except ValidationError as e:
            check.findings.append(
                Finding(
                    code="E_RECORD_FORMAT",
                    where=f"{RECORDS_FILE}:{i}",
                    message=str(e).splitlines()[0],
                )
            )
    return records


def _check_chains(
    folder: Path,
    pred: Predicate,
    trust: TrustedKeys,
    check: Check,
    report: VerifyReport,
    progress: Progress | None,
) -> dict[tuple[str, int], tuple[Path, str]]:
    add = check.findings.append
    records = _read_records(folder, check)
    windows = _windows(pred)
    start = min(s for s, _ in windows)
    end = max(e for _, e in windows)
    by_agent: dict[str, list[BatchRecord]] = {}
    for r in records:
        by_agent.setdefault(r.agent, []).append(r)
    heads = {h.agent: h for h in pred.chains}
    for agent in sorted(by_agent.keys() - heads.keys()):
        add(
            Finding(
                code="E_CHAIN_HEAD",
                where=f"{RECORDS_FILE} agent {agent}",
                message="records of an agent the statement does not name",
            )
        )
    expected_files: set[str] = set()
    # verified batches by (agent, seq): their file and its digest; the lines are read
    # again for the recomputation instead of held — a month of a large site is tens of
    # millions of lines
    lines_by_batch: dict[tuple[str, int], tuple[Path, str]] = {}
    for agent, head in sorted(heads.items()):
        chain = by_agent.get(agent, [])
        where = f"agent {agent}"
        if not chain:
            add(
                Finding(
                    code="E_CHAIN_HEAD",
                    where=where,
                    message="the statement names this chain, the bundle has no record of it",
                )
            )
            continue
        keys = trust.agent_keys(agent)
        if not keys:
            add(
                Finding(
                    code="E_AGENT_UNTRUSTED",
                    where=where,
                    message=f'no [[key]] with name = "{agent}" and role = "agent" in the '
                    "trusted-keys file",
                )
            )
        for r in chain:
            w = f"{where} batch {r.seq}"
            if r.stream != head.stream:
                add(
                    Finding(
                        code="E_CHAIN_HEAD",
                        where=w,
                        message=f"stream {r.stream!r}, statement says {head.stream!r}",
                    )
                )
            if not r.sig:
                add(
                    Finding(
                        code="E_RECORD_UNSIGNED", where=w, message="the record has no signature"
                    )
                )
            elif keys and not any(r.verify(k) for k in keys):
                add(
                    Finding(
                        code="E_RECORD_SIG",
                        where=w,
                        message="the signature does not verify with the agent's trusted key",
                    )
                )
            if r.first_ns > r.last_ns:
                add(
                    Finding(
                        code="E_CHAIN_TIME",
                        where=w,
                        message=f"first_ns {r.first_ns} > last_ns {r.last_ns}",
                    )
                )
        for a, b in itertools.pairwise(chain):
            w = f"{where} batch {b.seq}"
            if b.seq == a.seq:
                add(
                    Finding(code="E_CHAIN_DUPLICATE", where=w, message=f"seq {b.seq} appears twice")
                )
            elif b.seq < a.seq:
                add(Finding(code="E_CHAIN_ORDER", where=w, message=f"seq {b.seq} follows {a.seq}"))
            elif b.seq != a.seq + 1:
                add(
                    Finding(
                        code="E_CHAIN_GAP",
                        where=w,
                        message=f"seqs {a.seq + 1}…{b.seq - 1} are missing",
                    )
                )
            elif b.prev != a.digest():
                add(
                    Finding(
                        code="E_CHAIN_PREV",
                        where=w,
                        message=f"prev is not the hash of batch {a.seq}",
                    )
                )
            if b.last_ns < a.last_ns:
                add(
                    Finding(
                        code="E_CHAIN_TIME",
                        where=w,
                        message=f"last_ns {b.last_ns} goes back from {a.last_ns}",
                    )
                )
        first, last = chain[0], chain[-1]
        if first.seq == 0 and first.prev != GENESIS:
            add(
                Finding(
                    code="E_CHAIN_PREV",
                    where=f"{where} batch 0",
                    message="the first record does not start from the genesis hash",
                )
            )
        if (first.seq, last.seq, last.digest()) != (head.first_seq, head.last_seq, head.head):
            add(
                Finding(
                    code="E_CHAIN_HEAD",
                    where=where,
                    message=f"records {first.seq}…{last.seq} do not end in the head the "
                    f"statement names ({head.first_seq}…{head.last_seq})",
                )
            )
        if not (first.seq == 0 or first.last_ns < start):
            add(
                Finding(
                    code="E_WINDOW_START",
                    where=f"{where} batch {first.seq}",
                    message="the first record is neither the chain's genesis nor before the window",
                )
            )
        if last.first_ns < end or intersects(last, windows):
            add(
                Finding(
                    code="E_CHAIN_TRUNCATED",
                    where=f"{where} batch {last.seq}",
                    message="no checkpoint record after the window's end: the tail may be cut off",
                )
            )
        # the lines of every batch in a window
        in_window = [r for r in chain if intersects(r, windows)]
        for i, r in enumerate(in_window):
            name = batch_path(r.stream, agent, r.seq)
            expected_files.add(name)
            w = f"{name}"
            path = folder / name
            if not path.is_file():
                add(
                    Finding(
                        code="E_BATCH_MISSING",
                        where=w,
                        message=f"batch {r.seq} is in the window; its lines are not in the bundle",
                    )
                )
                continue
            try:
                lines = gzip.decompress(path.read_bytes()).split(b"\n")
            except (OSError, EOFError, zlib.error) as e:
                add(Finding(code="E_BATCH_FORMAT", where=w, message=f"not gzip: {e}"))
                continue
            if lines and lines[-1] == b"":
                lines.pop()
            if len(lines) != r.n:
                add(
                    Finding(
                        code="E_BATCH_COUNT",
                        where=w,
                        message=f"{len(lines)} lines, the record says n = {r.n}",
                    )
                )
                continue
            if merkle_root(lines).hex() != r.root:
                add(
                    Finding(
                        code="E_BATCH_ROOT",
                        where=w,
                        message="the Merkle root of the lines differs from the signed record's",
                    )
                )
                continue
            times = _line_times(lines, w, add)
            if times and (min(times) != r.first_ns or max(times) > r.last_ns):
                add(
                    Finding(
                        code="E_BATCH_TIME",
                        where=w,
                        message=f"line times {min(times)}…{max(times)} do not fit first_ns "
                        f"{r.first_ns} / last_ns {r.last_ns}",
                    )
                )
            lines_by_batch[(agent, r.seq)] = (path, sha256_file(path))
            report.batches += 1
            report.lines += len(lines)
            if progress is not None:
                progress(f"batches of {agent}", i + 1, len(in_window))
    present = (
        {p.relative_to(folder).as_posix() for p in (folder / "batches").rglob("*") if p.is_file()}
        if (folder / "batches").is_dir()
        else set()
    )
    for name in sorted(present - expected_files):
        add(
            Finding(
                code="E_BATCH_UNEXPECTED",
                where=name,
                message="no record in the window owns this file",
            )
        )
    return lines_by_batch


def _line_times(lines: list[bytes], where: str, add: Callable[[Finding], None]) -> list[int]:
    times = []
    for i, line in enumerate(lines, 1):
        try:
            times.append(int(line.rsplit(b" ", 1)[1]))
        except (IndexError, ValueError):
            add(
                Finding(
                    code="E_BATCH_FORMAT",
                    where=f"{where}:{i}",
                    message="a line without a timestamp",
                )
            )
    return times


async def _recompute(
    pred: Predicate,
    lines_by_batch: dict[tuple[str, int], tuple[Path, str]],
    check: Check,
    report: VerifyReport,
    progress: Progress | None,
) -> None:
    add = check.findings.append
    if pred.catalog_digest != catalog_digest():
        add(
            Finding(
                code="E_CATALOG_DIGEST",
                where="predicate.catalog_digest",
                message=f"{pred.catalog_digest}, this verifier has {catalog_digest()}: "
                f"verify with pilotproof {pred.software.version}",
            )
        )
        return
    try:
        profile = get_profile(pred.profile)
        inventory = Inventory.model_validate(pred.inventory)
        params = KpiParams.model_validate(pred.params)
        declarations = Declarations.model_validate(pred.declarations) if pred.declarations else None
        window = _window(pred.window.start, pred.window.end)
        baseline = _window(pred.baseline.start, pred.baseline.end) if pred.baseline else None
    except UnknownProfileError as e:
        add(Finding(code="E_PROFILE_UNKNOWN", where="predicate.profile", message=str(e)))
        return
    except (ValueError, ValidationError) as e:
        add(Finding(code="E_STATEMENT_FORMAT", where="predicate", message=str(e).splitlines()[0]))
        return
    with tempfile.TemporaryDirectory(prefix="pilotproof-recompute-") as tmp:
        store = SqliteStore(Path(tmp) / "bundle.db")
        try:
            total = len(lines_by_batch)
            pending: list[str] = []
            for i, ((agent, seq), (path, digest)) in enumerate(sorted(lines_by_batch.items())):
                data = await asyncio.to_thread(path.read_bytes)
                if hashlib.sha256(data).hexdigest() != digest:  # changed since it was checked
                    add(Finding(code="E_SUBJECT_DIGEST", where=str(path), message="changed "
                                "while being verified"))  # fmt: skip
                    return
                try:
                    pending += gzip.decompress(data).decode().splitlines()
                    # many batches per load: a series' samples from consecutive batches
                    # become one block, and the bulk write path does the rest
                    if len(pending) >= LOAD_LINES or i + 1 == total:
                        blocks = await asyncio.to_thread(decode_blocks, pending)
                        await store.write_blocks(blocks)
                        pending = []
                except (LineProtocolError, UnicodeDecodeError) as e:
                    add(Finding(code="E_BATCH_FORMAT", where=f"agent {agent} batches to {seq}",
                                message=str(e)))  # fmt: skip
                    return
                if progress is not None:
                    progress("loading lines", i + 1, total)
            evaluation = await evaluate(
                profile,
                window,
                store,
                inventory,
                params,
                baseline=baseline,
                declarations=declarations,
            )
        finally:
            await store.close()
    report.evaluation = evaluation
    _compare(pred.results, evaluation, add)
    check.detail = f"{len(evaluation.results)} KPIs recomputed"


def _compare(
    claimed: list[dict[str, Any]], evaluation: Evaluation, add: Callable[[Finding], None]
) -> None:
    ours = {r.id: r.model_dump(mode="json") for r in evaluation.results}
    theirs = {str(r.get("id")): r for r in claimed}
    for kid in sorted(ours.keys() ^ theirs.keys()):
        side = "statement" if kid in theirs else "recomputation"
        add(Finding(code="E_KPI_MISSING", where=f"kpi {kid}", message=f"only in the {side}"))
    for kid in sorted(ours.keys() & theirs.keys()):
        for key in COMPARED:
            a, b = theirs[kid].get(key), ours[kid].get(key)
            if a != b:
                add(
                    Finding(
                        code="E_KPI_MISMATCH",
                        where=f"kpi {kid}.{key}",
                        message=f"statement {_short(a)}, recomputed {_short(b)}",
                    )
                )
                break


def _short(v: object) -> str:
    text = json.dumps(v, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "…"


def digest_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
