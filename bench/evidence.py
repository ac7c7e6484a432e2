"""Evidence bundles at scale: build and verify time, and bundle bytes per row.

    uv run python bench/evidence.py [--elements 1000] [--days 30] [--store sqlite|influx]
                                    [--keep DIR]

The history is bench/backfill.py's scale scenario (`--elements` elements, status every
60 s, one point each with an hourly health row), backfilled and sealed as an agent would
(`simulate backfill --seal`: 5,000 lines per batch, each batch archived verbatim) into a
SQLite file or a real influxd started for the run. `--days 30 --elements 1000` is the
issue's figure: 43.2 M status rows in the bundle.

Printed, each with a floor measured in the same run:
* build — `verifier.build_bundle` over the whole window; floor: `kpi.evaluate` of the
  same profile on the same store (what any report of these KPIs costs anyway);
* verify — `pilotproof evidence verify --json` as a process (signatures, digests, chain,
  Merkle roots, then every KPI recomputed from the lines in a scratch DuckDB store), and
  its peak RSS; floor: reading, gunzipping and hashing the bundle's batch files once;
* size — the bundle's bytes divided by the lines it carries.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import hashlib
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from backfill import scale_scenario  # bench/ is on sys.path when run as a script
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from kpi import Window, evaluate
from simulators import backfill, parse_scenario
from telemetry import InfluxConfig, InfluxStore, SqliteStore, Store
from telemetry.localserver import LocalInfluxd
from telemetry.seal import KPI_STREAM, Sealer
from verifier import build_bundle, trust_entry

PROFILE = "miit2021-5g-factory"
console = Console()


def read_floor(folder: Path) -> float:
    t0 = time.perf_counter()
    for p in sorted((folder / "batches").rglob("*.lp.gz")):
        data = p.read_bytes()
        hashlib.sha256(data).digest()
        gzip.decompress(data)
    return time.perf_counter() - t0


async def run(store: Store, args: argparse.Namespace, tmp: Path) -> None:
    scenario = parse_scenario(scale_scenario(args.elements, args.days), "scale.yaml")
    ev = scenario.evaluation
    window = Window(start=ev.start, end=ev.end)
    inventory = scenario.inventory()
    agent_key, builder = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    with Progress(console=console) as bar:
        task = bar.add_task(f"sealed backfill {args.days} d x {args.elements}", total=None)
        report = await backfill(
            scenario, store, ev.start_ns, ev.end_ns,
            sealer=Sealer(agent_key, "bench-agent", KPI_STREAM),
            progress=lambda d, n: bar.update(task, completed=d, total=n),
        )  # fmt: skip
    console.print(f"history: {report.total_rows:,} rows in {report.seconds:.0f} s")

    t0 = time.perf_counter()
    await evaluate(PROFILE, window, store, inventory)
    eval_s = time.perf_counter() - t0

    out = tmp / "bundle"
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("build", total=None)
        built = await build_bundle(
            store, PROFILE, window, inventory, builder, out,
            progress=lambda what, i, n: bar.update(task, description=what, completed=i, total=n),
        )  # fmt: skip
    trust_file = tmp / "keys.toml"
    trust_file.write_text(
        trust_entry("builder", "verifier", builder.public_key())
        + trust_entry("bench-agent", "agent", agent_key.public_key())
    )
    floor_s = read_floor(out)
    # verified as the auditor does it: `pilotproof evidence verify`, a process of its own
    t0 = time.perf_counter()
    run = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", "from pilotproof.cli import main; main()", "evidence", "verify",
         str(out), "--trust", str(trust_file), "--json"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    verify_s = time.perf_counter() - t0
    verify_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    own_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    try:
        ok = run.returncode == 0 and json.loads(run.stdout).get("ok") is True
    except ValueError:
        ok = False
    if not ok:
        console.print(f"[red]the bundle did not verify ({run.returncode}): "
                      f"{(run.stdout + run.stderr)[-2000:]}[/red]")  # fmt: skip

    table = Table("step", "seconds", "floor (same run)", "floor s", "ratio", title=(
        f"evidence bundle, {args.days} d x {args.elements} elements, {store.describe()}"
    ))  # fmt: skip
    table.add_row("build", f"{built.seconds:.1f}", "kpi.evaluate", f"{eval_s:.1f}",
                  f"{built.seconds / eval_s:.1f}")  # fmt: skip
    table.add_row("verify", f"{verify_s:.1f}", "gunzip + sha256 of the batches",
                  f"{floor_s:.1f}", f"{verify_s / floor_s:.1f}")  # fmt: skip
    console.print(table)
    console.print(
        f"bundle: {built.bytes:,} bytes, {built.files:,} files, {built.batches:,} batches, "
        f"{built.lines:,} lines → {built.bytes / built.lines:.2f} bytes per row; "
        f"verified: {ok}; peak RSS of `evidence verify` {verify_rss:,.0f} MiB, of this "
        f"process (backfill, build) {own_rss:,.0f} MiB"
    )


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--elements", type=int, default=1000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--store", choices=("sqlite", "influx"), default="sqlite")
    ap.add_argument(
        "--keep", type=Path, metavar="DIR",
        help="build in DIR (new or empty) and keep the store, bundle and keys there, to "
        "profile `evidence verify` on them afterwards",
    )  # fmt: skip
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="pilotproof-bench-") as d:
        tmp = Path(d)
        if args.keep is not None:
            args.keep.mkdir(parents=True, exist_ok=True)
            if any(args.keep.iterdir()):
                ap.error(f"--keep {args.keep}: the folder is not empty")
            tmp = args.keep
        if args.store == "sqlite":
            store: Store = SqliteStore(tmp / "store.db")
            await run(store, args, tmp)
            await store.close()
            return
        with LocalInfluxd() as server:
            influx = InfluxStore(InfluxConfig(url=server.url, database="bench"))
            await influx.create_database()
            await run(influx, args, tmp)
            await influx.close()


if __name__ == "__main__":
    asyncio.run(main())
