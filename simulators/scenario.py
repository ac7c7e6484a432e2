"""The scenario model: a whole simulated factory in one YAML file.

A scenario says what the factory has (elements with their links, protocols and points),
how it behaves over time (online schedules, faults, production rates, loop modes,
identifier traffic) and which periods matter (baseline, evaluation). Everything the
simulators serve or backfill, and every true KPI value, follows from it
deterministically. The format is documented in docs/scenarios.md.
"""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from telemetry import (
    DeclaredArea,
    DeclaredElement,
    DeclaredLine,
    DeclaredLoop,
    DeclaredPoint,
    Inventory,
    yamlfile,
)
from telemetry.errors import PilotproofError
from telemetry.inventory import AreaKind, BusinessLink, ElementKind, LinkName, PointCategory
from telemetry.modbus import ByteOrder, Table, ValueType
from telemetry.timegrid import NS

Protocol = Literal["opcua", "modbus", "mqtt", "none"]


class ScenarioError(PilotproofError, ValueError):
    """A scenario that cannot be loaded; the message names the file, the key and the value."""

    code = "E_SCENARIO"


def _exact(v: Any) -> Any:
    # Rates are exact fractions: 0.15 in YAML means 15/100, not the nearest binary float.
    if isinstance(v, bool):
        raise ValueError("expected a number, got a boolean")
    if isinstance(v, float | int | str | Decimal):
        try:
            return Fraction(Decimal(str(v)))
        except Exception:
            raise ValueError(f"expected a number, got {v!r}") from None
    return v


Exact = Annotated[
    Fraction,
    BeforeValidator(_exact),
    PlainSerializer(lambda f: str(f), return_type=str),
]


def _ns(d: datetime) -> int:
    if d.tzinfo is None:
        raise ValueError(f"time {d} has no time zone")
    return int((d - datetime(1970, 1, 1, tzinfo=ZoneInfo("UTC"))).total_seconds()) * NS


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class Period(_Model):
    """A half-open time range `[from, to)`; times without an offset are in the scenario's zone."""

    start: datetime = Field(alias="from")
    end: datetime = Field(alias="to")

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        if (self.start.tzinfo is None) == (self.end.tzinfo is None) and self.end <= self.start:
            raise ValueError(f"'to' ({self.end}) must be after 'from' ({self.start})")
        return self

    @property
    def start_ns(self) -> int:
        return _ns(self.start)

    @property
    def end_ns(self) -> int:
        return _ns(self.end)


class DailyWindow(_Model):
    """A window of local time repeated every day, e.g. a nightly maintenance stop."""

    start: time = Field(alias="from")
    end: time = Field(
        alias="to", description="may be earlier than 'from': the window wraps midnight"
    )


class Fault(Period):
    """A point delivers values with a non-good status during the period."""

    status: Literal["bad", "uncertain"] = "bad"


class Signal(_Model):
    """How a value moves: `mean + amplitude*sin(2πt/period) + noise`, or cycles `states`."""

    mean: float = 0.0
    amplitude: float = 0.0
    period_s: float = Field(default=600.0, gt=0)
    noise: float = Field(default=0.0, ge=0)
    states: tuple[str | bool | int, ...] = ()
    state_s: float = Field(default=60.0, gt=0, description="seconds per state when cycling")


class ModbusLocation(_Model):
    table: Table = "holding"
    address: int | None = Field(
        default=None, ge=0, le=65535, description="0-based protocol address; assigned if absent"
    )
    order: ByteOrder = Field(
        default="ABCD",
        description="ABCD big-endian; DCBA little; BADC byte-swapped; CDAB word-swapped",
    )
    registers: int | None = Field(default=None, ge=1, le=123, description="strings: length")
    scale: float = Field(default=1.0, description="register = round(value / scale)")


class PointSpec(_Model):
    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    type: ValueType = "float64"
    unit: str = ""
    period_s: float = Field(default=1.0, gt=0)
    category: PointCategory = "equipment"
    collection: Literal["auto", "manual"] = "auto"
    signal: Signal = Signal()
    faults: tuple[Fault, ...] = ()
    modbus: ModbusLocation | None = None
    role: str | None = Field(
        default=None, description="set by the simulator for generated counter and mode points"
    )


class LinkChange(_Model):
    at: datetime
    link: LinkName


class Schedule(_Model):
    offline: tuple[Period, ...] = ()
    daily_offline: tuple[DailyWindow, ...] = ()


