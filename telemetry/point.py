"""`Point`: one timestamped sample of one series, the unit every part of pilotproof exchanges.

`Point` is a slotted, immutable class rather than a pydantic model on purpose: agents and
backfills create millions of them per minute, and its validation is exactly the set of
rules InfluxDB line protocol imposes — nothing more general is needed. Everything a
`Point` accepts round-trips through line protocol and through a real InfluxDB 1.x unchanged
(see docs/data-contract.md for the rules and why each exists; the property tests in
tests/telemetry/test_line_protocol.py check both round trips).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from telemetry.errors import PilotproofError

FieldValue = float | int | bool | str
"""The four field types line protocol (and every store) supports."""

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
# InfluxDB 1.x reserves the two extreme int64 nanoseconds (math.MinInt64 marks "no time").
TIME_MIN_NS = INT64_MIN + 2
TIME_MAX_NS = INT64_MAX - 1
MAX_STRING_BYTES = 64 * 1024
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
RESERVED_KEYS = frozenset({"time", "_field", "_measurement"})


class PointError(PilotproofError, ValueError):
    """A point that line protocol or InfluxDB cannot carry unchanged; names the point and key."""

    code = "E_POINT"


def _describe(measurement: object, key: str | None) -> str:
    where = f"point {measurement!r}"
    return f"{where}, key {key!r}" if key is not None else where


def _check_name(kind: str, value: object, measurement: object, key: str | None) -> str:
    if type(value) is not str:
        raise PointError(
            f"{_describe(measurement, key)}: {kind} must be a string, got "
            f"{type(value).__name__} {value!r}"
        )
    if not value:
        raise PointError(f"{_describe(measurement, key)}: {kind} is empty")
    if "\n" in value or "\r" in value:
        raise PointError(
            f"{_describe(measurement, key)}: {kind} {value!r} contains a line break, "
            "which line protocol cannot carry"
        )
    if _CONTROL.search(value):
        raise PointError(
            f"{_describe(measurement, key)}: {kind} {value!r} contains a control character"
        )
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            raise PointError(
                f"{_describe(measurement, key)}: {kind} {value!r} is not valid Unicode "
                "(a lone surrogate cannot be encoded as UTF-8)"
            ) from None
    if value.endswith("\\"):
        raise PointError(
            f"{_describe(measurement, key)}: {kind} {value!r} ends with a backslash, which "
            "would escape the separator after it in line protocol; remove or replace it"
        )
    return value


def _check_field(measurement: str, key: str, value: object) -> FieldValue:
    # Subclasses (numpy.float64 is a float) are converted to the plain type, whose repr
    # is the canonical text; bool is tested before int because it is an int subclass.
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise PointError(
                f"{_describe(measurement, key)}: field value {value!r} is not finite; "
                "InfluxDB stores no NaN or infinity — drop the sample or mark its quality bad"
            )
        return float(value)
    if isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            raise PointError(
                f"{_describe(measurement, key)}: integer field {value} is outside the signed "
                "64-bit range; store it as a float or split it"
            )
        return int(value)
    if isinstance(value, str):
        try:
            size = len(value.encode())
        except UnicodeEncodeError:
            raise PointError(
                f"{_describe(measurement, key)}: string field {value!r} is not valid Unicode "
                "(a lone surrogate cannot be encoded as UTF-8)"
            ) from None
        if "\n" in value or "\r" in value:
            raise PointError(
                f"{_describe(measurement, key)}: string field contains a line break; canonical "
                "line protocol keeps one point per line, so replace it (e.g. with a space)"
            )
        if size > MAX_STRING_BYTES:
            raise PointError(
                f"{_describe(measurement, key)}: string field is longer than "
                f"{MAX_STRING_BYTES} bytes, InfluxDB's limit"
            )
        return str(value)
    raise PointError(
        f"{_describe(measurement, key)}: field value {value!r} has unsupported type "
        f"{type(value).__name__}; use float, int, bool or str (numpy scalars: .item())"
    )


# Validated names and tag sets repeat across millions of points; remember them. The caches
# are cleared when they grow past a bound, which only costs a re-validation.
_CACHE_LIMIT = 200_000
_GOOD_MEASUREMENTS: set[str] = set()  # measurement names pass stricter rules: own cache
_FIELD_KEY_BAD_ESCAPE = re.compile(r'\\[, ="]')
_TAGSETS: dict[tuple[tuple[str, str], ...], tuple[Mapping[str, str], str]] = {}
_TAG_ESCAPES = str.maketrans({",": "\\,", " ": "\\ ", "=": "\\="})
_EMPTY_TAGS: Mapping[str, str] = MappingProxyType({})


def _canonical_tags(measurement: str, tags: Mapping[str, str]) -> tuple[Mapping[str, str], str]:
    """Validated, sorted, read-only tags and their escaped line-protocol form (`,k=v...`)."""
    items = tuple(tags.items())
    try:
        found = _TAGSETS.get(items)
    except TypeError:  # an unhashable tag value; validation below names it
        found = None
    if found is not None:
        return found
    for k, v in items:
        _check_name("tag key", k, measurement, k)
        if k in RESERVED_KEYS:
            raise PointError(f"{_describe(measurement, k)}: {k!r} is a reserved key")
        _check_name("tag value", v, measurement, k)
    checked = dict(sorted(items))
    escaped = "".join(
        f",{k.translate(_TAG_ESCAPES)}={v.translate(_TAG_ESCAPES)}" for k, v in checked.items()
    )
    entry: tuple[Mapping[str, str], str] = (MappingProxyType(checked), escaped)
    if len(_TAGSETS) > _CACHE_LIMIT:
        _TAGSETS.clear()
    _TAGSETS[items] = entry
    return entry


class Point:
    """One sample: `measurement`, string `tags`, typed `fields` and a UTC time in nanoseconds.

    Tags (read-only) and fields are kept sorted by key — the canonical order hashing
    relies on. Equality is type-exact: a field `1` (int) is not equal to `1.0` or `True`.
    """

    __slots__ = ("_tagstr", "fields", "measurement", "tags", "time_ns")

    measurement: str
    tags: Mapping[str, str]
    fields: dict[str, FieldValue]
    time_ns: int
    _tagstr: str

    def __init__(
        self,
        measurement: str,
        tags: Mapping[str, str] | None,
        fields: Mapping[str, Any],
        time_ns: int,
    ) -> None:
        if measurement not in _GOOD_MEASUREMENTS:
            _check_measurement(measurement)
        if tags:
            ctags, tagstr = _canonical_tags(measurement, tags)
        else:
            ctags, tagstr = _EMPTY_TAGS, ""
        if not fields:
            raise PointError(f"point {measurement!r}: a point needs at least one field")
        checked_fields: dict[str, FieldValue] = {}
        for k in sorted(fields) if len(fields) > 1 else fields:
            if k not in _GOOD_FIELD_KEYS:
                _check_field_key(measurement, k)
            if k in RESERVED_KEYS:
                raise PointError(f"{_describe(measurement, k)}: {k!r} is a reserved key")
            if k in ctags:
                raise PointError(
                    f"{_describe(measurement, k)}: {k!r} is both a tag and a field key; "
                    "InfluxQL could not tell them apart"
                )
            v = fields[k]
            checked_fields[k] = (
                v if type(v) is float and v - v == 0.0 else _check_field(measurement, k, v)
            )
        if type(time_ns) is not int:
            raise PointError(
                f"point {measurement!r}: time_ns must be an int (UTC nanoseconds), got "
                f"{type(time_ns).__name__} {time_ns!r}"
            )
        if not TIME_MIN_NS <= time_ns <= TIME_MAX_NS:
            raise PointError(f"point {measurement!r}: time_ns {time_ns} is out of range")
        setattr_ = object.__setattr__
        setattr_(self, "measurement", measurement)
        setattr_(self, "tags", ctags)
        setattr_(self, "fields", checked_fields)
        setattr_(self, "time_ns", time_ns)
        setattr_(self, "_tagstr", tagstr)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Point is immutable")

    def _key(self) -> tuple[object, ...]:
        return (
            self.measurement,
            tuple(self.tags.items()),
            tuple((k, type(v).__name__, v) for k, v in self.fields.items()),
            self.time_ns,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Point):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (
            f"Point({self.measurement!r}, tags={dict(self.tags)!r}, fields={self.fields!r}, "
            f"time_ns={self.time_ns})"
        )

    def __reduce__(self) -> tuple[object, ...]:
        return (Point, (self.measurement, dict(self.tags), self.fields, self.time_ns))


def _check_measurement(measurement: object) -> None:
    _check_name("measurement name", measurement, measurement, None)
    assert isinstance(measurement, str)
    if "\\" in measurement:
        raise PointError(
            f"point {measurement!r}: measurement names may not contain a backslash "
            "(InfluxDB 1.x unescapes measurement names twice, so it would not round-trip)"
        )
    if measurement.startswith("#"):
        raise PointError(
            f"point {measurement!r}: a measurement name may not start with '#': "
            "line protocol reads such a line as a comment and drops it silently"
        )
    _remember(_GOOD_MEASUREMENTS, measurement)


_GOOD_FIELD_KEYS: set[str] = set()


def _check_field_key(measurement: str, key: object) -> None:
    _check_name("field key", key, measurement, key if isinstance(key, str) else None)
    assert isinstance(key, str)
    if _FIELD_KEY_BAD_ESCAPE.search(key):
        raise PointError(
            f"{_describe(measurement, key)}: a field key may not hold a backslash before "
            "',', ' ', '=' or '\"': InfluxDB's field scanner would read it as an escape"
        )
    _remember(_GOOD_FIELD_KEYS, key)


def _remember(cache: set[str], name: str) -> None:
    if len(cache) > _CACHE_LIMIT:
        cache.clear()  # bounded: forgetting only costs a re-validation
    cache.add(name)
