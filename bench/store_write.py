"""Write throughput of both stores, as a ratio to a floor measured in the same run.

    uv run python bench/store_write.py [--points 1000000] [--batch 5000]

* InfluxStore: `write(points)` — encoding, batching, requests — against a throwaway
  influxd. Floor: the same lines, pre-serialised into request bodies before the clock
  starts, posted one after another by one bare httpx client. Goal: ratio >= 0.7.
  The store keeps 2 requests in flight by default (encoding the next batch while the
  server ingests one); the "1 request in flight" row shows the cost of our encoding alone.
* SqliteStore: `write(points)` against a bare `executemany` of pre-built rows into a table
  of the same shape.

Each side writes into its own fresh database so neither overwrites the other's points;
each is run twice, alternating, and the better run counts (the server warms up).
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import tempfile
import time
from pathlib import Path

import httpx
from rich.console import Console
from rich.progress import track
from rich.table import Table

from telemetry import InfluxConfig, InfluxStore, Point, SqliteStore, encode_lines
from telemetry.localserver import LocalInfluxd
from telemetry.store.sqlite import INSERT_SAMPLE, SCHEMA

console = Console()
T0 = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z


def make_points(n: int) -> list[Point]:
    """Telemetry of 1,000 elements x 10 points, one sample each per second."""
    pts = []
    for i in track(range(n), description="building points", console=console):
        e, p = divmod(i % 10_000, 10)
        pts.append(
            Point(
                "telemetry",
                {"site": "bench", "element": f"E{e:04d}", "point": f"p{p}"},
                {"value": (i % 1000) * 0.25 + 0.1, "quality": 0},
                T0 + (i // 10_000) * 1_000_000_000,
            )
        )
    return pts


async def influx_floor(url: str, db: str, bodies: list[bytes]) -> float:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        await client.post("/query", data={"q": f'CREATE DATABASE "{db}"'})
        t = time.perf_counter()
        for body in bodies:
            r = await client.post("/write", params={"db": db, "precision": "ns"}, content=body)
            r.raise_for_status()
        return time.perf_counter() - t


async def influx_store(
    url: str, db: str, points: list[Point], batch: int, gz: bool, in_flight: int = 2
) -> float:
    store = InfluxStore(
        InfluxConfig(url=url, database=db, batch_size=batch, gzip=gz, max_in_flight=in_flight)
    )
    await store.create_database()
    t = time.perf_counter()
    result = await store.write(points)
    elapsed = time.perf_counter() - t
    await store.close()
    if result.written != len(points) or result.rejected:
        raise SystemExit(f"InfluxStore wrote {result.written}; rejected {result.rejected[:3]}")
    return elapsed


def sqlite_floor(path: Path, rows: list[tuple[int, int, int, float | int]]) -> float:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(SCHEMA)
    t = time.perf_counter()
    db.execute("BEGIN")
    db.executemany(INSERT_SAMPLE, rows)
    db.execute("COMMIT")
    elapsed = time.perf_counter() - t
    db.close()
    return elapsed


async def sqlite_store(path: Path, points: list[Point]) -> float:
    store = SqliteStore(path)
    t = time.perf_counter()
    result = await store.write(points)
    elapsed = time.perf_counter() - t
    await store.close()
    assert result.written == len(points)
    return elapsed


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=5000)
    args = ap.parse_args()
    n, batch = args.points, args.batch
    points = make_points(n)
    lines = encode_lines(points)
    bodies = ["\n".join(lines[i : i + batch]).encode() for i in range(0, n, batch)]
    console.print(f"{n:,} points, {batch} per request, {sum(map(len, bodies)) / n:.0f} B/line")

    table = Table(title="store write throughput (points/s; best of 2)")
    for col in ("store", "variant", "points/s", "floor points/s", "ratio", "goal"):
        table.add_column(col, justify="right" if col not in ("store", "variant") else "left")

    with LocalInfluxd() as srv:
        floor_t, store_t, gz_t, one_t = [], [], [], []
        for run in range(2):
            console.print(f"influx run {run + 1}/2 …")
            floor_t.append(await influx_floor(srv.url, f"floor{run}", bodies))
            store_t.append(await influx_store(srv.url, f"store{run}", points, batch, False))
            gz_t.append(await influx_store(srv.url, f"gzip{run}", points, batch, True))
            one_t.append(await influx_store(srv.url, f"one{run}", points, batch, False, 1))
        floor = n / min(floor_t)
        variants = (
            ("gzip off", store_t),
            ("gzip on (default)", gz_t),
            ("gzip off, 1 request in flight (as the floor)", one_t),
        )
        for variant, ts in variants:
            rate = n / min(ts)
            goal = "≥ 0.70" if variant == "gzip off" else ""
            table.add_row(
                "InfluxStore", variant, f"{rate:,.0f}", f"{floor:,.0f}", f"{rate / floor:.2f}", goal
            )

    with tempfile.TemporaryDirectory() as tmp:
        rows: list[tuple[int, int, int, float | int]] = []
        sid_of: dict[tuple[str, str], int] = {}
        for p in points:
            sid = sid_of.setdefault((p.tags["element"], p.tags["point"]), len(sid_of) + 1)
            rows.append((sid, 1, p.time_ns, p.fields["quality"]))
            rows.append((sid, 2, p.time_ns, p.fields["value"]))
        f_t, s_t = [], []
        for run in range(2):
            console.print(f"sqlite run {run + 1}/2 …")
            f_t.append(sqlite_floor(Path(tmp) / f"floor{run}.db", rows))
            s_t.append(await sqlite_store(Path(tmp) / f"store{run}.db", points))
        floor = n / min(f_t)
        rate = n / min(s_t)
        table.add_row(
            "SqliteStore", "WAL", f"{rate:,.0f}", f"{floor:,.0f}", f"{rate / floor:.2f}", ""
        )
    console.print(table)


if __name__ == "__main__":
    asyncio.run(main())
