"""Helpers the sub-command modules share: times, stores and errors on the console."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

if TYPE_CHECKING:
    from telemetry import Store

console = Console()

#: `--store`, as every command that reads or writes a store takes it
StoreOpt = Annotated[str, typer.Option(help="sqlite:PATH or http://host:8086/?db=NAME")]
#: `--inventory`: the inventory file, or the site config that holds it
InventoryOpt = Annotated[
    Path | None,
    typer.Option(help="the site's inventory (YAML or JSON), or the site config (TOML) holding it"),
]


def esc(value: object) -> str:
    """`value` as text that rich prints as it is (`[[sources.opcua]]` is not markup).

    Not for text directly before a closing tag: rich's own `escape` doubles a trailing
    backslash so that it cannot escape such a tag, and that doubled backslash would print
    twice everywhere else; the space added and removed here keeps it single."""
    return escape(f"{value} ")[:-1]


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print `message` as an error (as it is: `[[sources.opcua]]` is not markup) and
    return the exit to raise."""
    console.print(message, style="red", markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(code)


def parse_time(value: str | None, tz: str) -> datetime | None:
    """ISO 8601; a time without an offset is local time in `tz`."""
    if value is None:
        return None
    try:
        d = datetime.fromisoformat(value)
    except ValueError:
        raise fail(
            f"{value!r} is not a time; use ISO 8601, e.g. 2026-10-01T00:00:00+08:00"
        ) from None
    return d if d.tzinfo else d.replace(tzinfo=ZoneInfo(tz))


async def open_store_or_exit(url: str, *, create: bool = False) -> Store:
    from telemetry import StoreError, open_store

    try:
        store = open_store(url)
    except (ValueError, StoreError) as e:
        raise fail(str(e)) from None
    from telemetry.store.influx import InfluxStore

    if create and isinstance(store, InfluxStore):
        await store.create_database()
    return store


def progress_bar(*, transient: bool = False) -> Progress:
    """The bar long steps show: what, how far, how long so far, and how long still."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=transient,
    )


def step_progress(bar: Progress, task: TaskID) -> Callable[[str, int, int], None]:
    """A `progress(what, i, n)` callback for one bar through many steps: each new step
    starts the bar (and its ETA) again, instead of reading a new count as the old one's."""
    current = [""]

    def update(what: str, i: int, n: int) -> None:
        if what != current[0]:
            current[0] = what
            bar.reset(task, description=what, total=n, completed=i)
        else:
            bar.update(task, completed=i, total=n)

    return update
