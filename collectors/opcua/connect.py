"""An asyncua client set up as a source says: security, the agent's certificate, user
identity and the server trust list. The driver and `agent discover` both use it, so a
server that `discover` can browse is one the agent can read."""

from __future__ import annotations

from pathlib import Path

from asyncua import Client, ua
from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256
from asyncua.crypto.uacrypto import CertProperties

from collectors.opcua.identity import load_user_identity
from collectors.opcua.pki import ServerTrust
from collectors.opcua.settings import OpcUaSource
from telemetry.pki import make_certificate


def application_uri(agent_id: str) -> str:
    return f"urn:pilotproof:agent:{agent_id}"


def client_certificate(source: OpcUaSource, agent_id: str) -> tuple[Path, Path]:
    """The agent's own certificate and key for this source (made once in `cert_dir`):
    the file a server's administrator must trust."""
    return make_certificate(
        application_uri(agent_id), "pilotproof-agent", source.cert_dir, client=True
    )


class ClientFactory:
    """Makes a fresh client per connect attempt (asyncua clients are not reusable after a
    lost session). The user identity and trust list are loaded once, at construction, so
    a wrong path fails when the agent starts."""

    def __init__(self, source: OpcUaSource, agent_id: str) -> None:
        self.source = source
        self.agent_id = agent_id
        self.user = (
            load_user_identity(source.user_certificate, source.user_key)
            if source.user_certificate and source.user_key
            else None
        )
        self.trust = (
            ServerTrust(source.name, source.trust_dir, source.cert_dir / "rejected")
            if source.trust_dir
            else None
        )

    async def make(self) -> Client:
        s = self.source
        client = Client(s.url, timeout=s.timeout_s, watchdog_intervall=s.watchdog_s)
        client.application_uri = application_uri(self.agent_id)
        if s.security != "None":
            cert, key = client_certificate(s, self.agent_id)
            await client.set_security(
                SecurityPolicyBasic256Sha256,
                certificate=str(cert),
                private_key=CertProperties(str(key), extension="pem"),
                mode=getattr(ua.MessageSecurityMode, s.security),
            )
            client.certificate_validator = self.trust
        if s.auth == "username":
            client.set_user(s.username or "")
            client.set_password(s.password or "")
        elif self.user is not None:  # auth = "certificate"
            client.user_certificate, client.user_private_key = self.user
        return client
