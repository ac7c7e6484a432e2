"""Sealed batches and the batch chain (DESIGN.md, "Evidence: sealed batches").

An agent groups the canonical lines of a stream into batches; each batch gets a record
`{agent, stream, seq, prev, root, n, first_ns, last_ns}`: `root` is the RFC 9162 Merkle
tree hash over the lines, `prev` the SHA-256 of the previous record's canonical JSON, so a
gap in `seq`, a broken link, an edited line or a bad signature shows to any verifier.
The record is serialised with JCS (RFC 8785, nanosecond times as strings because JCS
numbers stop at 2**53) and signed with the agent's Ed25519 key.
"""

from __future__ import annotations

import base64
import hashlib
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field

from telemetry.merkle import merkle_root
from telemetry.point import Point

#: the hash a chain's first record points back to
GENESIS = "0" * 64

#: the streams of a chain: KPI measurements are low-rate evidence, raw telemetry is bulk
KPI_STREAM = "kpi"
TELEMETRY_STREAM = "telemetry"


def stream_of(point: Point) -> str:
    return TELEMETRY_STREAM if point.measurement == "telemetry" else KPI_STREAM


class BatchRecord(BaseModel):
    """One sealed batch; `sig` is the agent's Ed25519 signature over the other fields (JCS).

    `epoch` numbers the agent's chains: 0 for the first, one more each time an operator
    starts a new chain after the agent's buffer was lost (`agent run --new-chain`). It is
    signed, and left out of the signed body while it is 0 (records sealed before epochs
    existed verify unchanged)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    agent: str
    stream: str
    epoch: int = Field(default=0, ge=0)
    seq: int = Field(ge=0)
    prev: str = Field(description="hex SHA-256 of the previous record's canonical JSON")
    root: str = Field(description="hex RFC 9162 Merkle root over the batch's lines")
    n: int = Field(ge=1)
    first_ns: int
    last_ns: int
    sig: str = Field(default="", description="base64url Ed25519 signature")

    def body(self) -> dict[str, Any]:
        d = self.model_dump(exclude={"sig"} if self.epoch else {"sig", "epoch"})
        d["first_ns"] = str(self.first_ns)
        d["last_ns"] = str(self.last_ns)
        return d

    def canonical(self) -> bytes:
        """JCS of the signed fields (what the signature and the next `prev` cover)."""
        return rfc8785.dumps(self.body())

    def digest(self) -> str:
        return hashlib.sha256(self.canonical()).hexdigest()

    def verify(self, key: Ed25519PublicKey) -> bool:
        try:
            key.verify(_unb64(self.sig), self.canonical())
        except (InvalidSignature, ValueError):
            return False
        return True

    def to_point(self, site: str) -> Point:
        """The `pp_batch` row the store keeps for the auditor's chain check. A later
        epoch's rows carry an `epoch` tag: a series of their own, so a new chain never
        overwrites the rows of an earlier one."""
        return Point(
            "pp_batch",
            {"site": site, "agent": self.agent, "stream": self.stream, **self.epoch_tag()},
            {
                "seq": self.seq,
                "n": self.n,
                "first_ns": str(self.first_ns),
                "last_ns": str(self.last_ns),
                "root": self.root,
                "prev": self.prev,
                "sig": self.sig,
            },
            # one row per record; seq as the time keeps records of one chain distinct
            # and ordered even when two batches share a first sample time
            self.seq,
        )

    def epoch_tag(self) -> dict[str, str]:
        """`{"epoch": "N"}` for a later epoch; nothing for the first (epoch 0)."""
        return {"epoch": str(self.epoch)} if self.epoch else {}


def seal(
    key: Ed25519PrivateKey,
    agent: str,
    stream: str,
    seq: int,
    prev: str,
    lines: Sequence[bytes],
    first_ns: int,
    last_ns: int,
    *,
    epoch: int = 0,
) -> BatchRecord:
    record = BatchRecord(
        agent=agent,
        stream=stream,
        epoch=epoch,
        seq=seq,
        prev=prev,
        root=merkle_root(lines).hex(),
        n=len(lines),
        first_ns=first_ns,
        last_ns=last_ns,
    )
    sig = key.sign(record.canonical())
    return record.model_copy(update={"sig": _b64(sig)})


class Sealer:
    """Seals successive batches of one chain in memory (the backfill and tests use it; the
    agent keeps its chain head in its durable buffer instead).

    `last_ns` of a record is the chain's high-water mark: the latest sample time sealed so
    far, this batch included. It never goes backwards, so a verifier can check the chain's
    times are monotonic even when a batch holds only late samples.
    """

    def __init__(
        self,
        key: Ed25519PrivateKey,
        agent: str,
        stream: str,
        *,
        seq: int = 0,
        prev: str = GENESIS,
        high_water_ns: int = 0,
        epoch: int = 0,
    ) -> None:
        self.key = key
        self.agent = agent
        self.stream = stream
        self.epoch = epoch
        self.seq = seq
        self.prev = prev
        self.high_water_ns = high_water_ns

    def seal(self, lines: Sequence[bytes], times: Sequence[int]) -> BatchRecord:
        self.high_water_ns = max(self.high_water_ns, max(times))
        record = seal(
            self.key,
            self.agent,
            self.stream,
            self.seq,
            self.prev,
            lines,
            min(times),
            self.high_water_ns,
            epoch=self.epoch,
        )
        self.seq += 1
        self.prev = record.digest()
        return record


# --- the archive of a batch's lines in the store ------------------------------------------

#: InfluxDB 1.x truncates string fields past 64 KiB; parts stay well below
ARCHIVE_PART_CHARS = 48_000


def archive_points(record: BatchRecord, lines: Sequence[bytes], site: str) -> list[Point]:
    """The `pp_lines` rows that keep a batch's exact lines in the store.

    The evidence bundle needs the lines exactly as sealed, in their order. Rebuilding them
    from the measurement rows cannot work in general: the store merges duplicates, loses
    arrival order, and two batches can share a sample time. So KPI-stream batches are also
    stored verbatim — zlib, base64, cut into parts — one series per part, at time = seq
    like `pp_batch`.
    """
    data = base64.b64encode(zlib.compress(b"\n".join(lines), 6)).decode()
    chunks = [data[i : i + ARCHIVE_PART_CHARS] for i in range(0, len(data), ARCHIVE_PART_CHARS)]
    return [
        Point(
            "pp_lines",
            {
                "site": site,
                "agent": record.agent,
                "stream": record.stream,
                "part": str(i),
                **record.epoch_tag(),
            },
            {"seq": record.seq, "parts": len(chunks), "data": chunk},
            record.seq,
        )
        for i, chunk in enumerate(chunks)
    ]


def archived_stream(parts: Sequence[str]) -> bytes:
    """The zlib stream of a batch's LF-joined lines, from its `pp_lines` parts in part
    order (`binascii.Error` when they are not base64)."""
    return base64.b64decode("".join(parts), validate=True)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# --- keys ------------------------------------------------------------------------------


def key_id(public: Ed25519PublicKey) -> str:
    """SHA-256 of the raw public key, hex: how keys are named in trust files."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def generate_key(path: Path) -> Ed25519PrivateKey:
    """A new Ed25519 key, written as PKCS#8 PEM readable only by its owner."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=False)
    path.write_bytes(pem)
    path.with_suffix(".pub").write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return key


def load_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError) as e:
        raise ValueError(
            f"{path}: not a readable Ed25519 private key ({e}); create one with "
            "`pilotproof agent keygen`"
        ) from e
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path}: the key is {type(key).__name__}, not Ed25519")
    return key
