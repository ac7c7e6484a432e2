"""The field suite's view of an agent: `pilotproof agent run site.toml`, as a process.

Nothing here builds the agent through the Python API: a test writes a site config, starts
the command a user types, and looks at what a user sees — its exit code, its log, its
`/metrics` — and at what landed in the store.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Self

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from telemetry import Aggregate, Store
from telemetry.seal import GENESIS, BatchRecord, load_key

PILOTPROOF = Path(sys.executable).with_name("pilotproof")
_SAMPLE = re.compile(r"^(?P<name>[a-z_]+)(?:\{(?P<labels>[^}]*)\})? (?P<value>\S+)$")
ALL = 1 << 62


class AgentProcess:
    """`pilotproof agent run <site> [args]` in its own process group."""

    def __init__(self, site: Path, metrics_port: int | None = None) -> None:
        self.site = site
        self.metrics_port = metrics_port
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = site.with_suffix(".log")
        self.runs = 0

    def start(self, *args: str) -> Self:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.runs += 1
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the process
        log.write(f"\n=== run {self.runs}: agent run {' '.join(args)}\n".encode())
        log.flush()
        self.proc = subprocess.Popen(
            [str(PILOTPROOF), "agent", "run", str(self.site), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.site.parent,
            start_new_session=True,
            env={**os.environ, "COLUMNS": "200"},
        )
        return self

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def run_log(self) -> str:
        """The log of the current (last) run only."""
        return self.log().rsplit(f"=== run {self.runs}:", 1)[-1]

    def stop(self, timeout_s: float = 90.0) -> int:
        """SIGTERM, as systemd stops it: the agent seals and forwards, then exits."""
        assert self.proc is not None
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            return self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f"the agent did not stop in {timeout_s} s:\n{self.log()[-3000:]}"
            ) from None

    def kill(self) -> None:
        """SIGKILL, the agent and its sealer child: a power cut."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def wait_exit(self, timeout_s: float = 60.0) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout_s)

    # --- /metrics ---------------------------------------------------------------------

    def metrics(self) -> dict[str, float]:
        """Every sample of /metrics: `name` or `name{label="v",…}` (agent label left out)."""
        assert self.metrics_port is not None
        text = httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5).text
        out: dict[str, float] = {}
        for line in text.splitlines():
            m = _SAMPLE.match(line)
            if m is None:
                continue
            labels = [x for x in (m["labels"] or "").split(",") if x and not x.startswith("agent=")]
            key = m["name"] + (f"{{{','.join(labels)}}}" if labels else "")
            out[key] = float(m["value"])
        return out

    def metric(self, name: str, **labels: str) -> float:
        """One sample, 0 when absent (a counter not yet counted)."""
        try:
            samples = self.metrics()
        except httpx.HTTPError:
            return float("nan")
        wanted = f"pilotproof_{name}" + (
            "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}" if labels else ""
        )
        return samples.get(wanted, 0.0)

    def sum_metric(self, name: str, **labels: str) -> float:
        """The sum over every label set of `name` that has `labels`."""
        try:
            samples = self.metrics()
        except httpx.HTTPError:
            return float("nan")
        want = [f'{k}="{v}"' for k, v in labels.items()]
        total = 0.0
        for key, value in samples.items():
            if key.split("{", 1)[0] == f"pilotproof_{name}" and all(w in key for w in want):
                total += value
        return total

    async def connected(self, driver: str, within_s: float = 60.0) -> None:
        """Wait until /metrics says `driver` is connected (MQTT: subscribed)."""
        await self.until(lambda: self.metric("driver_connected", driver=driver) == 1, within_s,
                         f"{driver} connected")  # fmt: skip

    async def until(
        self, predicate: Callable[[], object], within_s: float = 60.0, what: str = ""
    ) -> None:
        """Wait for `predicate`; fail with the agent's log if it never holds or the agent
        dies meanwhile."""
        deadline = time.monotonic() + within_s
        while True:
            if predicate():
                return
            if not self.alive:
                raise AssertionError(f"the agent exited while waiting for {what}:\n"
                                     f"{self.log()[-4000:]}")  # fmt: skip
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out ({within_s} s) waiting for {what}:\n"
                                     f"{self.log()[-4000:]}")  # fmt: skip
            await asyncio.sleep(0.25)


