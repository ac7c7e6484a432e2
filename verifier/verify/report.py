"""What a verification returns: the checks, their failures, the warnings, what the bundle
says it computed, and the KPIs as recomputed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import rfc8785
from pydantic import BaseModel, Field

from kpi import Evaluation
from verifier.codes import Check, Finding

Progress = Callable[[str, int, int], None]


class ChainSummary(BaseModel):
    """One agent chain of the bundle, as step 3 checked it: which batches of the range
    verified and the span of point times they hold."""

    agent: str
    epoch: int = 0
    batches: int = Field(description="batches of the data range whose lines verified")
    lines: int
    first: str | None = Field(default=None, description="earliest point time, ISO 8601 UTC")
    last: str | None = Field(default=None, description="latest point time, ISO 8601 UTC")


class VerifyReport(BaseModel):
    """What `verify_bundle` found: `ok` when the four stages (`checks`: statement, files,
    chains, kpis) all passed; each failure a `Finding` with a stable code; `warnings`
    (`W_…`) that do not fail the bundle; what the statement says it covers (profile,
    site, window, parameters, inventory digest); and the KPIs as recomputed
    (`evaluation`)."""

    bundle: str
    ok: bool
    checks: list[Check] = Field(default_factory=list)
    warnings: list[Finding] = Field(default_factory=list)
    signer: str | None = Field(default=None, description="key id of the bundle's signer")
    signer_name: str | None = Field(
        default=None, description="the trusted-keys file's name for the signer's key"
    )
    profile: str | None = None
    site: str | None = None
    timezone: str | None = Field(default=None, description="the site's zone (its inventory)")
    window: tuple[str, str] | None = None
    baseline: tuple[str, str] | None = None
    params: dict[str, Any] | None = None
    inventory_digest: str | None = Field(default=None, description="SHA-256 of its JCS")
    inventory_counts: dict[str, int] | None = None
    inventory_pinned: bool = Field(
        default=False, description="checked against the auditor's own copy of the inventory"
    )
    software: str | None = Field(default=None, description="the building pilotproof's version")
    built_at: str | None = None
    chains: list[ChainSummary] = Field(default_factory=list)
    batches: int = 0
    lines: int = 0
    evaluation: Evaluation | None = Field(default=None, description="the KPIs as recomputed")

    @property
    def findings(self) -> list[Finding]:
        return [f for c in self.checks for f in c.findings]

    @property
    def codes(self) -> set[str]:
        return {f.code for f in self.findings}


def warn(notes: list[Finding], code: str, where: str, message: str) -> None:
    """Add a warning (`W_…`): it does not fail the bundle, it points the auditor at what
    the signature cannot prove."""
    notes.append(Finding(code=code, where=where, message=message))


def jcs(v: object) -> bytes:
    """Canonical bytes: `11` and `11.0` differ, key order does not; what JCS cannot
    express (integers past 2**53) gets bytes no JCS text equals."""
    try:
        return rfc8785.dumps(v)  # type: ignore[arg-type]
    except (rfc8785.CanonicalizationError, TypeError, ValueError):
        return b"\0" + repr(v).encode()
