"""`pilotproof store import` of a line-protocol file, as a whole process, against the
store's own write floor measured in the same run.

    uv run python bench/store_import.py [--lines 1000000] [--store sqlite|influx]

The file is a simulated factory's history (raw telemetry, status, point health …),
gzip-compressed, `--lines` long. The floor is `store.write` of the same points, already
decoded, in the same chunks, into a fresh store of the same kind: what no import can beat.
The import reads, decompresses, decodes and checks every line against the data contract
on top of that. Prints both rates and their ratio (import ÷ floor, 1.0 = as fast as the
store can take the points).
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from simulators import Backfill, load_scenario
from telemetry import InfluxConfig, InfluxStore, SqliteStore, Store, decode_line
from telemetry.timegrid import NS

CHUNK = 20_000


def history(n: int) -> list[str]:
    """At least `n` lines of a 100-element factory's history, hour by hour."""
    s = load_scenario("fiveg-pilot-100")
    gen = Backfill(s, telemetry=True)
    t = s.evaluation.start_ns
    lines: list[str] = []
    while len(lines) < n:
        for block in gen.blocks(t, t + 3600 * NS):
            lines += block.lines()
        t += 3600 * NS
    return lines[:n]


async def floor(store: Store, lines: list[str]) -> float:
    """`store.write` of the decoded points in the import's chunks: what no import beats."""
    points = [decode_line(x) for x in lines]
    t0 = time.perf_counter()
    for i in range(0, len(points), CHUNK):
        await store.write(points[i : i + CHUNK])
    await store.close()
    return time.perf_counter() - t0


def run(
    lines: list[str], path: Path, folder: Path, influx_url: str | None
) -> tuple[float, float, str]:
    async def floor_store() -> float:
        if influx_url is None:
            return await floor(SqliteStore(folder / "floor.db"), lines)
        store = InfluxStore(InfluxConfig(url=influx_url, database="floor"))
        await store.create_database()
        return await floor(store, lines)

    floor_s = asyncio.run(floor_store())
    target = f"sqlite:{folder / 'imported.db'}"
    if influx_url is not None:

        async def create() -> None:
            store = InfluxStore(InfluxConfig(url=influx_url, database="imported"))
            await store.create_database()
            await store.close()

        asyncio.run(create())
        target = f"{influx_url}/?db=imported"
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pilotproof.cli", "store", "import", str(path), "--store", target],
        capture_output=True, text=True,
    )  # fmt: skip
    import_s = time.perf_counter() - t0
    if done.returncode != 0:
        sys.exit(f"store import failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return floor_s, import_s, done.stdout.strip().splitlines()[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--store", choices=("sqlite", "influx"), default="sqlite")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        lines = history(args.lines)
        path = folder / "history.lp.gz"
        path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode(), 6))
        if args.store == "influx":
            from telemetry.localserver import LocalInfluxd

            with LocalInfluxd() as srv:
                floor_s, import_s, said = run(lines, path, folder, srv.url)
        else:
            floor_s, import_s, said = run(lines, path, folder, None)
    n = len(lines)
    print(f"{n:,} lines of line protocol, gzip; store: {args.store}")
    print(f"  floor: store.write of the decoded points {floor_s:7.2f} s {n / floor_s:>10,.0f}/s")
    print(f"  pilotproof store import, whole process  {import_s:7.2f} s {n / import_s:>10,.0f}/s")
    print(f"  ratio (import rate / floor rate)         {floor_s / import_s:7.2f}")
    print(f"  the command said: {said}")


if __name__ == "__main__":
    main()
