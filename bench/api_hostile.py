"""`/api/health` latency while the service is attacked, as a ratio to the same server idle.

    uv run python bench/api_hostile.py [--days 7] [--probes 400]

A real `pilotproof serve` on a free loopback port over a SQLite store holding `--days` of
the fiveg-factory-pass history, sealed. One client probes `/api/health` back to back:
first with the server idle (the floor), then (a) while 20 `/api/kpis` requests with
distinct long windows (the longest allowed, 400 days) arrive at once, then (b) while an
auditor uploads archive bombs one after another (a 2 GiB zero member, 900 MiB of zeros
under the member cap, 100,001 empty members). Printed: p50/p99 of each phase and its
ratio to the idle p50/p99 measured in the same run, and the workers' and the server's
peak RSS. Goal: p99 ratio ≤ 5.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kpi import Window
from simulators import backfill, load_scenario
from telemetry import SqliteStore
from telemetry.seal import KPI_STREAM, Sealer, generate_key
from tests.web.hostile import (
    PROFILE,
    Served,
    many_members,
    serve,
    write_key,
    zero_member_bomb,
)
from verifier import trust_entry

console = Console()


def pct(xs: list[float], q: int) -> float:
    return statistics.quantiles(xs, n=100, method="inclusive")[q - 1] if len(xs) > 1 else xs[0]


def probe(s: Served, n: int | None, stop: threading.Event | None = None) -> list[float]:
    """`/api/health` back to back: `n` times, or until `stop` is set."""
    out: list[float] = []
    with httpx.Client(base_url=s.base, timeout=120) as c:
        c.get("/api/health")
        while (n is None or len(out) < n) and not (stop and stop.is_set()):
            t0 = time.perf_counter()
            c.get("/api/health").raise_for_status()
            out.append(time.perf_counter() - t0)
    return out


def under(s: Served, attack: object) -> list[float]:
    stop = threading.Event()
    with ThreadPoolExecutor(1) as pool:
        f = pool.submit(probe, s, None, stop)
        time.sleep(0.2)
        attack()  # type: ignore[operator]
        stop.set()
        return f.result()


def long_windows(s: Served, end: Window) -> None:
    def ask(i: int) -> int:
        to = end.end - timedelta(hours=i)
        params = {"profile": PROFILE, "from": (to - timedelta(days=400)).isoformat(),
                  "to": to.isoformat()}  # fmt: skip
        return httpx.get(f"{s.base}/api/kpis", params=params, headers=s.auth("auditor"),
                         timeout=900).status_code  # fmt: skip

    with ThreadPoolExecutor(20) as pool:
        statuses = list(pool.map(ask, range(20)))
    console.print(f"  long windows answered: {statuses.count(200)} × 200, "
                  f"{statuses.count(503)} × 503 (busy)")  # fmt: skip


def bombs(s: Served) -> None:
    for data in (zero_member_bomb(2 << 30), zero_member_bomb(900 << 20), many_members(100_001)):
        r = httpx.post(f"{s.base}/api/verify", files={"bundle": ("b.tar.gz", data)},
                       headers=s.auth("auditor"), timeout=900)  # fmt: skip
        codes = {f["code"] for c in r.json()["checks"] for f in c["findings"]}
        console.print(f"  bomb of {len(data):,} bytes: {r.status_code} {sorted(codes)}")


async def history(tmp: Path, days: int) -> tuple[Path, Window]:
    scenario = load_scenario("fiveg-factory-pass")
    end = scenario.evaluation.end
    span = Window(start=end - timedelta(days=days), end=end)
    store = SqliteStore(tmp / "store.db")
    agent = generate_key(tmp / "agent.key")
    await backfill(scenario, store, span.start_ns, span.end_ns,
                   sealer=Sealer(agent, "gw", KPI_STREAM))  # fmt: skip
    await store.close()
    return tmp / "store.db", span


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--probes", type=int, default=400)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="pilotproof-hostile-") as d:
        tmp = Path(d)
        db, span = asyncio.run(history(tmp, args.days))
        builder = Ed25519PrivateKey.generate()
        (tmp / "trust.toml").write_text(trust_entry("builder", "verifier", builder.public_key()))
        with serve(tmp, db, write_key(builder, tmp / "b.pem"), tmp / "trust.toml",
                   "fiveg-factory-pass") as s:  # fmt: skip
            idle = probe(s, args.probes)
            console.print("(a) 20 long-window /api/kpis at once")
            a = under(s, lambda: long_windows(s, span))
            console.print("(b) archive bombs")
            b = under(s, lambda: bombs(s))
            peaks = s.peak_rss_mib()
    table = Table("phase", "probes", "p50 ms", "p99 ms", "p50 ratio", "p99 ratio",
                  title=f"/api/health under attack, SQLite, {args.days} d history")  # fmt: skip
    for name, xs in (("idle (floor)", idle), ("(a) long windows", a), ("(b) bombs", b)):
        table.add_row(
            name, str(len(xs)), f"{pct(xs, 50) * 1e3:.2f}", f"{pct(xs, 99) * 1e3:.2f}",
            f"{pct(xs, 50) / pct(idle, 50):.2f}", f"{pct(xs, 99) / pct(idle, 99):.2f}",
        )  # fmt: skip
    console.print(table)
    worst = max(pct(a, 99), pct(b, 99)) / pct(idle, 99)
    console.print(f"worst p99 ratio {worst:.2f} (goal ≤ 5): {'met' if worst <= 5 else 'NOT met'}")
    console.print("peak RSS MiB (server first, then workers): "
                  + ", ".join(f"{v:.0f}" for v in peaks.values()))  # fmt: skip


if __name__ == "__main__":
    main()