class ElementSpec(_Model):
    """One element, or `count` alike ones whose `id` holds `{n}` (e.g. `agv-{n:03d}`)."""

    id: str = Field(min_length=1)
    count: int = Field(default=1, ge=1, le=100_000)
    kind: ElementKind
    link: LinkName
    protocol: Protocol = "opcua"
    key_equipment: bool = False
    numerically_controlled: bool = False
    ipv6: bool = False
    scenarios: tuple[str, ...] = Field(
        default=(), description="application scenarios the element serves (inventory tags)"
    )
    extranet: bool = Field(default=False, description="reaches the extranet (inventory)")
    business_links: tuple[BusinessLink, ...] = Field(
        default=(), description="business links whose data the element carries"
    )
    rsrp: float | None = Field(default=None, description="dBm, reported for radio links")
    sinr: float | None = Field(default=None, description="dB, reported for radio links")
    modbus_unit: int | None = Field(default=None, ge=1, le=247)
    points: tuple[PointSpec, ...] = ()
    schedule: Schedule = Schedule()
    link_changes: tuple[LinkChange, ...] = ()

    @model_validator(mode="after")
    def _template(self) -> ElementSpec:
        if self.count > 1 and "{n" not in self.id:
            raise ValueError(f"id {self.id!r} needs a '{{n}}' placeholder when count > 1")
        ids = {p.id for p in self.points}
        if len(ids) != len(self.points):
            raise ValueError(f"element {self.id!r} declares a point id twice")
        return self


class Rates(_Model):
    output_per_hour: Exact = Field(description="good and defective units per hour of the period")
    defect_rate: Exact = Field(default=Fraction(0), description="defective units / output")
    energy_kwh_per_hour: Exact = Fraction(0)
    runtime_fraction: Exact = Field(default=Fraction(1), description="share of time running")

    @model_validator(mode="after")
    def _ranges(self) -> Rates:
        for name in ("defect_rate", "runtime_fraction"):
            v = getattr(self, name)
            if not 0 <= v <= 1:
                raise ValueError(f"{name} {float(v)} must be between 0 and 1")
        if self.output_per_hour < 0 or self.energy_kwh_per_hour < 0:
            raise ValueError("rates must not be negative")
        return self


class LineSpec(_Model):
    """A production line; its counters are served as points of `element`."""

    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    element: str = Field(description="the element (PLC, meter) that exposes the line's counters")
    interval_s: int = Field(default=300, ge=1, description="the agent's production interval")
    baseline: Rates
    evaluation: Rates


class LoopSpec(_Model):
    """A DCS control loop; in manual mode for one stretch of each day."""

    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    element: str
    auto_fraction: Exact = Field(description="share of each day in AUTO/CASCADE")
    manual_from: time = Field(
        default=time(8, 0), description="local time the manual stretch starts"
    )

    @field_validator("auto_fraction")
    @classmethod
    def _fraction(cls, v: Fraction) -> Fraction:
        if not 0 <= v <= 1:
            raise ValueError(f"auto_fraction {float(v)} must be between 0 and 1")
        return v


class ProbeSpec(_Model):
    """A prober on the plant network checking one service every `interval_s`; it fails
    during the `down` periods."""

    service: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    target: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.:\-]+$")
    interval_s: int = Field(default=60, ge=1)
    latency_ms: float = Field(default=20.0, ge=0)
    down: tuple[Period, ...] = ()


