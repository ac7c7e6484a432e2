"""`pilotproof kpi …` — the catalog, the profiles, and evaluation against a store (指标)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Column, Table

from kpi import (
    VERDICT_LABELS,
    Declarations,
    DeclarationsError,
    Evaluation,
    KpiResult,
    Profile,
    UnknownProfileError,
    Window,
    evaluate,
    get_profile,
    list_profiles,
    load_catalog,
    load_declarations,
)
from pilotproof.options import (
    InventoryOpt,
    StoreOpt,
    console,
    esc,
    fail,
    open_store_or_exit,
    parse_time,
)
from telemetry import Inventory, InventoryError, StoreError, load_inventory

app = typer.Typer(
    add_completion=False,
    help=(
        "KPIs of the source documents — 指标. `list` shows profiles and their entries, "
        "`evaluate` computes a profile from a store, `docs` writes docs/kpis.md."
    ),
    no_args_is_help=True,
)

VERDICT_STYLE = {
    "pass": "green",
    "fail": "red",
    "insufficient_data": "yellow",
    "not_declared": "dim",
    "not_applicable": "dim",
}


@app.command("list")
def list_cmd(
    profile: Annotated[
        str | None, typer.Option(help="show this profile's entries (id or alias)")
    ] = None,
) -> None:
    """Profiles, or one profile's entries with thresholds — 试点类别与指标."""
    catalog = load_catalog()
    if profile is None:
        table = Table(title="profiles — 试点类别")
        table.add_column("profile", overflow="fold", min_width=20)
        for name in ("名称", "entries", "measured"):
            table.add_column(name)
        for p in list_profiles():
            entries = p.entries(catalog)
            measured = sum(1 for e in entries if catalog.binding(e) is not None)
            table.add_row(p.id, p.name_zh, str(len(entries)), str(measured))
        console.print(table)
        console.print("`pilotproof kpi list --profile ID` shows one profile's entries.")
        return
    p = _profile(profile)
    table = Table(title=f"{p.id} — {p.name_zh}")
    table.add_column("id", overflow="fold", min_width=18)
    for name in ("指标", "indicator", "threshold", "how"):
        table.add_column(name)
    for e in p.entries(catalog):
        b = catalog.binding(e)
        how = "measured 测量" if b else "declared 申报"
        if e.kind == "composite" and e.components:
            how = "composite 组合"
        if e.kind in ("administrative", "program_target"):
            how = "rule 规则"
        if e.optional:
            how += " (optional)"
        table.add_row(e.id, e.name_zh, e.name_en, e.threshold_text(), how)
    console.print(table)


def _profile(name: str) -> Profile:
    try:
        return get_profile(name)
    except UnknownProfileError as e:
        raise fail(str(e)) from None


def _inventory(path: Path) -> Inventory:
    try:
        return load_inventory(path)
    except InventoryError as e:
        raise fail(str(e)) from None


@app.command("evaluate")
def evaluate_cmd(
    profile: Annotated[str, typer.Option(help="profile id or alias (`kpi list`)")],
    store: StoreOpt = "sqlite:pilotproof.db",
    inventory: InventoryOpt = None,
    scenario: Annotated[
        str | None,
        typer.Option(
            help="take the inventory (and default windows) from a simulator scenario instead"
        ),
    ] = None,
    start: Annotated[
        str | None, typer.Option("--from", help="window start, ISO 8601 (local if no offset)")
    ] = None,
    end: Annotated[str | None, typer.Option("--to", help="window end (exclusive)")] = None,
    baseline_from: Annotated[
        str | None, typer.Option(help="baseline window start, for improvement KPIs")
    ] = None,
    baseline_to: Annotated[str | None, typer.Option(help="baseline window end")] = None,
    declared: Annotated[
        Path | None, typer.Option(help="declarations file for the entries not measured")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the full evaluation as JSON")] = (
        False
    ),
    details: Annotated[
        bool, typer.Option(help="also print the notes and queries of each measured KPI")
    ] = False,
    strict: Annotated[
        bool,
        typer.Option(help="exit 1 unless every required entry passes (not only on failures)"),
    ] = False,
) -> None:
    """Evaluate a profile over a window from the store — 指标计算.

    Prints one row per entry with its Chinese and English name, value, threshold and
    verdict. Exit code: 0 when no required KPI fails, 1 when one does (with --strict:
    unless all pass), 2 on bad input.
    """
    inputs = resolve_inputs(
        profile, inventory, scenario, start, end, baseline_from, baseline_to, declared
    )
    p, inv, window, baseline, decl = (
        inputs.profile,
        inputs.inventory,
        inputs.window,
        inputs.baseline,
        inputs.declarations,
    )

    async def go() -> Evaluation:
        st = await open_store_or_exit(store)
        try:
            with Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[kpi]}"),
                console=console,
                transient=True,
                disable=as_json,
            ) as bar:
                task = bar.add_task(f"evaluate {p.id}", total=None, kpi="")
                return await evaluate(
                    p,
                    window,
                    st,
                    inv,
                    baseline=baseline,
                    declarations=decl,
                    progress=lambda i, n, k: bar.update(task, completed=i, total=n, kpi=k),
                )
        except StoreError as e:
            raise fail(str(e), 1) from None
        finally:
            await st.close()

    ev = asyncio.run(go())
    if as_json:
        print(json.dumps(ev.model_dump(mode="json"), ensure_ascii=False, indent=2))
    else:
        print_evaluation(ev, details=details, tz=inv.timezone)
    bad = ev.verdict == "fail" or (strict and ev.verdict != "pass")
    raise typer.Exit(1 if bad else 0)


