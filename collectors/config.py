"""The site config (TOML or YAML): who the agent is, where data goes, what it reads.

`pilotproof agent check site.toml` loads it with `load_site_config`, whose errors name the
file, the key path and the value. The agent's own tables are here; each driver's
`[[sources.<name>]]` table is that driver's settings model, found through the driver
registry (`collectors.plugin`). A sample per driver lives next to each driver.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    Field,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

import collectors.installed  # noqa: F401  (registers every driver)
from collectors.plugin import PLUGINS, DriverContext, DriverPlugin, seal_registry
from collectors.roles import PointRole
from collectors.settings import Settings, relative_to
from telemetry import (
    DuckdbConfig,
    Inventory,
    config_from_url,
    describe_validation_error,
    load_inventory,
)
from telemetry.errors import PilotproofError
from telemetry.inventory import Id

S = TypeVar("S", bound=BaseModel)


class AgentSection(Settings):
    id: Id = Field(description="this agent's name, unique per site")
    key: Path = Field(description="Ed25519 private key (PEM); `pilotproof agent keygen` makes one")
    status_interval_s: int | None = Field(
        default=None, ge=1, le=86400,
        description="element_status every … (default: the inventory's status_interval_s, "
        "60 s; the KPIs count intervals of that length, so the two must agree)",
    )  # fmt: skip
    health_interval_s: int = Field(default=900, ge=1, le=86400, description="point_health every …")
    seal_interval_s: float = Field(
        default=2.0, gt=0, le=3600, description="seal pending points every …"
    )
    batch_max_lines: int = Field(default=5000, ge=1, le=100_000)
    sealer: Literal["process", "thread"] = Field(
        default="process",
        description="process: seal and forward in a child process, beside the drivers' "
        "interpreter; thread: in the agent's own process (one-core gateways)",
    )


class StoreSection(Settings):
    url: str = Field(
        description="sqlite:PATH (a relative PATH from the config's folder) or "
        "http://host:8086/?db=NAME"
    )

    @field_validator("url")
    @classmethod
    def _known(cls, v: str) -> str:
        if isinstance(config_from_url(v), DuckdbConfig):  # raises ValueError naming a fault
            raise ValueError(
                f"store URL {v!r}: a DuckDB file admits one process at a time, and the agent's "
                "sealer and `pilotproof serve` each open the store; use sqlite:PATH or InfluxDB "
                "here, and `pilotproof store export` / `store import` into duckdb:PATH to "
                "evaluate a long window on one box"
            )
        return v


class BufferSection(Settings):
    path: Path = Path("pilotproof-buffer.db")
    max_bytes: int = Field(default=1 << 30, ge=1 << 20, description="refuse points beyond this")


class MetricsSection(Settings):
    listen: str | None = Field(default=None, description="host:port of /metrics, e.g. :9108")

    @field_validator("listen")
    @classmethod
    def _host_port(cls, v: str | None) -> str | None:
        if v is None:
            return v
        _, sep, port = v.rpartition(":")
        if not sep or not port.isdigit() or not 1 <= int(port) <= 65535:
            raise ValueError(
                f"listen = {v!r} needs host:port with a port from 1 to 65535, e.g. "
                "'127.0.0.1:9108' (or ':9108' for every address)"
            )
        return v


class SourcesBase(Settings):
    """`[sources]`: a list of tables per registered driver, `[[sources.<driver>]]`."""

    def of(self, plugin: DriverPlugin[S]) -> tuple[S, ...]:
        """The configured sources of one driver."""
        found: tuple[S, ...] = getattr(self, plugin.name)
        return found

    def each(self) -> list[tuple[DriverPlugin[Any], tuple[BaseModel, ...]]]:
        """Every driver with its configured sources (possibly none), in registry order."""
        return [(PLUGINS[name], getattr(self, name)) for name in type(self).model_fields]

    @model_validator(mode="after")
    def _together(self) -> SourcesBase:
        for plugin, sources in self.each():
            if plugin.check_all is not None:
                plugin.check_all(sources)
        return self


def _tuple_of(model: type[BaseModel]) -> Any:
    return tuple[model, ...]  # type: ignore[valid-type]


def _sources_model() -> type[SourcesBase]:
    fields: dict[str, Any] = {
        name: (_tuple_of(p.settings), Field(default=(), description=f"`{p.table}` tables"))
        for name, p in PLUGINS.items()
    }
    model: type[SourcesBase] = create_model("Sources", __base__=SourcesBase, **fields)
    seal_registry()  # a driver registered from now on would have no table: refused
    return model


if TYPE_CHECKING:

    class Sources(SourcesBase):
        """`[sources]`, one field per registered driver (made from the registry)."""

        def __init__(self, **sources: Any) -> None: ...

else:
    Sources = _sources_model()


class SiteConfig(Settings):
    """A site config: who the agent is (`[agent]`), where data goes (`[store]`,
    `[buffer]`), `/metrics` (`[metrics]`), what the site declares (`[inventory]`), what
    the agent reads (`[[sources.<driver>]]`, one field per registered driver) and which
    points feed KPI measurements (`[[roles]]`). Load one with `load_site_config`, which
    takes relative paths from the file's folder; every reference to an element or point
    is checked against the inventory."""

    agent: AgentSection
    store: StoreSection
    buffer: BufferSection = BufferSection()
    metrics: MetricsSection = MetricsSection()
    inventory: Inventory
    sources: Sources = Sources()
    roles: tuple[PointRole, ...] = ()

    @property
    def driver_context(self) -> DriverContext:
        """What every driver gets of the site besides its own settings."""
        return DriverContext(site=self.inventory.site, agent_id=self.agent.id,
                             inventory=self.inventory)  # fmt: skip

    @property
    def status_interval_s(self) -> int:
        """How often the agent writes element_status: the inventory's interval, the one
        the KPIs count."""
        return self.inventory.status_interval_s

    @model_validator(mode="after")
    def _status_interval(self) -> SiteConfig:
        a, inv = self.agent.status_interval_s, self.inventory.status_interval_s
        if a is not None and a != inv:
            raise ValueError(
                f"[agent] status_interval_s = {a} but the inventory's status_interval_s is "
                f"{inv}: the KPIs count status intervals of the inventory's length, so an "
                "element online in every row would count as offline in most. Set "
                "status_interval_s once, in the inventory"
            )
        return self

    @model_validator(mode="after")
    def _references(self) -> SiteConfig:
        declared = {e.id: {p.id for p in e.points} for e in self.inventory.elements}
        refs = [
            (f"sources.{plugin.name}[{getattr(source, 'name', i)}]", element, point)
            for plugin, sources in self.sources.each()
            for i, source in enumerate(sources)
            for element, point in plugin.points_of(source)
        ]
        read_by: dict[tuple[str, str], str] = {}
        for where, element, point in refs:
            other = read_by.setdefault((element, point), where)
            if other is not where:
                raise ValueError(
                    f"{where} reads {element}.{point}, which {other} reads too: one point is "
                    "one series, and two sources writing it would overwrite each other"
                )
        protocols = {(e.id, p.id): p.protocol for e in self.inventory.elements for p in e.points}
        for plugin, sources in self.sources.each():
            for i, source in enumerate(sources):
                for element, point in plugin.points_of(source):
                    said = protocols.get((element, point))
                    if said is not None and said != plugin.name:
                        raise ValueError(
                            f"sources.{plugin.name}[{getattr(source, 'name', i)}] reads "
                            f"{element}.{point}, which the inventory says is read over "
                            f"{said!r}: set its protocol = {plugin.name!r} in the "
                            f"inventory, or read it with a source of the {said} driver"
                        )
        refs += [(f"roles[{r.role}]", r.element, r.point) for r in self.roles]
        for where, element, point in refs:
            if element not in declared:
                raise ValueError(
                    f"{where} reads element {element!r}, which the inventory does not declare"
                )
            if point not in declared[element]:
                raise ValueError(
                    f"{where} reads point {element}.{point}, which the inventory does not declare"
                )
        return self


class SiteConfigError(PilotproofError, ValueError):
    code = "E_SITE_CONFIG"

    pass


def _yaml(text: str) -> Any:
    import yaml  # here, not at import: a site config in TOML never needs it

    from telemetry import yamlfile

    try:
        return yamlfile.load(text)
    except yaml.YAMLError as e:
        raise ValueError(str(e)) from e


def load_site_config(path: Path) -> SiteConfig:
    """Load and validate; relative paths are taken from the config file's folder."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise SiteConfigError(f"{path}: cannot read the site config: {e}") from e
    try:
        raw = tomllib.loads(text) if path.suffix == ".toml" else _yaml(text)
    except ValueError as e:  # TOMLDecodeError, or YAMLError as `_yaml` raises it
        raise SiteConfigError(f"{path}: not valid {path.suffix.lstrip('.') or 'YAML'}: {e}") from e
    if not isinstance(raw, dict):
        raise SiteConfigError(f"{path}: expected a table of sections (agent, store, …)")
    base = path.parent
    inv = raw.get("inventory")
    if isinstance(inv, str):  # `inventory = "inventory.yaml"`: a file of its own
        raw["inventory"] = load_inventory(base / inv).model_dump()
    try:
        config = SiteConfig.model_validate(raw)
    except ValidationError as e:
        raise SiteConfigError(f"{path}: {describe_validation_error(e)}") from e
    store = config.store
    if store.url.startswith("sqlite:") and not store.url.startswith("sqlite://"):
        file = Path(store.url[len("sqlite:") :])
        if not file.is_absolute():
            store = StoreSection(url=f"sqlite:{base / file}")
    return config.model_copy(
        update={
            "store": store,
            "agent": relative_to(base, config.agent, "key"),
            "buffer": relative_to(base, config.buffer, "path"),
            "sources": config.sources.model_copy(
                update={
                    plugin.name: tuple(relative_to(base, s, *plugin.paths) for s in sources)
                    for plugin, sources in config.sources.each()
                    if plugin.paths
                }
            ),
        }
    )
