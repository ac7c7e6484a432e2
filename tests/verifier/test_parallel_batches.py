"""Batches checked in worker processes give the report the one-by-one check gives."""

from __future__ import annotations

import asyncio
import gzip
from pathlib import Path

import pytest

from tests.evidence_fixtures import Keys
from tests.verifier.test_tamper import batch_files, copy_of, read_lines, resign, write_lines
from verifier import VerifyReport, verify_bundle
from verifier.verify import step3_chains


def _report(
    folder: Path, keys: Keys, monkeypatch: pytest.MonkeyPatch, parallel: bool
) -> VerifyReport:
    monkeypatch.setattr(step3_chains, "PARALLEL_BATCHES", 1 if parallel else 10**9)
    return asyncio.run(verify_bundle(folder, keys.trust))


def _findings(r: VerifyReport) -> list[tuple[str, str, str]]:
    return [(f.code, f.where, f.message) for f in r.findings]


def test_workers_verify_an_honest_bundle_alike(
    bundle: Path, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    one, many = (_report(bundle, keys, monkeypatch, p) for p in (False, True))
    assert one.ok
    assert many.ok
    assert one.model_dump(exclude={"evaluation"}) == many.model_dump(exclude={"evaluation"})
    assert one.evaluation is not None
    assert many.evaluation is not None
    assert one.evaluation.results == many.evaluation.results


def test_workers_report_each_broken_batch_in_order(
    bundle: Path, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = copy_of(bundle)
    names = batch_files(folder)
    assert len(names) >= 3
    # one batch loses a line, another is not gzip, a third is gone
    write_lines(folder, names[0], read_lines(folder, names[0])[1:])
    (folder / names[1]).write_bytes(gzip.compress(b"x")[:5])
    (folder / names[-1]).unlink()
    resign(folder, keys)
    one, many = (_report(folder, keys, monkeypatch, p) for p in (False, True))
    assert not one.ok
    assert {"E_BATCH_COUNT", "E_BATCH_FORMAT", "E_BATCH_MISSING"} <= set(one.codes)
    assert _findings(one) == _findings(many)
