"""InfluxDB line protocol: the canonical encoder and a decoder with InfluxDB 1.x semantics.

Canonical form (what sealed batches hash, so it must never change without a format
version bump): tags and fields sorted by key (a `Point` already keeps them sorted),
floats as Python's shortest round-trip `repr` (`0.1`, `1e-05`, `1e+16`), integers with
an `i` suffix, booleans as `true`/`false`, strings double-quoted with `\\` and `"`
escaped, and the timestamp in nanoseconds. Escaping follows InfluxDB exactly:

* measurement: `,` and space are escaped;
* tag keys, tag values, field keys: `,`, `=` and space are escaped;
* a backslash elsewhere is literal (InfluxDB 1.x unescapes only `\\,`, `\\=`, `\\ `).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping

from telemetry.errors import PilotproofError
from telemetry.point import FieldValue, Point, PointError

_MEASUREMENT_ESCAPES = str.maketrans({",": "\\,", " ": "\\ "})
_KEY_ESCAPES = str.maketrans({",": "\\,", " ": "\\ ", "=": "\\="})
_NEEDS_KEY_ESCAPE = re.compile(r"[, =]")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\Z")
_INTEGER = re.compile(r"[+-]?\d+\Z")
_TRUE = frozenset({"t", "T", "true", "True", "TRUE"})
_FALSE = frozenset({"f", "F", "false", "False", "FALSE"})


class LineProtocolError(PilotproofError, ValueError):
    """A line that cannot be decoded; names the line number, the text and the reason."""

    code = "E_LINE_PROTOCOL"


def _escape_key(s: str) -> str:
    # Most names need no escaping; the regex probe is cheaper than translate for them.
    return s.translate(_KEY_ESCAPES) if _NEEDS_KEY_ESCAPE.search(s) else s


def format_field_value(value: FieldValue) -> str:
    t = type(value)
    if t is float:
        return repr(value)
    if t is bool:
        return "true" if value else "false"
    if t is int:
        return f"{value}i"
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'  # type: ignore[union-attr]


def series_key(point: Point) -> str:
    """The escaped `measurement,tag=value,...` prefix of the point's line."""
    return point.measurement.translate(_MEASUREMENT_ESCAPES) + point._tagstr


def telemetry_prefix(tags: Mapping[str, str]) -> str:
    """`telemetry,<tags> ` of one series, validated as a Point's tags are.

    For drivers that encode their own lines on the hot path (see `telemetry_line`):
    the tags are checked once, when the prefix is made, not at every sample."""
    return series_key(Point("telemetry", tags, {"quality": 0, "value": 0.0}, 0)) + " "


def telemetry_line(prefix: str, quality: int, value: float | None, time_ns: int) -> str:
    """The canonical `telemetry` line — byte for byte what `encode_line` gives the Point.

    The caller guarantees what `Point` would check: `prefix` from `telemetry_prefix`,
    `value` a finite float (or None: a sample without a value), `quality` 0, 1 or 2 and
    `time_ns` in range. Fields sort as `quality` < `value`."""
    if value is None:
        return f"{prefix}quality={quality}i {time_ns}"
    return f"{prefix}quality={quality}i,value={value!r} {time_ns}"


def telemetry_head(prefix: str, quality: int) -> str:
    """A valued `telemetry` line up to its value: `f"{head}{value!r}{stamp}"` (with
    `telemetry_stamp`) is `telemetry_line(prefix, quality, value, t)`, for a driver that
    writes many values per instant (a Modbus poll) and prepares head and stamp once."""
    return f"{prefix}quality={quality}i,value="


def telemetry_stamp(time_ns: int) -> str:
    """The end of a line stamped `time_ns` (see `telemetry_head`)."""
    return f" {time_ns}"


def encode_line(point: Point) -> str:
    """The canonical line of one point (no trailing newline)."""
    fields = ",".join(f"{_escape_key(k)}={format_field_value(v)}" for k, v in point.fields.items())
    return f"{series_key(point)} {fields} {point.time_ns}"


def encode_lines(points: Iterable[Point]) -> list[str]:
    """Canonical lines for many points — the hot path of every write, kept inline."""
    measurements: dict[str, str] = {}
    keys: dict[str, str] = {}
    out: list[str] = []
    append = out.append
    for p in points:
        m = p.measurement
        prefix = measurements.get(m)
        if prefix is None:
            prefix = measurements[m] = m.translate(_MEASUREMENT_ESCAPES)
        parts = []
        for k, v in p.fields.items():
            ek = keys.get(k)
            if ek is None:
                ek = keys[k] = _escape_key(k)
            t = type(v)
            if t is float:
                parts.append(f"{ek}={v!r}")
            elif t is int:
                parts.append(f"{ek}={v}i")
            elif t is bool:
                parts.append(f"{ek}=true" if v else f"{ek}=false")
            else:
                parts.append(f"{ek}={format_field_value(v)}")
        append(f"{prefix}{p._tagstr} {','.join(parts)} {p.time_ns}")
    return out


# --- decoding ---------------------------------------------------------------------------


def _unescape(s: str, specials: str) -> str:
    """Drop a backslash that precedes one of `specials`; keep every other backslash."""
    if "\\" not in s:
        return s
    out: list[str] = []
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if c == "\\" and i + 1 < n and s[i + 1] in specials:
            out.append(s[i + 1])
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _find_unescaped(s: str, stop: str, i: int = 0) -> int:
    """The index of the first `stop` from `i` not escaped by a backslash, or `len(s)`."""
    n = len(s)
    while i < n:
        c = s[i]
        if c == "\\" and i + 1 < n and s[i + 1] in ", =":
            i += 2
            continue
        if c == stop:
            break
        i += 1
    return i


