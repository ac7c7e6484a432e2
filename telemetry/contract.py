"""A point held to the data contract (`telemetry.schema`): a measurement a device may
send, its tags, and its fields with their types. The MQTT driver's `line` format and
`pilotproof store import` both judge data from elsewhere by it, with the same words."""

from __future__ import annotations

from typing import Final

from telemetry.errors import PilotproofError
from telemetry.point import Point
from telemetry.schema import (
    COVERAGE_TECHS,
    ELEMENT_KINDS,
    KPI_STREAM_MEASUREMENTS,
    LINKS,
    MEASUREMENTS,
    SEVERITIES,
)

#: what data from elsewhere may carry: device data, not the agent's own rows
#: (point_health, pp_agent) and never evidence (pp_batch, pp_lines) — an import or a
#: message must not overwrite those
DEVICE_MEASUREMENTS: Final = frozenset((KPI_STREAM_MEASUREMENTS - {"point_health"}) | {"telemetry"})
#: what an operator may import besides (`store import`): point health as the exporting
#: system computed it — a device on the network must not send it, a history may carry it
IMPORTED_MEASUREMENTS: Final = frozenset(DEVICE_MEASUREMENTS | {"point_health"})
_TYPE_NAME = {float: "float", int: "int", bool: "bool", str: "str"}


class ContractError(PilotproofError, ValueError):
    """A point the contract does not allow; `reason` is a short key for counters."""

    code = "E_CONTRACT"

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def conform(
    p: Point, where: str, site: str | None = None, *, kinds: frozenset[str] = DEVICE_MEASUREMENTS
) -> Point:
    """`p` as the contract stores it (an int for a float field becomes a float; a
    telemetry sample without `quality` gets 0, or 2 without a value), with the site tag
    `site` when given; raises ContractError naming `where` and what is wrong."""
    if p.measurement not in kinds:
        raise ContractError(
            "bad_measurement",
            f"{where}: {p.measurement!r:.60} is not device data; this carries "
            f"{', '.join(sorted(kinds))}",
        )
    m = MEASUREMENTS[p.measurement]
    tags = {k: v for k, v in p.tags.items() if k != "site"}
    allowed = set(m.tags) - {"site"}
    unknown = sorted(set(tags) - allowed)
    missing = sorted(allowed - set(tags))
    if unknown or missing:
        raise ContractError("bad_shape", f"{where}: {p.measurement} has the tags "
                            f"{sorted(allowed)}; " + (f"{unknown[0]!r} is not one" if
                            unknown else f"{missing[0]!r} is missing"))  # fmt: skip
    if p.measurement == "element_status" and tags["link"] not in LINKS:
        raise ContractError("bad_value", f"{where}: link {tags['link']!r:.40} is not one of "
                            f"{sorted(LINKS)}")  # fmt: skip
    if p.measurement == "element_status" and tags["kind"] not in ELEMENT_KINDS:
        raise ContractError("bad_value", f"{where}: kind {tags['kind']!r:.40} is not one of "
                            f"{sorted(ELEMENT_KINDS)}")  # fmt: skip
    fields: dict[str, float | int | bool | str] = {}
    changed = False
    for key, value in p.fields.items():
        want = m.fields.get(key)
        if want is None:
            raise ContractError("bad_shape", f"{where}: {p.measurement} has no field "
                                f"{key!r:.40} (fields: {sorted(m.fields)})")  # fmt: skip
        if want == "float" and type(value) is int:
            value = float(value)  # `value=7i` means 7.0; stored as the contract's float
            changed = True
        if _TYPE_NAME[type(value)] != want:
            raise ContractError("bad_value", f"{where}: {p.measurement}.{key} = {value!r:.40}"
                                f" is {_TYPE_NAME[type(value)]}, the contract's type is "
                                f"{want}")  # fmt: skip
        fields[key] = value
    if p.measurement == "telemetry" and "quality" not in fields:
        fields["quality"] = 0 if "value" in fields or "text" in fields else 2
        changed = True
    required = set(m.fields) - set(m.optional_fields)
    if not required <= set(fields):
        raise ContractError("bad_shape", f"{where}: {p.measurement} needs the fields "
                            f"{sorted(required)}")  # fmt: skip
    _plausible(p.measurement, tags, fields, where)
    site_tag = site if site is not None else p.tags.get("site")
    if not changed and p.tags.get("site") == site_tag:
        return p  # already as the contract stores it: no second Point to build
    return Point(p.measurement, {**tags, **({"site": site_tag} if site_tag else {})}, fields,
                 p.time_ns)  # fmt: skip


