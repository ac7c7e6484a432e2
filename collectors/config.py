"""The site config (TOML or YAML): who the agent is, where data goes, what it reads.

`pilotproof agent check site.toml` loads it with `load_site_config`, whose errors name the
file, the key path and the value. A sample per driver lives next to each driver.
"""

from __future__ import annotations

import base64
import re
import tomllib
from pathlib import Path
from typing import Literal, TypeVar

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from telemetry import (
    Inventory,
    config_from_url,
    describe_validation_error,
    load_inventory,
    yamlfile,
)
from telemetry.inventory import Id

Table = Literal["holding", "input", "coil", "discrete"]
ValueType = Literal[
    "bool", "int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64", "string"
]
ByteOrder = Literal["ABCD", "DCBA", "BADC", "CDAB"]
#: registers a numeric value occupies
WIDTH = {"bool": 1, "int16": 1, "uint16": 1, "int32": 2, "uint32": 2, "float32": 2,
         "int64": 4, "uint64": 4, "float64": 4}  # fmt: skip


_M = TypeVar("_M", bound=BaseModel)


class _Model(BaseModel):
    # `inf` and `nan` are valid TOML floats; no interval, scale or timeout means them
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class AgentSection(_Model):
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


class StoreSection(_Model):
    url: str = Field(
        description="sqlite:PATH (a relative PATH from the config's folder) or "
        "http://host:8086/?db=NAME"
    )

    @field_validator("url")
    @classmethod
    def _known(cls, v: str) -> str:
        config_from_url(v)  # raises ValueError naming what is wrong
        return v


class BufferSection(_Model):
    path: Path = Path("pilotproof-buffer.db")
    max_bytes: int = Field(default=1 << 30, ge=1 << 20, description="refuse points beyond this")


class MetricsSection(_Model):
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


#: names a topic level may not capture: they are the fields and keys of a stored row
RESERVED_TOPIC_NAMES = frozenset({"quality", "value", "text", "time", "_measurement", "_field"})
_LEVEL_NAME = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]*)\}$")


def check_topic_template(template: str) -> str:
    """A topic template: levels that are literal text, or exactly one `{name}`. Refused:
    MQTT wildcards (the template makes the filter), a `{name}` inside a level, a name
    twice or a reserved one."""
    if not template or len(template.encode()) > 65535:
        raise ValueError("a topic template must be 1 to 65,535 bytes")
    names: list[str] = []
    for level in template.split("/"):
        m = _LEVEL_NAME.match(level)
        if m:
            names.append(m.group(1))
            continue
        if any(c in level for c in "{}"):
            raise ValueError(
                f"topic {template!r}: level {level!r} mixes text and a {{name}}; a name takes "
                "a whole level (e.g. factory/{element}/telemetry)"
            )
        if any(c in level for c in "+#\0"):
            raise ValueError(
                f"topic {template!r}: level {level!r} holds an MQTT wildcard or NUL; write "
                "{name} for a level that varies (it becomes a tag)"
            )
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"topic {template!r} names {{{dup[0]}}} twice")
    bad = sorted(set(names) & RESERVED_TOPIC_NAMES)
    if bad:
        raise ValueError(
            f"topic {template!r}: {{{bad[0]}}} would be a tag named like a field or key of "
            f"the row; rename it"
        )
    return template


class MqttSubscription(_Model):
    topic: str = Field(
        description="a topic template; {name} parts become tags, e.g. factory/{site}/{element}/x"
    )
    format: Literal["telemetry", "status", "identifier", "line"] = Field(
        default="telemetry",
        description="telemetry: {ts, values, quality}; status: an NMS/CPE link export; "
        "identifier: node counts; line: InfluxDB line protocol",
    )
    fields: tuple[str, ...] = Field(default=(), description="keep only these values (telemetry)")
    time_unit: Literal["s", "ms", "us", "ns"] = "ms"

    @field_validator("topic")
    @classmethod
    def _template(cls, v: str) -> str:
        return check_topic_template(v)

    @model_validator(mode="after")
    def _element(self) -> MqttSubscription:
        if self.format == "telemetry" and "{element}" not in self.topic.split("/"):
            raise ValueError(
                f"topic {self.topic!r}: a telemetry subscription needs an {{element}} level "
                "(the element a message's values belong to)"
            )
        return self


