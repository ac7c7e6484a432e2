"""MQTT payloads to Points (or `Samples`): topic templates become tags, every refusal has a reason.

A `telemetry` message becomes `Samples` — its lines encoded here, each series' tags
validated once and remembered — because it is the format that arrives by the thousand
per second; the other formats become Points.

A payload that cannot be used raises `PayloadError(reason, detail)`; `reason` is a short
stable code (counted per reason in the metrics), `detail` says what was wrong and where.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from collectors.mqtt.settings import MqttSubscription
from collectors.samples import Accepted, Samples
from telemetry import (
    Inventory,
    Point,
    PointError,
    decode_lines,
)
from telemetry.contract import DEVICE_MEASUREMENTS, ContractError, conform
from telemetry.line_protocol import (
    telemetry_head,
    telemetry_line,
    telemetry_prefix,
    telemetry_stamp,
)
from telemetry.point import TIME_MAX_NS
from telemetry.schema import LINKS
from telemetry.timegrid import NS

_TYPE_NAME = {float: "float", int: "int", bool: "bool", str: "str"}

MAX_PAYLOAD = 1 << 20  # 1 MiB: a telemetry message is a few hundred bytes
UNIT_NS = {"s": NS, "ms": 1_000_000, "us": 1_000, "ns": 1}
TIME_EARLIEST_NS = 946_684_800 * NS  # 2000-01-01: earlier is a wrong unit or clock
_PREFIXES_MAX = 50_000  # remembered series prefixes; junk point names only cost a re-check


_TOPICS_MAX = 10_000  # remembered topics
#: what the `line` format may carry (`telemetry.contract`): device data only
LINE_MEASUREMENTS = DEVICE_MEASUREMENTS


@dataclass(frozen=True, slots=True)
class _Series:
    """One telemetry series met on a topic: its line parts, key and tags, made once."""

    prefix: str
    head: str  # the line up to a good value
    key: tuple[str, str]
    tags: dict[str, str]


class PayloadError(ContractError):
    """A message the driver refuses; `reason` is a short key for counters."""

    code = "E_PAYLOAD"


def subscription_filter(template: str, site: str | None = None) -> str:
    """The MQTT filter of a template: each `{name}` level becomes `+`, and `{site}` this
    agent's site (so a broker shared by plants sends only ours)."""
    if site is not None and not any(c in site for c in "+#/"):
        template = "/".join(site if level == "{site}" else level for level in template.split("/"))
    return re.sub(r"\{[^/{}]+\}", "+", template)


def topic_pattern(template: str) -> re.Pattern[str]:
    parts = []
    for level in template.split("/"):
        m = re.fullmatch(r"\{([A-Za-z_][A-Za-z0-9_]*)\}", level)
        parts.append(f"(?P<{m.group(1)}>[^/]+)" if m else re.escape(level))
    return re.compile("/".join(parts))


def _reject_constant(name: str) -> Any:
    raise PayloadError("bad_value", f"{name} is not a number JSON allows")


_JSON = json.JSONDecoder(parse_constant=_reject_constant)  # one decoder, not one a call


