"""Browse an OPC UA server and propose the `[[sources.opcua]]` block that reads it.

Variables are found under the Objects folder (the server's own diagnostics excluded);
each becomes a node entry named by namespace URI, its parent object as the element and
its browse name as the point — a starting point the integrator edits, not a final config.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from asyncua import Client, Node, ua

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


async def discover(url: str, *, max_nodes: int = 2000, max_depth: int = 6) -> list[Found]:
    found: list[Found] = []
    async with Client(url, timeout=10) as client:
        namespaces = await client.get_namespace_array()

        async def walk(node: Node, parent: str, depth: int) -> None:
            if depth > max_depth or len(found) >= max_nodes:
                return
            for child in await node.get_children():
                if child.nodeid == SERVER_NODE:
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


def toml_snippet(url: str, found: list[Found]) -> str:
    out = ["[[sources.opcua]]", 'name = "discovered"', f'url = "{url}"',
           'security = "None"          # Sign / SignAndEncrypt for production', ""]  # fmt: skip
    for f in found:
        out += [
            "  [[sources.opcua.nodes]]",
            f'  element = "{f.element}"',
            f'  point = "{f.point}"          # {f.datatype}',
            f'  node = "{f.node}"',
            "",
        ]
    return "\n".join(out)
