"""The base every site-config table derives from, shared by the agent and its drivers."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ConfigDict


class Settings(BaseModel):
    """A table of the site config: unknown keys are refused (a misspelt key would be
    ignored otherwise), values are immutable, and `inf`/`nan` — valid TOML floats — are
    refused (no interval, scale or timeout means them)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


M = TypeVar("M", bound=BaseModel)


def relative_to(base: Path, model: M, *fields: str) -> M:
    """`model` with its path `fields` taken from `base` (the config file's folder)."""
    update = {f: base / v for f in fields if isinstance(v := getattr(model, f), Path)}
    return model.model_copy(update=update)


def unwritable(path: Path) -> str | None:
    """Why the agent could not create or write `path`, or None. Under systemd's
    `ProtectSystem=strict` only `ReadWritePaths` (/var/lib/pilotproof) are writable: a
    relative path in a config in /etc resolves under /etc, which is not."""
    if path.exists():
        return None if os.access(path, os.W_OK) else "exists but is not writable by this user"
    folder = path.parent
    while not folder.exists():
        folder = folder.parent
    if not os.access(folder, os.W_OK | os.X_OK):
        return (
            f"cannot be created: {folder} is not writable by this user (a service with "
            "ProtectSystem=strict may write only its ReadWritePaths, e.g. /var/lib/pilotproof: "
            "use an absolute path there)"
        )
    return None
