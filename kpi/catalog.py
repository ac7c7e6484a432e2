"""The catalog: every indicator of the five source documents, with the clause it comes from.

`data/catalog.yaml` is the shared catalog, copied verbatim (its quotes are exact
substrings of `data/seeds/*.txt` once line breaks are removed; a test checks that).
`data/measures.yaml` says which entries pilotproof measures, by which method, with an
English gloss of each clause. Everything else is a declared-evidence item.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from fractions import Fraction
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

Kind = Literal["indicator", "composite", "qualitative", "administrative", "program_target"]
Comparator = Literal[">=", ">", "<=", "==", "at_least_k_of"]

DATA_DIR = Path(str(resources.files("kpi") / "data"))
SEEDS_DIR = DATA_DIR / "seeds"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Source(_Frozen):
    file: str
    section: str
    quote: str = Field(description="verbatim Chinese text of the clause (as printed, OCR kept)")


class SourceDocument(_Frozen):
    file: str
    title: str
    issuer: str
    year: int | None


class CatalogProfile(_Frozen):
    id: str
    name_zh: str
    description: str
    source_file: str
    section: str
    entry_count: int


def exact(value: object) -> Fraction | bool | None:
    """A catalog number as an exact Fraction (0.2 is 1/5, not the nearest binary float)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, float):
        return Fraction(Decimal(repr(value)))
    raise ValueError(f"threshold {value!r} is neither a number nor a boolean")


class CatalogEntry(_Frozen):
    id: str
    profile: str
    kind: Kind
    name_zh: str
    name_en: str
    formula: str
    comparator: Comparator
    threshold: Fraction | bool | None
    unit: str | None = None
    window: str | None = None
    measurable_from_telemetry: bool = False
    telemetry_needed: str | None = None
    condition: str | None = None
    optional: bool = False
    threshold_interpreted: bool = False
    components: tuple[str, ...] = ()
    options: tuple[str, ...] = ()
    source: Source
    ocr_corrected_quote: str | None = Field(
        default=None, description="the quote as it should read where the OCR garbled it"
    )
    note: str | None = None

    @field_validator("threshold", mode="before")
    @classmethod
    def _exact(cls, v: object) -> Fraction | bool | None:
        return exact(v)

    @field_validator("components", "options", mode="before")
    @classmethod
    def _none_is_empty(cls, v: object) -> object:
        return () if v is None else v

    @property
    def key(self) -> tuple[str, str]:
        return (self.profile, self.id)

    def threshold_text(self) -> str:
        """The rule for people: `>= 20 %`, `> 100`, `≥ 2 of 5`, `== true`."""
        t = self.threshold
        if t is None:
            return "—"
        if isinstance(t, bool):
            return f"{self.comparator} {str(t).lower()}"
        if self.comparator == "at_least_k_of":
            return f"≥ {t} of {len(self.components) or len(self.options)}"
        if (self.unit or "").startswith("ratio"):
            return f"{self.comparator} {float(t) * 100:g} %"
        return f"{self.comparator} {int(t):,}" if t.denominator == 1 else f"{self.comparator} {t}"


class ProfileOverride(_Frozen):
    params: dict[str, Any] = Field(default_factory=dict)
    gloss: str | None = None
    formula: str | None = None


class MethodBinding(_Frozen):
    """How pilotproof measures one catalog indicator."""

    method: str
    params: dict[str, Any] = Field(default_factory=dict)
    gloss: str = Field(description="English gloss of the Chinese clause")
    formula: str = Field(description="the formula pilotproof computes, in words")
    needs_baseline: bool = False
    measurements: tuple[str, ...] = ()
    cadence: Literal["hour", "day", "event"] | None = Field(
        default=None,
        description="the cadence its data coverage is counted at, where the clause's own "
        "differs from the measurement's (monitoring feeds refreshed daily)",
    )
    profiles: dict[str, ProfileOverride] = Field(
        default_factory=dict, description="per-profile overrides of params, formula, gloss"
    )

    def for_profile(self, profile: str) -> MethodBinding:
        """This binding with the profile's overrides applied."""
        o = self.profiles.get(profile)
        if o is None:
            return self
        return self.model_copy(
            update={
                "params": {**self.params, **o.params},
                "gloss": o.gloss or self.gloss,
                "formula": o.formula or self.formula,
                "profiles": {},
            }
        )


