"""Stage 4 of verification: every KPI recomputed from the bundled lines, and compared."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import json
import tempfile
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from kpi import (
    Evaluation,
    evaluate,
)
from telemetry import DuckdbStore, LineProtocolError, StoreQueryError
from verifier.codes import Check, Finding
from verifier.statement import (
    Predicate,
)
from verifier.verify.report import Progress, jcs, warn
from verifier.verify.step1_statement import Inputs

#: result fields that are a log of how, not what: not compared
NOT_COMPARED = ("queries",)


@dataclass
class Recomputed:
    """What step 4 found.

    Args:
        check: the `kpis` check, with a finding per KPI that differs from the statement.
        evaluation: the KPIs as recomputed (None when the lines could not be loaded).
        warnings: what does not fail the bundle (elements in the data but not declared).
    """

    check: Check
    evaluation: Evaluation | None = None
    warnings: list[Finding] = field(default_factory=list)


async def recompute(
    inputs: Inputs,
    verified: dict[tuple[str, int, int], tuple[Path, str]],
    progress: Progress | None,
) -> Recomputed:
    """Step 4: the verified batches' lines into a scratch DuckDB store, every KPI
    evaluated by the same `kpi` code and compared whole with the statement."""
    out = Recomputed(check=Check(name="kpis", name_zh="指标复算", ok=True))
    out.evaluation = await _recompute(inputs, verified, out.check, out.warnings, progress)
    out.check.ok = not out.check.findings
    return out


async def _read_ahead(
    batches: list[tuple[tuple[str, int, int], tuple[Path, str]]],
) -> AsyncGenerator[tuple[int, tuple[str, int, int], Path, bytes | None], None]:
    """Each batch's lines in order (see `_inflated`), the next one read and inflated
    while the caller splits and loads this one."""
    ahead: asyncio.Future[bytes | None] | None = None
    try:
        for i, (key, (path, digest)) in enumerate(batches):
            current = ahead or asyncio.ensure_future(_inflated(path, digest))
            ahead = None
            if i + 1 < len(batches):
                ahead = asyncio.ensure_future(_inflated(*batches[i + 1][1]))
            yield i, key, path, await current
    finally:
        if ahead is not None:  # the caller stopped early: let the read end
            await asyncio.gather(ahead, return_exceptions=True)


async def _inflated(path: Path, digest: str) -> bytes | None:
    """A batch's lines, or None when its file no longer has the digest step 3 checked."""

    def read() -> bytes | None:
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != digest:
            return None
        return gzip.decompress(data)

    return await asyncio.to_thread(read)


async def _recompute(
    inputs: Inputs,
    verified: dict[tuple[str, int, int], tuple[Path, str]],
    check: Check,
    notes: list[Finding],
    progress: Progress | None,
) -> Evaluation | None:
    add = check.findings.append
    with tempfile.TemporaryDirectory(prefix="pilotproof-recompute-") as tmp:
        # columnar: a month of a large site is 10^7-10^8 lines, bulk-loaded from text
        store = DuckdbStore(Path(tmp) / "bundle.duckdb")
        try:
            loader = store.loader()
            batches = sorted(verified.items())
            where = "batches"  # the batch being loaded, for a finding
            try:
                async with contextlib.aclosing(_read_ahead(batches)) as reads:
                    async for i, (agent, _epoch, seq), path, data in reads:
                        where = f"agent {agent} batches to {seq}"
                        if data is None:  # changed since checked
                            add(
                                Finding(
                                    code="E_SUBJECT_DIGEST",
                                    where=str(path),
                                    message="changed while being verified",
                                )
                            )
                            return None
                        await loader.add(data)
                        if progress is not None:
                            progress("loading lines", i + 1, len(batches))
                result = await loader.finish()
            except (LineProtocolError, UnicodeDecodeError) as e:
                add(
                    Finding(
                        code="E_BATCH_FORMAT",
                        where=where,
                        message=str(e),
                    )
                )
                return None
            if result.rejected:
                r0 = result.rejected[0]
                add(
                    Finding(
                        code="E_BATCH_FORMAT",
                        where=where,
                        message=(
                            f"{len(result.rejected)} line(s) the store refuses, "
                            f"e.g. {r0.line[:120]!r}: {r0.reason}"
                        ),
                    )
                )
                return None
            seen_elements = await store.tag_values("element_status", "element")
            try:
                evaluation = await evaluate(
                    inputs.profile,
                    inputs.window,
                    store,
                    inputs.inventory,
                    inputs.params,
                    baseline=inputs.baseline,
                    declarations=inputs.declarations,
                )
            except (ValueError, ValidationError, ArithmeticError, StoreQueryError) as e:
                add(
                    Finding(
                        code="E_STATEMENT_FORMAT",
                        where="predicate",
                        message=f"the KPIs cannot be evaluated with these inputs: {e}",
                    )
                )
                return None
        finally:
            await store.close()
    declared = {e.id for e in inputs.inventory.elements}
    if extra := sorted(seen_elements - declared):
        warn(
            notes,
            "W_UNDECLARED_ELEMENTS",
            "predicate.inventory",
            f"{len(extra)} element(s) report status in the sealed data but are not in the "
            f"inventory, so no KPI counts them: {', '.join(extra[:10])}",
        )
    _compare(inputs.pred, evaluation, add)
    check.detail = f"{len(evaluation.results)} KPIs recomputed"
    return evaluation


def _compare(pred: Predicate, evaluation: Evaluation, add: Callable[[Finding], None]) -> None:
    if pred.verdict != evaluation.verdict:
        add(
            Finding(
                code="E_KPI_MISMATCH",
                where="predicate.verdict",
                message=f"statement {pred.verdict!r}, recomputed {evaluation.verdict!r}",
            )
        )
    ours = {r.id: r.model_dump(mode="json", exclude=set(NOT_COMPARED)) for r in evaluation.results}
    theirs = {str(r.get("id")): r for r in pred.results}
    for kid in sorted(ours.keys() ^ theirs.keys()):
        side = "statement" if kid in theirs else "recomputation"
        add(Finding(code="E_KPI_MISSING", where=f"kpi {kid}", message=f"only in the {side}"))
    for kid in sorted(ours.keys() & theirs.keys()):
        a = {k: v for k, v in theirs[kid].items() if k not in NOT_COMPARED}
        b = ours[kid]
        if jcs(a) == jcs(b):
            continue
        key = next((k for k in sorted(a.keys() | b.keys()) if jcs(a.get(k)) != jcs(b.get(k))), "?")
        add(
            Finding(
                code="E_KPI_MISMATCH",
                where=f"kpi {kid}.{key}",
                message=f"statement {_short(a.get(key))}, recomputed {_short(b.get(key))}",
            )
        )


def _short(v: object) -> str:
    text = json.dumps(v, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "…"
