"""The driver registry: what the agent, the config loader, `agent check` and the
site-config reference know about each driver, all from one descriptor per driver.

A driver lives in one folder, `collectors/<name>/` — its settings (`settings.py`), its
code, a README, a `sample.toml` — and describes itself with one `DriverPlugin` that its
`plugin.py` passes to `register`. `collectors/installed.py` imports each `plugin.py`:
adding a driver is that folder and one line there. A descriptor imports only pydantic
models; its `build` imports the protocol library when the agent starts the driver, so
`agent check` and the CLI start without loading paho, pymodbus or asyncua.
"""

from __future__ import annotations

import importlib
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel

from telemetry import Inventory

if TYPE_CHECKING:
    from collectors.driver import Driver

S = TypeVar("S", bound=BaseModel)


@dataclass(frozen=True)
class DriverContext:
    """What a driver knows of its site besides its own settings.

    Args:
        site: the site id, the `site` tag of every point.
        agent_id: the agent's name (MQTT client ids, OPC UA application URIs).
        inventory: the declared elements and points; a push driver (MQTT) refuses
            messages for elements the inventory does not declare.
    """

    site: str
    agent_id: str
    inventory: Inventory


def _no_warnings(_source: Any) -> list[str]:
    return []


@dataclass(frozen=True)
class DriverPlugin(Generic[S]):
    """One driver, as the rest of the agent sees it.

    Args:
        name: the key under `[sources]`: a site config lists the driver's sources as
            `[[sources.<name>]]` tables.
        settings: the pydantic model of one such table.
        build: makes the drivers for every configured source of this kind (one list,
            so that sources sharing a resource — a serial bus — can share it). It may
            raise ValueError or OSError naming a file or setting (`agent check` shows it).
        summary: one line for `agent check` about a source: where it reads and how much.
        nested: the tables inside a source, `(key, model)`, for the reference.
        points: the `(element, point)` pairs a source reads, checked against the
            inventory and against the other sources (one point is one series).
            Default: the rows of its `nested` tables that have an `element` and a
            `point` (registers, nodes).
        paths: the settings holding file paths, taken from the config file's folder.
        check_all: validates the sources together (two devices on one serial port);
            raises ValueError.
        warnings: what `agent check` should warn about in a source that is valid but
            risky.
        preflight: what `agent run` checks before it connects, without loading the
            protocol library (user certificates …); raises ValueError or OSError.
            `agent check` runs it, or `build` for a driver that has none.
        quiet: loggers of the protocol library that the agent silences while the
            driver runs: they report, with tracebacks, faults the driver already
            counts and logs (rate-limited) itself.
    """

    name: str
    settings: type[S]
    build: Callable[[Sequence[S], DriverContext], Sequence[Driver]]
    summary: Callable[[S], str]
    nested: tuple[tuple[str, type[BaseModel]], ...] = ()
    points: Callable[[S], Iterable[tuple[str, str]]] | None = None
    paths: tuple[str, ...] = ()
    check_all: Callable[[Sequence[S]], None] | None = None
    warnings: Callable[[S], list[str]] = field(default=_no_warnings)
    preflight: Callable[[Sequence[S]], None] | None = None
    quiet: tuple[str, ...] = ()

    @property
    def table(self) -> str:
        return f"[[sources.{self.name}]]"

    def silence(self) -> None:
        """Silence the `quiet` loggers (the agent does, while the driver runs)."""
        for name in self.quiet:
            logging.getLogger(name).setLevel(logging.CRITICAL)

    def points_of(self, source: S) -> Iterable[tuple[str, str]]:
        """The `(element, point)` pairs `source` reads (see `points`)."""
        if self.points is not None:
            return self.points(source)
        return [
            (row.element, row.point)
            for key, _ in self.nested
            for row in getattr(source, key)
            if hasattr(row, "element") and hasattr(row, "point")
        ]


def settings_only(_sources: Sequence[Any]) -> None:
    """A `preflight` for a driver whose construction cannot fail once its settings have
    validated: nothing to check, and no protocol library to load for `agent check`."""


def each_source(target: str) -> Callable[[Sequence[Any], DriverContext], Sequence[Driver]]:
    """A `build` that makes one driver per source: `target` is `module:Class`, a class
    taking `(settings, context)`, imported only when the agent starts the drivers."""

    def build(sources: Sequence[Any], context: DriverContext) -> Sequence[Driver]:
        module, name = target.split(":")
        cls = getattr(importlib.import_module(module), name)
        return [cls(s, context) for s in sources]

    return build


PLUGINS: dict[str, DriverPlugin[Any]] = {}
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
#: set once the site-config model has its field per registered driver
_sealed = False


def register(plugin: DriverPlugin[S]) -> DriverPlugin[S]:
    """Add a driver to the registry (in its `plugin.py`, at import).

    Raises:
        ValueError: the name is not a lower-case identifier of up to 32 characters, is
            taken (by another driver, or by a method of the `[sources]` model), or the
            site-config model was already built without it.
    """
    name = plugin.name
    if not _NAME.match(name) or hasattr(BaseModel, name) or name in ("of", "each"):
        raise ValueError(
            f"a driver cannot be named {name!r}: use a lower-case identifier (a-z, 0-9, _) "
            "that is not a method of the [sources] table"
        )
    if name in PLUGINS:
        raise ValueError(f"two drivers register as {name!r}")
    if _sealed:
        raise ValueError(
            f"driver {name!r} registered after the site-config model was built without it: "
            "install it under the `pilotproof.drivers` entry point, or import it before "
            "anything reads a site config"
        )
    PLUGINS[name] = plugin
    return plugin


def seal_registry() -> None:
    """The site-config model is built: later registrations are refused (they would have
    no `[[sources.<name>]]` table)."""
    global _sealed
    _sealed = True
