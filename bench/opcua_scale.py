"""OPC UA at scale: N tags changing every second on a third-party server, the agent on all.

    uv run python bench/opcua_scale.py [--tags 1000,5000,10000,20000] [--seconds 60]

The server is node-opcua (npm; tests/field/servers/opcua_server.js, installed into the npm
cache folder by `tests.field.thirdparty`), every tag a Double counting up once a second.
The agent runs as a user runs it (`pilotproof agent run site.toml`), subscribed to every
tag at a 1 s sampling interval, writing through its buffer and sealer into influxd.

For each N, over `--seconds` of steady state (after a warm-up), printed:

* points stored per second, against N (goal: 1.00, every change stored);
* the lag from a value's source timestamp until it is queryable in influxd: median and
  95th percentile (goal at 10,000 tags: median under 2 s), from snapshots of per-100 ms
  counts of the last 20 s taken twice a second — a point first shown by a snapshot counts
  at the middle between it and the snapshot before (±0.25 s); a point that shows only
  later than 20 s counts as 20 s (a lower bound), and how many did is printed;
* the agent's CPU (cores, over the window) and peak RSS of its process tree (goal at
  10,000 tags: ≤ 300 MB).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.e2e import keygen, process_cpu, site_head, tree_rss  # noqa: E402
from telemetry.localserver import LocalInfluxd  # noqa: E402
from tests.field.thirdparty import NodeOpcUaServer  # noqa: E402

console = Console(width=120)
PY = sys.executable
URI = "urn:pilotproof:bench:scale"
PER_ELEMENT = 100  # tags per element (machine)
BUCKET_MS = 100
LOOK_NS = 20 * 1_000_000_000  # how far back each lag snapshot looks
NS = 1_000_000_000


def server_config(n: int) -> dict[str, object]:
    return {
        "namespaceUri": URI,
        "variables": [
            {"nodeId": f"s=M{k // PER_ELEMENT}.T{k % PER_ELEMENT}", "dataType": "Double",
             "behaviour": "counter", "periodMs": 1000, "value": k % 1000}
            for k in range(n)
        ],
    }  # fmt: skip


def site_toml(work: Path, url: str, influx: LocalInfluxd, db: str, n: int) -> Path:
    key = keygen(work / "agent.pem")
    elements = (n + PER_ELEMENT - 1) // PER_ELEMENT
    points = ", ".join(f'{{id = "t{p}", period_s = 1}}' for p in range(PER_ELEMENT))
    inventory = ",\n".join(
        f'  {{id = "m{e}", kind = "machine", link = "wired", points = [{points}]}}'
        for e in range(elements)
    )
    nodes = "".join(
        f'  [[sources.opcua.nodes]]\n  element = "m{e}"\n  point = "t{p}"\n'
        f'  node = "nsu={URI};s=M{e}.T{p}"\n'
        for e, p in (divmod(k, PER_ELEMENT) for k in range(n))
    )
    site = work / "site.toml"
    head = site_head("gw-scale", key, f"{influx.url}/?db={db}", work / "buffer.db", "scale")
    site.write_text(
        head
        + f"""elements = [
{inventory}
]

[[sources.opcua]]
name = "line"
url = "{url}"
sampling_interval_ms = 1000