#: fields that count things: never negative
_COUNTS: Final = {
    "point_health": ("expected", "received", "good"),
    "identifier": ("resolutions", "registrations"),
    "production": ("output", "defects", "energy_kwh", "runtime_s"),
    "platform_counter": ("value",),
    "service_probe": ("latency_ms",),
    "report_upload": ("records",),
}


def _plausible(
    measurement: str, tags: dict[str, str], fields: dict[str, float | int | bool | str], where: str
) -> None:
    """What the types allow but the meaning does not: a negative count, more good samples
    than received or received than expected, a quality outside 0–2, a sample with both a
    number and a text."""
    for key in _COUNTS.get(measurement, ()):
        v = fields.get(key)
        if isinstance(v, int | float) and v < 0:
            raise ContractError("bad_value", f"{where}: {measurement}.{key} = {v}: a count "
                                "is never negative")  # fmt: skip
    if measurement == "point_health":
        e, r, g = (int(fields.get(k, 0)) for k in ("expected", "received", "good"))
        if not g <= r <= e:
            raise ContractError("bad_value", f"{where}: point_health of {tags.get('element')}."
                                f"{tags.get('point')}: good {g} ≤ received {r} ≤ expected {e} "
                                "does not hold")  # fmt: skip
    if measurement == "telemetry":
        q = fields.get("quality")
        if q not in (0, 1, 2):
            raise ContractError("bad_value", f"{where}: quality {q!r:.20} is not 0 (good), 1 "
                                "(uncertain) or 2 (bad)")  # fmt: skip
        if "value" in fields and "text" in fields:
            raise ContractError("bad_shape", f"{where}: a telemetry sample has a value or a "
                                "text, not both")  # fmt: skip
    if measurement == "security_event":
        if tags["severity"] not in SEVERITIES:
            raise ContractError("bad_value", f"{where}: severity {tags['severity']!r:.40} is "
                                f"not one of {sorted(SEVERITIES)}")  # fmt: skip
        for key, text in (("target", tags["target"]), ("disposition", fields["disposition"])):
            if _blank(str(text)):
                raise ContractError("bad_value", f"{where}: security_event {key} is blank: "
                                    + ("name the asset the event hit" if key == "target" else
                                       "say what was done (open while nothing is)"))  # fmt: skip
    if measurement == "coverage_sample":
        if tags["tech"] not in COVERAGE_TECHS:
            raise ContractError("bad_value", f"{where}: tech {tags['tech']!r:.40} is not one "
                                f"of {sorted(COVERAGE_TECHS)}")  # fmt: skip
        dbm = fields["signal_dbm"]
        if not -200.0 <= float(dbm) <= 0.0:
            raise ContractError("bad_value", f"{where}: signal_dbm {dbm!r:.20} is not a "
                                "received power (-200 to 0 dBm)")  # fmt: skip
        sinr = fields.get("sinr_db")
        if sinr is not None and not -50.0 <= float(sinr) <= 100.0:
            raise ContractError("bad_value", f"{where}: sinr_db {sinr!r:.20} is outside "
                                "-50 to 100 dB")  # fmt: skip


def _blank(text: str) -> bool:
    """Nothing but white space, zero-width or other invisible characters."""
    return not any(c.isprintable() and not c.isspace() for c in text)
