"""DSSE (Dead Simple Signing Envelope) over Ed25519, on `cryptography` alone.

The signature covers PAE(payloadType, payload) =
`"DSSEv1" SP len(type) SP type SP len(body) SP body`, lengths in bytes, over the raw
payload — never over its base64 text, so a re-encoding (url-safe alphabet, padding)
changes nothing that is signed. `sigstore` cannot verify against a plain pinned public
key, which is what an auditor holds, hence this small module.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from telemetry.errors import PilotproofError
from telemetry.seal import key_id

IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"


class DsseError(PilotproofError, ValueError):
    """An envelope that does not verify; `code` is the verifier's stable error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code)


def pae(payload_type: str, body: bytes) -> bytes:
    """Pre-Authentication Encoding (DSSE protocol v1)."""
    t = payload_type.encode()
    return b"DSSEv1 %d %b %d %b" % (len(t), t, len(body), body)


def b64decode_any(text: str) -> bytes:
    """Standard or url-safe base64, padded or not (DSSE lets signers use either) — but one
    alphabet per string and canonical trailing bits, so each byte string has exactly the
    encodings a re-encoder would write and no silent variants."""
    if ("+" in text or "/" in text) and ("-" in text or "_" in text):
        raise ValueError("mixes the standard and url-safe base64 alphabets")
    s = text.rstrip("=")
    if len(text) - len(s) > 2 or (len(text) != len(s) and len(text) % 4):
        raise ValueError("wrong base64 padding: none, or up to a multiple of 4")
    alt = s.replace("-", "+").replace("_", "/")
    try:
        raw = base64.b64decode(alt + "=" * (-len(alt) % 4), validate=True)
    except binascii.Error as e:
        raise ValueError(f"not base64: {e}") from e
    if base64.b64encode(raw).decode().rstrip("=") != alt:
        raise ValueError("non-canonical base64 (stray bits in the last character)")
    return raw


class Signature(BaseModel):
    # strict: an envelope has no field that could change unnoticed
    model_config = ConfigDict(extra="forbid")
    keyid: str = Field(default="", description="hex SHA-256 of the signer's raw public key")
    sig: str = Field(description="Ed25519 signature over PAE, base64")


class Envelope(BaseModel):
    model_config = ConfigDict(extra="forbid")
    payload: str = Field(description="the statement, base64")
    payloadType: str  # noqa: N815 — the DSSE field name
    signatures: list[Signature] = Field(default_factory=list)

    def payload_bytes(self) -> bytes:
        return b64decode_any(self.payload)

    def canonical(self) -> bytes:
        """JCS, no whitespace: how bundles store it, so no byte of the file is idle."""
        return rfc8785.dumps(self.model_dump())


def sign_envelope(
    body: bytes, key: Ed25519PrivateKey, payload_type: str = IN_TOTO_PAYLOAD_TYPE
) -> Envelope:
    sig = key.sign(pae(payload_type, body))
    return Envelope(
        payload=base64.b64encode(body).decode(),
        payloadType=payload_type,
        signatures=[Signature(keyid=key_id(key.public_key()), sig=base64.b64encode(sig).decode())],
    )


def parse_envelope(data: bytes) -> Envelope:
    try:
        return Envelope.model_validate(json.loads(data))
    except (ValueError, ValidationError) as e:
        raise DsseError("E_ENVELOPE_FORMAT", f"not a DSSE envelope: {e}") from e


def verify_envelope(
    envelope: Envelope,
    trusted: Mapping[str, Ed25519PublicKey],
    payload_type: str = IN_TOTO_PAYLOAD_TYPE,
) -> tuple[bytes, str]:
    """The payload and the id of the trusted key whose signature verifies.

    A signature with a `keyid` is checked against that trusted key only; one without
    (DSSE makes keyid optional) against every trusted key.
    """
    if envelope.payloadType != payload_type:
        raise DsseError(
            "E_ENVELOPE_FORMAT",
            f"payloadType is {envelope.payloadType!r}, expected {payload_type!r}",
        )
    try:
        body = envelope.payload_bytes()
    except ValueError as e:
        raise DsseError("E_ENVELOPE_FORMAT", f"payload: {e}") from e
    if not envelope.signatures:
        raise DsseError("E_ENVELOPE_UNSIGNED", "the envelope carries no signature")
    message = pae(envelope.payloadType, body)
    for s in envelope.signatures:
        try:
            raw = b64decode_any(s.sig)
        except ValueError:
            continue
        if s.keyid and s.keyid not in trusted:
            continue
        candidates = [s.keyid] if s.keyid else list(trusted)
        for kid in candidates:
            try:
                trusted[kid].verify(raw, message)
            except InvalidSignature:
                continue
            return body, kid
    named = ", ".join(s.keyid[:16] or "(no keyid)" for s in envelope.signatures)
    raise DsseError(
        "E_ENVELOPE_SIG",
        f"no signature verifies with a trusted verifier key (signatures by: {named}); "
        'add the bundle signer\'s key to the trusted-keys file with role = "verifier" '
        "if you trust it",
    )