{nodes}"""
    )
    return site


def start_agent(site: Path) -> subprocess.Popen[bytes]:
    """`pilotproof agent run site.toml`, logging beside the site config."""
    log = site.with_name("agent.log").open("wb")
    return subprocess.Popen(
        [PY, "-m", "pilotproof.cli", "agent", "run", str(site)],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=site.parent,
        start_new_session=True,
    )


async def counts(http: httpx.AsyncClient, db: str, since_ns: int) -> dict[int, int]:
    """Points stored per 100 ms of source time, from `since_ns` on."""
    q = (f"SELECT count(value) FROM telemetry WHERE time >= {since_ns} "
         f"GROUP BY time({BUCKET_MS}ms)")  # fmt: skip
    r = await http.get("/query", params={"db": db, "q": q, "epoch": "ns"})
    series = r.json()["results"][0].get("series") or []
    return {int(t): int(c) for s in series for t, c in s["values"] if c}


def percentile(sorted_lags: list[float], q: float) -> float:
    return sorted_lags[min(len(sorted_lags) - 1, int(q * len(sorted_lags)))]


async def one(
    n: int, args: argparse.Namespace, tmp: Path, influx: LocalInfluxd
) -> dict[str, float]:
    work = tmp / f"n{n}"
    work.mkdir()
    db = f"scale{n}"
    async with httpx.AsyncClient(base_url=influx.url, timeout=120) as http:
        await http.post("/query", params={"q": f"CREATE DATABASE {db}"})
        with NodeOpcUaServer(work / "ua", server_config(n)) as ua:
            site = await asyncio.to_thread(site_toml, work, ua.url, influx, db, n)
            started = time.perf_counter()
            agent = await asyncio.to_thread(start_agent, site)
            try:
                with console.status(f"{n:,} tags: waiting for every tag to arrive …"):
                    t_begin = time.time_ns()
                    while True:
                        got = await counts(http, db, time.time_ns() - 3 * NS)
                        # a whole second of source time holds (nearly) every tag
                        if (
                            got
                            and max(
                                sum(got.get(b + k * BUCKET_MS * 10**6, 0) for k in range(10))
                                for b in got
                            )
                            >= 0.99 * n
                        ):
                            break  # fmt: skip
                        best = max(
                            (
                                sum(got.get(b + k * BUCKET_MS * 10**6, 0) for k in range(10))
                                for b in got
                            ),
                            default=0,
                        )
                        if agent.poll() is not None:
                            raise SystemExit(f"the agent exited: see {work / 'agent.log'}")
                        if time.time_ns() - t_begin > 300 * NS:
                            raise SystemExit(
                                f"{n} tags never all arrived (at most {best:,} in a "
                                f"second): the agent said\n"
                                f"{(work / 'agent.log').read_text()[-3000:]}"
                            )
                        await asyncio.sleep(1)
                startup = time.perf_counter() - started
                await asyncio.sleep(args.warmup)
                window0 = time.time_ns()
                cpu0 = sum(process_cpu(agent.pid).values())
                peak, snapshots = 0, []
                with console.status(f"{n:,} tags: {args.seconds:.0f} s of steady state …"):
                    end = time.monotonic() + args.seconds
                    while time.monotonic() < end:
                        asked = time.time_ns()
                        # the recent seconds only: a query over the whole window grows with
                        # it, slows influxd down and blurs the snapshot's time
                        snap = await counts(http, db, max(window0, asked - LOOK_NS))
                        snapshots.append(((asked + time.time_ns()) // 2, snap))
                        peak = max(peak, tree_rss(agent.pid))
                        await asyncio.sleep(0.5)
                    window1 = time.time_ns()
                    cpu = sum(process_cpu(agent.pid).values()) - cpu0
                    await asyncio.sleep(5)  # the last seconds' points land
                    final = await counts(http, db, window0)
            finally:
                agent.send_signal(signal.SIGTERM)
                await asyncio.to_thread(agent.wait, 120)
    # throughput: points of source time in the window, every bucket complete
    stored = sum(c for t, c in final.items() if t + BUCKET_MS * 10**6 <= window1)
    rate = stored / ((window1 - window0) / NS)
    # lag, of the seconds the snapshots watched for the whole look-back (the last 20 s of
    # the window are left out: their slow points were not looked for long enough). A
    # point first shown by a snapshot became queryable between it and the one before:
    # counted at the middle of the two (each snapshot's time is the middle of its query),
    # from the middle of its 100 ms of source time
    last_at = snapshots[-1][0]
    watched = {t for t in final if t + BUCKET_MS * 10**6 <= last_at - LOOK_NS}
    lags: list[float] = []
    seen: dict[int, int] = {}
    before = window0
    for at, snap in snapshots:
        for bucket, c in snap.items():
            new = c - seen.get(bucket, 0)
            if new > 0 and bucket in watched:
                mid = bucket + BUCKET_MS * 10**6 // 2
                lags += [((before + at) / 2 - mid) / NS] * new
            seen[bucket] = max(c, seen.get(bucket, 0))
        before = at
    # points that became queryable only after their second left the look-back: > 20 s
    late = sum(final[t] - seen.get(t, 0) for t in watched)
    lags += [LOOK_NS / NS] * max(0, late)  # counted at the look-back: a lower bound
    lags.sort()
    return {
        "n": n, "rate": rate, "ratio": rate / n, "p50": statistics.median(lags) if lags else 0,
        "p95": percentile(lags, 0.95) if lags else 0, "cpu": cpu / ((window1 - window0) / NS),
        "rss": peak / (1 << 20), "startup": startup, "late": max(0, late),
    }  # fmt: skip


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tags", default="1000,5000,10000,20000")
    ap.add_argument("--seconds", type=float, default=60.0, help="steady state per N")
    ap.add_argument("--warmup", type=float, default=10.0)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="pp-uascale-") as d, LocalInfluxd() as influx:
        for n in (int(x) for x in args.tags.split(",")):
            rows.append(await one(n, args, Path(d), influx))
            r = rows[-1]
            console.print(f"  {n:,} tags: {r['rate']:,.0f} points/s ({r['ratio']:.2f} of N), lag "
                          f"median {r['p50']:.2f} s, p95 {r['p95']:.2f} s, {r['cpu']:.2f} cores, "
                          f"{r['rss']:,.0f} MiB; {r['late']:,} points later than 20 s")  # fmt: skip
    table = Table("tags (N)", "points stored/s", "÷ N", "lag median (s)", "lag p95 (s)",
                  "agent CPU (cores)", "agent peak RSS (MiB)", "start until all arrive (s)",
                  title=f"OPC UA (node-opcua) → agent → influxd, every tag changing at 1 s, "
                        f"{args.seconds:.0f} s each")  # fmt: skip
    for r in rows:
        table.add_row(f"{r['n']:,}", f"{r['rate']:,.0f}", f"{r['ratio']:.2f}", f"{r['p50']:.2f}",
                      f"{r['p95']:.2f}", f"{r['cpu']:.2f}", f"{r['rss']:,.0f}",
                      f"{r['startup']:.0f}")  # fmt: skip
    console.print(table)


if __name__ == "__main__":
    os.chdir(ROOT)
    asyncio.run(main())
