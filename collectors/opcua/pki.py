"""The OPC UA client's certificates beyond its own: a user identity and a server trust list.

A *user certificate* signs in as a person or role (auth = "certificate"), as plants issue
them to operators; it is loaded when the agent starts, so a wrong path or key fails then.

The *trust list* (`trust_dir`) decides which servers the agent talks to. A server whose
certificate is not in it (nor issued by a CA in it), is expired, names another
application URI, or is revoked by a CRL in `<trust_dir>/crl` is refused before a session
is created. Its certificate is saved to `<cert_dir>/rejected/`, so an engineer can check
it and move it into `trust_dir`; the list is read again at every connect attempt, so that
takes effect without a restart — the way UaExpert and most OPC UA stacks keep theirs.
"""

from __future__ import annotations

import logging
from pathlib import Path

from asyncua import ua
from asyncua.common.utils import ServiceError
from asyncua.crypto.truststore import TrustStore
from asyncua.crypto.validator import CertificateValidator, CertificateValidatorOptions
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from collectors.opcua.identity import thumbprint

log = logging.getLogger("pilotproof.opcua")

# the URI check ties the certificate to the server's own application description; key
# usage flags are left out because many real servers' certificates omit some of them
CHECKS = (
    CertificateValidatorOptions.TIME_RANGE
    | CertificateValidatorOptions.URI
    | CertificateValidatorOptions.TRUSTED
    | CertificateValidatorOptions.REVOKED
    | CertificateValidatorOptions.PEER_SERVER
)

REASONS = {
    "BadCertificateUntrusted": "is not in the trust list (nor issued by a CA in it)",
    "BadCertificateTimeInvalid": "has expired or is not valid yet",
    "BadCertificateUriInvalid": "names another application URI than the server's",
    "BadCertificateRevoked": "is revoked by a CRL in the trust list",
    "BadCertificateUseNotAllowed": "is not a server certificate",
    "BadCertificateInvalid": "has no subjectAltName",
}


class ServerTrust:
    """A certificate validator for asyncua's `Client.certificate_validator`."""

    def __init__(self, source_name: str, trust_dir: Path, rejected_dir: Path) -> None:
        self.source_name = source_name
        self.trust_dir = trust_dir
        self.rejected_dir = rejected_dir
        self.refused: dict[str, str] = {}  # thumbprint → reason, reported once each

    async def __call__(self, cert: x509.Certificate, server: ua.ApplicationDescription) -> None:
        crl = self.trust_dir / "crl"
        store = TrustStore([self.trust_dir], [crl] if crl.is_dir() else [])
        await store.load()  # read again each time: a certificate moved in counts at once
        try:
            await CertificateValidator(CHECKS, store).validate(cert, server)
        except ServiceError as e:
            self._refuse(cert, server, ua.StatusCode(e.code).name)
            raise

    def _refuse(self, cert: x509.Certificate, server: ua.ApplicationDescription, why: str) -> None:
        tp = thumbprint(cert)
        self.rejected_dir.mkdir(parents=True, exist_ok=True)
        saved = self.rejected_dir / f"{tp}.der"
        saved.write_bytes(cert.public_bytes(Encoding.DER))
        if self.refused.get(tp) == why:
            return
        self.refused[tp] = why
        advice = (
            f"if it is the right server, move {saved} into {self.trust_dir}"
            if why == "BadCertificateUntrusted"
            else f"saved as {saved}"
        )
        log.error(
            "opcua:%s: server %s refused: its certificate %s (%s) %s (%s); %s",
            self.source_name, server.ApplicationUri, tp, cert.subject.rfc4514_string(),
            REASONS.get(why, "failed the check"), why, advice,
        )  # fmt: skip
