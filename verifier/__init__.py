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

from typing import TYPE_CHECKING

from telemetry.lazy import lazy_exports
from verifier.archive import ArchiveError, ArchiveLimits, pack, unpack
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
from verifier.statement import PREDICATE_TYPE, STATEMENT_TYPE, Predicate, Statement

if TYPE_CHECKING:
    from verifier.build import BuildError, BuildResult, build_bundle
    from verifier.html_report import find_chromium, html_to_pdf, render_report
    from verifier.verify import VerifyReport, verify_bundle

# building, verifying and reporting load the KPI engine and the stores: only when used
__getattr__ = lazy_exports(
    __name__,
    build="BuildError BuildResult build_bundle",
    html_report="find_chromium html_to_pdf render_report",
    verify="VerifyReport verify_bundle",
)

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
