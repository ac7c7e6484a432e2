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


def _children(pid: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_killed_service_leaves_no_worker_behind(tmp_path: Path) -> None:
    """SIGKILL (the OOM killer, `kill -9`) gives the service no chance to shut its pool
    down: its worker processes notice the parent gone and exit by themselves."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "pilotproof.cli", "serve", "--profile", "miit2021-5g-factory",
         "--scenario", "fiveg-factory-pass", "--store", f"sqlite:{tmp_path / 's.db'}",
         "--tokens", str(tmp_path / "t.db"), "--work-dir", str(tmp_path / "w"),
         "--port", str(port), "--workers", "2"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    workers: set[int] = set()
    try:
        deadline = time.monotonic() + 60
        while len(workers) < 2:  # the pool (and its resource tracker) is started warm
            assert server.poll() is None, "the server died"
            assert time.monotonic() < deadline, f"no workers started: {workers}"
            workers = {p for p in _children(server.pid) if _alive(p)}
            time.sleep(0.3)
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2).is_success:
                    break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the server did not answer"
                time.sleep(0.3)
        workers = {p for p in _children(server.pid) if _alive(p)}
    finally:
        server.kill()
        server.wait(timeout=20)
    deadline = time.monotonic() + 20
    while (left := {p for p in workers if _alive(p)}) and time.monotonic() < deadline:
        time.sleep(0.3)
    assert not left, f"orphaned after the service was killed: {sorted(left)}"