def print_evaluation(ev: Evaluation, *, details: bool = False, tz: str | None = None) -> None:
    """The evaluation as a table that reads at 80 columns: each KPI by its Chinese name
    and id (the English name too on a wide terminal), value with its counts, threshold,
    verdict; times in the site's zone `tz` when given."""
    wide = console.width >= 120
    # an id is copied into commands and files: folded, never cut with an ellipsis
    # at 80 columns: fixed narrow columns, the KPI's name and id take what is left
    fixed = {} if wide else {"value": 10, "threshold": 9, "verdict": 12, "how": 9}
    columns = [Column("指标 KPI", overflow="fold", min_width=20),
               *([Column("name")] if wide else []),
               Column("value 值", width=fixed.get("value")),
               Column("阈值 threshold", width=fixed.get("threshold")),
               Column("verdict 结论", width=fixed.get("verdict")),
               Column("how", width=fixed.get("how"))]  # fmt: skip
    window = f"{_local(ev.window.start, tz)} → {_local(ev.window.end, tz)}"
    table = Table(*columns, title=f"{ev.profile} — {ev.profile_name_zh}\n{window}")
    for r in ev.results:
        zh, en = VERDICT_LABELS[r.verdict]
        style = VERDICT_STYLE[r.verdict]
        how = r.source + ("" if r.role == "required" else f", {r.role}")
        name = f"{esc(r.name_zh)}\n[dim]{esc(r.id)}[/dim]"
        table.add_row(
            name,
            *([esc(r.name_en)] if wide else []),
            esc(r.display_value()) + _counts(r),
            esc(r.display_threshold()),
            f"[{style}]{zh} {en}[/{style}]",
            how,
        )
    console.print(table)
    overall = {
        "pass": "[green]达标 PASS",
        "fail": "[red]未达标 FAIL",
        "incomplete": "[yellow]待定 PENDING (缺申报材料或数据 declarations or data missing)",
    }
    console.print(
        f"profile {ev.profile}: {overall[ev.verdict]}[/] — site {ev.site}, store {ev.store}, "
        f"{ev.rows_read:,} rows read"
    )
    for r in ev.results:
        if r.source == "measured" and (details or r.verdict in ("fail", "insufficient_data")):
            _print_notes(r, details, tz)
    for note in ev.notes:
        console.print(f"\n[dim]{esc(note)}[/dim]")
    if hint := coverage_hint(ev):
        console.print(f"\n[yellow]{esc(hint)}[/yellow]")


def coverage_hint(ev: Evaluation) -> str | None:
    """Why a short or ragged window is "insufficient data": coverage counts whole clock
    hours, so 10:55–11:07 is two hours that each need data. None when that is not why."""
    from datetime import timedelta
    from fractions import Fraction

    need = Fraction(ev.params.get("min_coverage", "4/5"))
    short = [
        c for r in ev.results if r.verdict == "insufficient_data" for c in r.coverage
        if c.hours and Fraction(c.hours_with_data, c.hours) < need
    ]  # fmt: skip
    if not short:
        return None
    start, end = ev.window.start, ev.window.end
    ragged = any(t.minute or t.second or t.microsecond for t in (start, end))
    if not ragged and max(c.hours for c in short) > 3:
        return None
    c, pct = short[0], f"{float(need):.0%}"
    # the first whole hour inside the window: where data that began mid-window can cover all
    floor = start.replace(minute=0, second=0, microsecond=0)
    hour = (floor if floor == start else floor + timedelta(hours=1)).isoformat()
    return (
        f"hint: coverage counts whole clock hours — this window touches {c.hours} of them and "
        f"{c.measurement} has data in {c.hours_with_data}; {pct} are needed (min_coverage). "
        f"Evaluate whole hours that all have data (e.g. --from {hour} --to a later whole "
        "hour), or a longer window.\n"
        f"提示：数据覆盖按整点小时计——本评估期涉及 {c.hours} 个整点小时，其中 "
        f"{c.hours_with_data} 个有 {c.measurement} 数据，需达到 {pct}。"
        "请按整点评估并确保各小时均有数据，或延长评估期。"
    )


