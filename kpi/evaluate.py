"""Evaluate a profile: every entry measured, declared or composed, with its verdict."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from fractions import Fraction

from kpi.catalog import Catalog, CatalogEntry, MethodBinding, load_catalog
from kpi.declared import Declarations
from kpi.methods import METHODS, Context
from kpi.observe import coverage
from kpi.params import KpiParams
from kpi.profiles import Profile, get_profile
from kpi.queries import QueryLog
from kpi.results import (
    Clause,
    Evaluation,
    KpiResult,
    Measured,
    Role,
    Verdict,
    Window,
    decimal_text,
)
from telemetry import Inventory, Store

Progress = Callable[[int, int, str], None]


def meets(value: Fraction | bool, comparator: str, threshold: Fraction | bool | None) -> bool:
    """Compare exactly, before any rounding: a value at its threshold passes `>=`."""
    if threshold is None:
        return True
    if comparator == "==":
        return value == threshold
    if isinstance(value, bool) or isinstance(threshold, bool):
        return False
    if comparator in (">=", "at_least_k_of"):
        return value >= threshold
    if comparator == ">":
        return value > threshold
    if comparator == "<=":
        return value <= threshold
    raise ValueError(f"unknown comparator {comparator!r}")


#: methods that read the stored history before the window (from `history_start_ns`)
CUMULATIVE_METHODS = frozenset({"registrations"})


def read_ranges(
    profile: Profile | str,
    window: Window,
    params: KpiParams | None = None,
    *,
    baseline: Window | None = None,
) -> list[tuple[int, int]]:
    """The `[start, end)` ranges of stored data an evaluation of `profile` reads: the
    window, the baseline, and the history before the window for cumulative counts. What
    an evidence bundle must carry for its KPIs to recompute."""
    p = get_profile(profile) if isinstance(profile, str) else profile
    params = params or KpiParams()
    ranges = [(window.start_ns, window.end_ns)]
    if baseline is not None:
        ranges.append((baseline.start_ns, baseline.end_ns))
    catalog = load_catalog()
    for entry in p.entries(catalog):
        b = catalog.binding(entry)
        if b is not None and b.method in CUMULATIVE_METHODS:
            ranges.append((params.history_start_ns, window.end_ns))
            break
    return ranges


async def evaluate(
    profile: Profile | str,
    window: Window,
    store: Store,
    inventory: Inventory,
    params: KpiParams | None = None,
    *,
    baseline: Window | None = None,
    declarations: Declarations | None = None,
    progress: Progress | None = None,
) -> Evaluation:
    """Evaluate every entry of `profile` over `window` from `store`.

    Measured entries run their method's aggregates in the store; declared entries take
    the operator's `declarations`; composites count their components' passes.
    """
    catalog = load_catalog()
    profile = get_profile(profile) if isinstance(profile, str) else profile
    params = params or KpiParams()
    declarations = declarations or Declarations()
    log = QueryLog(store, inventory.site)
    ctx = Context(log, inventory, params, window, baseline)
    entries = profile.entries(catalog)
    components = {c for e in entries for c in e.components}
    results: dict[str, KpiResult] = {}
    ordered = [e for e in entries if e.kind != "composite"] + [
        e for e in entries if e.kind == "composite"
    ]
    for i, entry in enumerate(ordered):
        if progress is not None:
            progress(i, len(ordered), entry.id)
        role = _role(entry, components)
        binding = catalog.binding(entry)
        if entry.kind in ("administrative", "program_target"):
            results[entry.id] = _result(catalog, entry, role, "rule", "not_applicable", binding)
        elif binding is not None:
            results[entry.id] = await _measure(ctx, catalog, entry, role, binding, declarations)
        elif entry.kind == "composite" and entry.components:
            results[entry.id] = _compose(catalog, entry, role, results)
        else:
            results[entry.id] = _declared(catalog, entry, role, declarations)
    if progress is not None:
        progress(len(ordered), len(ordered), "")
    return Evaluation(
        profile=profile.id,
        profile_name_zh=profile.name_zh,
        profile_name_en=profile.name_en,
        site=inventory.site,
        window=window,
        baseline=baseline,
        store=store.describe(),
        params=params.as_text(),
        results=[results[e.id] for e in entries],
        evaluated_at=datetime.now(UTC),
        rows_read=log.rows_read,
        notes=_unread_categories(catalog, entries, inventory),
    )


#: methods that read every declared point, whatever its category
_ALL_POINTS = frozenset({"points_reporting", "protocols_delivering"})


def _unread_categories(
    catalog: Catalog, entries: list[CatalogEntry], inventory: Inventory
) -> list[str]:
    """Declared points of categories no measured KPI of the profile reads: said, so a
    site that declares energy meters for a 5G profile knows they count for nothing here."""
    read: set[str] = set()
    for e in entries:
        b = catalog.binding(e)
        if b is None:
            continue
        if b.method in _ALL_POINTS:
            return []
        read |= set(b.params.get("scope", ()))
    unread: dict[str, int] = {}
    for el in inventory.elements:
        for p in el.points:
            if p.category not in read:
                unread[p.category] = unread.get(p.category, 0) + 1
    if not unread:
        return []
    listed = ", ".join(f"{c} ({n})" for c, n in sorted(unread.items()))
    return [
        f"{sum(unread.values())} declared point(s) are of categories no measured KPI of this "
        f"profile reads: {listed} — they are collected and kept, but decide nothing here"
    ]


def _role(entry: CatalogEntry, components: set[str]) -> Role:
    if entry.kind in ("administrative", "program_target"):
        return "info"
    if entry.id in components:
        return "component"
    if entry.optional:
        return "optional"
    if entry.condition:
        return "conditional"
    return "required"


def _result(
    catalog: Catalog,
    entry: CatalogEntry,
    role: Role,
    source: str,
    verdict: Verdict,
    binding: MethodBinding | None = None,
    **kw: object,
) -> KpiResult:
    doc = catalog.source_document(entry.source.file)
    notes = list(kw.pop("notes", []))  # type: ignore[call-overload]
    if entry.threshold_interpreted:
        notes.append("the document gives no number: the threshold is the cataloguer's floor")
    if entry.condition:
        notes.append(f"applies to: {entry.condition}")
    value = kw.get("value")
    if isinstance(value, Fraction):
        kw["decimal"], kw["exact"] = decimal_text(value)
    return KpiResult(
        id=entry.id,
        kind=entry.kind,
        name_zh=entry.name_zh,
        name_en=entry.name_en,
        source=source,
        role=role,
        method=binding.method if binding else None,
        formula=binding.formula if binding else entry.formula,
        unit=entry.unit,
        comparator=entry.comparator,
        threshold=entry.threshold,
        threshold_text=entry.threshold_text(),
        threshold_interpreted=entry.threshold_interpreted,
        verdict=verdict,
        components=list(entry.components),
        clause=Clause(
            file=entry.source.file,
            document=doc.title,
            section=entry.source.section,
            quote=entry.source.quote,
            ocr_corrected_quote=entry.ocr_corrected_quote,
            gloss=binding.gloss if binding else f"{entry.name_en}: {entry.formula}",
        ),
        notes=notes,
        **kw,
    )


async def _measure(
    ctx: Context,
    catalog: Catalog,
    entry: CatalogEntry,
    role: Role,
    binding: MethodBinding,
    declarations: Declarations,
) -> KpiResult:
    fn = METHODS.get(binding.method)
    if fn is None:
        raise ValueError(f"measures.yaml names method {binding.method!r}, which does not exist")
    m: Measured = await fn(ctx, binding.params)
    windows = [ctx.window]
    if binding.needs_baseline and ctx.baseline is not None:
        windows.insert(0, ctx.baseline)
    tz = ctx.inventory.timezone
    cov = [
        await coverage(ctx.log, meas, w, tz, binding.cadence)
        for meas in binding.measurements
        for w in windows
    ]
    notes = list(m.notes)
    if declarations.get(entry.id) is not None:
        notes.append("a declared value was given too; the measured value is used")
    # no hour to judge (a daily clause over a window without a complete day): the method
    # says so itself
    low = [c for c in cov if c.hours and c.fraction < ctx.params.min_coverage]
    for c in low:
        notes.append(
            f"{c.measurement} has data in only {c.hours_with_data} of {c.hours} hours of "
            f"the window (below min_coverage {ctx.params.min_coverage}); see the gaps"
        )
    verdict: Verdict
    if m.value is None or low:
        verdict = "insufficient_data"
    else:
        verdict = "pass" if meets(m.value, entry.comparator, entry.threshold) else "fail"
    return _result(
        catalog,
        entry,
        role,
        "measured",
        verdict,
        binding,
        value=m.value,
        numerator=m.numerator,
        denominator=m.denominator,
        breakdown=m.breakdown,
        coverage=cov,
        queries=ctx.log.take(),
        notes=notes,
    )


def _declared(
    catalog: Catalog, entry: CatalogEntry, role: Role, declarations: Declarations
) -> KpiResult:
    d = declarations.get(entry.id)
    base = "declared, not measured (申报值，非测量)"
    if d is None:
        return _result(
            catalog, entry, role, "declared", "not_declared", notes=[f"{base}: not declared yet"]
        )
    notes = [f"{base}; attachment: {d.attachment}"] + ([d.note] if d.note else [])
    value: Fraction | bool | None = d.value
    if entry.options:
        unknown = [o for o in d.options if o not in entry.options]
        chosen = [o for o in d.options if o in entry.options]
        if unknown:
            notes.append(f"not among the listed options, not counted: {', '.join(unknown)}")
        value = Fraction(len(set(chosen)))
        notes.append("options: " + ", ".join(chosen))
    if value is None:
        return _result(
            catalog,
            entry,
            role,
            "declared",
            "not_declared",
            attachment=d.attachment,
            notes=[*notes, "the declaration gives no value"],
        )
    verdict: Verdict = "pass" if meets(value, entry.comparator, entry.threshold) else "fail"
    return _result(
        catalog, entry, role, "declared", verdict, value=value, attachment=d.attachment, notes=notes
    )


def _compose(
    catalog: Catalog, entry: CatalogEntry, role: Role, results: dict[str, KpiResult]
) -> KpiResult:
    present = [results[c] for c in entry.components if c in results]
    missing = [c for c in entry.components if c not in results]
    met = [r.id for r in present if r.verdict == "pass"]
    open_ = [r.id for r in present if r.verdict in ("insufficient_data", "not_declared")]
    k = entry.threshold
    assert isinstance(k, Fraction)
    verdict: Verdict
    if len(met) >= k:
        verdict = "pass"
    elif len(met) + len(open_) >= k:
        verdict = "insufficient_data"
    else:
        verdict = "fail"
    notes = [f"met: {', '.join(met) or 'none'}"]
    if open_:
        notes.append(f"undecided: {', '.join(open_)}")
    if missing:
        notes.append(f"components not in this profile: {', '.join(missing)}")
    return _result(
        catalog,
        entry,
        role,
        "composite",
        verdict,
        value=Fraction(len(met)),
        numerator=len(met),
        denominator=len(entry.components),
        notes=notes,
    )
