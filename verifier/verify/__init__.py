"""Offline verification of an evidence bundle, in numbered steps (the way
sigstore-python's `verify/` reads): each step is one module whose function returns its
`Check` — its findings — and what the next step needs.

1. `step1_statement` — a signature by a trusted key over a strict in-toto statement whose
   inputs parse, with this verifier's KPI catalog (and the auditor's own inventory);
2. `step2_files` — every subject's SHA-256, nothing missing, nothing extra;
3. `step3_chains` — the agents' chains and the lines of every batch in range;
4. `step4_kpis` — every KPI recomputed from the bundled lines and compared whole.

`run.verify_bundle` runs them in order, stopping at the first that fails.
"""

from verifier.verify.report import ChainSummary, Progress, VerifyReport
from verifier.verify.run import STAGES, verify_bundle

__all__ = ["STAGES", "ChainSummary", "Progress", "VerifyReport", "verify_bundle"]
