"""OPC UA input: see README.md in this folder and sample.toml."""

from collectors.opcua.discover import Found, discover, toml_snippet
from collectors.opcua.driver import OpcUaDriver, quality, resolve
from collectors.opcua.pki import ServerTrust, load_user_identity, thumbprint

__all__ = [
    "Found",
    "OpcUaDriver",
    "ServerTrust",
    "discover",
    "load_user_identity",
    "quality",
    "resolve",
    "thumbprint",
    "toml_snippet",
]
