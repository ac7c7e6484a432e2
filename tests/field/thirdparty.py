"""Third-party servers for the field tests: node-opcua (OPC UA) and modbus-serial (Modbus TCP).

The agent is tested against servers the project did not write. They are small Node.js programs
in `servers/`, configured by a JSON file; their npm packages are installed once per version of
`servers/package.json` and `package-lock.json` into a cache folder (see `ensure_node_modules`).

    with NodeOpcUaServer(tmp_path / "ua", {"variables": [...]}) as ua:
        client = asyncua.Client(ua.url)
    with NodeModbusServer(tmp_path / "mb", {"holding": {"0": 1}}) as mb:
        client = AsyncModbusTcpClient(mb.host, port=mb.port)
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import signal
import struct
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Literal, Self

from telemetry.localserver import StartStop, free_port

SERVERS_DIR = Path(__file__).parent / "servers"
PACKAGE_FILES = ("package.json", "package-lock.json")


def npm_cache_root() -> Path:
    default = Path.home() / ".cache" / "pilotproof" / "field-npm"
    return Path(os.environ.get("PILOTPROOF_NPM_CACHE") or default)


def ensure_node_modules() -> Path:
    """The folder holding `node_modules` for `servers/package.json`, installed on first use.

    One folder per hash of package.json and the lock. An install runs under a lock file, in a
    temporary folder renamed into place when complete, so concurrent or interrupted callers
    never see half an install.
    """
    digest = hashlib.sha256()
    for name in PACKAGE_FILES:
        path = SERVERS_DIR / name
        if path.exists():
            digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    root = npm_cache_root()
    target = root / digest.hexdigest()[:16]
    if target.is_dir():
        return target
    npm = shutil.which("npm")
    if npm is None:
        raise FileNotFoundError("npm (Node.js >= 20.19) is needed for the field test servers")
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f"{target.name}.lock", "wb") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.is_dir():
            return target
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=root))
        tmp.chmod(0o755)
        try:
            for name in PACKAGE_FILES:
                if (SERVERS_DIR / name).exists():
                    shutil.copy2(SERVERS_DIR / name, tmp / name)
            locked = (tmp / "package-lock.json").exists()
            # serialport (modbus-serial's only optional dependency, a native addon) is not needed.
            cmd = [npm, "ci" if locked else "install", "--omit=optional", "--no-audit", "--no-fund"]
            done = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, timeout=900)
            if done.returncode != 0:
                raise RuntimeError(f"{' '.join(cmd)} failed in {tmp}:\n{done.stderr[-4000:]}")
            tmp.rename(target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


WordKind = Literal["float32", "int32", "uint32"]
_FORMATS: dict[str, str] = {"float32": ">f", "int32": ">i", "uint32": ">I"}


def words(value: float, kind: WordKind, order: Literal["ABCD", "CDAB"] = "ABCD") -> list[int]:
    """Two 16-bit registers holding `value`: ABCD is big-endian, CDAB swaps the words."""
    high, low = struct.unpack(">HH", struct.pack(_FORMATS[kind], value))
    return [high, low] if order == "ABCD" else [low, high]


def registers(
    address: int, value: float, kind: WordKind, order: Literal["ABCD", "CDAB"] = "ABCD"
) -> dict[str, int]:
    """`{"address": word, "address+1": word}` for a `holding` or `input` table of the config."""
    return {str(address + i): w for i, w in enumerate(words(value, kind, order))}


class _NodeServer(StartStop):
    """A Node.js server in its own process group, configured by `<workdir>/<name>.json`."""

    name = ""
    script = ""

    def __init__(self, workdir: Path, config: dict[str, Any], port: int | None = None) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config = dict(config)
        self.port = port
        self.host = "127.0.0.1"
        self._ready = ""
        self._proc: subprocess.Popen[bytes] | None = None

    def _config(self, port: int) -> dict[str, Any]:
        return {**self.config, "host": self.host, "port": port}

    def _first_port(self) -> int:
        return free_port()

    def start(self, timeout_s: float = 60.0) -> Self:
        if self._proc is not None:
            raise RuntimeError(f"{self.name} server already running")
        node = shutil.which("node")
        if node is None:
            raise FileNotFoundError("node (Node.js >= 20.19) is needed for the field test servers")
        env = {**os.environ, "NODE_PATH": str(ensure_node_modules() / "node_modules")}
        error = ""
        # A free port can be taken between probe and bind, so a picked one is tried again.
        for _ in range(1 if self.port else 3):
            port = self.port or self._first_port()
            conf = self.workdir / f"{self.name}.json"
            conf.write_text(json.dumps(self._config(port), indent=1))
            out, err = self.workdir / f"{self.name}.out", self.workdir / f"{self.name}.err"
            with open(out, "wb") as stdout, open(err, "wb") as stderr:
                self._proc = subprocess.Popen(
                    [node, str(SERVERS_DIR / self.script), str(conf)],
                    stdout=stdout,
                    stderr=stderr,
                    cwd=self.workdir,
                    env=env,
                    start_new_session=True,
                )
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                ready = [x for x in out.read_text().splitlines() if x.startswith("READY ")]
                if ready:
                    self._ready = ready[0].removeprefix("READY ")
                    self.port = self._port_from_ready(self._ready)
                    return self
                if self._proc.poll() is not None:
                    break
                time.sleep(0.05)
            rc = self._proc.poll()
            self._signal(signal.SIGKILL)
            why = f"exited with {rc}" if rc is not None else f"was not ready in {timeout_s} s"
            error = f"{self.name} server {why}:\n{self.output()[-4000:]}"
            if "EADDRINUSE" not in error:
                break
        raise RuntimeError(error)

    def _port_from_ready(self, ready: str) -> int:
        return int(ready)

    def _signal(self, sig: signal.Signals, wait_s: float = 10.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            os.killpg(proc.pid, sig)
            try:
                proc.wait(wait_s)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def stop(self) -> None:
        """SIGTERM (the server shuts down cleanly), SIGKILL if it has not gone in 10 s."""
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL: the server dies without closing anything."""
        self._signal(signal.SIGKILL)

    def restart(self, config: dict[str, Any] | None = None) -> Self:
        """Stop and start again on the same port, with a new config if given."""
        self.stop()
        if config is not None:
            self.config = dict(config)
        return self.start()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def output(self) -> str:
        """What the server printed: stdout, then stderr."""
        files = (self.workdir / f"{self.name}.{ext}" for ext in ("out", "err"))
        return "".join(f.read_text(errors="replace") for f in files if f.exists())