class ReportSpec(_Model):
    """A daily report uploaded to a platform at `at` local time: `records` a day, an
    empty-data marker on `empty_days`, nothing on `missing_days`."""

    target: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    kind: str = Field(default="daily", min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    at: time = time(1, 0)
    records: int = Field(default=100, ge=0)
    empty_days: tuple[date, ...] = ()
    missing_days: tuple[date, ...] = ()


class SecurityEventSpec(_Model):
    """Security events of one type the detection system logs every `interval_s`, against
    `target`, with their `disposition` (`open`: nothing done yet)."""

    type: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    severity: Literal["info", "low", "medium", "high", "critical"] = "medium"
    target: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    disposition: str = Field(default="blocked", min_length=1)
    interval_s: int = Field(default=3600, ge=60)


class SurveyAreaSpec(_Model):
    """A declared area and the readings a coverage survey took there at `at` (one a
    second, in the order given): `signal_dbm` RSRP on 5G or RSSI on Wi-Fi."""

    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    kind: AreaKind = "public"
    area_m2: int = Field(gt=0)
    tech: Literal["5g", "wifi"] = "5g"
    at: datetime | None = Field(default=None, description="local time; none: no survey here")
    signal_dbm: tuple[float, ...] = ()
    sinr_db: tuple[float, ...] = ()

    @model_validator(mode="after")
    def _readings(self) -> SurveyAreaSpec:
        if self.sinr_db and len(self.sinr_db) != len(self.signal_dbm):
            raise ValueError(f"area {self.id}: give one sinr_db per signal_dbm reading, or none")
        return self


class IdentifierSpec(_Model):
    """Traffic of an identifier-resolution secondary node (标识解析二级节点)."""

    node: str = Field(min_length=1, description="the node's prefix, e.g. 88.118.8")
    element: str = Field(description="the element that exports the node's counts")
    enterprises: int = Field(ge=1, le=100_000)
    resolutions_per_day: int = Field(ge=0)
    registrations_per_day: int = Field(default=0, ge=0)
    interval_s: int = Field(default=300, ge=60)
    daily_profile: tuple[int, ...] = Field(
        default=(1,) * 24, description="24 relative weights, one per local hour"
    )
    no_data_days: tuple[date, ...] = Field(
        default=(), description="local days on which the node exported nothing"
    )

    @field_validator("daily_profile")
    @classmethod
    def _profile(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if len(v) != 24 or min(v) < 0 or sum(v) == 0:
            raise ValueError("daily_profile needs 24 non-negative weights, not all zero")
        return v

    def enterprise_ids(self) -> list[str]:
        return [f"ent-{i:03d}" for i in range(1, self.enterprises + 1)]


class CounterSpec(_Model):
    """One count a platform keeps about itself: `start` at the history's start, growing
    by `per_day` (rounded down to whole units at each export)."""

    start: int = Field(ge=0)
    per_day: Exact = Fraction(0)

    @field_validator("per_day")
    @classmethod
    def _growing(cls, v: Fraction) -> Fraction:
        if v < 0:
            raise ValueError(f"per_day {float(v)} must not be negative")
        return v


class PlatformSpec(_Model):
    """An industrial-internet platform that exports its own counts (registered
    developers, apps deployed, connected factories …) to the agent as `platform_counter`."""

    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    interval_s: int = Field(default=3600, ge=60, description="how often it exports its counts")
    counters: dict[str, CounterSpec] = Field(min_length=1)

    @field_validator("counters")
    @classmethod
    def _names(cls, v: dict[str, CounterSpec]) -> dict[str, CounterSpec]:
        for name in v:
            if not name or not all(c.isalnum() or c in "_.-" for c in name):
                raise ValueError(f"counter name {name!r}: use letters, digits, _ . -")
        return v


class LinkStatusExport(_Model):
    """How link status reaches the agent, as a 5G NMS/CPE export or a gateway would send it."""

    via: Literal["mqtt", "modbus"] = "mqtt"
    topic: str = Field(default="nms/{site}/{element}/status", description="MQTT topic template")
    unit_id: int = Field(default=247, ge=1, le=247, description="Modbus gateway unit id")


class Serving(_Model):
    """Live-serving options (ports 0 = pick free ones)."""

    opcua_security: Literal["none", "sign", "sign_and_encrypt"] = "none"
    opcua_users: dict[str, str] = Field(default_factory=dict, description="username → password")
    modbus_delay_ms: int = Field(default=0, ge=0)
    modbus_exception_rate: Exact = Fraction(0)
    mqtt_malformed_rate: Exact = Fraction(0)
    mqtt_topic: str = "factory/{site}/{element}/telemetry"
    identifier_topic: str = "idnode/{node}/stats"


class Scenario(_Model):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9\-]*$")
    title_zh: str = ""
    title_en: str = ""
    profile: str | None = Field(default=None, description="the KPI profile this factory targets")
    site: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    timezone: str = "Asia/Shanghai"
    seed: int = 1
    status_interval_s: int = Field(default=60, ge=1)
    health_interval_s: int = Field(default=900, ge=1)
    baseline: Period | None = None
    evaluation: Period
    elements: tuple[ElementSpec, ...]
    lines: tuple[LineSpec, ...] = ()
    loops: tuple[LoopSpec, ...] = ()
    identifier: IdentifierSpec | None = None
    platform: PlatformSpec | None = None
    probes: tuple[ProbeSpec, ...] = ()
    reports: tuple[ReportSpec, ...] = ()
    security_events: tuple[SecurityEventSpec, ...] = ()
    survey: tuple[SurveyAreaSpec, ...] = ()
    link_status: LinkStatusExport = LinkStatusExport()
    serving: Serving = Serving()
    declared: dict[str, Exact] = Field(
        default_factory=dict,
        description="values the factory declares rather than measures (e.g. operating cost)",
    )
    _expanded: list[ElementSpec] | None = PrivateAttr(default=None)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except Exception:
            raise ValueError(
                f"unknown time zone {v!r}; use an IANA name like Asia/Shanghai"
            ) from None
        return v

    @model_validator(mode="before")
    @classmethod
    def _localize(cls, data: Any) -> Any:
        """Give zone-less times the scenario's zone (before the models freeze)."""
        if not isinstance(data, dict):
            return data
        try:
            tz = ZoneInfo(str(data.get("timezone", "Asia/Shanghai")))
        except Exception:
            return data

        def walk(v: Any) -> Any:
            if isinstance(v, datetime):
                return v if v.tzinfo is not None else v.replace(tzinfo=tz)
            if isinstance(v, date) and not isinstance(v, datetime):
                return v
            if isinstance(v, dict):
                return {k: walk(x) for k, x in v.items()}
            if isinstance(v, list | tuple):
                return [walk(x) for x in v]
            if isinstance(v, str) and len(v) >= 16 and v[4] == "-" and v[10] in "T ":
                try:
                    d = datetime.fromisoformat(v)
                except ValueError:
                    return v
                return d if d.tzinfo is not None else d.replace(tzinfo=tz)
            return v

        return {
            k: (walk(v) if k not in ("name", "site", "timezone") else v) for k, v in data.items()
        }

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        ids = [e.id for e in self.expanded_elements()]
        seen: set[str] = set()
        for i in ids:
            if i in seen:
                raise ValueError(f"element id {i!r} appears twice")
            seen.add(i)
        if self.health_interval_s % self.status_interval_s:
            raise ValueError(
                f"health_interval_s {self.health_interval_s} must be a multiple of "
                f"status_interval_s {self.status_interval_s}"
            )
        for ref, what in (
            *((x.element, f"line {x.id!r}") for x in self.lines),
            *((x.element, f"loop {x.id!r}") for x in self.loops),
            *(((self.identifier.element, "identifier"),) if self.identifier else ()),
        ):
            if ref not in seen:
                raise ValueError(f"{what} names element {ref!r}, which is not declared")
        if self.lines and self.baseline is None:
            raise ValueError("production lines need a 'baseline' period to compare against")
        return self

    # --- derived views ----------------------------------------------------------------

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def expanded_elements(self) -> list[ElementSpec]:
        """Every element, templates expanded, generated points (counters, modes) added."""
        if self._expanded is not None:
            return self._expanded
        extra: dict[str, list[PointSpec]] = {}
        for line in self.lines:
            extra.setdefault(line.element, []).extend(line_points(line))
        for loop in self.loops:
            extra.setdefault(loop.element, []).append(loop_point(loop))
        if self.identifier is not None:
            extra.setdefault(self.identifier.element, []).extend(identifier_points(self.identifier))
        out: list[ElementSpec] = []
        for spec in self.elements:
            for n in range(1, spec.count + 1):
                eid = spec.id.format(n=n) if spec.count > 1 or "{n" in spec.id else spec.id
                points = (*spec.points, *extra.get(eid, ()))
                out.append(spec.model_copy(update={"id": eid, "count": 1, "points": points}))
        self._expanded = out
        return out

    def element(self, element_id: str) -> ElementSpec:
        for e in self.expanded_elements():
            if e.id == element_id:
                return e
        raise KeyError(element_id)

    def inventory(self) -> Inventory:
        """What the factory declares, in the data contract's terms."""
        return Inventory(
            site=self.site,
            timezone=self.timezone,
            status_interval_s=self.status_interval_s,
            areas=tuple(DeclaredArea(id=a.id, kind=a.kind, area_m2=a.area_m2) for a in self.survey),
            elements=tuple(
                DeclaredElement(
                    id=e.id,
                    kind=e.kind,
                    link=e.link,
                    key_equipment=e.key_equipment,
                    numerically_controlled=e.numerically_controlled,
                    scenarios=e.scenarios,
                    business_links=e.business_links,
                    extranet=e.extranet,
                    points=tuple(
                        DeclaredPoint(
                            id=p.id,
                            category=p.category,
                            period_s=p.period_s,
                            collection=p.collection,
                            unit=p.unit,
                            protocol=(
                                e.protocol
                                if e.protocol != "none" and p.collection == "auto"
                                else None
                            ),
                        )
                        for p in e.points
                    ),
                )
                for e in self.expanded_elements()
            ),
            lines=tuple(DeclaredLine(id=x.id) for x in self.lines),
            loops=tuple(DeclaredLoop(id=x.id, element=x.element) for x in self.loops),
            identifier_nodes=(self.identifier.node,) if self.identifier else (),
        )

    def history(self) -> Period:
        """From the start of the baseline (or evaluation) to the end of evaluation."""
        start = self.baseline.start if self.baseline else self.evaluation.start
        return Period.model_validate({"from": start, "to": self.evaluation.end})


# Generated points: what a PLC, a DCS or a node's export exposes for lines, loops, traffic.
COUNTER_FIELDS: tuple[str, ...] = ("output", "defects", "energy_kwh", "runtime_s")


def line_points(line: LineSpec) -> list[PointSpec]:
    return [
        PointSpec(
            id=f"{line.id}.{f}_total",
            type="uint32",
            unit={"energy_kwh": "kWh", "runtime_s": "s"}.get(f, "pcs"),
            period_s=1.0,
            category="energy" if f == "energy_kwh" else "production",
            role=f"line:{line.id}:{f}",
        )
        for f in COUNTER_FIELDS
    ]


def loop_point(loop: LoopSpec) -> PointSpec:
    return PointSpec(
        id=f"{loop.id}.mode",
        type="uint16",
        unit="0=MAN 1=AUTO",
        period_s=1.0,
        category="process",
        role=f"loop:{loop.id}",
    )


def identifier_points(spec: IdentifierSpec) -> list[PointSpec]:
    return [
        PointSpec(
            id=f"{spec.node}.{f}_total",
            type="uint64",
            unit="count",
            period_s=float(spec.interval_s),
            category="operation",
            role=f"identifier:{spec.node}:{f}",
        )
        for f in ("resolutions", "registrations")
    ]


# --- loading ----------------------------------------------------------------------------


def _line_of(root: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """The 1-based line of the YAML node at a pydantic error location."""
    node = root
    line = None
    for key in loc:
        if node is None:
            break
        line = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if getattr(k, "value", None) == key), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int):
            node = node.value[key] if key < len(node.value) else None
        else:
            node = None
    if node is not None:
        line = node.start_mark.line + 1
    return line


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def parse_scenario(text: str, source: str = "<scenario>") -> Scenario:
    try:
        data = yamlfile.load(text)
        root = yaml.compose(text)
    except yaml.YAMLError as e:
        raise ScenarioError(f"{source}: not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: a scenario is a mapping of keys, got {type(data).__name__}")
    try:
        return Scenario.model_validate(data)
    except ValidationError as e:
        lines = []
        for err in e.errors():
            loc = tuple(
                p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))
            )
            at = _line_of(root, loc)
            where = f"{source}:{at}" if at else source
            value = err.get("input")
            shown = repr(value) if not isinstance(value, dict | list) else type(value).__name__
            lines.append(f"{where}: {_loc(loc)} = {shown[:80]}: {err['msg']}")
        raise ScenarioError("\n".join(lines)) from None


def load_scenario(path: str | Path) -> Scenario:
    """Load a scenario file, or a bundled example by name (see `example_scenarios()`)."""
    p = Path(path)
    if not p.exists() and not p.suffix:
        bundled = EXAMPLES_DIR / f"{p.name}.yaml"
        if bundled.exists():
            p = bundled
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        names = ", ".join(example_scenarios())
        raise ScenarioError(
            f"{path}: cannot read the scenario ({e.strerror}); "
            f"give a file path or one of the examples: {names}"
        ) from None
    return parse_scenario(text, str(p))


EXAMPLES_DIR = Path(__file__).parent / "scenarios"


def example_scenarios() -> list[str]:
    return sorted(p.stem for p in EXAMPLES_DIR.glob("*.yaml"))
