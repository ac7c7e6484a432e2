"""Start a throwaway `influxd` (InfluxDB 1.x) on a free loopback port in a temp directory.

Tests, benchmarks and `pilotproof store check --influxd` use it to talk to a real server
without touching any installed instance: its data, WAL and meta live in the directory,
every listener but HTTP is off, and `stop()` removes everything.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Self

import httpx

INSTALL_HINT = (
    "influxd (InfluxDB 1.x) is not installed. On Debian/Ubuntu: `apt-get install influxdb` "
    "(the test script scripts/test.sh does this when run as root)."
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def terminate(proc: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM the server's process group, SIGKILL it if it has not gone in 10 s."""
    if proc is not None and proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


class StartStop(ABC):
    """`with server as s:` starts it and stops it at the end, even when the block fails."""

    @abstractmethod
    def start(self) -> Self: ...

    @abstractmethod
    def stop(self) -> None: ...

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Daemon(StartStop):
    """A server process of ours, in its own process group, with all its files in `dir`."""

    dir: Path
    _proc: subprocess.Popen[bytes] | None

    def halt(self) -> None:
        """Stop the server but keep its data, so `start()` brings it back (a restart)."""
        terminate(self._proc)
        self._proc = None

    def stop(self) -> None:
        self.halt()
        shutil.rmtree(self.dir, ignore_errors=True)


class LocalInfluxd(_Daemon):
    """`with LocalInfluxd() as srv: srv.url` — a private influxd for the duration."""

    def __init__(
        self,
        *,
        auth_enabled: bool = False,
        max_body_size: int = 25_000_000,
        binary: str | None = None,
        port: int | None = None,
    ) -> None:
        found = binary or shutil.which("influxd") or "/usr/bin/influxd"
        if not Path(found).exists():
            raise FileNotFoundError(INSTALL_HINT)
        self.binary = found
        self.auth_enabled = auth_enabled
        self.max_body_size = max_body_size
        self.dir = Path(tempfile.mkdtemp(prefix="pp-influxd-"))
        self._fixed_port = port
        self.port = port or 0
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _config(self) -> str:
        d = self.dir
        return f"""reporting-enabled = false
bind-address = "127.0.0.1:{free_port()}"
[meta]
  dir = "{d}/meta"
[data]
  dir = "{d}/data"
  wal-dir = "{d}/wal"
  query-log-enabled = false
  # influxd 1.x can count a few points short while it snapshots its cache into TSM files
  # under a running query (influxdata/influxdb#8084, #6996): a local server writes and
  # queries at once, so it keeps what it holds in its cache and compacts when idle
  cache-snapshot-memory-size = "512m"
  cache-snapshot-write-cold-duration = "10m"
  compact-full-write-cold-duration = "4h"
[monitor]
  store-enabled = false
[http]
  bind-address = "127.0.0.1:{self.port}"
  auth-enabled = {"true" if self.auth_enabled else "false"}
  log-enabled = false
  max-body-size = {self.max_body_size}
[ifql]
  enabled = false
[continuous_queries]
  enabled = false
[logging]
  level = "warn"
"""

    def start(self, timeout_s: float = 30.0) -> Self:
        last_error = ""
        # A free port can be taken between probe and bind, so a chosen one is retried.
        for _ in range(1 if self._fixed_port else 3):
            self.port = self._fixed_port or free_port()
            conf = self.dir / "influxd.conf"
            conf.write_text(self._config())
            log = open(self.dir / "influxd.log", "wb")  # noqa: SIM115 - owned by the process
            self._proc = subprocess.Popen(
                [self.binary, "run", "-config", str(conf)],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                if self._proc.poll() is not None:
                    last_error = (self.dir / "influxd.log").read_text(errors="replace")[-2000:]
                    break
                try:
                    if httpx.get(f"{self.url}/ping", timeout=1).status_code == 204:
                        return self
                except httpx.HTTPError:
                    pass
                time.sleep(0.05)
            self.halt()
        raise RuntimeError(f"influxd did not start in {self.dir}: {last_error}")


MOSQUITTO_HINT = (
    "mosquitto is not installed. On Debian/Ubuntu: `apt-get install mosquitto` "
    "(the test script scripts/test.sh does this when run as root)."
)


class LocalMosquitto(_Daemon):
    """`with LocalMosquitto() as broker: broker.url` — a private MQTT broker on loopback.

    Anonymous, no persistence by default; `halt()`/`start()` restart it on the same port.
    `users` ({name: password}) turns anonymous access off and accepts only them.
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        persistence: bool = False,
        users: dict[str, str] | None = None,
    ) -> None:
        found = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(found).exists():
            raise FileNotFoundError(MOSQUITTO_HINT)
        self.binary = found
        self.dir = Path(tempfile.mkdtemp(prefix="pp-mosquitto-"))
        self.port = port or free_port()
        self.persistence = persistence
        self.users = users or {}
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def _access(self) -> str:
        if not self.users:
            return "allow_anonymous true\n"
        passwd = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
        path = self.dir / "passwords"
        path.unlink(missing_ok=True)
        for name, password in self.users.items():
            flags = ["-b"] if path.exists() else ["-c", "-b"]
            subprocess.run([passwd, *flags, str(path), name, password], check=True,
                           capture_output=True)  # fmt: skip
        return f"allow_anonymous false\npassword_file {path}\n"

    def start(self, timeout_s: float = 15.0) -> Self:
        conf = self.dir / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\n{self._access()}"
            f"persistence {'true' if self.persistence else 'false'}\n"
            f"persistence_location {self.dir}/\nlog_dest file {self.dir}/mosquitto.log\n"
            "max_queued_messages 1000000\n"
            # QoS 1 messages in flight to one client: an agent acknowledges only after a
            # durable commit, so a deep window keeps the pipe full during each commit
            "max_inflight_messages 1000\n"
            # started as root, mosquitto switches to user `mosquitto`, which cannot write
            # its persistence file and log into our private temp dir: stay who we are
            f"user {getpass.getuser()}\n"
        )
        self._proc = subprocess.Popen(
            [self.binary, "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                break
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        log = self.dir / "mosquitto.log"
        detail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        self.halt()
        raise RuntimeError(f"mosquitto did not start on port {self.port}: {detail}")
