"""Start-up of the commands a user types first, as whole processes, against a floor.

    uv run python bench/startup.py [--runs 7]

Each command runs `--runs` times after one warm-up run (the first run after an install
also compiles bytecode; that is not what a user sees on the second day); the table shows
the median wall time and the peak RSS of each, and their ratio to the floor measured in
the same run: `python -c "import typer, rich"`, the least a Typer + rich command loads.

Goals (issue 21): `pilotproof --version` ≤ 1.5× the floor, `agent check <sample>` ≤ 3×.
`kpi list` is shown beside them. Exits 1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable

#: (label, argv, goal as a ratio to the floor or None)
COMMANDS: list[tuple[str, list[str], float | None]] = [
    ("floor: import typer, rich", [PY, "-c", "import typer, rich"], None),
    ("pilotproof --version", [PY, "-m", "pilotproof.cli", "--version"], 1.5),
    (
        "pilotproof agent check collectors/mqtt/sample.toml",
        [PY, "-m", "pilotproof.cli", "agent", "check", "SAMPLE"],  # a copy, with its key
        3.0,
    ),
    ("pilotproof kpi list", [PY, "-m", "pilotproof.cli", "kpi", "list"], None),
]


def run_once(argv: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (bytes) of one run of `argv`; fails on a non-zero exit."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}: {err.strip()[-500:]}")
    return wall, usage.ru_maxrss * 1024  # Linux reports KiB


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    rows: list[tuple[str, float, int, float | None]] = []
    work = Path(tempfile.mkdtemp(prefix="pp-startup-"))
    sample = work / "sample.toml"
    shutil.copy(ROOT / "collectors" / "mqtt" / "sample.toml", sample)
    key = work / "keys" / "agent.pem"
    keygen = [PY, "-m", "pilotproof.cli", "agent", "keygen", str(key)]
    subprocess.run(keygen, check=True, capture_output=True)
    for label, argv, goal in COMMANDS:
        argv = [str(sample) if a == "SAMPLE" else a for a in argv]
        run_once(argv)  # warm-up: bytecode compiled, files in the page cache
        samples = [run_once(argv) for _ in range(args.runs)]
        wall = statistics.median(w for w, _ in samples)
        rss = max(r for _, r in samples)
        rows.append((label, wall, rss, goal))
    floor_wall, floor_rss = rows[0][1], rows[0][2]
    print(f"{'command':<52} {'wall':>8} {'ratio':>6} {'goal':>6} {'peak RSS':>9} {'ratio':>6}")
    missed = []
    for label, wall, rss, goal in rows:
        ratio = wall / floor_wall
        verdict = "" if goal is None else (f"≤{goal:g}" + (" ok" if ratio <= goal else " MISS"))
        if goal is not None and ratio > goal:
            missed.append(label)
        print(f"{label:<52} {wall * 1000:>6.0f}ms {ratio:>6.2f} {verdict:>6} "
              f"{rss / 2**20:>6.0f}MiB {rss / floor_rss:>6.2f}")  # fmt: skip
    print(f"median of {args.runs} runs each, after one warm-up; floor measured in this run")
    if missed:
        raise SystemExit(f"missed: {', '.join(missed)}")


if __name__ == "__main__":
    main()
