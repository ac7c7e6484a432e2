"""The measurements of the data contract (DESIGN.md, "The data contract").

Collectors write them and KPIs read them; a name used in a query must come from here.
"""

from __future__ import annotations

from typing import Final, Literal

from pydantic import BaseModel, ConfigDict

TAG_SITE: Final = "site"


class Measurement(BaseModel):
    """One measurement of the contract: its tags, its fields with their types, its purpose."""

    model_config = ConfigDict(frozen=True)

    name: str
    tags: tuple[str, ...]
    fields: dict[str, str]
    """field name → type (`float`, `int`, `bool`, `str`)."""
    optional_fields: tuple[str, ...] = ()
    purpose: str
    cadence: Literal["hour", "day", "event"] = "hour"
    """How often a source that works writes it: every hour or more often, once a local day
    (a daily report), or when something happens (a security event, a coverage survey).
    A KPI's data coverage is counted in these units — no daily report is "missing" at
    3 a.m., and a quiet hour without a security event is no gap."""


ELEMENT_STATUS: Final = Measurement(
    name="element_status",
    tags=(TAG_SITE, "element", "kind", "link"),
    fields={"online": "bool", "rsrp": "float", "sinr": "float", "ipv6": "bool"},
    optional_fields=("rsrp", "sinr", "ipv6"),
    purpose="5G networking share, connected-element counts, coverage, IPv6",
)
POINT_HEALTH: Final = Measurement(
    name="point_health",
    tags=(TAG_SITE, "element", "point"),
    fields={"expected": "int", "received": "int", "good": "int"},
    purpose="automatic data collection rate",
)
TELEMETRY: Final = Measurement(
    name="telemetry",
    tags=(TAG_SITE, "element", "point"),
    # `text` carries a string value (a Modbus string register, an OPC UA String node)
    # instead of `value`; a sample has at most one of the two
    fields={"value": "float", "quality": "int", "text": "str"},
    optional_fields=("value", "text"),
    purpose="dashboards, drill-down, production/energy/loop KPIs via point roles",
)
PRODUCTION: Final = Measurement(
    name="production",
    tags=(TAG_SITE, "line"),
    fields={"output": "float", "defects": "float", "energy_kwh": "float", "runtime_s": "float"},
    optional_fields=("output", "defects", "energy_kwh", "runtime_s"),
    purpose="efficiency, defect rate, energy per unit — baseline vs. current",
)
CONTROL_LOOP: Final = Measurement(
    name="control_loop",
    tags=(TAG_SITE, "loop"),
    fields={"auto": "bool"},
    purpose="automation control utilisation (自控投用率)",
)
IDENTIFIER: Final = Measurement(
    name="identifier",
    tags=(TAG_SITE, "node", "enterprise"),
    fields={"resolutions": "int", "registrations": "int"},
    optional_fields=("resolutions", "registrations"),
    purpose="daily resolutions, registered identifiers, enterprises served",
)
PLATFORM_COUNTER: Final = Measurement(
    name="platform_counter",
    tags=(TAG_SITE, "platform", "counter"),
    # a count the platform keeps about itself, exported as it stands at `time`: a
    # gauge, not an increment, so a missed export loses nothing
    fields={"value": "int"},
    purpose="what a platform reports about itself: developers, apps, subscribers, factories",
)
SERVICE_PROBE: Final = Measurement(
    name="service_probe",
    tags=(TAG_SITE, "service", "target"),
    # one probe of a service (an identifier node's resolution, the top-level node, a
    # public platform's API) by a prober on the plant network: did it answer, how fast
    fields={"ok": "bool", "latency_ms": "float"},
    optional_fields=("latency_ms",),
    purpose="service availability and interconnection with the top-level node or platforms",
)
REPORT_UPLOAD: Final = Measurement(
    name="report_upload",
    tags=(TAG_SITE, "target", "kind"),
    # one report sent to a platform (the provincial security platform …): how many
    # records, or an explicit empty-data marker, and whether the receiver acknowledged it
    fields={"records": "int", "empty": "bool", "acked": "bool"},
    optional_fields=("records", "empty"),
    purpose="reports uploaded to a platform every day, an empty day marked as such",
    cadence="day",
)
SECURITY_EVENT: Final = Measurement(
    name="security_event",
    tags=(TAG_SITE, "type", "severity", "target"),
    # one security event a detection system logged (a scan, a brute-force attempt, a
    # host taken over …) against the asset `target`: where it came from, what was done
    # about it (`open` while nothing is); one row per target and instant
    fields={"disposition": "str", "source": "str"},
    optional_fields=("source",),
    purpose="security events detected and logged, with their disposition",
    cadence="event",
)
COVERAGE_SAMPLE: Final = Measurement(
    name="coverage_sample",
    tags=(TAG_SITE, "area", "tech"),
    # one reading of a coverage survey (a walk test, a CPE's report) in a declared area:
    # RSRP for 5G, RSSI for Wi-Fi, in dBm; one row per area, technology and instant (a
    # second reading at the same nanosecond replaces the first, as in any series)
    fields={"signal_dbm": "float", "sinr_db": "float"},
    optional_fields=("sinr_db",),
    purpose="network coverage of declared areas (public areas of a park, production areas)",
    cadence="event",
)
PP_BATCH: Final = Measurement(
    name="pp_batch",
    # `epoch` only on the rows of an agent's later chains (see telemetry.seal.BatchRecord)
    tags=(TAG_SITE, "agent", "stream", "epoch"),
    fields={
        "seq": "int",
        "n": "int",
        # strings: InfluxDB returns integers through JSON, where 2**53 is the limit
        "first_ns": "str",
        "last_ns": "str",
        "root": "str",
        "prev": "str",
        "sig": "str",
    },
    purpose="provenance: the sealed batch chain an auditor checks",
)
PP_LINES: Final = Measurement(
    name="pp_lines",
    tags=(TAG_SITE, "agent", "stream", "part", "epoch"),
    fields={"seq": "int", "parts": "int", "data": "str"},
    purpose="evidence: the exact lines of each KPI-stream batch (zlib, base64, in parts)",
)

