"""KPI evaluation at scale: how long a whole profile takes, and how few rows reach Python.

    uv run python bench/kpi_scale.py [--elements 1000] [--days 30]

The history is bench/backfill.py's scale scenario (`--elements` elements, a quarter each
on 5G, Wi-Fi, LoRa and wired links, status every 60 s, one point each with an hourly
health row), backfilled into a real influxd started for the run. `--days 30
--elements 1000` is the issue's figure: 43.2 M status rows.

Printed per profile: the time to evaluate it, the rows its queries brought into Python,
and their ratio to the rows stored — tiny, because every aggregate runs in InfluxDB. The
measured values are checked against the scenario's truth, so a fast wrong answer shows.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from backfill import scale_scenario  # bench/ is on sys.path when run as a script
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from kpi import Window, evaluate
from simulators import backfill, compute_truth, parse_scenario
from telemetry import InfluxConfig, InfluxStore
from telemetry.localserver import LocalInfluxd

PROFILES = ("miit2021-5g-factory", "ningbo-5g-pilot", "ningbo-discrete-workshop")
console = Console()


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--elements", type=int, default=1000)
    ap.add_argument("--days", type=int, default=30)
    args = ap.parse_args()
    scenario = parse_scenario(scale_scenario(args.elements, args.days), "scale.yaml")
    ev = scenario.evaluation
    window = Window(start=ev.start, end=ev.end)
    truth = compute_truth(scenario)
    with LocalInfluxd() as server:
        store = InfluxStore(InfluxConfig(url=server.url, database="scale"))
        await store.create_database()
        with Progress(console=console) as bar:
            task = bar.add_task(f"backfill {args.days} d x {args.elements} elements", total=None)
            report = await backfill(
                scenario,
                store,
                ev.start_ns,
                ev.end_ns,
                progress=lambda d, n: bar.update(task, completed=d, total=n),
            )
        console.print(
            f"stored {report.total_rows:,} rows ({report.rows}) in {report.seconds:.0f} s"
        )
        table = Table(
            "profile", "seconds", "queries", "rows into Python", "rows stored", "ratio",
            title="KPI evaluation on influxd",
        )  # fmt: skip
        for profile in PROFILES:
            t0 = time.perf_counter()
            result = await evaluate(profile, window, store, scenario.inventory())
            seconds = time.perf_counter() - t0
            queries = {q.statement for r in result.results for q in r.queries}
            table.add_row(
                profile,
                f"{seconds:.2f}",
                str(len(queries)),
                f"{result.rows_read:,}",
                f"{report.total_rows:,}",
                f"{result.rows_read / report.total_rows:.2e}",
            )
            for r in result.results:
                t = truth.values.get(r.id)
                if t is not None and r.value != t.value:
                    console.print(f"[red]{profile} {r.id}: {r.value} != truth {t.value}[/red]")
        await store.close()
    console.print(table)


if __name__ == "__main__":
    asyncio.run(main())
