"""The quick start (docs/quickstart.md, "A real factory") followed literally, every step a
command as a user types it: a simulated factory served over OPC UA, Modbus TCP and MQTT
(its own embedded broker); its site config; `agent keygen`, `agent check`, `agent run`
against it; `kpi evaluate` of what the agent stored; `evidence build` and an auditor's
`evidence verify` of the bundle, with its report."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from simulators import load_scenario
from tests.field.harness import PILOTPROOF

SCENARIO = "discrete-workshop"  # Modbus, OPC UA and MQTT elements
PROFILE = load_scenario(SCENARIO).profile or ""


def pp(folder: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(PILOTPROOF), *args], cwd=folder, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "COLUMNS": "200"})  # fmt: skip


def started(folder: Path, *args: str) -> subprocess.Popen[str]:
    log = open(folder / f"{args[0]}-{args[1]}.log", "w")  # noqa: SIM115 - the process owns it
    return subprocess.Popen([str(PILOTPROOF), *args], cwd=folder, stdout=log,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            env={**os.environ, "COLUMNS": "200"})  # fmt: skip


def stop(proc: subprocess.Popen[str]) -> int:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
    return proc.wait(90)


def test_the_quick_start_from_site_config_to_a_verified_bundle(tmp_path: Path) -> None:
    site = tmp_path / "site.yaml"
    # 1. the factory (here simulated), with the agent config that reads all of it
    factory = started(tmp_path, "simulate", "serve", SCENARIO, "--opcua-port", "0",
                      "--modbus-port", "0", "--cert-dir", "pki-sim", "--site-config",
                      str(site), "--duration", "120")  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not site.exists():
            assert factory.poll() is None, (tmp_path / "simulate-serve.log").read_text()
            assert time.monotonic() < deadline, "simulate serve wrote no site config"
            time.sleep(0.3)
        # the edit a user makes to see status rows in seconds, not minutes
        config = yaml.safe_load(site.read_text(encoding="utf-8"))
        config["inventory"]["status_interval_s"] = 5
        site.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
        # 2. the agent's key, the check, the run
        assert pp(tmp_path, "agent", "keygen", "keys/agent.pem").returncode == 0
        check = pp(tmp_path, "agent", "check", str(site))
        assert check.returncode == 0, check.stdout + check.stderr
        for protocol in ("modbus", "opcua", "mqtt"):
            assert f"{protocol} " in check.stdout, check.stdout
        start = datetime.now(UTC)
        agent = started(tmp_path, "agent", "run", str(site))
        time.sleep(30)
        assert stop(agent) == 0, (tmp_path / "agent-run.log").read_text()
        # a window the agent sealed past: the bundle needs its checkpoint after the end
        end = start + timedelta(seconds=15)
    finally:
        stop(factory)
    ran = (tmp_path / "agent-run.log").read_text()
    assert "Traceback" not in ran, ran
    # a healthy run against a healthy factory, stopped as systemd stops it, warns of nothing
    assert " WARNING " not in ran, ran
    assert " ERROR " not in ran, ran
    stopped = next(line for line in ran.splitlines() if line.startswith("stopped:"))
    points_out = int(stopped.split(",")[1].split()[0].replace(",", ""))
    assert points_out > 0, stopped

    # 3. the KPIs of what the agent stored, the inventory read from the site config
    window = ["--from", start.isoformat(), "--to", end.isoformat()]
    evaluated = pp(tmp_path, "kpi", "evaluate", "--profile", PROFILE, "--store",
                   "sqlite:pilotproof.db", "--inventory", str(site), *window, "--json")  # fmt: skip
    assert evaluated.returncode in (0, 1), evaluated.stdout + evaluated.stderr
    assert json.loads(evaluated.stdout)["site"] == load_scenario(SCENARIO).site

    # 4. evidence: the builder's key, the auditor's trusted keys, build, verify
    assert pp(tmp_path, "keys", "gen", "builder.pem", "--name", "builder").returncode == 0
    agent_entry = pp(tmp_path, "keys", "show", "keys/agent.pub", "--name", "sim-gateway",
                     "--role", "agent", "--site", load_scenario(SCENARIO).site)  # fmt: skip
    builder_entry = pp(tmp_path, "keys", "show", "builder.pub", "--name", "builder")
    (tmp_path / "trusted-keys.toml").write_text(agent_entry.stdout + builder_entry.stdout)
    built = pp(tmp_path, "evidence", "build", "--profile", PROFILE, "--store",
               "sqlite:pilotproof.db", "--inventory", str(site), *window, "--key",
               "builder.pem", "--out", "bundle", "--tar")  # fmt: skip
    assert built.returncode == 0, built.stdout + built.stderr
    verified = pp(tmp_path, "evidence", "verify", "bundle.tar.gz", "--trust",
                  "trusted-keys.toml", "--inventory", str(site), "--report",
                  "report.html")  # fmt: skip
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "VERIFIED" in verified.stdout
    assert "通过 · verified" in (tmp_path / "report.html").read_text(encoding="utf-8")