MEASUREMENTS: Final[dict[str, Measurement]] = {
    m.name: m
    for m in (
        ELEMENT_STATUS,
        POINT_HEALTH,
        TELEMETRY,
        PRODUCTION,
        CONTROL_LOOP,
        IDENTIFIER,
        PLATFORM_COUNTER,
        SERVICE_PROBE,
        REPORT_UPLOAD,
        SECURITY_EVENT,
        COVERAGE_SAMPLE,
        PP_BATCH,
        PP_LINES,
    )
}

KPI_STREAM_MEASUREMENTS: Final = frozenset(
    {
        "element_status",
        "point_health",
        "production",
        "control_loop",
        "identifier",
        "platform_counter",
        "service_probe",
        "report_upload",
        "security_event",
        "coverage_sample",
    }
)
"""The low-rate measurements that form the KPI stream of sealed batches."""

# Quality codes of `telemetry.quality` (OPC UA status class).
QUALITY_GOOD: Final = 0
QUALITY_UNCERTAIN: Final = 1
QUALITY_BAD: Final = 2

# Link kinds of `element_status.link`.
LINK_5G: Final = "5g"
WIRELESS_LINKS: Final = frozenset({"5g", "wifi", "nb-iot", "lora", "wireless-other"})
#: `tsn` time-sensitive Ethernet, `pon` industrial passive optical network, `spe`
#: single-pair Ethernet: the intranet technologies some clauses name
WIRED_LINKS: Final = frozenset({"wired", "fieldbus", "tsn", "pon", "spe"})
#: links of a site or asset to the extranet (宽带, SDN, SD-WAN, OTN)
WAN_LINKS: Final = frozenset({"broadband", "sdn", "sd-wan", "otn"})
LINKS: Final = WIRELESS_LINKS | WIRED_LINKS | WAN_LINKS

#: business links (环节) an element's data serves (`DeclaredElement.business_links`), the
#: five the 5G clause names
BUSINESS_LINKS: Final = frozenset(
    {"rd-design", "production-control", "warehousing-logistics", "operations-service",
     "marketing-management"}
)  # fmt: skip
#: severities of `security_event.severity`
SEVERITIES: Final = frozenset({"info", "low", "medium", "high", "critical"})
#: access technologies of `coverage_sample.tech`
COVERAGE_TECHS: Final = frozenset({"5g", "wifi"})
#: kinds of a declared area (`DeclaredArea.kind`)
AREA_KINDS: Final = frozenset({"public", "production", "office", "storage", "other"})

# Protocols a point is read over (`DeclaredPoint.protocol`): the agent's drivers, and
# those of systems whose history `store import` brings in.
AGENT_PROTOCOLS: Final = frozenset({"opcua", "modbus", "mqtt"})
PROTOCOLS: Final = AGENT_PROTOCOLS | frozenset(
    {"profinet", "ethernet-ip", "s7", "bacnet", "cc-link", "iec-104", "hart", "other"}
)

# Kinds of production element (`element_status.kind`), grouped by 人、机、料、法、环
# (people, machines, materials, methods, environment), the wording of the 5G clauses.
ELEMENT_KINDS: Final[dict[str, str]] = {
    "terminal": "people",  # handhelds, AR glasses, wearables carried by workers
    "machine": "machines",  # production equipment and facilities, robots
    "controller": "machines",  # PLC, DCS, CNC controllers
    "instrument": "machines",  # instruments and meters
    "sensor": "environment",  # sensors and transmitters
    "camera": "machines",  # machine vision, video
    "vehicle": "materials",  # AGVs, forklifts, material carriers
    "tag": "materials",  # RFID / active identifier carriers on materials
    "system": "methods",  # MES, SCADA, process systems
    "edge": "methods",  # edge computing nodes (MEC, edge gateways) that process device data
}
DEVICE_KINDS: Final = frozenset(
    {"machine", "controller", "instrument", "sensor", "camera", "vehicle"}
)
"""Kinds counted as "production equipment, instruments and sensors" (设备/仪器仪表/传感器)."""

# Categories of a configured point, for the scope of automatic-collection rates.
POINT_CATEGORIES: Final = frozenset(
    {
        "production",
        "operation",
        "quality",
        "equipment",
        "process",
        "material",
        "energy",
        "environment",
    }
)