class Catalog(_Frozen):
    title: str
    version: str
    sources: tuple[SourceDocument, ...]
    profiles: tuple[CatalogProfile, ...]
    entries: tuple[CatalogEntry, ...]
    measures: dict[str, MethodBinding]
    declared_reasons: dict[str, str] = Field(
        default_factory=dict,
        description="measurable-looking ids that stay declared: why telemetry cannot show them",
    )
    not_measured_yet: dict[str, str] = Field(
        default_factory=dict,
        description="ids telemetry could show but the contract does not carry yet: what data would",
    )

    def profile(self, profile_id: str) -> CatalogProfile:
        for p in self.profiles:
            if p.id == profile_id:
                return p
        raise KeyError(profile_id)

    def entries_of(self, profile_id: str) -> list[CatalogEntry]:
        return [e for e in self.entries if e.profile == profile_id]

    def entry(self, profile_id: str, entry_id: str) -> CatalogEntry:
        for e in self.entries:
            if e.profile == profile_id and e.id == entry_id:
                return e
        raise KeyError((profile_id, entry_id))

    def binding(self, entry: CatalogEntry) -> MethodBinding | None:
        """The measuring method of an entry (profile overrides applied), if measured."""
        b = self.measures.get(entry.id) if _bindable(entry) else None
        return None if b is None else b.for_profile(entry.profile)

    def source_document(self, file: str) -> SourceDocument:
        for s in self.sources:
            if s.file == file:
                return s
        raise KeyError(file)


def _bindable(entry: CatalogEntry) -> bool:
    """Indicators, qualitative clauses, and the composites that count a clause's options
    (technologies, business links) rather than other entries."""
    return entry.kind in ("indicator", "qualitative") or (
        entry.kind == "composite" and not entry.components
    )


#: libyaml's parser where PyYAML has it (its wheels do): the catalog is ~10,000 lines and
#: the pure-Python parser took a second of every `kpi` command to read it
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _read_yaml(name: str) -> Any:
    with (DATA_DIR / name).open(encoding="utf-8") as f:
        return yaml.load(f, Loader=_LOADER)  # a safe loader: builds no Python objects


@cache
def load_catalog() -> Catalog:
    raw = _read_yaml("catalog.yaml")
    bindings = _read_yaml("measures.yaml")
    measures = bindings["measures"]
    head = raw["catalog"]
    return Catalog(
        title=head["title"],
        version=str(head["version"]),
        sources=tuple(SourceDocument(**s) for s in head["sources"]),
        profiles=tuple(CatalogProfile(**p) for p in raw["profiles"]),
        entries=tuple(CatalogEntry(**e) for e in raw["entries"]),
        measures={k: MethodBinding(**v) for k, v in measures.items()},
        declared_reasons=dict(bindings.get("declared") or {}),
        not_measured_yet=dict(bindings.get("not_measured_yet") or {}),
    )


def seed_text(file: str) -> str:
    """A source document's text with line breaks removed (how the quotes were taken)."""
    text = (SEEDS_DIR / file).read_text(encoding="utf-8")
    return text.replace("\r", "").replace("\n", "")


def catalog_digest() -> str:
    """SHA-256 over the catalog, the method bindings and the profiles: what an evidence
    bundle pins so a verifier knows it recomputes with the same definitions."""
    h = hashlib.sha256()
    for name in ("catalog.yaml", "measures.yaml", "profiles.yaml"):
        data = (DATA_DIR / name).read_bytes()
        h.update(f"{name}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()
