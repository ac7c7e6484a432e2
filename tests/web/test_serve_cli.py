"""`pilotproof tokens` and `pilotproof serve` as an operator runs them: a real server."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx

from telemetry.localserver import free_port
from tests.test_cli import run


def test_tokens_and_a_served_api(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.db"
    r = run("tokens", "create", "root", "--role", "admin", "--tokens", str(tokens))
    assert r.returncode == 0, r.stdout + r.stderr
    admin = r.stdout.strip().splitlines()[-1]
    assert admin.startswith("pp_")
    assert (
        run("tokens", "create", "root", "--role", "admin", "--tokens", str(tokens)).returncode == 1
    )
    assert "root\tadmin" in run("tokens", "list", "--tokens", str(tokens)).stdout
    assert admin not in tokens.read_bytes().decode(errors="replace")  # stored hashed
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "pilotproof.cli", "serve", "--profile", "miit2021-5g-factory",
         "--scenario", "fiveg-factory-pass", "--store", f"sqlite:{tmp_path / 's.db'}",
         "--tokens", str(tokens), "--work-dir", str(tmp_path / "w"), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"{base}/api/health", timeout=2)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.3)
        assert health.status_code == 200
        r = httpx.get(f"{base}/api/profiles", headers={"Authorization": f"Bearer {admin}"})
        assert r.status_code == 200
        assert any(p["id"] == "miit2021-5g-factory" for p in r.json())
        assert httpx.get(f"{base}/api/profiles").status_code == 401
        assert run("tokens", "revoke", "root", "--tokens", str(tokens)).returncode == 0
        r = httpx.get(f"{base}/api/profiles", headers={"Authorization": f"Bearer {admin}"})
        assert r.status_code == 401
    finally:
        server.terminate()
        server.wait(timeout=20)