def _split_unescaped(s: str, sep: str) -> list[str]:
    """Split on `sep` where it is not preceded by a backslash (InfluxDB's rule)."""
    parts: list[str] = []
    start = 0
    while True:
        i = _find_unescaped(s, sep, start)
        parts.append(s[start:i])
        if i >= len(s):
            return parts
        start = i + 1


def _parse_value(raw: str) -> FieldValue:
    if not raw:
        raise ValueError("empty field value")
    if raw[0] == '"':
        if len(raw) < 2 or raw[-1] != '"':
            raise ValueError(f"unterminated string {raw!r}")
        return _unescape(raw[1:-1], '"\\')
    last = raw[-1]
    if last == "i":
        if not _INTEGER.match(raw[:-1]):
            raise ValueError(f"invalid integer {raw!r}")
        return int(raw[:-1])
    if last == "u":
        raise ValueError(f"unsigned integer {raw!r} is not supported (InfluxDB 1.x rejects it)")
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    if not _NUMBER.match(raw):
        raise ValueError(f"invalid field value {raw!r}")
    return float(raw)


def _scan_sections(line: str) -> tuple[str, str, str | None]:
    """Split a line into key, fields and optional timestamp at unescaped, unquoted spaces."""
    n = len(line)
    i = _find_unescaped(line, " ")
    key = line[:i]
    j = i + 1
    in_quotes = False
    after_eq = False  # a quote opens a string only as the first character of a value
    k = j
    while k < n:
        c = line[k]
        if in_quotes:
            if c == "\\" and k + 1 < n:
                k += 2
                continue
            if c == '"':
                in_quotes = False
        elif c == '"' and after_eq:
            in_quotes = True
        elif c == "\\" and k + 1 < n and line[k + 1] in ", =":
            k += 2
            after_eq = False
            continue
        elif c == " ":
            break
        after_eq = c == "=" and not in_quotes
        k += 1
    if in_quotes:
        raise ValueError("unterminated string field")
    fields = line[j:k]
    rest = line[k + 1 :].strip() if k < n else ""
    return key, fields, rest or None


def _split_fields(section: str) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    n = len(section)
    i = 0
    while i < n:
        # field key up to an unescaped '='
        if section[i] in ",=":
            raise ValueError("empty field: a stray or trailing comma")
        start = i
        i = _find_unescaped(section, "=", i)
        if i >= n:
            raise ValueError(f"field {section[start:]!r} has no '='")
        key = _unescape(section[start:i], ", =")
        i += 1
        vstart = i
        if i < n and section[i] == '"':
            i += 1
            while i < n:
                c = section[i]
                if c == "\\" and i + 1 < n:
                    i += 2
                    continue
                if c == '"':
                    i += 1
                    break
                i += 1
        else:
            while i < n and section[i] != ",":
                i += 1
        pairs.append((key, section[vstart:i]))
        if i < n:
            if section[i] != ",":
                raise ValueError(f"unexpected {section[i]!r} after field {key!r}")
            i += 1
            if i >= n:
                raise ValueError("empty field: a stray or trailing comma")
    return pairs


def decode_line(line: str, default_time_ns: int | None = None) -> Point:
    """Decode one line (InfluxDB 1.x semantics). Raises `ValueError` naming the reason."""
    if "\\" not in line and '"' not in line:
        # Fast path: nothing escaped or quoted, so plain splits are exact.
        parts = line.split(" ")
        if len(parts) not in (2, 3):
            raise ValueError(f"expected 2 or 3 space-separated sections, found {len(parts)}")
        key, fsec = parts[0], parts[1]
        ts: str | None = parts[2] if len(parts) == 3 else None
        kparts = key.split(",")
        tags: dict[str, str] = {}
        for kv in kparts[1:]:
            tk, sep, tv = kv.partition("=")
            if not sep or "=" in tv:
                raise ValueError(f"invalid tag {kv!r}")
            tags[tk] = tv
        fields: dict[str, FieldValue] = {}
        for kv in fsec.split(","):
            fk, sep, fv = kv.partition("=")
            if not kv:
                raise ValueError("empty field: a stray or trailing comma")
            if not sep:
                raise ValueError(f"field {kv!r} has no '='")
            fields[fk] = _parse_value(fv)
        measurement = kparts[0]
    else:
        key, fsec, ts = _scan_sections(line)
        kparts = _split_unescaped(key, ",")
        measurement = _unescape(kparts[0], ', ="')  # as InfluxDB does
        tags = {}
        for kv in kparts[1:]:
            pieces = _split_unescaped(kv, "=")
            if len(pieces) != 2:
                raise ValueError(f"invalid tag {kv!r}")
            tags[_unescape(pieces[0], ", =")] = _unescape(pieces[1], ", =")
        fields = {k: _parse_value(v) for k, v in _split_fields(fsec)}
    if ts is None:
        if default_time_ns is None:
            raise ValueError("line has no timestamp")
        time_ns = default_time_ns
    else:
        if not ts.lstrip("-").isdigit():
            raise ValueError(f"invalid timestamp {ts!r}")
        time_ns = int(ts)
    return Point(measurement, tags, fields, time_ns)


def iter_decode(text: str | Iterable[str]) -> Iterator[Point]:
    """Decode lines, skipping blanks and `#` comments; errors name the 1-based line number."""
    lines = text.split("\n") if isinstance(text, str) else text
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r\n")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            yield decode_line(line)
        except (ValueError, PointError) as exc:
            raise LineProtocolError(f"line {number}: {line[:200]!r}: {exc}") from None


def decode_lines(text: str | Iterable[str]) -> list[Point]:
    return list(iter_decode(text))
