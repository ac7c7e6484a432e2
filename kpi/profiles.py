"""Named profiles: the programme categories a factory applies under (`data/profiles.yaml`)."""

from __future__ import annotations

from functools import cache

from pydantic import BaseModel, ConfigDict, Field

from kpi.catalog import Catalog, CatalogEntry, _read_yaml, load_catalog
from telemetry.errors import PilotproofError


class Profile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    id: str = Field(description="the name used on the command line, e.g. miit2021-5g-factory")
    catalog: str = Field(description="the catalog profile whose entries it evaluates")
    name_en: str
    aliases: tuple[str, ...] = ()
    exclude: tuple[str, ...] = Field(default=(), description="entries of another variant")

    def entries(self, catalog: Catalog | None = None) -> list[CatalogEntry]:
        catalog = catalog or load_catalog()
        return [e for e in catalog.entries_of(self.catalog) if e.id not in self.exclude]

    @property
    def name_zh(self) -> str:
        return load_catalog().profile(self.catalog).name_zh


class UnknownProfileError(PilotproofError, KeyError):
    code = "E_UNKNOWN_PROFILE"

    def __str__(self) -> str:
        names = ", ".join(p.id for p in list_profiles())
        return f"unknown profile {self.args[0]!r}; `pilotproof kpi list` shows them all: {names}"


@cache
def list_profiles() -> tuple[Profile, ...]:
    profiles = tuple(Profile(**p) for p in _read_yaml("profiles.yaml")["profiles"])
    catalog = load_catalog()
    for p in profiles:
        catalog.profile(p.catalog)  # a typo in profiles.yaml fails here, not at evaluation
        ids = {e.id for e in catalog.entries_of(p.catalog)}
        unknown = set(p.exclude) - ids
        if unknown:
            raise ValueError(f"profile {p.id} excludes unknown entries {sorted(unknown)}")
    return profiles


def get_profile(name: str) -> Profile:
    for p in list_profiles():
        if name == p.id or name in p.aliases or name == p.catalog:
            return p
    raise UnknownProfileError(name)
