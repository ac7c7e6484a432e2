"""The element inventory: what a factory declares it has (DESIGN.md, data contract).

KPIs compare what is declared with what was observed. The site config of an agent and
a simulator scenario both produce an `Inventory`; the KPI engine reads one.
"""

from __future__ import annotations

import reprlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from telemetry.errors import PilotproofError
from telemetry.point import Point, PointError
from telemetry.schema import (
    AREA_KINDS,
    BUSINESS_LINKS,
    ELEMENT_KINDS,
    LINKS,
    POINT_CATEGORIES,
    PROTOCOLS,
)

Collection = Literal["auto", "manual"]


def check_category(v: str) -> str:
    """A point category of the contract, or a ValueError listing the allowed ones."""
    if v not in POINT_CATEGORIES:
        raise ValueError(f"unknown point category {v!r}; use one of {sorted(POINT_CATEGORIES)}")
    return v


def check_kind(v: str) -> str:
    if v not in ELEMENT_KINDS:
        raise ValueError(f"unknown element kind {v!r}; use one of {sorted(ELEMENT_KINDS)}")
    return v


def check_business_link(v: str) -> str:
    if v not in BUSINESS_LINKS:
        raise ValueError(f"unknown business link {v!r}; use one of {sorted(BUSINESS_LINKS)}")
    return v


def check_link(v: str) -> str:
    if v not in LINKS:
        raise ValueError(f"unknown link {v!r}; use one of {sorted(LINKS)}")
    return v


def check_id(v: str) -> str:
    """An id that becomes a tag value of stored rows (`element`, `point`, `line`, `site` …):
    line protocol must carry it unchanged — no line break or control character, no
    trailing backslash. Refused here, in the config, rather than when the agent first
    writes a row with it."""
    try:
        Point("pp_id_check", {"id": v}, {"ok": True}, 0)
    except PointError as e:
        raise ValueError(str(e).replace("point 'pp_id_check', key 'id': tag value", "id")) from None
    return v


def check_protocol(v: str) -> str:
    if v not in PROTOCOLS:
        raise ValueError(f"unknown protocol {v!r}; use one of {sorted(PROTOCOLS)}")
    return v


Id = Annotated[str, Field(min_length=1, max_length=256), AfterValidator(check_id)]
ElementKind = Annotated[str, AfterValidator(check_kind)]
LinkName = Annotated[str, AfterValidator(check_link)]
PointCategory = Annotated[str, AfterValidator(check_category)]
BusinessLink = Annotated[str, AfterValidator(check_business_link)]
ProtocolName = Annotated[str, AfterValidator(check_protocol)]


class DeclaredPoint(BaseModel):
    """A data point of an element: sampled automatically, or entered by hand."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)
    id: Id
    category: PointCategory = Field(
        default="equipment", description=f"one of {sorted(POINT_CATEGORIES)}"
    )
    period_s: float = Field(gt=0, le=366 * 86400, description="expected sampling period, seconds")
    collection: Collection = Field(
        default="auto", description="auto: read by a driver; manual: typed in by a person"
    )
    unit: str = ""
    protocol: ProtocolName | None = Field(
        default=None,
        description=f"what the point is read over, one of {sorted(PROTOCOLS)}; a site "
        "config refuses a source of another driver reading it",
    )

    @model_validator(mode="after")
    def _read_by_someone(self) -> DeclaredPoint:
        if self.protocol is not None and self.collection == "manual":
            raise ValueError(
                f"point {self.id!r} is typed in by hand (collection = manual) and read over "
                f"{self.protocol!r}: a manual point has no protocol — drop one of the two"
            )
        return self


class DeclaredElement(BaseModel):
    """A production element (人机料法环) as the factory declares it."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    id: Id
    kind: ElementKind = Field(description=f"one of {sorted(ELEMENT_KINDS)}")
    link: LinkName = Field(description=f"declared network link, one of {sorted(LINKS)}")
    key_equipment: bool = False
    numerically_controlled: bool = False
    scenarios: tuple[Id, ...] = Field(
        default=(),
        description="application scenarios the element serves (e.g. machine-vision-qc): "
        "a scenario counts as live when one of its elements is online",
    )
    extranet: bool = Field(
        default=False,
        description="reaches the enterprise extranet: a remote site's asset, a smart product "
        "in the field, a partner's system (an element on broadband, SDN, SD-WAN or OTN does "
        "by its link)",
    )
    business_links: tuple[BusinessLink, ...] = Field(
        default=(),
        description="business links (环节) whose data the element collects or exchanges: "
        f"{', '.join(sorted(BUSINESS_LINKS))}",
    )
    points: tuple[DeclaredPoint, ...] = ()


