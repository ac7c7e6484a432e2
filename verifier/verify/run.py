"""Offline verification of an evidence bundle: no database, no network.

Stages, each stopping the next when it fails (later stages would only repeat the noise):
1. the statement: a signature by a trusted verifier key; a strict, canonical in-toto
   statement whose inputs (profile, windows, parameters, inventory, declarations) parse,
   with this verifier's KPI catalog, and the auditor's own inventory when pinned;
2. the files: every subject's SHA-256, nothing missing, nothing extra;
3. the chains: a chain for every agent trusted at the site; each record's agent
   signature, `seq` continuity, `prev` links, monotonic times, the anchor before and the
   checkpoint after the data the KPIs read, and for every batch in that range its lines —
   count, Merkle root and times recomputed;
4. the KPIs: every result recomputed from the bundled lines by the same `kpi` code, in a
   temporary SQLite store, and compared whole (all but the query log) with the statement.

Warnings (codes `W_…`) do not fail a bundle; they point the auditor at what the signature
cannot prove (see docs/evidence.md, "Threat model").
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from telemetry import Inventory
from verifier.archive import ArchiveError, ArchiveLimits, unpack
from verifier.codes import Check, Finding
from verifier.keys import TrustedKeys
from verifier.statement import (
    STATEMENT_FILE,
    Statement,
)
from verifier.verify.report import Progress, VerifyReport
from verifier.verify.step1_statement import Inputs, StatementError, read_statement
from verifier.verify.step2_files import check_files
from verifier.verify.step3_chains import check_chains
from verifier.verify.step4_kpis import recompute

#: the stages of a verification, in order; a bundle is verified when all four pass
STAGES = ("statement", "files", "chains", "kpis")


async def verify_bundle(
    bundle: Path,
    trust: TrustedKeys,
    *,
    inventory: Inventory | None = None,
    progress: Progress | None = None,
    limits: ArchiveLimits | None = None,
) -> VerifyReport:
    """Verify `bundle` against `trust`.

    Args:
        bundle: a bundle folder, or one packed as `.tar.gz` (also `.tar`, bzip2 or xz).
        trust: the auditor's trusted keys (`load_trust`).
        inventory: the auditor's own copy of the site's filed inventory; the statement
            must carry exactly it.
        progress: told of each batch checked and recomputed.
        limits: what an archive may hold when unpacked (`ArchiveLimits` defaults).
    """
    report = VerifyReport(bundle=str(bundle), ok=False)
    if not await asyncio.to_thread(bundle.exists):
        report.checks.append(
            _fail("bundle", "证据包", "E_BUNDLE_LAYOUT", str(bundle), "no such file or folder")
        )
        return report
    with tempfile.TemporaryDirectory(prefix="pilotproof-verify-") as tmp:
        # unpacking, signatures, digests and chains are CPU and file work: off the loop
        checked = await asyncio.to_thread(
            _static_checks, bundle, Path(tmp), trust, inventory, report, progress,
            limits or ArchiveLimits(),
        )  # fmt: skip
        if checked is not None:
            kpis = await recompute(*checked, progress)
            report.checks.append(kpis.check)
            report.warnings += kpis.warnings
            report.evaluation = kpis.evaluation
    report.ok = [c.name for c in report.checks] == list(STAGES) and all(c.ok for c in report.checks)
    return report


def _fail(name: str, zh: str, code: str, where: str, message: str) -> Check:
    return Check(
        name=name, name_zh=zh, ok=False, findings=[Finding(code=code, where=where, message=message)]
    )


def _statement_check(folder: Path, trust: TrustedKeys, pinned: Inventory | None,
                     report: VerifyReport) -> tuple[Statement, Inputs] | None:  # fmt: skip
    try:
        statement, inputs = read_statement(folder, trust, pinned, report)
    except StatementError as e:
        report.checks.append(
            Check(name="statement", name_zh="签名声明", ok=False, findings=[e.finding])
        )
        return None
    report.checks.append(
        Check(
            name="statement",
            name_zh="签名声明",
            ok=True,
            detail=f"signed by key {report.signer[:16] if report.signer else ''}…",
        )
    )
    return statement, inputs


class _StatementRefusedError(Exception):
    """The statement failed while unpacking: stop before any batch is inflated."""


def _opened(
    bundle: Path, tmp: Path, trust: TrustedKeys, pinned: Inventory | None,
    report: VerifyReport, limits: ArchiveLimits,
) -> tuple[Path, tuple[Statement, Inputs] | None]:  # fmt: skip
    """The bundle as a folder, with its statement checked: for an archive, as soon as the
    statement is unpacked (a packed bundle holds it first)."""
    if bundle.is_dir():
        return bundle, _statement_check(bundle, trust, pinned, report)
    read: list[tuple[Statement, Inputs]] = []

    def on_file(name: str, folder: Path) -> None:
        if name == STATEMENT_FILE:
            checked = _statement_check(folder, trust, pinned, report)
            if checked is None:
                raise _StatementRefusedError
            read.append(checked)

    try:
        unpack(bundle, tmp, limits=limits, on_file=on_file)
    except _StatementRefusedError:
        return tmp, None
    except ArchiveError as e:
        report.checks.append(_fail("bundle", "证据包", e.code, str(bundle), str(e)))
        return tmp, None
    if not read:  # no statement in the archive
        return tmp, _statement_check(tmp, trust, pinned, report)
    return tmp, read[0]


def _static_checks(
    bundle: Path,
    tmp: Path,
    trust: TrustedKeys,
    pinned: Inventory | None,
    report: VerifyReport,
    progress: Progress | None,
    limits: ArchiveLimits,
) -> tuple[Inputs, dict[tuple[str, int, int], tuple[Path, str]]] | None:
    """Stages 1–3; the inputs and the verified batch files when all of them pass."""
    folder, checked = _opened(bundle, tmp, trust, pinned, report, limits)
    if checked is None:
        return None
    statement, inputs = checked

    files = check_files(folder, statement)
    report.checks.append(files)
    if not files.ok:
        return None

    chains = check_chains(folder, inputs, trust, progress)
    report.checks.append(chains.check)
    report.warnings += chains.warnings
    report.batches, report.lines = chains.batches, chains.lines
    report.chains = chains.summaries
    return (inputs, chains.verified) if chains.check.ok else None