class MqttSource(_Model):
    name: str = "mqtt"
    url: str = Field(description="mqtt://host:1883 or mqtts://host:8883")
    client_id: str | None = Field(default=None, description="default: pilotproof-<agent id>")
    username: str | None = None
    password: str | None = None
    ca_file: Path | None = None
    subscriptions: tuple[MqttSubscription, ...] = Field(min_length=1)


class ModbusRegister(_Model):
    element: str
    point: str
    table: Table = "holding"
    address: int = Field(ge=0, le=65535, description="as documented by the device (see base)")
    type: ValueType = "uint16"
    order: ByteOrder = "ABCD"
    scale: float = 1.0
    offset: float = 0.0
    length: int | None = Field(default=None, ge=1, le=123, description="registers, for strings")

    @model_validator(mode="after")
    def _shape(self) -> ModbusRegister:
        if self.length is not None and self.type != "string":
            raise ValueError(
                f"{self.element}.{self.point}: length = {self.length} only applies to "
                f"type = 'string' (this is {self.type}); remove it"
            )
        if (
            self.table in ("coil", "discrete")
            and "type" in self.model_fields_set
            and (self.type not in ("bool", "uint16"))
        ):
            raise ValueError(
                f"{self.element}.{self.point}: a {self.table} is one bit; use type = 'bool' "
                f"(not {self.type!r}) or a register table"
            )
        return self

    @property
    def width(self) -> int:
        """Registers (or bits) the value occupies."""
        if self.table in ("coil", "discrete"):
            return 1
        if self.type == "string":
            return self.length or 8
        return WIDTH[self.type]


