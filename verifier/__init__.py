"""verifier — keys, signed evidence bundles, offline verification and reports.
Depends on `telemetry` and `kpi`.

* `build_bundle(store, profile, window, inventory, key, out)`: evaluate a profile and write
  a bundle — DSSE-signed in-toto statement, the agents' batch records, the lines of every
  KPI-stream batch in the window, `report.html`.
* `verify_bundle(path, trust)`: offline — envelope, digests, chains, Merkle roots, then
  every KPI recomputed from the bundled lines; a `VerifyReport` with stable error codes.
* `load_trust(path)`: the auditor's trusted-keys file; `trust_entry` prints one entry.
* `render_report(evaluation, verification)` / `html_to_pdf(html, pdf)`.
"""

from verifier.archive import ArchiveError, ArchiveLimits, UnsafeArchiveError, pack, unpack
from verifier.bundle import BuildError, BuildResult, build_bundle
from verifier.codes import CODES, Check, Finding
from verifier.dsse import (
    IN_TOTO_PAYLOAD_TYPE,
    DsseError,
    Envelope,
    pae,
    parse_envelope,
    sign_envelope,
    verify_envelope,
)
from verifier.keys import (
    KeyRole,
    TrustedKey,
    TrustedKeys,
    TrustError,
    generate_key,
    key_id,
    load_key,
    load_public_key,
    load_trust,
    public_key_text,
    trust_entry,
)
from verifier.report import find_chromium, html_to_pdf, render_report
from verifier.statement import PREDICATE_TYPE, STATEMENT_TYPE, Predicate, Statement
from verifier.verify import verify_bundle
from verifier.verify_report import VerifyReport

__all__ = [
    "CODES",
    "IN_TOTO_PAYLOAD_TYPE",
    "PREDICATE_TYPE",
    "STATEMENT_TYPE",
    "ArchiveError",
    "ArchiveLimits",
    "BuildError",
    "BuildResult",
    "Check",
    "DsseError",
    "Envelope",
    "Finding",
    "KeyRole",
    "Predicate",
    "Statement",
    "TrustError",
    "TrustedKey",
    "TrustedKeys",
    "UnsafeArchiveError",
    "VerifyReport",
    "build_bundle",
    "find_chromium",
    "generate_key",
    "html_to_pdf",
    "key_id",
    "load_key",
    "load_public_key",
    "load_trust",
    "pack",
    "pae",
    "parse_envelope",
    "public_key_text",
    "render_report",
    "sign_envelope",
    "trust_entry",
    "unpack",
    "verify_bundle",
    "verify_envelope",
]