def keygen(path: Path) -> Ed25519PublicKey:
    """`pilotproof agent keygen`, as a user makes the key."""
    done = subprocess.run([str(PILOTPROOF), "agent", "keygen", str(path)], capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return load_key(path).public_key()


def check(site: Path) -> subprocess.CompletedProcess[str]:
    """`pilotproof agent check`."""
    return subprocess.run([str(PILOTPROOF), "agent", "check", str(site)], capture_output=True,
                          text=True, timeout=60, env={**os.environ, "COLUMNS": "200"})  # fmt: skip


# --- what landed in the store -------------------------------------------------------------


async def chains(
    store: Store, site: str, agent: str, key: Ed25519PublicKey
) -> dict[tuple[str, int], list[BatchRecord]]:
    """The agent's chains in the store, checked: per (stream, epoch) seq 0, 1, 2 … with no
    gap and no repeat, each record linked to the one before and signed by the agent."""
    from verifier.chain import record_of

    rows = await store.read("pp_batch", 0, ALL, where={"site": site, "agent": agent})
    out: dict[tuple[str, int], list[BatchRecord]] = {}
    for p in rows:
        r = record_of(p)
        out.setdefault((r.stream, r.epoch), []).append(r)
    for (stream, epoch), records in out.items():
        records.sort(key=lambda r: r.seq)
        assert [r.seq for r in records] == list(range(len(records))), (stream, epoch)
        prev = GENESIS
        for r in records:
            assert r.prev == prev, f"{stream} epoch {epoch} seq {r.seq}: broken link"
            assert r.verify(key), f"{stream} epoch {epoch} seq {r.seq}: bad signature"
            prev = r.digest()
    return out


async def count(store: Store, measurement: str, field: str, **where: str) -> int:
    df = await store.aggregate(
        Aggregate(measurement=measurement, field=field, fn="count", start_ns=0, end_ns=ALL,
                  where=dict(where))
    )  # fmt: skip
    return int(df["value"].sum()) if len(df) else 0


KPI_ROWS = {
    "element_status": "online",
    "point_health": "expected",
    "pp_agent": "points_in",
    "production": "output",
    "control_loop": "auto",
    "identifier": "resolutions",
}


async def assert_sealed_exactly_once(
    store: Store, site: str, agent: str, key: Ed25519PublicKey, *, distinct: bool = True
) -> dict[str, int]:
    """Every line the agent sealed is in the store once: per stream, the rows stored equal
    the lines its contiguous, signed chain says it sealed (each line is its own series and
    time, so a lost line or a doubled one would show). Returns the lines per stream.

    `distinct=False` where the input itself repeats a sample (a payload sent twice, a
    message the broker delivered again after a crash): the store keeps one row for the
    repeats (idempotent writes), so it holds at most what was sealed."""
    sealed: dict[str, int] = {}
    for (stream, _), records in (await chains(store, site, agent, key)).items():
        sealed[stream] = sealed.get(stream, 0) + sum(r.n for r in records)
    stored = {"telemetry": await count(store, "telemetry", "quality", site=site), "kpi": 0}
    for measurement, field in KPI_ROWS.items():
        stored["kpi"] += await count(store, measurement, field, site=site)
    for stream in ("telemetry", "kpi"):
        if distinct:
            assert stored[stream] == sealed.get(stream, 0), (stream, stored, sealed)
        else:
            assert stored[stream] <= sealed.get(stream, 0), (stream, stored, sealed)
    return sealed
