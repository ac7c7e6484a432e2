"""`pilotproof store check|import|export` — a store checked, filled from elsewhere, emptied out."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer
from rich.table import Table

from pilotproof.options import console, esc

app = typer.Typer(
    help="Check, import into and export a store — 存储自检与导入导出.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def store() -> None:
    """Check, import into and export a store — 存储自检与导入导出."""


STORE_HELP = (
    "Where to write: [bold]sqlite:PATH[/bold] (embedded) or "
    "[bold]http://\\[user:pass@]host:8086/?db=NAME[/bold] (InfluxDB 1.x, or 2.x/3.x through the "
    "v1 API; add &api=v2&org=ORG&bucket=B for /api/v2/write). A token is read from "
    "PILOTPROOF_INFLUX_TOKEN. Default: a new SQLite file in a temporary folder."
)


@app.command("check")
def store_check(
    store: Annotated[str | None, typer.Option("--store", help=STORE_HELP)] = None,
    influxd: Annotated[
        bool,
        typer.Option("--influxd", help="Start a throwaway local influxd and check that instead."),
    ] = False,
    tz: Annotated[str, typer.Option(help="Time zone for daily buckets.")] = "Asia/Shanghai",
    give_up_after: Annotated[
        float,
        typer.Option(help="Seconds to keep retrying an unreachable InfluxDB before failing."),
    ] = 10.0,
) -> None:
    """Write a known little factory day to a store, read it back and compare every answer.

    Writes only the measurement [bold]pp_selfcheck[/bold], tagged with a fresh run id.
    Exits 1 when any answer differs.

    Examples:

      pilotproof store check

      pilotproof store check --store http://127.0.0.1:8086/?db=pilotproof

      pilotproof store check --influxd
    """
    from telemetry import StoreError

    try:
        ok = asyncio.run(_store_check(store, influxd, tz, give_up_after))
    except (ValueError, StoreError, FileNotFoundError, RuntimeError) as e:
        console.print(f"[red]error:[/red] {esc(e)}")
        raise typer.Exit(2) from None
    raise typer.Exit(0 if ok else 1)


async def _store_check(url: str | None, influxd: bool, tz: str, give_up_after: float) -> bool:
    from telemetry import InfluxConfig, RetryPolicy, Store, config_from_url, open_store
    from telemetry.localserver import LocalInfluxd
    from telemetry.selfcheck import run_self_check

    with tempfile.TemporaryDirectory(prefix="pilotproof-") as tmp:
        server: LocalInfluxd | None = None
        try:
            if influxd:
                server = LocalInfluxd().start()
                url = f"{server.url}/?db=selfcheck"
            config = config_from_url(url or f"sqlite:{Path(tmp) / 'selfcheck.db'}")
            if isinstance(config, InfluxConfig):
                config = config.model_copy(
                    update={"retry": RetryPolicy(max_elapsed_s=give_up_after)}
                )
            s: Store = open_store(config)
            if server is not None:
                await s.create_database()  # type: ignore[attr-defined]
            console.print(f"[bold]store self-check 存储自检[/bold] — {esc(s.describe())}")
            try:
                results = await run_self_check(s, tz)
            finally:
                await s.close()
        finally:
            if server is not None:
                server.stop()
    table = Table(title="store self-check / 存储自检")
    for col in ("check", "检查项", "expected 期望", "got 实际", "result 结果"):
        table.add_column(col, overflow="fold")
    for r in results:
        verdict = "[green]pass 通过[/green]" if r.ok else "[red]FAIL 失败[/red]"
        table.add_row(r.name, r.name_zh, _short(r.expected), _short(r.got), verdict)
    console.print(table)
    failed = [r for r in results if not r.ok]
    if failed:
        console.print(f"[red]{len(failed)} check(s) failed.[/red]")
    else:
        console.print(f"[green]all {len(results)} checks passed — 全部通过[/green]")
    return not failed


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@app.command("import")
def store_import(
    files: Annotated[list[Path], typer.Argument(help="line-protocol or CSV files (gzip too)")],
    store: Annotated[str, typer.Option("--store", help="sqlite:PATH or http://host:8086/?db=NAME")],
    site: Annotated[
        str | None, typer.Option(help="the site: set on rows without one; others refused")
    ] = None,
    fmt: Annotated[
        str, typer.Option("--format", help="lp, csv, or auto (by the name: .csv[.gz] is CSV)")
    ] = "auto",
    measurement: Annotated[
        str | None, typer.Option(help="CSV: the measurement of rows without that column")
    ] = None,
    tz: Annotated[
        str, typer.Option(help="CSV: the zone of times written without an offset")
    ] = "Asia/Shanghai",
    whole_store: Annotated[
        bool,
        typer.Option(help="moving a store: take every measurement of a `store export` as it "
                     "is, the agents' rows and sealed chains included"),
    ] = False,
) -> None:  # fmt: skip
    """Import history from another historian: line protocol or CSV — 导入历史数据.

    Every line is held to the data contract as the agent holds an MQTT message: a
    measurement a device may send (telemetry, element_status, production, control_loop,
    identifier), its tags, its fields with their types. A refused line is named by file
    and line with the reason, the rest is imported; run it again after fixing them, each
    point is stored once. CSV columns: measurement (or --measurement), time (ISO 8601 or
    integer ns), the measurement's tags, its fields (docs/store.md). Exit 1 when a line was
    refused, 2 on bad input.

    Examples:

      pilotproof store import history.lp.gz --store sqlite:pilotproof.db --site plant-1

      pilotproof store import meters.csv --measurement production --store sqlite:p.db
    """
    from rich.progress import BarColumn, Progress, TaskID, TextColumn

    from pilotproof.options import fail, open_store_or_exit
    from pilotproof.store_io import ImportReport, csv_points, import_points, line_points

    for f in files:
        if not f.exists():
            raise fail(f"{f}: no such file")
        if not f.is_file():  # a folder, a FIFO, /dev/zero: nothing to read to its end
            raise fail(f"{f}: not a regular file")
    if fmt not in ("auto", "lp", "csv"):
        raise fail(f"--format {fmt!r}: one of auto, lp, csv")
    _zone(tz)
    report = ImportReport()

    async def run() -> None:
        st = await open_store_or_exit(store)
        try:
            with Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                          TextColumn("{task.fields[stored]:,} stored"), console=console,
                          transient=True) as bar:  # fmt: skip
                for f in files:
                    task = bar.add_task(f"import {f.name}", total=None, stored=0)
                    is_csv = fmt == "csv" or (fmt == "auto" and ".csv" in f.suffixes)
                    points = (
                        csv_points(f, site, measurement, tz, report) if is_csv
                        else line_points(f, site, report, whole_store=whole_store)
                    )  # fmt: skip

                    def tick(t: TaskID = task) -> None:
                        bar.update(t, stored=report.stored)

                    await import_points(st, points, report, tick,
                                        guard_sealed=not whole_store)  # fmt: skip
        finally:
            await st.close()

    import sqlite3

    from telemetry import StoreError

    try:
        asyncio.run(run())
    except StoreError as e:
        raise fail(str(e), 1) from None
    except sqlite3.DatabaseError as e:
        raise fail(f"--store {store}: {e} — is it a SQLite store of pilotproof?") from None
    rate = report.stored / report.seconds if report.seconds else 0
    console.print(
        f"imported {report.stored:,} points from {report.lines:,} lines of {len(files)} "
        f"file(s) in {report.seconds:.1f} s ({rate:,.0f} points/s); refused {report.refused:,}",
        highlight=False,
    )
    if report.comments:
        console.print(f"  skipped {report.comments:,} comment line(s) (starting with #)",
                      highlight=False)  # fmt: skip
    for _, message in report.examples:
        console.print(f"  refused {esc(message)}", highlight=False)
    if report.refused > len(report.examples):
        console.print(f"  … {report.refused - len(report.examples):,} more", highlight=False)
    if report.refused:
        console.print("  by reason: " + ", ".join(
            f"{k} {n:,}" for k, n in report.reasons.most_common()), highlight=False)  # fmt: skip
    raise typer.Exit(1 if report.refused else 0)


@app.command("export")
def store_export(
    out: Annotated[Path, typer.Argument(help="the file to write (.gz: compressed)")],
    store: Annotated[str, typer.Option("--store", help="sqlite:PATH or http://host:8086/?db=NAME")],
    start: Annotated[str, typer.Option("--from", help="ISO 8601 (local if no offset)")],
    end: Annotated[str, typer.Option("--to", help="window end (exclusive)")],
    site: Annotated[str | None, typer.Option(help="only this site's rows")] = None,
    measurement: Annotated[
        list[str] | None, typer.Option(help="only these (repeat); default every one")
    ] = None,
    tz: Annotated[str, typer.Option(help="the zone of times without an offset")] = (
        "Asia/Shanghai"
    ),
) -> None:  # fmt: skip
    """Write a store's points in a window as line protocol — 导出数据.

    Every measurement of a pilotproof store by default, the sealed chains (pp_batch,
    pp_lines) and the agents' rows included, so `store import --whole-store` of the file
    moves a store. A day is read at a time.

    Example:

      pilotproof store export month.lp.gz --store sqlite:pilotproof.db \\
        --from 2026-10-01 --to 2026-11-01
    """
    import gzip
    import os

    from pilotproof.options import fail, open_store_or_exit
    from pilotproof.store_io import EXPORTED, export_lines, parse_time
    from telemetry.contract import ContractError

    zone = _zone(tz)

    def ns(option: str, text: str) -> int:
        try:
            return parse_time(text, zone, option)
        except ContractError as e:
            raise fail(e.detail) from None

    a, b = ns("--from", start), ns("--to", end)
    if b <= a:
        raise fail(f"--to {end} must be after --from {start}")
    if out.is_dir() or not out.parent.is_dir():
        raise fail(f"{out}: not a file in an existing folder")
    if store.startswith("sqlite:") and Path(store[7:]).resolve() == out.resolve():
        raise fail(f"{out} is the store itself: export to another file")
    names = measurement or list(EXPORTED)
    # written beside and renamed when whole: a failed export never empties an earlier one
    part = out.with_name(out.name + ".part")

    async def run() -> int:
        st = await open_store_or_exit(store)
        try:
            opener = gzip.open if out.suffix == ".gz" else open
            with opener(part, "wt", encoding="utf-8") as f:
                return await export_lines(st, names, a, b, site, f)
        finally:
            await st.close()

    import sqlite3

    try:
        n = asyncio.run(run())
    except sqlite3.DatabaseError as e:
        part.unlink(missing_ok=True)
        raise fail(f"--store {store}: {e} — is it a SQLite store of pilotproof?") from None
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    os.replace(part, out)
    console.print(f"exported {n:,} points to {out}", highlight=False)


def _zone(tz: str) -> ZoneInfo:
    """The zone named `tz`, or exit 2 saying so."""
    from pilotproof.options import fail

    try:
        return ZoneInfo(tz)
    except (ValueError, KeyError, ZoneInfoNotFoundError):
        raise fail(f"--tz {tz!r}: not a time zone (e.g. Asia/Shanghai, UTC)") from None
