"""The `pilotproof` command as a user runs it (a real subprocess, real stores)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pilotproof import __version__


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pilotproof.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"},
    )


def test_version() -> None:
    r = run("--version")
    assert r.returncode == 0
    assert r.stdout.strip() == f"pilotproof {__version__}"


def test_help_teaches_the_store_urls() -> None:
    r = run("store", "check", "--help")
    assert r.returncode == 0
    assert "sqlite:PATH" in r.stdout
    assert "PILOTPROOF_INFLUX_TOKEN" in r.stdout


@pytest.mark.parametrize("args", [(), ("--influxd",)])
def test_store_check_passes_on_both_stores(args: tuple[str, ...]) -> None:
    r = run("store", "check", *args)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "全部通过" in r.stdout
    assert "FAIL" not in r.stdout


def test_bad_store_url_is_a_clear_error() -> None:
    r = run("store", "check", "--store", "influx://somewhere")
    assert r.returncode == 2
    assert "unknown scheme 'influx'" in r.stdout
    assert "Traceback" not in r.stdout + r.stderr


def test_unreachable_influx_names_the_server() -> None:
    r = run("store", "check", "--store", "http://127.0.0.1:9/?db=x", "--give-up-after", "1")
    assert r.returncode == 2
    assert "InfluxDB at http://127.0.0.1:9" in r.stdout


def test_simulate_truth_json_and_backfill(tmp_path: Path) -> None:
    import json

    out = run("simulate", "truth", "identifier-node", "--json")
    assert out.returncode == 0, out.stderr
    values = json.loads(out.stdout)["values"]
    assert values["daily_avg_identifier_resolutions"]["value"] == "116000"
    db = tmp_path / "bf.db"
    out = run("simulate", "backfill", "identifier-node", "--store", f"sqlite:{db}", "--days", "2")
    assert out.returncode == 0, out.stderr
    assert "identifier" in out.stdout
    assert db.exists()


def test_simulate_reports_a_bad_scenario(tmp_path: Path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text("name: x\nsite: s\nevaluation: {from: 2026-10-01, to: 2026-10-02}\nelements: 3\n")
    out = run("simulate", "truth", str(f))
    assert out.returncode == 2
    assert f"{f}:4" in out.stdout + out.stderr
