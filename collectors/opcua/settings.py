"""The settings of an OPC UA source: `[[sources.opcua]]` and its nodes."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from collectors.settings import Settings

_NODE_ID = re.compile(
    r"^(?:(?P<ns>ns=\d{1,5});|(?P<nsu>nsu=[^;]+);)?"
    r"(?:i=(?P<i>\d{1,10})|s=(?P<s>.+)|g=(?P<g>[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12})"
    r"|b=(?P<b>[A-Za-z0-9+/]+={0,2}))$",
    re.DOTALL,
)


def check_node_id(node: str) -> str:
    """`node` if it is an OPC UA node id in the text forms `[ns=N;|nsu=URI;](i|s|g|b)=…`;
    raises ValueError naming what is wrong otherwise."""
    m = _NODE_ID.match(node)
    if m is None:
        raise ValueError(
            f"node {node!r} is not an OPC UA node id: write nsu=<namespace URI>;s=<name> "
            "(or i=<number>, g=<GUID>, b=<base64> after the ';'), e.g. "
            "nsu=urn:press-vendor:line;s=Press02.Force"
        )
    if m["ns"] and int(m["ns"][3:]) > 65535:
        raise ValueError(f"node {node!r}: a namespace index is at most 65535")
    if m["i"] and int(m["i"]) > 2**32 - 1:
        raise ValueError(f"node {node!r}: a numeric identifier is at most 4294967295")
    if m["b"]:
        try:
            base64.b64decode(m["b"], validate=True)
        except ValueError:
            raise ValueError(f"node {node!r}: the b= identifier is not base64") from None
    return node


def node_id_warning(node: str) -> str | None:
    """Why a valid node id is risky, if it is: an index-form namespace, or namespace 0."""
    m = _NODE_ID.match(node)
    if m is None or m["nsu"]:
        return None
    if m["ns"] and m["ns"] != "ns=0":
        return (
            f"{node!r} names its namespace by index ({m['ns']}); a server may renumber its "
            "namespaces when it restarts or is reconfigured, and the agent would then read "
            "another variable or none: write nsu=<namespace URI>;… (`pilotproof agent "
            "discover opcua URL` prints them)"
        )
    return (
        f"{node!r} is in namespace 0, the OPC UA standard's own (server diagnostics); a "
        "device's variables are in the vendor's namespace: nsu=<namespace URI>;…"
    )


class OpcUaNode(Settings):
    element: str
    point: str
    node: str = Field(description="nsu=<namespace URI>;s=<id> (survives namespace renumbering)")

    @field_validator("node")
    @classmethod
    def _node_id(cls, v: str) -> str:
        return check_node_id(v)


class OpcUaSource(Settings):
    name: str
    url: str
    security: Literal["None", "Sign", "SignAndEncrypt"] = "None"
    auth: Literal["anonymous", "username", "certificate"] = "anonymous"
    username: str | None = None
    password: str | None = None
    user_certificate: Path | None = Field(
        default=None, description="auth = 'certificate': the user's certificate (DER or PEM)"
    )
    user_key: Path | None = Field(default=None, description="its private key (PEM or DER)")
    cert_dir: Path = Field(default=Path("pki"), description="client certificate, made once")
    trust_dir: Path | None = Field(
        default=None,
        description="trusted server certificates (DER or PEM; a CA certificate trusts what "
        "it issued; CRLs in <trust_dir>/crl); an untrusted server is refused and its "
        "certificate saved to <cert_dir>/rejected. Unset: the certificate a server offers "
        "is accepted",
    )
    mode: Literal["subscription", "poll"] = "subscription"
    sampling_interval_ms: float = Field(default=1000, gt=0, le=3_600_000)
    publishing_interval_ms: float | None = Field(
        default=None, gt=0, le=3_600_000,
        description="how often the server sends what changed (default: the sampling "
        "interval, at most 500 ms: a change then waits half that on average, not half a "
        "second, before it leaves the server)",
    )  # fmt: skip
    queue_size: int = Field(default=10, ge=1)
    deadband: float = Field(
        default=0.0,
        ge=0,
        description="absolute deadband of subscriptions, filtered at the server: a change "
        "smaller than this is not reported (0: every change)",
    )
    nodes_per_subscription: int = Field(default=500, ge=1)
    sessions: int = Field(default=1, ge=1, le=16)
    reconnect_s: float = Field(
        default=2.0, gt=0, description="first wait before reconnecting; doubles up to 60 s"
    )
    watchdog_s: float = Field(
        default=1.0, gt=0, le=60,
        description="read the server's state this often: a lost server is noticed within "
        "about this plus timeout_s, and its elements are offline from the last good read",
    )  # fmt: skip
    timeout_s: float = Field(default=5.0, gt=0, le=120, description="per request")
    nodes: tuple[OpcUaNode, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _auth(self) -> OpcUaSource:
        if self.auth == "username" and not (self.username and self.password):
            raise ValueError("auth = 'username' needs username and password")
        # an accepted-but-ignored setting is a silent failure (a trust list that checks
        # nothing is worse than none): refuse settings that would have no effect
        if self.deadband and self.mode == "poll":
            raise ValueError(
                f"deadband = {self.deadband} needs mode = 'subscription': a poll reads every "
                "value; remove the deadband or subscribe"
            )
        secured = self.security != "None"
        if self.auth == "certificate":
            if not (self.user_certificate and self.user_key):
                raise ValueError("auth = 'certificate' needs user_certificate and user_key")
            if not secured:
                raise ValueError(
                    "auth = 'certificate' needs security = 'Sign' or 'SignAndEncrypt': the "
                    "user token is signed over the server certificate, which a 'None' "
                    "channel does not exchange"
                )
        elif self.user_certificate or self.user_key:
            raise ValueError(
                f"user_certificate/user_key are only used with auth = 'certificate' (auth is "
                f"{self.auth!r}); set auth = 'certificate' or remove them"
            )
        if self.trust_dir is not None and not secured:
            raise ValueError(
                f"trust_dir = {self.trust_dir} needs security = 'Sign' or 'SignAndEncrypt': "
                "with 'None' no server certificate is checked; secure the channel or remove it"
            )
        return self


#: the settings holding file paths (from the config file's folder)
OPCUA_PATHS = ("cert_dir", "trust_dir", "user_certificate", "user_key")
