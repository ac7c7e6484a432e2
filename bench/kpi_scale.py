"""KPI evaluation at scale: how long a whole profile takes, and how few rows reach Python.

    uv run python bench/kpi_scale.py [--elements 1000] [--days 30]

The history is bench/backfill.py's scale scenario (`--elements` elements, a quarter each
on 5G, Wi-Fi, LoRa and wired links, status every 60 s, one point each with an hourly
health row), backfilled into a real influxd started for the run. `--days 30
--elements 1000` is the issue's figure: 43.2 M status rows.

Printed per profile: the time to evaluate it, the rows its queries brought into Python,
and their ratio to the rows stored — tiny, because every aggregate runs in InfluxDB. The
measured values are checked against the scenario's truth, so a fast wrong answer shows.

`--embedded duckdb,sqlite` (default `duckdb`; `none` for influxd alone) backfills the same
history into each embedded store too, and prints each profile's time there beside
influxd's, checked against the same truth.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from backfill import scale_scenario  # bench/ is on sys.path when run as a script
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from kpi import Window, evaluate
from simulators import backfill, compute_truth, parse_scenario
from telemetry import DuckdbStore, InfluxConfig, InfluxStore, SqliteStore, Store
from telemetry.localserver import LocalInfluxd

PROFILES = ("miit2021-5g-factory", "ningbo-5g-pilot", "ningbo-discrete-workshop")
console = Console()


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--elements", type=int, default=1000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--embedded", default="duckdb",
                    help="embedded stores beside influxd: duckdb, sqlite, none")  # fmt: skip
    args = ap.parse_args()
    embedded = [x for x in args.embedded.split(",") if x and x != "none"]
    scenario = parse_scenario(scale_scenario(args.elements, args.days), "scale.yaml")
    ev = scenario.evaluation
    window = Window(start=ev.start, end=ev.end)
    truth = compute_truth(scenario)
    with LocalInfluxd() as server, tempfile.TemporaryDirectory() as tmp:
        influx = InfluxStore(InfluxConfig(url=server.url, database="scale"))
        await influx.create_database()
        stores: dict[str, Store] = {"influxd": influx}
        for name in embedded:
            path = Path(tmp) / f"scale.{name}"
            stores[name] = DuckdbStore(path) if name == "duckdb" else SqliteStore(path)
        total = 0
        for name, store in stores.items():
            with Progress(console=console) as bar:
                task = bar.add_task(f"backfill {args.days} d x {args.elements} into {name}",
                                    total=None)  # fmt: skip
                report = await backfill(
                    scenario, store, ev.start_ns, ev.end_ns,
                    progress=lambda d, n, t=task: bar.update(t, completed=d, total=n),
                )  # fmt: skip
            total = report.total_rows
            console.print(f"{name}: stored {total:,} rows ({report.rows}) in "
                          f"{report.seconds:.0f} s")  # fmt: skip
        table = Table(
            "profile", *(f"{name} s" for name in stores), "queries", "rows into Python",
            "rows stored", "ratio", title="KPI evaluation, each store holding the same rows",
        )  # fmt: skip
        for profile in PROFILES:
            seconds, result = [], None
            for name, store in stores.items():
                t0 = time.perf_counter()
                result = await evaluate(profile, window, store, scenario.inventory())
                seconds.append(time.perf_counter() - t0)
                for r in result.results:
                    t = truth.values.get(r.id)
                    if t is not None and r.value != t.value:
                        console.print(f"[red]{name} {profile} {r.id}: {r.value} != truth "
                                      f"{t.value}[/red]")  # fmt: skip
            assert result is not None
            queries = {q.statement for r in result.results for q in r.queries}
            table.add_row(
                profile, *(f"{x:.2f}" for x in seconds), str(len(queries)),
                f"{result.rows_read:,}", f"{total:,}", f"{result.rows_read / total:.2e}",
            )  # fmt: skip
        for store in stores.values():
            await store.close()
    console.print(table)


if __name__ == "__main__":
    asyncio.run(main())
