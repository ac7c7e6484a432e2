"""Bearer tokens with roles, stored hashed.

A token is shown once, when it is created; the file keeps only its SHA-256, so a copy
of the file lets nobody in. Roles: `operator` (read, build evidence), `auditor` (read,
verify bundles), `admin` (everything, and tokens).
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import threading
import time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

Role = Literal["operator", "auditor", "admin"]
ROLES: tuple[Role, ...] = ("operator", "auditor", "admin")

SCHEMA = """
CREATE TABLE IF NOT EXISTS token (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    sha256 TEXT NOT NULL UNIQUE,
    created REAL NOT NULL
);
"""


class TokenInfo(BaseModel):
    name: str = Field(description="who the token is for")
    role: Role = Field(
        description="operator: read, build evidence; auditor: read, verify; admin: all, tokens"
    )
    created: float = Field(description="UNIX time the token was created")


class TokenStore:
    """Tokens in one SQLite file (or in memory for tests)."""

    def __init__(self, path: Path | None = None) -> None:
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            ":memory:" if path is None else path, check_same_thread=False, isolation_level=None
        )
        self._db.executescript(SCHEMA)

    @staticmethod
    def _hash(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    def create(self, name: str, role: Role) -> str:
        """A new token for `name`; the plaintext is returned once and never stored."""
        if role not in ROLES:
            raise ValueError(f"role {role!r}: use one of {', '.join(ROLES)}")
        token = "pp_" + secrets.token_urlsafe(32)
        with self._lock:
            try:
                self._db.execute(
                    "INSERT INTO token (name, role, sha256, created) VALUES (?, ?, ?, ?)",
                    (name, role, self._hash(token), time.time()),
                )
            except sqlite3.IntegrityError:
                raise ValueError(f"a token named {name!r} exists; revoke it first") from None
        return token

    def check(self, token: str) -> TokenInfo | None:
        with self._lock:
            row = self._db.execute(
                "SELECT name, role, created FROM token WHERE sha256 = ?", (self._hash(token),)
            ).fetchone()
        return None if row is None else TokenInfo(name=row[0], role=row[1], created=row[2])

    def list(self) -> list[TokenInfo]:
        with self._lock:
            rows = self._db.execute(
                "SELECT name, role, created FROM token ORDER BY name"
            ).fetchall()
        return [TokenInfo(name=n, role=r, created=c) for n, r, c in rows]

    def revoke(self, name: str) -> bool:
        with self._lock:
            cur = self._db.execute("DELETE FROM token WHERE name = ?", (name,))
        return cur.rowcount > 0
