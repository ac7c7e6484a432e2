"""API latency under load: `/api/kpis` vs. `/api/health`, 50 concurrent clients.

    uv run python bench/api_load.py [--clients 50] [--requests 400] [--days 7]

A real `pilotproof serve` (uvicorn) on a free loopback port, over a SQLite store holding
`--days` of the fiveg-factory-pass history, sealed. `--clients` concurrent httpx clients
send `--requests` requests in all to each endpoint, one endpoint after the other. Printed:
p50 / p99 latency per endpoint and the ratio of `/api/kpis` to `/api/health` measured in
the same run (the floor: the service's own HTTP, auth-free path). Each client opens its
connection with one untimed request first. Each asks for the last day of the history, the
dashboard's default window; repeated windows share one evaluation (single flight, 30 s
cache), which is what the default run measures. `--distinct` gives every request its own
window instead, so each one evaluates.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from kpi import Window
from pilotproof.web import TokenStore
from simulators import backfill, load_scenario
from telemetry import SqliteStore
from telemetry.localserver import free_port
from telemetry.seal import KPI_STREAM, Sealer, generate_key

console = Console()


async def load(base: str, token: str, paths: list[str], clients: int) -> list[float]:
    """Latencies of `paths` spread over `clients` concurrent clients. Each client first
    sends one untimed request (its connection, and a cold first evaluation, are set-up)."""
    headers = {"Authorization": f"Bearer {token}"}
    queue: asyncio.Queue[str] = asyncio.Queue()
    for p in paths:
        queue.put_nowait(p)
    out: list[float] = []
    ready = asyncio.Barrier(clients)

    async def client() -> None:
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=600) as c:
            (await c.get(paths[0])).raise_for_status()
            await ready.wait()
            while not queue.empty():
                path = queue.get_nowait()
                t0 = time.perf_counter()
                r = await c.get(path)
                out.append(time.perf_counter() - t0)
                r.raise_for_status()

    await asyncio.gather(*(client() for _ in range(clients)))
    return out


def pct(xs: list[float], q: float) -> float:
    return statistics.quantiles(xs, n=100, method="inclusive")[int(q) - 1] if len(xs) > 1 else xs[0]


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--requests", type=int, default=400)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--distinct", action="store_true", help="a new window per request")
    args = ap.parse_args()
    scenario = load_scenario("fiveg-factory-pass")
    end = scenario.evaluation.end
    with tempfile.TemporaryDirectory(prefix="pilotproof-api-") as d:
        tmp = Path(d)
        store = SqliteStore(tmp / "store.db")
        span = Window(start=end - timedelta(days=args.days), end=end)
        sealer = Sealer(generate_key(tmp / "agent.key"), "gw", KPI_STREAM)
        await backfill(scenario, store, span.start_ns, span.end_ns, sealer=sealer)
        await store.close()
        token = TokenStore(tmp / "tokens.db").create("bench", "admin")
        port = free_port()
        server = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "pilotproof.cli", "serve", "--profile", "miit2021-5g-factory",
            "--scenario", scenario.name, "--store", f"sqlite:{tmp / 'store.db'}",
            "--tokens", str(tmp / "tokens.db"), "--work-dir", str(tmp / "w"),
            "--port", str(port),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            async with httpx.AsyncClient(base_url=base, timeout=1) as probe:
                for _ in range(300):
                    try:
                        await probe.get("/api/health")
                        break
                    except httpx.TransportError:
                        await asyncio.sleep(0.2)
            day = Window(start=end - timedelta(days=1), end=end)
            q = f"from={day.start.isoformat()}&to={day.end.isoformat()}".replace("+", "%2B")
            if args.distinct:
                kpis = [f"/api/kpis?from={(day.start - timedelta(minutes=i)).isoformat()}"
                        f"&to={day.end.isoformat()}".replace("+", "%2B")
                        for i in range(args.requests)]  # fmt: skip
            else:
                kpis = [f"/api/kpis?{q}"] * args.requests
            health = await load(base, token, ["/api/health"] * args.requests, args.clients)
            kpi = await load(base, token, kpis, args.clients)
        finally:
            server.terminate()
            await server.wait()
    table = Table("endpoint", "requests", "p50 ms", "p99 ms", title=(
        f"{args.clients} concurrent clients, SQLite, {args.days} d history"
        + (", distinct windows" if args.distinct else "")
    ))  # fmt: skip
    for name, xs in (("/api/health (floor)", health), ("/api/kpis", kpi)):
        table.add_row(name, str(len(xs)), f"{pct(xs, 50) * 1e3:.1f}", f"{pct(xs, 99) * 1e3:.1f}")
    console.print(table)
    console.print(
        f"ratio /api/kpis ÷ /api/health: p50 {pct(kpi, 50) / pct(health, 50):.1f}, "
        f"p99 {pct(kpi, 99) / pct(health, 99):.1f}"
    )


if __name__ == "__main__":
    asyncio.run(main())