class ModbusDevice(_Model):
    name: str
    host: str | None = Field(default=None, description="Modbus TCP: the device or gateway")
    port: int = Field(default=502, ge=1, le=65535, description="Modbus TCP port")
    serial_port: str | None = Field(
        default=None,
        description="Modbus RTU: the serial device (e.g. /dev/ttyUSB0), instead of host; "
        "devices on one port share the bus, one request at a time",
    )
    baudrate: int = Field(default=9600, ge=300, le=921600, description="RTU line speed")
    parity: Literal["N", "E", "O"] = Field(default="N", description="RTU: none, even, odd")
    bytesize: Literal[7, 8] = 8
    stopbits: Literal[1, 2] = 1
    unit: int = Field(default=1, ge=0, le=255, description="device (unit) id")
    address_base: Literal[0, 1] = Field(
        description="0: addresses are protocol offsets; 1: they count from 1 (as in manuals)"
    )
    interval_s: float = Field(
        default=1.0, ge=0, le=86400,
        description="seconds between polls, at clock-aligned instants; 0 polls back to back",
    )  # fmt: skip
    timeout_s: float = Field(default=2.0, gt=0, le=600)
    retries: int = Field(default=1, ge=0)
    pause_ms: int = Field(default=0, ge=0, description="pause between requests")
    status_elements: tuple[str, ...] = Field(
        default=(), description="elements whose reachability is this device's"
    )
    registers: tuple[ModbusRegister, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _transport(self) -> ModbusDevice:
        if (self.host is None) == (self.serial_port is None):
            raise ValueError(
                "set host (Modbus TCP) or serial_port (Modbus RTU), exactly one of them"
            )
        # a setting that would be ignored is refused; compared with its default (not "was
        # it given") so that a dumped config validates again
        fields = type(self).model_fields
        if self.host is not None:
            ignored = [f for f in SERIAL_LINE if getattr(self, f) != fields[f].default]
            if ignored:
                raise ValueError(
                    f"{', '.join(ignored)} only apply to serial_port (Modbus RTU); this device "
                    f"is Modbus TCP at {self.host}: remove them"
                )
        else:
            if self.port != fields["port"].default:
                raise ValueError(
                    f"port = {self.port} is a TCP port; this device is on serial_port "
                    f"{self.serial_port}: remove it"
                )
            if not 1 <= self.unit <= 247:
                raise ValueError(
                    f"unit = {self.unit}: on a serial bus a device answers only as unit 1 to "
                    "247 (0 is broadcast)"
                )
        return self

    @model_validator(mode="after")
    def _addresses(self) -> ModbusDevice:
        for r in self.registers:
            where = f"register {r.element}.{r.point} ({r.table} {r.address}, {r.type})"
            offset = r.address - self.address_base
            if offset < 0:
                raise ValueError(
                    f"{where}: address {r.address} is below address_base = "
                    f"{self.address_base}; with address_base = 1 the first register is 1"
                )
            if offset + r.width > 65536:
                raise ValueError(
                    f"{where}: spans {r.width} registers from offset {offset}, past the last "
                    "Modbus address 65535; check the address and address_base"
                )
        return self

    @property
    def line(self) -> tuple[int, str, int, int]:
        """The serial line settings every device on the same port must share."""
        return (self.baudrate, self.parity, self.bytesize, self.stopbits)


SERIAL_LINE = ("baudrate", "parity", "bytesize", "stopbits")


_NODE_ID = re.compile(
    r"^(?:(?P<ns>ns=\d{1,5});|(?P<nsu>nsu=[^;]+);)?"
    r"(?:i=(?P<i>\d{1,10})|s=(?P<s>.+)|g=(?P<g>[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12})"
    r"|b=(?P<b>[A-Za-z0-9+/]+={0,2}))$",
    re.DOTALL,
)


def check_node_id(node: str) -> str:
    """`node` if it is an OPC UA node id in the text forms `[ns=N;|nsu=URI;](i|s|g|b)=…`;
    raises ValueError naming what is wrong otherwise."""
    m = _NODE_ID.match(node)
    if m is None:
        raise ValueError(
            f"node {node!r} is not an OPC UA node id: write nsu=<namespace URI>;s=<name> "
            "(or i=<number>, g=<GUID>, b=<base64> after the ';'), e.g. "
            "nsu=urn:press-vendor:line;s=Press02.Force"
        )
    if m["ns"] and int(m["ns"][3:]) > 65535:
        raise ValueError(f"node {node!r}: a namespace index is at most 65535")
    if m["i"] and int(m["i"]) > 2**32 - 1:
        raise ValueError(f"node {node!r}: a numeric identifier is at most 4294967295")
    if m["b"]:
        try:
            base64.b64decode(m["b"], validate=True)
        except ValueError:
            raise ValueError(f"node {node!r}: the b= identifier is not base64") from None
    return node


def node_id_warning(node: str) -> str | None:
    """Why a valid node id is risky, if it is: an index-form namespace, or namespace 0."""
    m = _NODE_ID.match(node)
    if m is None or m["nsu"]:
        return None
    if m["ns"] and m["ns"] != "ns=0":
        return (
            f"{node!r} names its namespace by index ({m['ns']}); a server may renumber its "
            "namespaces when it restarts or is reconfigured, and the agent would then read "
            "another variable or none: write nsu=<namespace URI>;… (`pilotproof agent "
            "discover opcua URL` prints them)"
        )
    return (
        f"{node!r} is in namespace 0, the OPC UA standard's own (server diagnostics); a "
        "device's variables are in the vendor's namespace: nsu=<namespace URI>;…"
    )


class OpcUaNode(_Model):
    element: str
    point: str
    node: str = Field(description="nsu=<namespace URI>;s=<id> (survives namespace renumbering)")

    @field_validator("node")
    @classmethod
    def _node_id(cls, v: str) -> str:
        return check_node_id(v)


class OpcUaSource(_Model):
    name: str
    url: str
    security: Literal["None", "Sign", "SignAndEncrypt"] = "None"
    auth: Literal["anonymous", "username", "certificate"] = "anonymous"
    username: str | None = None
    password: str | None = None
    user_certificate: Path | None = Field(
        default=None, description="auth = 'certificate': the user's certificate (DER or PEM)"
    )
    user_key: Path | None = Field(default=None, description="its private key (PEM or DER)")
    cert_dir: Path = Field(default=Path("pki"), description="client certificate, made once")
    trust_dir: Path | None = Field(
        default=None,
        description="trusted server certificates (DER or PEM; a CA certificate trusts what "
        "it issued; CRLs in <trust_dir>/crl); an untrusted server is refused and its "
        "certificate saved to <cert_dir>/rejected. Unset: the certificate a server offers "
        "is accepted",
    )
    mode: Literal["subscription", "poll"] = "subscription"
    sampling_interval_ms: float = Field(default=1000, gt=0, le=3_600_000)
    queue_size: int = Field(default=10, ge=1)
    deadband: float = Field(
        default=0.0,
        ge=0,
        description="absolute deadband of subscriptions, filtered at the server: a change "
        "smaller than this is not reported (0: every change)",
    )
    nodes_per_subscription: int = Field(default=500, ge=1)
    sessions: int = Field(default=1, ge=1, le=16)
    reconnect_s: float = Field(
        default=2.0, gt=0, description="first wait before reconnecting; doubles up to 60 s"
    )
    watchdog_s: float = Field(
        default=1.0, gt=0, le=60,
        description="read the server's state this often: a lost server is noticed within "
        "about this plus timeout_s, and its elements are offline from the last good read",
    )  # fmt: skip
    timeout_s: float = Field(default=5.0, gt=0, le=120, description="per request")
    nodes: tuple[OpcUaNode, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _auth(self) -> OpcUaSource:
        if self.auth == "username" and not (self.username and self.password):
            raise ValueError("auth = 'username' needs username and password")
        # an accepted-but-ignored setting is a silent failure (a trust list that checks
        # nothing is worse than none): refuse settings that would have no effect
        if self.deadband and self.mode == "poll":
            raise ValueError(
                f"deadband = {self.deadband} needs mode = 'subscription': a poll reads every "
                "value; remove the deadband or subscribe"
            )
        secured = self.security != "None"
        if self.auth == "certificate":
            if not (self.user_certificate and self.user_key):
                raise ValueError("auth = 'certificate' needs user_certificate and user_key")
            if not secured:
                raise ValueError(
                    "auth = 'certificate' needs security = 'Sign' or 'SignAndEncrypt': the "
                    "user token is signed over the server certificate, which a 'None' "
                    "channel does not exchange"
                )
        elif self.user_certificate or self.user_key:
            raise ValueError(
                f"user_certificate/user_key are only used with auth = 'certificate' (auth is "
                f"{self.auth!r}); set auth = 'certificate' or remove them"
            )
        if self.trust_dir is not None and not secured:
            raise ValueError(
                f"trust_dir = {self.trust_dir} needs security = 'Sign' or 'SignAndEncrypt': "
                "with 'None' no server certificate is checked; secure the channel or remove it"
            )
        return self


class PointRole(_Model):
    """A raw point that feeds a KPI measurement, e.g. "this register is line 2's good-part
    counter". Counters are read as running totals; the agent writes the increase per
    status interval (a decrease is a counter reset: the new value is the increase)."""

    element: str
    point: str
    role: Literal[
        "production.output",
        "production.defects",
        "production.energy_kwh",
        "production.runtime_s",
        "control_loop.auto",
        "identifier.resolutions",
        "identifier.registrations",
    ]
    line: str | None = Field(default=None, description="production roles: the line id")
    loop: str | None = Field(default=None, description="control_loop.auto: the loop id")
    node: str | None = Field(default=None, description="identifier roles: the node")
    enterprise: str | None = Field(default=None, description="identifier roles")

    @model_validator(mode="after")
    def _target(self) -> PointRole:
        need = {"production": ("line",), "control_loop": ("loop",),
                "identifier": ("node", "enterprise")}[self.role.split(".")[0]]  # fmt: skip
        missing = [k for k in need if not getattr(self, k)]
        if missing:
            raise ValueError(f"role {self.role!r} needs {' and '.join(missing)}")
        return self


class Sources(_Model):
    mqtt: tuple[MqttSource, ...] = ()
    modbus: tuple[ModbusDevice, ...] = ()
    opcua: tuple[OpcUaSource, ...] = ()

    @model_validator(mode="after")
    def _shared_buses(self) -> Sources:
        first: dict[str, ModbusDevice] = {}
        units: dict[tuple[str, int], ModbusDevice] = {}
        for d in self.modbus:
            if d.serial_port is None:
                continue
            other = first.setdefault(d.serial_port, d)
            if other.line != d.line:
                raise ValueError(
                    f"modbus devices {other.name!r} and {d.name!r} share serial_port "
                    f"{d.serial_port} but not its settings (baudrate, parity, bytesize, "
                    f"stopbits: {other.line} vs {d.line}); one bus has one line setting"
                )
            other = units.setdefault((d.serial_port, d.unit), d)
            if other is not d:
                raise ValueError(
                    f"modbus devices {other.name!r} and {d.name!r} are both unit {d.unit} on "
                    f"serial_port {d.serial_port}; each device on a bus needs its own unit id"
                )
        return self


class SiteConfig(_Model):
    agent: AgentSection
    store: StoreSection
    buffer: BufferSection = BufferSection()
    metrics: MetricsSection = MetricsSection()
    inventory: Inventory
    sources: Sources = Sources()
    roles: tuple[PointRole, ...] = ()

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
        refs = (
            [
                (f"sources.modbus[{d.name}]", r.element, r.point)
                for d in self.sources.modbus
                for r in d.registers
            ]
            + [
                (f"sources.opcua[{s.name}]", n.element, n.point)
                for s in self.sources.opcua
                for n in s.nodes
            ]
            + [(f"roles[{r.role}]", r.element, r.point) for r in self.roles]
        )
        read_by: dict[tuple[str, str], str] = {}
        for where, element, point in refs:
            if where.startswith("roles"):
                continue
            other = read_by.setdefault((element, point), where)
            if other != where or refs.count((where, element, point)) > 1:
                raise ValueError(
                    f"{where} reads {element}.{point}, which {other} reads too: one point is "
                    "one series, and two sources writing it would overwrite each other"
                )
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


OPCUA_PATHS = ("cert_dir", "trust_dir", "user_certificate", "user_key")


class SiteConfigError(ValueError):
    pass


def load_site_config(path: Path) -> SiteConfig:
    """Load and validate; relative paths are taken from the config file's folder."""
    try:
        text = path.read_text(encoding="utf-8")
        raw = tomllib.loads(text) if path.suffix == ".toml" else yamlfile.load(text)
    except OSError as e:
        raise SiteConfigError(f"{path}: cannot read the site config: {e}") from e
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as e:
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
            "agent": _relative_to(base, config.agent, "key"),
            "buffer": _relative_to(base, config.buffer, "path"),
            "sources": config.sources.model_copy(
                update={
                    "mqtt": tuple(_relative_to(base, m, "ca_file") for m in config.sources.mqtt),
                    "opcua": tuple(
                        _relative_to(base, o, *OPCUA_PATHS) for o in config.sources.opcua
                    ),
                }
            ),
        }
    )


def _relative_to(base: Path, model: _M, *fields: str) -> _M:
    """`model` with its path `fields` taken from `base` (the config file's folder)."""
    update = {f: base / v for f in fields if isinstance(v := getattr(model, f), Path)}
    return model.model_copy(update=update)
