"""`pilotproof evidence …` — build signed bundles, verify them offline (验收证据)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress
from rich.table import Table

from pilotproof.kpi_cli import print_evaluation, resolve_inputs
from pilotproof.options import (
    InventoryOpt,
    StoreOpt,
    console,
    esc,
    fail,
    open_store_or_exit,
    progress_bar,
    step_progress,
)
from telemetry import Inventory, InventoryError, StoreError, load_inventory
from verifier import (
    CODES,
    BuildError,
    BuildResult,
    TrustedKeys,
    TrustError,
    VerifyReport,
    build_bundle,
    find_chromium,
    html_to_pdf,
    load_key,
    load_trust,
    pack,
    render_report,
    verify_bundle,
)

app = typer.Typer(
    add_completion=False,
    help=(
        "Evidence bundles — 验收证据. `build` signs what the store and the agents' batch "
        "chains show for a window; `verify` checks a bundle offline and recomputes every KPI."
    ),
    no_args_is_help=True,
)


def _bar() -> Progress:
    return progress_bar(transient=True)


@app.command("build")
def build_cmd(
    profile: Annotated[str, typer.Option(help="profile id or alias (`kpi list`)")],
    out: Annotated[Path, typer.Option(help="the bundle folder to create (must be new or empty)")],
    key: Annotated[
        Path, typer.Option(help="the bundle signer's Ed25519 key (`pilotproof keys gen`)")
    ],
    store: StoreOpt = "sqlite:pilotproof.db",
    inventory: InventoryOpt = None,
    scenario: Annotated[
        str | None, typer.Option(help="take inventory and windows from a simulator scenario")
    ] = None,
    start: Annotated[str | None, typer.Option("--from", help="window start, ISO 8601")] = None,
    end: Annotated[str | None, typer.Option("--to", help="window end (exclusive)")] = None,
    baseline_from: Annotated[str | None, typer.Option(help="baseline window start")] = None,
    baseline_to: Annotated[str | None, typer.Option(help="baseline window end")] = None,
    declared: Annotated[Path | None, typer.Option(help="declarations file")] = None,
    tar: Annotated[bool, typer.Option(help="also pack the folder as OUT.tar.gz")] = False,
    trust: Annotated[
        Path | None, typer.Option(help="verify the new bundle at once with this trusted-keys file")
    ] = None,
) -> None:
    """Build a signed evidence bundle for a profile and window — 生成验收证据包.

    The bundle holds the agents' signed batch records, the canonical lines of every
    KPI-stream batch in the window, the results, and report.html, under one DSSE
    signature. Only sealed data can be evidence: the store must hold the agents'
    `pp_batch` records and `pp_lines` archives (the agent writes them; so does
    `simulate backfill --seal`).
    """
    inputs = resolve_inputs(
        profile, inventory, scenario, start, end, baseline_from, baseline_to, declared
    )
    try:
        signer = load_key(key)
    except ValueError as e:
        raise fail(f"{e} (`pilotproof keys gen {key}` makes one)") from None
    trusted = _trust(trust) if trust else None

    async def go() -> BuildResult:
        st = await open_store_or_exit(store)
        try:
            with _bar() as bar:
                task = bar.add_task("build", total=None)
                return await build_bundle(
                    st,
                    inputs.profile,
                    inputs.window,
                    inputs.inventory,
                    signer,
                    out,
                    baseline=inputs.baseline,
                    declarations=inputs.declarations,
                    progress=step_progress(bar, task),
                )
        except BuildError as e:
            raise fail(str(e), 1) from None
        except StoreError as e:
            raise fail(str(e), 1) from None
        finally:
            await st.close()

    result = asyncio.run(go())
    console.print(
        f"bundle {result.out}: {result.files} files, {result.bytes:,} bytes, "
        f"{result.batches:,} batches, {result.lines:,} lines from "
        f"{', '.join(result.agents)}; verdict {result.verdict} ({result.seconds:.1f} s)",
        highlight=False,
    )
    if tar:
        target = pack(out, out.with_name(out.name + ".tar.gz"))
        console.print(f"packed {esc(target)} ({target.stat().st_size:,} bytes)", highlight=False)
    if trusted is not None:
        report = asyncio.run(_verify(out, trusted))
        print_report(report)
        raise typer.Exit(0 if report.ok else 1)


def _trust(path: Path) -> TrustedKeys:
    try:
        return load_trust(path)
    except TrustError as e:
        raise fail(str(e)) from None


async def _verify(
    bundle: Path, trusted: TrustedKeys, inventory: Inventory | None = None
) -> VerifyReport:
    with _bar() as bar:
        task = bar.add_task("verify", total=None)
        return await verify_bundle(
            bundle,
            trusted,
            inventory=inventory,
            progress=step_progress(bar, task),
        )


@app.command("verify")
def verify_cmd(
    bundle: Annotated[Path, typer.Argument(help="a bundle folder or its .tar.gz")],
    trust: Annotated[
        Path, typer.Option(help="trusted-keys TOML: the agent and bundle-signer keys you accept")
    ],
    report: Annotated[
        Path | None, typer.Option(help="write the report, with this verification, as HTML")
    ] = None,
    pdf: Annotated[
        Path | None, typer.Option(help="also print that report to PDF (needs Chromium)")
    ] = None,
    inventory: Annotated[
        Path | None,
        typer.Option(
            help="the site's filed inventory (YAML/JSON): the bundle must have been computed "
            "against exactly this one"
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
) -> None:
    """Verify a bundle offline and recompute every KPI — 离线验证证据包.

    Checks, in order: the envelope's signature by a trusted key; every file's SHA-256;
    each agent chain (record signatures, seq continuity, prev links, monotonic times, an
    anchor before and a checkpoint after the window, Merkle roots and counts recomputed
    from the lines); then every KPI recomputed from the bundled lines and compared
    exactly. Exit code 0 only when everything passes, 1 when a check fails, 2 on bad
    input. Each failure has a stable code (see docs/evidence.md).
    """
    trusted = _trust(trust)
    pinned = None
    if inventory is not None:
        try:
            pinned = load_inventory(inventory)
        except InventoryError as e:
            raise fail(str(e)) from None
    result = asyncio.run(_verify(bundle, trusted, pinned))
    if as_json:
        print(json.dumps(result.model_dump(mode="json"), ensure_ascii=False, indent=2))
    else:
        print_report(result)
    if report is not None or pdf is not None:
        # a refused bundle gets a report too: the document a rejection is filed with
        html = report or pdf.with_suffix(".html")  # type: ignore[union-attr]
        html.write_text(render_report(result.evaluation, result), encoding="utf-8")
        console.print(f"wrote {esc(html)}", highlight=False)
        if pdf is not None:
            if find_chromium() is None:
                console.print("[yellow]no PDF: Chromium is not installed[/yellow]")
            else:
                asyncio.run(html_to_pdf(html, pdf))
                console.print(f"wrote {esc(pdf)}", highlight=False)
    raise typer.Exit(0 if result.ok else 1)


def print_report(r: VerifyReport) -> None:
    if r.profile:
        inputs = Table("输入 input", "value", title="what the bundle says it computed — 计算输入")
        inputs.add_row("profile 申报类别", esc(r.profile))
        inputs.add_row("site 站点", esc(r.site or ""))
        if r.window:
            inputs.add_row("window 评估期", f"{esc(r.window[0])} → {esc(r.window[1])}")
        if r.baseline:
            inputs.add_row("baseline 基线窗口", f"{esc(r.baseline[0])} → {esc(r.baseline[1])}")
        if r.inventory_counts:
            inputs.add_row(
                "inventory 清单",
                f"{r.inventory_counts} sha256 {(r.inventory_digest or '')[:16]}…",
            )
        if r.params:
            inputs.add_row(
                "params 参数", ", ".join(f"{esc(k)}={esc(v)}" for k, v in r.params.items())
            )
        console.print(inputs)
    table = Table("检查 check", "结果 result", "说明 detail", title=f"verify {esc(r.bundle)}")
    for c in r.checks:
        mark = "[green]✔ ok[/green]" if c.ok else "[red]✘ failed[/red]"
        table.add_row(f"{c.name_zh} {c.name}", mark, esc(c.detail))
    console.print(table)
    if r.findings:
        ft = Table("code", "问题 problem", "where", "message", title="failures — 验证失败项")
        for f in r.findings[:50]:
            ft.add_row(f"[red]{esc(f.code)}[/red]", CODES[f.code][0], f.where, f.message)
        console.print(ft)
        if len(r.findings) > 50:
            console.print(f"… and {len(r.findings) - 50} more (use --json for all)")
    for w in r.warnings:
        console.print(f"[yellow]{w.code} {w.label_zh}[/yellow] {esc(w.where)}: "
                      f"{esc(w.message)}", highlight=False)  # fmt: skip
    if r.evaluation is not None:
        print_evaluation(r.evaluation, details=False, tz=r.timezone)
    verdict = (
        "[bold green]VERIFIED 验证通过[/bold green]"
        if r.ok
        else ("[bold red]NOT VERIFIED 验证未通过[/bold red]")
    )
    console.print(verdict)
