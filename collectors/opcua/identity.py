"""An OPC UA user identity (auth = "certificate"): the user certificate and its key,
loaded and matched without asyncua, so `agent check` finds a wrong file fast."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey


def _pem(data: bytes) -> bool:
    return data.lstrip().startswith(b"-----BEGIN")


def load_user_identity(certificate: Path, key: Path) -> tuple[x509.Certificate, RSAPrivateKey]:
    """The user certificate and its RSA private key (each DER or PEM), checked to match."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
    from cryptography.hazmat.primitives.serialization import (
        load_der_private_key,
        load_pem_private_key,
    )

    try:
        raw = certificate.read_bytes()
        cert = (
            x509.load_pem_x509_certificate(raw)
            if _pem(raw)
            else x509.load_der_x509_certificate(raw)
        )
    except (OSError, ValueError) as e:
        raise ValueError(f"user_certificate {certificate}: not a readable certificate: {e}") from e
    try:
        raw = key.read_bytes()
        private = load_pem_private_key(raw, None) if _pem(raw) else load_der_private_key(raw, None)
    except (OSError, ValueError, TypeError) as e:
        raise ValueError(f"user_key {key}: not a readable, unencrypted private key: {e}") from e
    if not isinstance(private, RSAPrivateKey):
        raise ValueError(f"user_key {key}: OPC UA Basic256Sha256 needs an RSA key")
    if private.public_key().public_numbers() != cert.public_key().public_numbers():  # type: ignore[union-attr]
        raise ValueError(f"user_key {key} does not belong to user_certificate {certificate}")
    return cert, private


def thumbprint(cert: x509.Certificate) -> str:
    """SHA-1 of the DER certificate, as OPC UA tools show and name files by it."""
    from cryptography.hazmat.primitives.serialization import Encoding

    return hashlib.sha1(cert.public_bytes(Encoding.DER)).hexdigest()
