"""Browse an OPC UA server and propose the `[[sources.opcua]]` block that reads it.

Variables are found under the Objects folder (namespace 0, the standard's own nodes and
the server's diagnostics, excluded);
each becomes a node entry named by namespace URI, its parent object as the element and
its browse name as the point — a starting point the integrator edits, not a final config.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from asyncua import Node, ua

from collectors.opcua.connect import ClientFactory
from collectors.opcua.settings import OpcUaSource

SERVER_NODE = ua.NodeId(ua.ObjectIds.Server)


@dataclass(frozen=True)
class Found:
    element: str
    point: str
    node: str
    datatype: str


def as_nsu(node_id: ua.NodeId, namespaces: list[str]) -> str:
    """`ns=2;s=x` → `nsu=<uri>;s=x` (namespace 0 stays as it is)."""
    text: str = node_id.to_string()
    if node_id.NamespaceIndex == 0:
        return text
    return re.sub(r"^ns=\d+;", f"nsu={namespaces[node_id.NamespaceIndex]};", text)


async def discover(
    source: OpcUaSource, *, agent_id: str = "discover", max_nodes: int = 2000, max_depth: int = 6
) -> list[Found]:
    """Browse the server `source` points at, connected exactly as the agent would be
    (security, its certificate, the user identity and the trust list of `source`)."""
    found: list[Found] = []
    client = await ClientFactory(source, agent_id).make()
    async with client:
        namespaces = await client.get_namespace_array()

        async def walk(node: Node, parent: str, depth: int) -> None:
            if depth > max_depth or len(found) >= max_nodes:
                return
            for child in await node.get_children():
                # namespace 0 is the OPC UA standard's own (the Server object, a stack's
                # Aliases and Locations folders): not a device's variables
                if child.nodeid == SERVER_NODE or child.nodeid.NamespaceIndex == 0:
                    continue
                cls = await child.read_node_class()
                name = (await child.read_browse_name()).Name
                if cls == ua.NodeClass.Variable:
                    vtype = await child.read_data_type_as_variant_type()
                    found.append(Found(parent, name, as_nsu(child.nodeid, namespaces),
                                       vtype.name))  # fmt: skip
                elif cls == ua.NodeClass.Object:
                    await walk(child, name, depth + 1)

        await walk(client.nodes.objects, "objects", 0)
    return found


def toml_snippet(source: OpcUaSource, found: list[Found]) -> str:
    out = ["[[sources.opcua]]", f'name = "{source.name}"', f'url = "{source.url}"',
           f'security = "{source.security}"          # None | Sign | SignAndEncrypt',
           f'auth = "{source.auth}"']  # fmt: skip
    if source.auth == "username":
        out += [f'username = "{source.username}"', 'password = "…"']
    if source.auth == "certificate":
        out += [f'user_certificate = "{source.user_certificate}"',
                f'user_key = "{source.user_key}"']  # fmt: skip
    if source.security != "None":
        out.append(f'cert_dir = "{source.cert_dir}"')
        if source.trust_dir is not None:
            out.append(f'trust_dir = "{source.trust_dir}"')
    out.append("")
    for f in found:
        out += [
            "  [[sources.opcua.nodes]]",
            f"  element = {_toml(f.element)}",
            f"  point = {_toml(f.point)}          # {f.datatype}",
            f"  node = {_toml(f.node)}",
            "",
        ]
    return "\n".join(out)


def _toml(text: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's)."""
    return json.dumps(text, ensure_ascii=False)
