"""securesystemslib (an independent DSSE implementation) verifies our envelopes."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from securesystemslib.dsse import Envelope as SslibEnvelope
from securesystemslib.exceptions import VerificationError
from securesystemslib.signer import SSlibKey

from verifier import key_id, sign_envelope


def _sslib_key(key: Ed25519PrivateKey) -> SSlibKey:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    # securesystemslib matches keys by keyid; ours is the SHA-256 of the raw key
    return SSlibKey(key_id(key.public_key()), "ed25519", "ed25519", {"public": raw.hex()})


def test_securesystemslib_verifies_our_envelope() -> None:
    key = Ed25519PrivateKey.generate()
    body = json.dumps({"_type": "https://in-toto.io/Statement/v1", "subject": []}).encode()
    ours = sign_envelope(body, key)
    theirs = SslibEnvelope.from_dict(json.loads(ours.canonical()))
    accepted = theirs.verify([_sslib_key(key)], 1)
    assert list(accepted) == [key_id(key.public_key())]
    assert theirs.payload == body


def test_securesystemslib_rejects_our_envelope_with_another_payload() -> None:
    key = Ed25519PrivateKey.generate()
    ours = sign_envelope(b"{}", key)
    forged = json.loads(ours.canonical())
    forged["payload"] = sign_envelope(b"[]", key).payload
    with pytest.raises(VerificationError):
        SslibEnvelope.from_dict(forged).verify([_sslib_key(key)], 1)
