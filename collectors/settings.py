"""The base every site-config table derives from, shared by the agent and its drivers."""

from __future__ import annotations

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
