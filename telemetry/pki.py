"""OPC UA application certificates: self-signed, generated once and kept.

Shared by the simulators' server and the agent's OPC UA client, which both need an
application instance certificate whose subjectAltName carries the application URI.
"""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID


def make_certificate(
    app_uri: str, common_name: str, directory: Path, *, client: bool = False
) -> tuple[Path, Path]:
    """A self-signed application certificate (DER) and key (PEM), generated once and kept."""
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / f"{common_name}.der", directory / f"{common_name}.pem"
    if cert_path.exists() and key_path.exists():
        return cert_path, key_path
    # asyncua's generator writes the extensions OPC UA wants; loaded only to make one
    from asyncua.crypto.cert_gen import (
        dump_private_key_as_pem,
        generate_private_key,
        generate_self_signed_app_certificate,
    )

    key = generate_private_key()
    san: list[x509.GeneralName] = [
        x509.UniformResourceIdentifier(app_uri),
        x509.DNSName(socket.gethostname()),
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    ]
    eku = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
    cert = generate_self_signed_app_certificate(
        key, common_name, {"organizationName": "pilotproof"}, san, [eku], days=3650
    )
    cert_path.write_bytes(cert.public_bytes(Encoding.DER))
    key_path.write_bytes(dump_private_key_as_pem(key))
    key_path.chmod(0o600)
    return cert_path, key_path
