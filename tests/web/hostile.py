"""What an attacker on the plant network sends, and a real `pilotproof serve` to send it to.

Shared by tests/web/test_hostile.py and bench/api_hostile.py.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pilotproof.web import TokenStore
from telemetry.localserver import free_port

PROFILE = "miit2021-5g-factory"


@dataclass
class Served:
    """A `pilotproof serve` process, its tokens, and the folders it writes to."""

    base: str
    process: subprocess.Popen[str]
    tokens: dict[str, str]
    spool: Path
    work: Path
    port: int
    log: Path

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def peak_rss_mib(self) -> dict[int, float]:
        """Peak resident memory (VmHWM) of the server and of each of its workers, MiB."""
        out = {}
        for pid in [self.process.pid, *_children(self.process.pid)]:
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("VmHWM:"):
                    out[pid] = int(line.split()[1]) / 1024
        return out


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with suppress(OSError):
            found += [int(x) for x in (task / "children").read_text().split()]
    return found


def write_key(key: Ed25519PrivateKey, path: Path) -> Path:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


@contextmanager
def serve(
    tmp: Path, store_db: Path, key: Path, trust: Path, scenario: str, *extra: str
) -> Iterator[Served]:
    """A real server on a free port, its temp directory (TMPDIR) of its own to measure."""
    tokens_db = tmp / "tokens.db"
    ts = TokenStore(tokens_db)
    tokens = {r: ts.create(f"{r}-1", r) for r in ("operator", "auditor", "admin")}  # type: ignore[arg-type]
    tokens["operator2"] = ts.create("operator-2", "operator")
    tokens["auditor2"] = ts.create("auditor-2", "auditor")  # a second rate-limit budget
    spool = tmp / "spool"
    spool.mkdir()
    port = free_port()
    log = tmp / "serve.log"
    env = {**os.environ, "TMPDIR": str(spool)}
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "pilotproof.cli", "serve", "--profile", PROFILE,
             "--scenario", scenario, "--store", f"sqlite:{store_db}", "--tokens",
             str(tokens_db), "--key", str(key), "--trust", str(trust), "--work-dir",
             str(tmp / "bundles"), "--port", str(port), *extra],
            stdout=out, stderr=subprocess.STDOUT, text=True, env=env,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{base}/api/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the server did not start: " + log.read_text()
            time.sleep(0.2)
        yield Served(base, process, tokens, spool, tmp / "bundles", port, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


@dataclass
class RawAnswer:
    status: int
    sent: int
    head: bytes


def raw_request(
    port: int,
    method: str,
    path: str,
    headers: dict[str, str],
    body: Iterator[bytes],
    *,
    read_timeout: float = 60.0,
) -> RawAnswer:
    """Send headers, then the body as fast as the server takes it, until the server
    answers or closes; the status and how many body bytes got out."""
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(read_timeout)
    head = f"{method} {path} HTTP/1.1\r\nHost: pilotproof\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    s.sendall(head.encode())
    sent = 0
    answer = b""
    s.setblocking(False)
    try:
        for chunk in body:
            view = memoryview(chunk)
            while view and not answer:
                with contextlib.suppress(BlockingIOError):
                    answer += s.recv(65536)
                try:
                    n = s.send(view)
                    sent += n
                    view = view[n:]
                except BlockingIOError:
                    time.sleep(0.001)
            if answer:  # the server has answered: sending more would only fill buffers
                break
    except (BrokenPipeError, ConnectionResetError):
        pass
    s.setblocking(True)
    s.settimeout(read_timeout)
    try:
        while b"\r\n" not in answer:
            more = s.recv(65536)
            if not more:
                break
            answer += more
    except (ConnectionResetError, TimeoutError):
        pass
    finally:
        s.close()
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0
    return RawAnswer(status, sent, answer.split(b"\r\n\r\n", 1)[0])


def zeros(total: int, chunk: int = 1 << 20) -> Iterator[bytes]:
    block = bytes(chunk)
    for _ in range(total // chunk):
        yield block


def chunked(parts: Iterator[bytes]) -> Iterator[bytes]:
    """HTTP/1.1 chunked transfer coding of `parts`."""
    for p in parts:
        yield f"{len(p):x}\r\n".encode() + p + b"\r\n"
    yield b"0\r\n\r\n"


def multipart(parts: Iterator[bytes], boundary: str = "pp-boundary") -> Iterator[bytes]:
    yield (
        f'--{boundary}\r\nContent-Disposition: form-data; name="bundle"; '
        'filename="b.tar.gz"\r\nContent-Type: application/gzip\r\n\r\n'
    ).encode()
    yield from parts
    yield f"\r\n--{boundary}--\r\n".encode()


def zero_member_bomb(inflated: int) -> bytes:
    """A `.tar.gz` of one member of `inflated` zero bytes, about a thousandth the size:
    gzip members concatenated (every gzip reader takes them as one stream)."""
    info = tarfile.TarInfo("batches/kpi/gw-a/0.lp.gz")
    info.size = inflated
    mib = gzip.compress(bytes(1 << 20), compresslevel=9)
    parts = [gzip.compress(info.tobuf(tarfile.PAX_FORMAT))]
    parts += [mib] * (inflated >> 20)
    parts.append(gzip.compress(bytes(1024)))
    return b"".join(parts)


def many_members(n: int) -> bytes:
    """A `.tar.gz` of `n` empty members."""
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb") as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        for i in range(n):
            tar.addfile(tarfile.TarInfo(f"m/{i}"))
    return buf.getvalue()


@dataclass
class Watch:
    """Polls `/api/health` and the spool folder's size in a thread while an attack runs."""

    served: Served
    health: list[tuple[float, int]] = field(default_factory=list)
    spooled_max: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> Watch:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        with httpx.Client(base_url=self.served.base, timeout=60) as c:
            while not self._stop.is_set():
                t0 = time.perf_counter()
                try:
                    status = c.get("/api/health").status_code
                except httpx.TransportError:
                    status = 0
                self.health.append((time.perf_counter() - t0, status))
                self.spooled_max = max(self.spooled_max, _size(self.served.spool))
                self._stop.wait(0.02)


def _size(folder: Path) -> int:
    total = 0
    for root, _, files in os.walk(folder):
        for f in files:
            with suppress(OSError):
                total += os.stat(os.path.join(root, f)).st_size
    return total


def repack_with_tar(folder: Path, target: Path) -> Path:
    """What an auditor's shell does: `tar -czf target -C folder .`"""
    assert shutil.which("tar"), "tar is needed"
    subprocess.run(["tar", "-czf", str(target), "-C", str(folder), "."], check=True)
    return target
