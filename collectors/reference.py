"""The site-config reference (docs/site-config.md), generated from the pydantic models so
it cannot drift from what `pilotproof agent check` accepts."""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from collectors.config import (
    AgentSection,
    BufferSection,
    MetricsSection,
    SiteConfig,
    StoreSection,
)
from collectors.plugin import PLUGINS
from collectors.roles import PointRole
from telemetry import Inventory


def sections() -> list[tuple[str, type[BaseModel]]]:
    """Each table of a site file and its model: the agent's, then each driver's (from the
    driver registry) with the tables inside it, then the roles."""
    out: list[tuple[str, type[BaseModel]]] = [
        ("[agent]", AgentSection),
        ("[store]", StoreSection),
        ("[buffer]", BufferSection),
        ("[metrics]", MetricsSection),
        ('[inventory] (or `inventory = "file.yaml"`)', Inventory),
    ]
    for plugin in PLUGINS.values():
        out.append((plugin.table, plugin.settings))
        out += [(f"[[sources.{plugin.name}.{key}]]", model) for key, model in plugin.nested]
    return [*out, ("[[roles]]", PointRole)]


def _models(root: type[BaseModel]) -> dict[str, type[BaseModel]]:
    """Every model reachable from `root`, by class name."""
    seen: dict[str, type[BaseModel]] = {}

    def visit(t: Any) -> None:
        if isinstance(t, type) and issubclass(t, BaseModel):
            if t.__name__ in seen:
                return
            seen[t.__name__] = t
            for f in t.model_fields.values():
                visit(f.annotation)
            return
        for arg in typing.get_args(t):
            visit(arg)

    visit(root)
    return seen


def _type_name(t: Any) -> str:
    origin = typing.get_origin(t)
    if origin is typing.Annotated:  # an id or a checked name: its base type is what one writes
        return _type_name(typing.get_args(t)[0])
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in typing.get_args(t))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(t) if a is not type(None))
    if origin in (tuple, list):
        args = [a for a in typing.get_args(t) if a is not Ellipsis]
        return f"list of {_type_name(args[0])}" if args else "list"
    if origin is dict:
        return "table"
    if isinstance(t, type):
        return t.__name__
    return str(t).replace("typing.", "")


def _default(f: Any) -> str:
    if f.is_required():
        return "**required**"
    d = f.default
    if d is PydanticUndefined:
        return ""
    if isinstance(d, BaseModel):
        return "(defaults)"
    if d in ((), [], None):
        return "—" if d is None else "none"
    return f"`{d}`"


def render_site_config_docs() -> str:
    models = _models(SiteConfig)
    out = [
        "# Site config reference — 站点配置参考",
        "",
        "Generated from the pydantic models in `collectors/config.py`, each driver's",
        "`collectors/<driver>/settings.py` and `telemetry/inventory.py`",
        "by `pilotproof agent docs`; a test fails when this file is stale. A site config is TOML",
        "or YAML; `pilotproof agent check site.toml` validates it and names the file, key and",
        "value of every error. Relative paths are relative to the config file. Samples: each",
        "driver's `collectors/<driver>/sample.toml` and `deploy/site/site.toml`.",
        "",
    ]
    listed: set[str] = set()
    for section, model in sections():
        listed.add(model.__name__)
        out += _table(section, model)
    for name, model in sorted(models.items()):
        if name not in listed and name != "SiteConfig":
            out += _table(f"`{name}` (inside the tables above)", model)
    return "\n".join(out).rstrip() + "\n"


def _table(title: str, model: type[BaseModel]) -> list[str]:
    doc = (model.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
    rows = [f"## {title}", ""]
    if doc:
        rows += [doc, ""]
    rows += ["| key | type | default | meaning |", "|---|---|---|---|"]
    for key, f in model.model_fields.items():
        desc = (f.description or "").replace("|", "\\|").replace("\n", " ")
        rows.append(f"| `{f.alias or key}` | {_type_name(f.annotation)} | {_default(f)} | {desc} |")
    return [*rows, ""]
