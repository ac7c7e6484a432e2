"""kpi — the catalog of indicators from the source documents, profiles, and evaluation
against a store. Depends on `telemetry` only.

* `load_catalog()`: every entry of the five source documents, with its clause, and the
  method pilotproof measures it by (`data/measures.yaml`).
* `list_profiles()` / `get_profile(name)`: the programme categories (`data/profiles.yaml`).
* `evaluate(profile, window, store, inventory, params)`: an `Evaluation` with one
  `KpiResult` per entry — value, verdict, counts, breakdown, coverage, queries, clause.
* `Declarations` / `load_declarations`: the operator's declared-evidence items.
* `row_counts(method, rows)`: which breakdown rows a ratio counted, for reports.
"""

from kpi.catalog import (
    Catalog,
    CatalogEntry,
    MethodBinding,
    catalog_digest,
    load_catalog,
    seed_text,
)
from kpi.declared import Declaration, Declarations, DeclarationsError, load_declarations
from kpi.evaluate import evaluate, meets, read_ranges
from kpi.methods import row_counts
from kpi.params import KpiParams
from kpi.profiles import Profile, UnknownProfileError, get_profile, list_profiles
from kpi.results import (
    VERDICT_LABELS,
    Breakdown,
    Clause,
    Coverage,
    Evaluation,
    Gap,
    KpiResult,
    QueryRecord,
    Verdict,
    Window,
    decimal_text,
)

__all__ = [
    "VERDICT_LABELS",
    "Breakdown",
    "Catalog",
    "CatalogEntry",
    "Clause",
    "Coverage",
    "Declaration",
    "Declarations",
    "DeclarationsError",
    "Evaluation",
    "Gap",
    "KpiParams",
    "KpiResult",
    "MethodBinding",
    "Profile",
    "QueryRecord",
    "UnknownProfileError",
    "Verdict",
    "Window",
    "catalog_digest",
    "decimal_text",
    "evaluate",
    "get_profile",
    "list_profiles",
    "load_catalog",
    "load_declarations",
    "meets",
    "read_ranges",
    "row_counts",
    "seed_text",
]