def _short(value: object) -> str:
    """A value for a message: its repr, cut (a 4,000-digit number has no short repr)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**30:
        return f"an integer of {len(str(abs(value)))} digits"
    return f"{value!r:.60}"


def _number(value: object, where: str) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:  # an integer beyond a float's range
            raise PayloadError("bad_value", f"{where} = {_short(value)} is out of range") from None
        if math.isfinite(number):
            return number
    raise PayloadError("bad_value", f"{where} = {_short(value)} is not a finite number")


def _time(body: dict[str, Any], unit: str) -> int:
    ts = body.get("ts")
    if isinstance(ts, bool) or not isinstance(ts, int | float) or ts < 0:
        raise PayloadError("bad_time", f"ts = {_short(ts)} is not a non-negative number")
    if isinstance(ts, float) and not math.isfinite(ts):  # (an int has no NaN; and
        raise PayloadError("bad_time", f"ts = {ts!r} is not finite")  # isfinite overflows)
    scaled = ts * UNIT_NS[unit]
    if scaled > TIME_MAX_NS:
        raise PayloadError("bad_time", f"ts = {_short(ts)} ({unit}) is beyond the year 2262")
    if scaled < TIME_EARLIEST_NS:
        # a device sending seconds to a subscription of milliseconds would be 1970
        raise PayloadError("bad_time", f"ts = {_short(ts)} ({unit}) is before 2000: is the "
                           f"subscription's time_unit ({unit!r}) the device's?")  # fmt: skip
    return int(scaled)


class PayloadParser:
    def __init__(self, sub: MqttSubscription, inventory: Inventory) -> None:
        self.sub = sub
        self.site = inventory.site
        self.pattern = topic_pattern(sub.topic)
        self.kinds = {e.id: e.kind for e in inventory.elements}
        # topic → its tags and, per point name, the series met so far (bounded: a flood
        # of junk topics or point names only costs re-checking them)
        self._topics: dict[str, tuple[dict[str, str], dict[str, _Series]]] = {}
        self._series_count = 0

    def _topic(self, topic: str) -> tuple[dict[str, str], dict[str, _Series]]:
        known = self._topics.get(topic)
        if known is not None:
            return known
        m = self.pattern.fullmatch(topic)
        if m is None:
            raise PayloadError("bad_topic", f"{topic!r} does not match {self.sub.topic!r}")
        groups = m.groupdict()
        if groups.get("site", self.site) != self.site:
            raise PayloadError("bad_topic", f"{topic!r:.200} is site {groups['site']!r}, not "
                               f"this agent's site {self.site!r}")  # fmt: skip
        tags = {k: v for k, v in groups.items() if k != "site"}
        if len(self._topics) >= _TOPICS_MAX:
            self._topics.clear()
            self._series_count = 0
        known = self._topics[topic] = (tags, {})
        return known

    def _series(self, tags: dict[str, str], element: str, point: str,
                table: dict[str, _Series]) -> _Series:  # fmt: skip
        ptags = {**tags, "site": self.site, "element": element, "point": point}
        prefix = telemetry_prefix(ptags)  # raises PointError, naming the bad tag
        if self._series_count >= _PREFIXES_MAX:
            for _, known in self._topics.values():
                known.clear()
            self._series_count = 0
        self._series_count += 1
        series = table[point] = _Series(prefix, telemetry_head(prefix, 0), (element, point), ptags)
        return series

    def parse(self, topic: str, payload: bytes | bytearray) -> Accepted:
        tags, table = self._topic(topic)
        if len(payload) > MAX_PAYLOAD:
            raise PayloadError("too_large", f"{len(payload):,} bytes (limit {MAX_PAYLOAD:,})")
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError as e:
            raise PayloadError("not_utf8", str(e)) from None
        try:
            if self.sub.format == "line":
                points = decode_lines(text)
                if not points:
                    raise PayloadError("bad_shape", "the payload holds no line")
                return [self._contract(p, i) for i, p in enumerate(points, 1)]
            body = _JSON.decode(text)
        except PayloadError:
            raise
        except (ValueError, RecursionError) as e:
            reason = "bad_line" if self.sub.format == "line" else "not_json"
            raise PayloadError(reason, str(e)[:200]) from None
        if not isinstance(body, dict):
            raise PayloadError("bad_shape", f"expected a JSON object, got {type(body).__name__}")
        try:
            if self.sub.format == "telemetry":
                return self._telemetry(tags, table, body)
            if self.sub.format == "status":
                return self._status(tags, body)
            return self._identifier(tags, body)
        except PointError as e:
            raise PayloadError("bad_value", str(e)[:200]) from None

    def _contract(self, p: Point, n: int) -> Point:
        """A line held to the data contract (`telemetry.contract`): one `value=7i` would
        otherwise fix the field's type in InfluxDB's shard, and every float after it would
        be refused."""
        try:
            return conform(p, f"line {n}", self.site)
        except ContractError as e:
            raise PayloadError(e.reason, e.detail) from None

    def _telemetry(
        self, tags: dict[str, str], table: dict[str, _Series], body: dict[str, Any]
    ) -> Samples:
        element = tags.get("element")
        if not element:
            raise PayloadError("bad_topic", f"template {self.sub.topic!r} names no {{element}}")
        t = _time(body, self.sub.time_unit)
        values = body.get("values")
        quality = body.get("quality") or {}
        if not isinstance(values, dict) or not isinstance(quality, dict):
            raise PayloadError("bad_shape", "values and quality must be JSON objects")
        if not values:
            raise PayloadError("bad_shape", "values is empty: the message carries no sample")
        stamp = telemetry_stamp(t)
        keep = self.sub.fields
        lines: list[str] = []
        keys: list[tuple[str, str]] = []
        qualities: list[int] = []
        numbers: list[float | str | None] = []
        ptags: list[dict[str, str]] = []
        for point, raw in values.items():
            if keep and point not in keep:
                continue
            series = table.get(point) or self._series(tags, element, point, table)
            q = quality.get(point, 0 if raw is not None else 2) if quality else (
                0 if raw is not None else 2)  # fmt: skip
            if type(q) is not int or q not in (0, 1, 2):
                raise PayloadError("bad_value", f"quality.{point} = {q!r:.40} is not 0, 1 or 2")
            if type(raw) is float and raw - raw == 0.0:  # the usual case: a finite float
                value: float | None = raw
            else:
                value = None if raw is None else _number(raw, f"values.{point}")
            if q == 0 and value is not None:
                lines.append(f"{series.head}{value!r}{stamp}")
            else:
                lines.append(telemetry_line(series.prefix, q, value, t))
            keys.append(series.key)
            qualities.append(q)
            numbers.append(value)
            ptags.append(series.tags)
        return Samples(t, lines, keys, qualities, numbers, ptags)

    def _status(self, tags: dict[str, str], body: dict[str, Any]) -> list[Point]:
        element = body.get("element") or tags.get("element")
        link = body.get("link")
        online = body.get("online")
        if not isinstance(element, str) or not element:
            raise PayloadError("bad_shape", "a status needs an element (payload or topic)")
        if not isinstance(link, str) or link not in LINKS:
            raise PayloadError("bad_value", f"link = {link!r:.40}; expected one of {sorted(LINKS)}")
        if not isinstance(online, bool):
            raise PayloadError("bad_value", f"online = {online!r:.40} is not true/false")
        fields: dict[str, float | bool] = {"online": online}
        for radio in ("rsrp", "sinr"):
            if body.get(radio) is not None:
                fields[radio] = _number(body[radio], radio)
        return [
            Point(
                "element_status",
                {
                    "site": self.site,
                    "element": element,
                    "kind": self.kinds.get(element, "machine"),
                    "link": str(link),
                },
                fields,
                _time(body, self.sub.time_unit),
            )
        ]

    def _identifier(self, tags: dict[str, str], body: dict[str, Any]) -> list[Point]:
        node = body.get("node") or tags.get("node")
        enterprise = body.get("enterprise")
        if not isinstance(node, str) or not isinstance(enterprise, str) or not enterprise:
            raise PayloadError("bad_shape", "an identifier count needs node and enterprise")
        fields = {}
        for f in ("resolutions", "registrations"):
            v = body.get(f)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise PayloadError("bad_value", f"{f} = {v!r:.40} is not a count")
            fields[f] = v
        return [
            Point(
                "identifier",
                {"site": self.site, "node": node, "enterprise": enterprise},
                fields,
                _time(body, self.sub.time_unit),
            )
        ]
