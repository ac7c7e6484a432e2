"""The in-toto Statement v1 an evidence bundle signs, and its pilotproof predicate.

The statement is serialised with JCS (RFC 8785), so its bytes are a pure function of its
content. Times are strings (RFC 3339 for windows, decimal nanoseconds for batches):
JCS numbers stop at 2**53. Unknown predicate fields are kept and ignored, so a newer
builder's bundle still verifies with an older verifier.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import rfc8785
from pydantic import BaseModel, ConfigDict, Field

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://pilotproof.dev/evidence/kpi/v1"
STATEMENT_FILE = "statement.dsse.json"
RECORDS_FILE = "chain/records.jsonl"
REPORT_FILE = "report.html"


class Subject(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str
    digest: dict[str, str]


class WindowText(BaseModel):
    start: str
    end: str


class ChainHead(BaseModel):
    """What the bundle holds of one agent's KPI-stream chain."""

    model_config = ConfigDict(extra="allow")
    agent: str
    stream: str
    first_seq: int = Field(description="first record in the bundle (the anchor before the window)")
    last_seq: int = Field(description="last record in the bundle (the checkpoint after it)")
    head: str = Field(description="hex SHA-256 of the last record's canonical JSON")
    batches: int = Field(description="batches whose lines are in the bundle")
    lines: int = Field(description="lines in those batches")
    epoch: int | None = Field(
        default=None, description="the chain's epoch (absent: 0, the agent's first chain)"
    )
    ended_by: int | None = Field(
        default=None,
        description="the later epoch that replaced this chain when the agent's buffer was "
        "lost: the chain ends without a checkpoint after the window",
    )


class EpochChange(BaseModel):
    """An agent's chain was restarted (`agent run --new-chain`, after its buffer was lost)
    inside the evidence range: declared, so that a verifier reports it instead of failing."""

    model_config = ConfigDict(extra="allow")
    agent: str
    previous_epoch: int
    previous_last_seq: int = Field(description="the earlier chain's last record")
    previous_last_ns: str = Field(description="its last_ns (the chain's high-water mark)")
    epoch: int
    first_ns: str = Field(description="first_ns of the new chain's first record")


class Software(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str = "pilotproof"
    version: str


class Predicate(BaseModel):
    model_config = ConfigDict(extra="allow")
    profile: str
    site: str
    catalog_digest: str
    window: WindowText
    baseline: WindowText | None = None
    params: dict[str, Any]
    inventory: dict[str, Any]
    declarations: dict[str, Any] | None = None
    verdict: str
    results: list[dict[str, Any]]
    chains: list[ChainHead]
    epoch_changes: list[EpochChange] | None = None
    software: Software
    built_at: str


class Statement(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)
    type: str = Field(default=STATEMENT_TYPE, alias="_type")
    subject: list[Subject]
    predicateType: str = PREDICATE_TYPE  # noqa: N815 — the in-toto field name
    predicate: Predicate

    def canonical(self) -> bytes:
        return rfc8785.dumps(self.model_dump(mode="json", by_alias=True, exclude_none=True))


def batch_path(stream: str, agent: str, seq: int, epoch: int = 0) -> str:
    """Where a batch's lines sit in a bundle; a later epoch's in a folder of its own."""
    if epoch:
        return f"batches/{stream}/{agent}/epoch-{epoch}/{seq}.lp.gz"
    return f"batches/{stream}/{agent}/{seq}.lp.gz"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()