class DeclaredLoop(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    id: Id
    element: str = Field(description="the controller (DCS/PLC) element that runs the loop")


def check_area_kind(v: str) -> str:
    if v not in AREA_KINDS:
        raise ValueError(f"unknown area kind {v!r}; use one of {sorted(AREA_KINDS)}")
    return v


AreaKind = Annotated[str, AfterValidator(check_area_kind)]


class DeclaredArea(BaseModel):
    """An area a coverage survey measures (a park's public square, a workshop floor)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    id: Id
    kind: AreaKind = Field(description=f"one of {sorted(AREA_KINDS)}")
    area_m2: int = Field(
        gt=0, le=10**10, description="its size in whole m², which weighs its coverage"
    )


class DeclaredLine(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    id: Id


class Inventory(BaseModel):
    """Everything a site declares: elements with their points, production lines, loops."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    site: Id
    timezone: str = Field(default="Asia/Shanghai", description="zone of 'daily' KPIs")
    status_interval_s: int = Field(
        default=60, ge=1, le=86400, description="how often the agent writes each element's status"
    )
    elements: tuple[DeclaredElement, ...] = ()
    lines: tuple[DeclaredLine, ...] = ()
    loops: tuple[DeclaredLoop, ...] = ()
    identifier_nodes: tuple[str, ...] = ()
    areas: tuple[DeclaredArea, ...] = ()

    @model_validator(mode="after")
    def _unique(self) -> Inventory:
        for name, ids in (
            ("element", [e.id for e in self.elements]),
            ("line", [x.id for x in self.lines]),
            ("loop", [x.id for x in self.loops]),
            ("area", [x.id for x in self.areas]),
        ):
            seen: set[str] = set()
            for i in ids:
                if i in seen:
                    raise ValueError(f"{name} id {i!r} is declared twice")
                seen.add(i)
        return self

    def element(self, element_id: str) -> DeclaredElement:
        for e in self.elements:
            if e.id == element_id:
                return e
        raise KeyError(element_id)


class InventoryError(PilotproofError, ValueError):
    """An inventory file that cannot be used; the message names the file, key and value."""

    code = "E_INVENTORY"


def describe_validation_error(e: ValidationError) -> str:
    """`key.path = value: reason` of the first error, for messages that name the place."""
    err = e.errors()[0]
    msg = str(err["msg"]).removeprefix("Value error, ")
    if not err["loc"]:  # a rule across the whole file: its own message says where
        return msg
    where = ".".join(str(x) for x in err["loc"])
    # a bounded repr: the input may be a whole (huge, or alias-shared) document
    value = _SHORT.repr(err.get("input"))
    if len(value) > 120:
        value = value[:117] + "…"
    return f"{where} = {value}: {msg}"


def _short_repr() -> reprlib.Repr:
    r = reprlib.Repr()
    r.maxlevel, r.maxdict, r.maxlist, r.maxtuple, r.maxstring, r.maxother = 2, 4, 4, 4, 80, 80
    return r


_SHORT = _short_repr()


@contextmanager
def file_errors(
    path: Path, error: type[Exception], what: str, *, syntax: str = "YAML", hint: str = ""
) -> Iterator[None]:
    """Raise what reading and validating the YAML file `path` (`what`) fails with as
    `error`, with a message that names the file, and the key and value at fault."""
    import yaml  # here, not at import: a site config in TOML never needs it

    try:
        yield
    except OSError as e:
        raise error(f"{path}: cannot read {what}: {e}") from e
    except yaml.YAMLError as e:
        raise error(f"{path}: not valid {syntax}: {e}") from e
    except ValidationError as e:
        raise error(f"{path}: {describe_validation_error(e)}{hint}") from e


def parse_inventory(text: str, *, toml: bool, where: str) -> Inventory:
    """An inventory from the text of a YAML, JSON or TOML document: the model itself, or a
    site config's `[inventory]` table. A site config that names its inventory file instead
    is refused here (this reads no file); `load_inventory` follows it for a file on disk.
    Every way the text can be wrong is an InventoryError naming `where`."""
    return _inventory_of(_parsed(text, toml=toml, where=where), where)


def _inventory_of(raw: object, where: str) -> Inventory:
    if isinstance(raw, dict) and "inventory" in raw:
        raw = raw["inventory"]
        if isinstance(raw, str):
            raise InventoryError(
                f"{where}: names its inventory file ({raw[:80]!r}) instead of holding it: "
                "give that file itself"
            )
    try:
        return Inventory.model_validate(raw)
    except ValidationError as e:
        raise InventoryError(f"{where}: {describe_validation_error(e)}") from e
    except (RecursionError, ValueError) as e:  # nesting past the validator's depth
        raise InventoryError(f"{where}: not an inventory: {type(e).__name__}") from e


def _parsed(text: str, *, toml: bool, where: str) -> object:
    import tomllib

    import yaml

    from telemetry import yamlfile

    try:
        return tomllib.loads(text) if toml else yamlfile.load(text)
    except tomllib.TOMLDecodeError as e:
        raise InventoryError(f"{where}: not valid TOML: {e}") from e
    except yaml.YAMLError as e:
        raise InventoryError(f"{where}: not valid YAML or JSON: {e}") from e
    except RecursionError:
        raise InventoryError(f"{where}: nested too deeply to be an inventory") from None
    except ValueError as e:  # a 5,000-digit number, a timestamp with month 13
        raise InventoryError(f"{where}: a value that cannot be read: {str(e)[:120]}") from e


def load_inventory(path: Path, *, _depth: int = 0) -> Inventory:
    """An inventory from YAML, JSON or TOML: the model itself, or under an `inventory` key
    — so a site config (`site.toml`, whose `[inventory]` is the site's, or whose
    `inventory = "file.yaml"` names the file beside it) serves as the inventory too."""
    toml = path.suffix == ".toml"
    with file_errors(
        path, InventoryError, "the inventory", syntax="TOML" if toml else "YAML or JSON"
    ):
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            raise InventoryError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from e
        raw = _parsed(text, toml=toml, where=str(path))
        if isinstance(raw, dict) and isinstance(raw.get("inventory"), str):
            # a site config naming its inventory file, beside it
            if _depth >= 3:
                raise InventoryError(f"{path}: names inventory files more than 3 deep")
            return load_inventory(path.parent / raw["inventory"], _depth=_depth + 1)
        return _inventory_of(raw, str(path))
