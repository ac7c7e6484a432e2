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


def load(text: str) -> Any:
    """The YAML document in `text` (a mapping, list or scalar), YAML 1.2 numbers."""
    return yaml.load(text, Loader=_Loader)  # a SafeLoader: builds no Python objects
