"""OPC UA input: see README.md in this folder and sample.toml.

Importing this package loads the settings only; the driver, `discover` and the trust
list load asyncua when first used (`pilotproof agent check` never does).
"""

from typing import TYPE_CHECKING

from collectors.opcua.identity import load_user_identity, thumbprint
from collectors.opcua.plugin import OPCUA
from collectors.opcua.settings import OpcUaNode, OpcUaSource, check_node_id, node_id_warning
from telemetry.lazy import lazy_exports

if TYPE_CHECKING:
    from collectors.opcua.browse import Found, discover, toml_snippet
    from collectors.opcua.driver import OpcUaDriver, quality, resolve
    from collectors.opcua.pki import ServerTrust

__getattr__ = lazy_exports(
    __name__,
    browse="Found discover toml_snippet",
    driver="OpcUaDriver quality resolve",
    pki="ServerTrust",
)


__all__ = [
    "OPCUA",
    "Found",
    "OpcUaDriver",
    "OpcUaNode",
    "OpcUaSource",
    "ServerTrust",
    "check_node_id",
    "discover",
    "load_user_identity",
    "node_id_warning",
    "quality",
    "resolve",
    "thumbprint",
    "toml_snippet",
]
