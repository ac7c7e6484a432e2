"""CPU per line of the sealer process's two jobs, against the hashing floor, in one run.

    uv run python bench/seal_forward.py [--lines 400000] [--repeat 3]

A fresh buffer is filled with polls of 40 Modbus-like lines (what `bench/e2e.py`'s
device gives), then, timed with the process's CPU clock:

* **seal**: `Buffer.seal` — read the chunks, regroup them into batches of 5,000, Merkle
  root and Ed25519 signature per batch, compress, one transaction with the chain head;
* **forward**: `Forwarder.forward_available` into a throwaway influxd — read and
  decompress the batches, write their lines and their `pp_batch` records, remove them
  from the buffer.

Floor: the Merkle roots alone (`telemetry.merkle.merkle_root` over the same batches), the
least that sealing must compute. It prints µs of CPU per line for each (best of
`--repeat` runs, each on a new buffer) and seal ÷ floor. influxd's own CPU is not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from rich.console import Console
from rich.table import Table

from collectors.buffer import Buffer
from collectors.forwarder import Forwarder
from collectors.interpreter import tune_collector
from collectors.metrics import Metrics
from telemetry.localserver import LocalInfluxd
from telemetry.merkle import merkle_root
from telemetry.store.open import open_store

console = Console()
T0 = 1_790_000_000 * 1_000_000_000
BATCH = 5000
HEAD = "telemetry,element=plc,point=r"


def polls(lines: int, k0: int) -> list[tuple[str, list[str], int, int]]:
    out = []
    for k in range(k0, k0 + lines // 40):
        t = T0 + k * 1_000_000
        lines_k = [f"{HEAD}{i},site=bench quality=0i,value={i + 0.0123 * k!r} {t}"
                   for i in range(40)]  # fmt: skip
        out.append(("telemetry", lines_k, t, t))
    return out


async def one_run(influx: LocalInfluxd, lines: int, k0: int) -> tuple[float, float, float]:
    work = Path(tempfile.mkdtemp(prefix="pp-seal-"))
    buffer = Buffer(work / "buffer.db")
    data = polls(lines, k0)
    for i in range(0, len(data), 100):  # a commit per 100 polls, as the committer does
        buffer.append(data[i : i + 100])
    batches = [
        [line.encode() for _, chunk, _, _ in data[i : i + BATCH // 40] for line in chunk]
        for i in range(0, len(data), BATCH // 40)
    ]  # fmt: skip
    c = time.process_time()
    for b in batches:
        merkle_root(b)
    floor = time.process_time() - c
    c = time.process_time()
    buffer.seal(Ed25519PrivateKey.generate(), "bench", BATCH)
    seal = time.process_time() - c
    store = open_store(f"{influx.url}/?db=seal")
    c = time.process_time()
    await Forwarder(buffer, store, "bench", Metrics("bench")).forward_available()
    forward = time.process_time() - c
    await store.close()
    buffer.close()
    n = len(data) * 40
    return floor / n * 1e6, seal / n * 1e6, forward / n * 1e6


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lines", type=int, default=400_000)
    ap.add_argument("--repeat", type=int, default=3, help="runs (the best of each counts)")
    args = ap.parse_args()
    tune_collector()  # as the sealer process does
    with LocalInfluxd() as influx:
        async with httpx.AsyncClient(base_url=influx.url) as http:
            await http.post("/query", params={"q": "CREATE DATABASE seal"})
        runs = []
        for r in range(args.repeat):
            with console.status(f"run {r + 1} of {args.repeat}: {args.lines:,} lines …"):
                runs.append(await one_run(influx, args.lines, r * args.lines))
    floor, seal, forward = (min(x) for x in zip(*runs, strict=True))
    table = Table("step", "µs CPU per line (best)", "runs", title="the sealer process, per line")
    for name, best, k in (("Merkle roots (floor)", floor, 0), ("seal", seal, 1),
                          ("forward", forward, 2)):  # fmt: skip
        table.add_row(name, f"{best:.2f}", " / ".join(f"{x[k]:.2f}" for x in runs))
    console.print(table)
    console.print(f"seal ÷ Merkle floor: {seal / floor:.2f}; seal + forward: "
                  f"{seal + forward:.2f} µs per line")  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