def _counts(r: KpiResult) -> str:
    """ " (10/40)"; large counts with separators and their reduced ratio beside."""
    if not r.denominator:
        return ""
    n, d = r.numerator or 0, r.denominator
    text = f" ({n:,}/{d:,})"
    from fractions import Fraction

    f = Fraction(n, d)
    if d > 100 and f.denominator < d:
        text += f" = {f.numerator}/{f.denominator}"
    return text


def _local(t: datetime, tz: str | None) -> str:
    from zoneinfo import ZoneInfo

    return (t.astimezone(ZoneInfo(tz)) if tz else t).isoformat()


def _print_notes(r: KpiResult, details: bool, tz: str | None = None) -> None:
    console.print(
        f"\n[bold]{esc(r.id)}[/bold] {esc(r.name_zh)} — {esc(r.clause.document)}: "
        f"「{esc(r.clause.quote)}」"
    )
    console.print(f"  gloss: {esc(r.clause.gloss)}")
    console.print(f"  formula: {esc(r.formula)}")
    for n in r.notes:
        console.print(f"  • {esc(n)}")
    for c in r.coverage:
        gaps = ", ".join(
            f"{_local(datetime.fromisoformat(g.start), tz)}→"
            f"{_local(datetime.fromisoformat(g.end), tz)}"
            for g in c.gaps[:3]
        )
        console.print(
            f"  coverage {c.measurement}: {c.hours_with_data}/{c.hours} h"
            + (f"; gaps: {gaps}" + (" …" if len(c.gaps) > 3 else "") if gaps else "")
        )
    if details:
        for q in r.queries:
            console.print(f"  [dim]{esc(q.statement)}  → {esc(q.rows)} rows[/dim]")


@app.command("docs")
def docs_cmd(
    out: Annotated[Path, typer.Option(help="where to write the reference")] = Path("docs/kpis.md"),
) -> None:
    """Write the KPI reference (per profile: KPI, formula, threshold, clause) — 生成指标文档."""
    from kpi.docs import render_kpi_docs

    out.write_text(render_kpi_docs(), encoding="utf-8")
    console.print(f"wrote {out}")


@dataclass(frozen=True)
class EvalInputs:
    """What an evaluation needs, resolved from the command line (shared with `evidence`)."""

    profile: Profile
    inventory: Inventory
    window: Window
    baseline: Window | None
    declarations: Declarations


def resolve_inputs(
    profile: str,
    inventory: Path | None,
    scenario: str | None,
    start: str | None,
    end: str | None,
    baseline_from: str | None,
    baseline_to: str | None,
    declared: Path | None,
) -> EvalInputs:
    """Profile, inventory (file or scenario), windows and declarations, or exit 2 saying why."""
    p = _profile(profile)
    if (inventory is None) == (scenario is None):
        raise fail("give exactly one of --inventory FILE or --scenario NAME")
    defaults: dict[str, object] = {}
    if scenario is not None:
        from simulators import ScenarioError, load_scenario

        try:
            s = load_scenario(scenario)
        except ScenarioError as e:
            raise fail(str(e)) from None
        inv = s.inventory()
        defaults = {"from": s.evaluation.start, "to": s.evaluation.end}
        if s.baseline is not None:
            defaults |= {"bfrom": s.baseline.start, "bto": s.baseline.end}
        decl = Declarations.model_validate(
            {
                "declarations": {
                    k: {"value": v, "attachment": f"scenario {s.name}: declared"}
                    for k, v in s.declared.items()
                }
            }
        )
    else:
        assert inventory is not None
        inv = _inventory(inventory)
        decl = Declarations()
    if declared is not None:
        try:
            decl = load_declarations(declared)
        except DeclarationsError as e:
            raise fail(str(e)) from None
    tz = inv.timezone
    a = parse_time(start, tz) or defaults.get("from")
    b = parse_time(end, tz) or defaults.get("to")
    if a is None or b is None:
        raise fail("give the window: --from T --to T (ISO 8601)")
    ba = parse_time(baseline_from, tz) or defaults.get("bfrom")
    bb = parse_time(baseline_to, tz) or defaults.get("bto")
    try:
        window = Window(start=a, end=b)
        baseline = Window(start=ba, end=bb) if ba and bb else None
    except ValidationError as e:
        raise fail(f"bad window: {e.errors()[0]['msg']}") from None

    return EvalInputs(p, inv, window, baseline, decl)
