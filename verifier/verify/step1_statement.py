"""Stage 1 of verification: the signed statement, strictly parsed, and its inputs."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import rfc8785
from pydantic import ValidationError

from kpi import (
    Declarations,
    KpiParams,
    Profile,
    UnknownProfileError,
    Window,
    catalog_digest,
    get_profile,
    read_ranges,
)
from telemetry import Inventory
from telemetry.errors import PilotproofError
from verifier.codes import Finding
from verifier.dsse import DsseError, parse_envelope, verify_envelope
from verifier.keys import TrustedKeys
from verifier.statement import (
    PREDICATE_TYPE,
    STATEMENT_FILE,
    STATEMENT_TYPE,
    Predicate,
    Statement,
)
from verifier.verify.report import VerifyReport, jcs, warn


@dataclass(frozen=True)
class Inputs:
    """The statement's evaluation inputs, parsed."""

    pred: Predicate
    profile: Profile
    window: Window
    baseline: Window | None
    params: KpiParams
    inventory: Inventory
    declarations: Declarations | None
    ranges: list[tuple[int, int]]


class StatementError(PilotproofError):
    """The statement cannot be read or checked; `finding` says where and why."""

    def __init__(self, code: str, where: str, message: str) -> None:
        super().__init__(message, code=code)
        self.finding = Finding(code=code, where=where, message=message)


def strict_json(data: bytes | str, code: str, where: str) -> Any:
    """JSON with no duplicate keys (a second `payload` must not hide behind the first)."""

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in items:
            if k in out:
                raise ValueError(f"duplicate key {k!r}")
            out[k] = v
        return out

    try:
        return json.loads(data, object_pairs_hook=pairs)
    except (ValueError, RecursionError) as e:
        raise StatementError(code, where, f"not strict JSON: {e}") from None


def read_statement(
    folder: Path, trust: TrustedKeys, pinned: Inventory | None, report: VerifyReport
) -> tuple[Statement, Inputs]:
    env_path = folder / STATEMENT_FILE
    if not env_path.is_file():
        raise StatementError("E_BUNDLE_LAYOUT", STATEMENT_FILE, "the bundle has no statement")
    raw = env_path.read_bytes()
    strict_json(raw, "E_ENVELOPE_FORMAT", STATEMENT_FILE)
    try:
        envelope = parse_envelope(raw)
        body, signer = verify_envelope(envelope, trust.verifier_keys())
    except DsseError as e:
        raise StatementError(e.code, STATEMENT_FILE, str(e)) from None
    report.signer = signer
    report.signer_name = next(
        (k.name for k in trust.key if k.role == "verifier" and k.id() == signer), None
    )
    doc = strict_json(body, "E_STATEMENT_FORMAT", "payload")
    if jcs(doc) != body:
        # one byte string per statement: what is signed is exactly what is read
        raise StatementError(
            "E_STATEMENT_FORMAT", "payload", "the statement is not in JCS (RFC 8785)"
        )
    try:
        statement = Statement.model_validate(doc)
    except ValidationError as e:
        raise StatementError("E_STATEMENT_FORMAT", "payload", str(e).splitlines()[0]) from None
    if statement.type != STATEMENT_TYPE or statement.predicateType != PREDICATE_TYPE:
        raise StatementError(
            "E_STATEMENT_FORMAT",
            "payload",
            f"_type {statement.type!r}, predicateType {statement.predicateType!r}",
        )
    pred = statement.predicate
    report.profile, report.site, report.params = pred.profile, pred.site, pred.params
    report.window = (pred.window.start, pred.window.end)
    report.baseline = (pred.baseline.start, pred.baseline.end) if pred.baseline else None
    report.software, report.built_at = pred.software.version, pred.built_at
    ids = [str(r.get("id")) for r in pred.results]
    if len(ids) != len(set(ids)):
        dup = sorted({i for i in ids if ids.count(i) > 1})
        raise StatementError("E_STATEMENT_FORMAT", "predicate.results", f"KPIs listed twice: {dup}")
    if pred.catalog_digest != catalog_digest():
        raise StatementError(
            "E_CATALOG_DIGEST",
            "predicate.catalog_digest",
            f"{pred.catalog_digest}, this verifier has {catalog_digest()}: verify with "
            f"pilotproof {pred.software.version}",
        )
    try:
        profile = get_profile(pred.profile)
    except UnknownProfileError as e:
        raise StatementError("E_PROFILE_UNKNOWN", "predicate.profile", str(e)) from None
    try:
        window = _window(pred.window.start, pred.window.end)
        baseline = _window(pred.baseline.start, pred.baseline.end) if pred.baseline else None
        params = KpiParams.model_validate(pred.params)
        inventory = Inventory.model_validate(pred.inventory)
        declarations = Declarations.model_validate(pred.declarations) if pred.declarations else None
    except (ValueError, ValidationError) as e:
        raise StatementError("E_STATEMENT_FORMAT", "predicate", str(e).splitlines()[0]) from None
    if inventory.site != pred.site:
        raise StatementError(
            "E_STATEMENT_FORMAT",
            "predicate.site",
            f"{pred.site!r}, the inventory is of {inventory.site!r}",
        )
    report.timezone = inventory.timezone
    report.inventory_digest = hashlib.sha256(rfc8785.dumps(pred.inventory)).hexdigest()
    report.inventory_counts = {
        "elements": len(inventory.elements),
        "lines": len(inventory.lines),
        "loops": len(inventory.loops),
        "identifier_nodes": len(inventory.identifier_nodes),
    }
    if pinned is not None and pinned.model_dump(mode="json") != inventory.model_dump(mode="json"):
        raise StatementError(
            "E_INVENTORY_MISMATCH",
            "predicate.inventory",
            "the statement's inventory is not the one given with --inventory (the filed inventory)",
        )
    report.inventory_pinned = pinned is not None
    if pinned is None:
        warn(
            report.warnings,
            "W_INVENTORY_NOT_PINNED",
            "predicate.inventory",
            "the KPIs are computed against the inventory the bundle signer supplied "
            f"({report.inventory_counts}); compare it with the filed one, or pass --inventory FILE",
        )
    if params != KpiParams():
        warn(
            report.warnings,
            "W_PARAMS_NOT_DEFAULT",
            "predicate.params",
            f"parameters differ from the documented defaults: {pred.params}",
        )
    ranges = read_ranges(profile, window, params, baseline=baseline)
    inputs = Inputs(pred, profile, window, baseline, params, inventory, declarations, ranges)
    return statement, inputs


def _window(start: str, end: str) -> Window:
    return Window(start=datetime.fromisoformat(start), end=datetime.fromisoformat(end))
