"""Backfill throughput into each store, as a ratio to the store's own write of the same rows.

    uv run python bench/backfill.py [--elements 1000] [--days 3]

The scale scenario: `--elements` production elements (a quarter on 5G, the rest on
Wi-Fi, LoRa and wired links), status every 60 s, one point each with a health row per
hour. `--days 30 --elements 1000` is the issue's figure (43.2 M status rows; a few minutes
per store on a 2-core machine).

For each store, two rows are measured in the same run, each into a fresh database:
* backfill — `simulators.backfill`: generation from the scenario, day by day, with the
  write of one chunk overlapping the generation of the next;
* floor — the same blocks generated before the clock starts, then written with
  `write_blocks` (the store's bulk path alone).
ratio = backfill rows/s ÷ floor rows/s: what generating the history costs on top of
writing it.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from simulators import Backfill, backfill, parse_scenario
from telemetry import InfluxConfig, InfluxStore, SqliteStore, Store
from telemetry.localserver import LocalInfluxd

console = Console()


def scale_scenario(elements: int, days: int) -> str:
    q = elements // 4
    groups = [("5g", q), ("wifi", q), ("lora", q), ("wired", elements - 3 * q)]
    lines = [
        "name: scale",
        "site: scale-site",
        f"evaluation: {{from: '2026-10-01T00:00:00', to: '2026-10-{1 + days:02d}T00:00:00'}}"
        if days < 30
        else "evaluation: {from: '2026-10-01T00:00:00', to: '2026-10-31T00:00:00'}",
        "status_interval_s: 60",
        "health_interval_s: 3600",
        "elements:",
    ]
    for link, n in groups:
        lines += [
            f"  - id: '{link}-{{n:04d}}'",
            f"    count: {n}",
            "    kind: sensor",
            f"    link: {link}",
            "    protocol: mqtt",
            "    points: [{id: v, type: float64, period_s: 10, signal: {mean: 1}}]",
            "    schedule: {daily_offline: [{from: '02:00', to: '02:20'}]}",
        ]
    return "\n".join(lines) + "\n"


async def run_store(name: str, make: object, scenario_text: str) -> tuple[float, float, int]:
    s = parse_scenario(scenario_text)
    a, b = s.evaluation.start_ns, s.evaluation.end_ns
    store: Store = await make()  # type: ignore[operator]
    with Progress(console=console) as bar:
        task = bar.add_task(f"{name}: backfill", total=None)
        report = await backfill(
            s, store, a, b, progress=lambda d, t: bar.update(task, completed=d, total=t)
        )
    await store.close()
    gen = Backfill(s)
    blocks = [blk for lo, hi in gen.days(a, b) for blk in gen.blocks(lo, hi)]
    rows = sum(len(blk) for blk in blocks)
    store = await make()  # type: ignore[operator]
    t0 = time.perf_counter()
    for i in range(0, len(blocks), 200):
        await store.write_blocks(blocks[i : i + 200])
    floor_s = time.perf_counter() - t0
    await store.close()
    return report.rows_per_second, rows / floor_s, report.total_rows


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--elements", type=int, default=1000)
    ap.add_argument("--days", type=int, default=3)
    ap.add_argument("--stores", default="sqlite,influx")
    args = ap.parse_args()
    text = scale_scenario(args.elements, args.days)
    table = Table(
        "store",
        "rows",
        "backfill rows/s",
        "floor rows/s (write_blocks)",
        "ratio",
        title=f"backfill: {args.elements} elements x {args.days} days, status every 60 s",
    )
    tmp = Path(tempfile.mkdtemp(prefix="pp-bench-"))
    counter = iter(range(1000))
    if "sqlite" in args.stores:

        async def sqlite() -> Store:
            return SqliteStore(tmp / f"s{next(counter)}.db")

        rate, floor, rows = await run_store("SqliteStore", sqlite, text)
        table.add_row(
            "SqliteStore", f"{rows:,}", f"{rate:,.0f}", f"{floor:,.0f}", f"{rate / floor:.2f}"
        )
    if "influx" in args.stores:
        with LocalInfluxd() as server:

            async def influx() -> Store:
                st = InfluxStore(InfluxConfig(url=server.url, database=f"b{next(counter)}"))
                await st.create_database()
                return st

            rate, floor, rows = await run_store("InfluxStore", influx, text)
        table.add_row(
            "InfluxStore", f"{rows:,}", f"{rate:,.0f}", f"{floor:,.0f}", f"{rate / floor:.2f}"
        )
    console.print(table)


if __name__ == "__main__":
    asyncio.run(main())
