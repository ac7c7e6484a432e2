"""YAML for people's config files, read with YAML 1.2's rules for numbers.

PyYAML follows YAML 1.1, where `0100` is octal (64) and `on`, `yes`, `no` are booleans: a
Modbus address written `address: 0100` in a site config would silently read register 64.
`load` reads integers as YAML 1.2 does — decimal, with `0o` and `0x` for octal and hex —
and leaves `on`/`off`/`yes`/`no` as the strings they look like.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from telemetry.errors import PilotproofError


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 core-schema integers and booleans."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers
            if tag not in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:bool")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}  # fmt: skip
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"),
    list("-+0123456789"),
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    text = str(loader.construct_scalar(node))
    if text.startswith("0o"):
        return int(text[2:], 8)
    if text.startswith("0x"):
        return int(text[2:], 16)
    return int(text, 10)


_Loader.add_constructor("tag:yaml.org,2002:int", _int)


#: nodes a document may expand to through its aliases: a config file has thousands, a
#: "billion laughs" of 500 bytes has 10^9 and would take every validator down with it
MAX_NODES = 1_000_000


class YamlBombError(yaml.YAMLError, PilotproofError):
    """The document expands, through its aliases, past `MAX_NODES` nodes."""

    code = "E_YAML_BOMB"


def _expanded(root: yaml.Node) -> int:
    """Nodes the document counts once every alias is expanded (each node counted once
    per path to it, computed without expanding: memoised on the shared nodes)."""
    sizes: dict[int, int] = {}
    order: list[yaml.Node] = []
    stack: list[yaml.Node] = [root]
    while stack:  # iteratively: a deeply nested document must not hit the recursion limit
        node = stack.pop()
        if id(node) in sizes:
            continue
        sizes[id(node)] = -1
        order.append(node)
        stack.extend(_children(node))
    for node in reversed(order):
        sizes[id(node)] = min(MAX_NODES + 1, 1 + sum(max(sizes[id(c)], 0)
                                                     for c in _children(node)))  # fmt: skip
    return sizes[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [x for pair in node.value for x in pair]
    return []


def load(text: str) -> Any:
    """The YAML document in `text` (a mapping, list or scalar), YAML 1.2 numbers.

    Raises YamlBombError for a document whose aliases expand it past `MAX_NODES` nodes."""
    loader = _Loader(text)  # a SafeLoader: builds no Python objects
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded(node) > MAX_NODES:
            raise YamlBombError(
                f"the document expands through its aliases (&anchor / *alias) to more than "
                f"{MAX_NODES:,} values; write it out, or use fewer aliases"
            )
        return loader.construct_document(node)
    finally:
        loader.dispose()
