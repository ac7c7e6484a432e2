"""`pilotproof store check` — write a known little factory day to a store and read it back."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from pilotproof.options import console, esc

app = typer.Typer(
    help="Check a store (InfluxDB or SQLite) — 存储自检.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def store() -> None:
    """Check a store (InfluxDB or SQLite) — 存储自检."""


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
