"""Keys: Ed25519 key pairs, key ids, and the auditor's trusted-keys file.

A key id is the SHA-256 of the raw 32-byte public key, in hex. The trusted-keys file
(TOML) names every key an auditor accepts and what it may sign:

```toml
[[key]]
name = "gw-01"            # for an agent: its `agent.id` from the site config
role = "agent"            # agent: signs batch records; verifier: signs evidence bundles
public_key = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="   # raw key, base64
key_id = "…"              # optional; checked against public_key when given
site = "ningbo-plant-1"   # agents, optional: bundles of this site must carry its chain
```
"""

from __future__ import annotations

import base64
import binascii
import tomllib
from pathlib import Path
from typing import Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from telemetry import describe_validation_error
from telemetry.errors import PilotproofError
from telemetry.seal import generate_key, key_id, load_key

KeyRole = Literal["agent", "verifier"]

__all__ = [
    "KeyRole",
    "TrustError",
    "TrustedKey",
    "TrustedKeys",
    "generate_key",
    "key_id",
    "load_key",
    "load_public_key",
    "load_trust",
    "public_key_text",
    "trust_entry",
]


class TrustError(PilotproofError, ValueError):
    """A trusted-keys file that cannot be used; the message names the file and the key."""

    code = "E_TRUST"


def public_key_text(public: Ed25519PublicKey) -> str:
    """The raw public key in standard base64 — how keys are written in trust files."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def _public_from_text(text: str) -> Ed25519PublicKey:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except binascii.Error as e:
        raise ValueError(f"not base64 ({e})") from e
    if len(raw) != 32:
        raise ValueError(f"an Ed25519 public key is 32 bytes, this one is {len(raw)}")
    return Ed25519PublicKey.from_public_bytes(raw)


class TrustedKey(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str = Field(min_length=1, description="agent id, or the bundle signer's name")
    role: KeyRole
    public_key: str = Field(description="raw Ed25519 public key, base64")
    key_id: str | None = Field(default=None, description="SHA-256 of the raw key, hex")
    site: str | None = Field(
        default=None,
        description="agents: the site the agent serves; a bundle of that site must then "
        "carry this agent's chain, so a whole agent cannot be left out",
    )

    @field_validator("public_key")
    @classmethod
    def _parses(cls, v: str) -> str:
        _public_from_text(v)
        return v.strip()

    def public(self) -> Ed25519PublicKey:
        return _public_from_text(self.public_key)

    def id(self) -> str:
        return key_id(self.public())


class TrustedKeys(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    key: list[TrustedKey] = Field(default_factory=list)

    def agent_keys(self, agent: str) -> list[Ed25519PublicKey]:
        """Every key trusted for `agent` (several while a key is being rotated)."""
        return [k.public() for k in self.key if k.role == "agent" and k.name == agent]

    def site_agents(self, site: str) -> set[str]:
        """The agents pinned to `site`: each must have a chain in that site's bundles."""
        return {k.name for k in self.key if k.role == "agent" and k.site == site}

    def verifier_keys(self) -> dict[str, Ed25519PublicKey]:
        """Bundle-signing keys by key id."""
        return {k.id(): k.public() for k in self.key if k.role == "verifier"}


def load_trust(path: Path) -> TrustedKeys:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise TrustError(f"{path}: cannot read the trusted-keys file: {e}") from e
    except tomllib.TOMLDecodeError as e:
        raise TrustError(f"{path}: not valid TOML: {e}") from e
    try:
        trust = TrustedKeys.model_validate(raw)
    except ValidationError as e:
        raise TrustError(
            f"{path}: {describe_validation_error(e)}. Each [[key]] needs name, role "
            "(agent or verifier) and public_key (print one with `pilotproof keys show KEY`)"
        ) from e
    for i, k in enumerate(trust.key):
        if k.key_id is not None and k.key_id != k.id():
            raise TrustError(
                f"{path}: key[{i}] ({k.name}): key_id {k.key_id} does not match its "
                f"public_key, whose id is {k.id()}"
            )
    return trust


def load_public_key(path: Path) -> Ed25519PublicKey:
    """A public key from a private key file, a `.pub` PEM file, or a base64 raw key file."""
    data = path.read_bytes()
    if b"PRIVATE KEY" in data:
        return load_key(path).public_key()
    if b"PUBLIC KEY" in data:
        key = serialization.load_pem_public_key(data)
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError(f"{path}: the key is {type(key).__name__}, not Ed25519")
        return key
    try:
        return _public_from_text(data.decode())
    except (ValueError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not an Ed25519 key file ({e})") from e


def trust_entry(
    name: str, role: KeyRole, public: Ed25519PublicKey, *, site: str | None = None
) -> str:
    """A `[[key]]` block to paste into a trusted-keys file."""
    return (
        "[[key]]\n"
        f'name = "{name}"\n'
        f'role = "{role}"\n'
        f'public_key = "{public_key_text(public)}"\n'
        f'key_id = "{key_id(public)}"\n' + (f'site = "{site}"\n' if site else "")
    )