class NodeOpcUaServer(_NodeServer):
    """node-opcua with the variables of `config` (see servers/opcua_server.js for the keys).

    Its PKI (own certificate, trusted/, rejected/) is `<workdir>/pki` unless `config["pkiDir"]`
    says otherwise, and survives restarts, as does the application URI.
    """

    name = "opcua"
    script = "opcua_server.js"

    def __init__(self, workdir: Path, config: dict[str, Any], port: int | None = None) -> None:
        super().__init__(workdir, config, port)
        self._pki_dir = Path(config.get("pkiDir") or self.workdir / "pki")

    def _config(self, port: int) -> dict[str, Any]:
        return {**super()._config(port), "pkiDir": str(self.pki_dir)}

    def _first_port(self) -> int:
        return 0  # node-opcua binds a free port itself and says which

    def _port_from_ready(self, ready: str) -> int:
        return int(ready.removeprefix("opc.tcp://").split("/", 1)[0].rsplit(":", 1)[1])

    @property
    def url(self) -> str:
        path = self.config.get("resourcePath", "/UA/field")
        return self._ready or f"opc.tcp://{self.host}:{self.port}{path}"

    @property
    def pki_dir(self) -> Path:
        return self._pki_dir

    @property
    def certificate(self) -> Path:
        """The server's own certificate (PEM), created by node-opcua on its first start."""
        return self.pki_dir / "own" / "certs" / "certificate.pem"

    @property
    def rejected_dir(self) -> Path:
        return self.pki_dir / "rejected"

    @property
    def trusted_dir(self) -> Path:
        return self.pki_dir / "trusted" / "certs"

    def trust_all_rejected(self) -> list[Path]:
        """Move every rejected client certificate to trusted/certs; returns their new paths.

        The running server notices through its folder watcher (inotify) within about 0.1 s, no
        restart needed; a client that connects in the same instant may still be refused.
        """
        self.trusted_dir.mkdir(parents=True, exist_ok=True)
        moved = []
        for cert in sorted(self.rejected_dir.glob("*")):
            if cert.is_file():
                moved.append(cert.rename(self.trusted_dir / cert.name))
        return moved


class NodeModbusServer(_NodeServer):
    """modbus-serial's ServerTCP serving the tables of `config` (see servers/modbus_server.js)."""

    name = "modbus"
    script = "modbus_server.js"
