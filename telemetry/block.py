"""`SeriesBlock`: many samples of one series, column by column — the bulk write path.

Backfilling a month of a thousand elements means tens of millions of samples of a few
thousand series. Building a `Point` per sample costs more than writing it; a block
validates its measurement, tags and field keys once (through one `Point`) and each
column's type once, then stores encode it in a tight loop.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from telemetry.line_protocol import (
    LineProtocolError,
    _escape_key,
    _parse_value,
    decode_line,
    format_field_value,
    series_key,
)
from telemetry.point import FieldValue, Point, PointError

_COLUMN_TYPES = (float, int, bool, str)


@dataclass(frozen=True, slots=True)
class SeriesBlock:
    """Samples of one series: `times[i]` with `fields[k][i]` for every field `k`.

    A `None` in a column means "no value at this time" (the field is left out of that
    sample); a sample needs at least one field.
    """

    measurement: str
    tags: Mapping[str, str]
    times: Sequence[int]
    fields: Mapping[str, Sequence[FieldValue | None]]
    _head: Point = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        n = len(self.times)
        for k, col in self.fields.items():
            if len(col) != n:
                raise PointError(
                    f"series block {self.measurement!r}: field {k!r} has {len(col)} values "
                    f"for {n} times"
                )
        for k, col in self.fields.items():
            kinds = {type(v) for v in col if v is not None}
            if len(kinds) > 1 or not kinds <= set(_COLUMN_TYPES):
                names = ", ".join(sorted(t.__name__ for t in kinds))
                raise PointError(
                    f"series block {self.measurement!r}: field {k!r} mixes or has "
                    f"unsupported types ({names}); one column holds one of float, int, bool, str"
                )
            if float in kinds and any(v is not None and v - v != 0.0 for v in col):  # type: ignore[operator]
                raise PointError(
                    f"series block {self.measurement!r}: field {k!r} holds NaN or infinity, "
                    "which InfluxDB cannot store"
                )
        if n:
            for t in (self.times[0], self.times[-1]):
                if type(t) is not int:
                    raise PointError(
                        f"series block {self.measurement!r}: times must be int UTC "
                        f"nanoseconds, got {type(t).__name__} {t!r}"
                    )
        # One real Point checks measurement, tags and field keys with the contract's rules.
        sample = {k: next((v for v in col if v is not None), 0.0) for k, col in self.fields.items()}
        if not sample:
            raise PointError(f"series block {self.measurement!r}: a block needs a field")
        head = Point(self.measurement, self.tags, sample, int(self.times[0]) if n else 0)
        object.__setattr__(self, "_head", head)

    def __len__(self) -> int:
        return len(self.times)

    @property
    def series_key(self) -> str:
        return series_key(self._head)

    def rows(self) -> Iterator[tuple[int, dict[str, FieldValue]]]:
        """(time, fields) per sample that has at least one field."""
        keys = sorted(self.fields)
        cols = [self.fields[k] for k in keys]
        for i, t in enumerate(self.times):
            row = {k: c[i] for k, c in zip(keys, cols, strict=True) if c[i] is not None}
            if row:
                yield t, row  # type: ignore[misc]

    def points(self) -> Iterator[Point]:
        for t, row in self.rows():
            yield Point(self.measurement, self.tags, row, t)

    def lines(self) -> list[str]:
        """Canonical lines, identical to `encode_line` of each sample's `Point`."""
        prefix = self.series_key + " "
        keys = sorted(self.fields)
        escaped = [_escape_key(k) for k in keys]
        formatted: list[list[str | None]] = []
        for ek, k in zip(escaped, keys, strict=True):
            col = self.fields[k]
            kind = next((type(v) for v in col if v is not None), float)
            if kind is bool:
                texts = [None if v is None else (f"{ek}=true" if v else f"{ek}=false") for v in col]
            elif kind is int:
                texts = [None if v is None else f"{ek}={v}i" for v in col]
            elif kind is float:
                texts = [None if v is None else f"{ek}={v!r}" for v in col]
            else:
                texts = [None if v is None else f"{ek}={format_field_value(v)}" for v in col]
            formatted.append(texts)
        times = self.times
        if len(formatted) == 1:
            only = formatted[0]
            return [f"{prefix}{s} {t}" for s, t in zip(only, times, strict=True) if s is not None]
        out = []
        for i, t in enumerate(times):
            parts = [c[i] for c in formatted if c[i] is not None]
            if parts:
                out.append(f"{prefix}{','.join(parts)} {t}")  # type: ignore[arg-type]
        return out


def decode_blocks(lines: Iterable[str]) -> list[SeriesBlock]:
    """Lines to one `SeriesBlock` per series: the same samples as `decode_lines`, for
    bulk loads (an auditor recomputing a month of KPIs from an evidence bundle).

    A plain line (nothing escaped or quoted) is split once; its series key is parsed and
    checked only the first time it is seen. Anything else goes through `decode_line`.
    Errors name the 1-based line number, as `decode_lines` does.
    """
    acc: dict[str, tuple[Point, list[int], list[dict[str, FieldValue]]]] = {}
    for number, line in enumerate(lines, start=1):
        if not line:
            continue
        try:
            parts = line.split(" ")
            if len(parts) == 3 and "\\" not in line and '"' not in line:
                key, fsec, ts = parts
                entry = acc.get(key)
                if entry is None:
                    head = decode_line(line)
                    entry = acc[key] = (head, [], [])
                fields: dict[str, FieldValue] = {}
                for kv in fsec.split(","):
                    fk, sep, fv = kv.partition("=")
                    if not sep or not fk:
                        raise ValueError(f"invalid field {kv!r}")
                    fields[fk] = _parse_value(fv)
                if not ts.lstrip("-").isdigit():  # as decode_line: no "+5", no "1_000"
                    raise ValueError(f"invalid timestamp {ts!r}")
                entry[1].append(int(ts))
                entry[2].append(fields)
            else:
                p = decode_line(line)
                key = series_key(p)
                entry = acc.setdefault(key, (p, [], []))
                entry[1].append(p.time_ns)
                entry[2].append(dict(p.fields))
        except (ValueError, PointError) as exc:
            raise LineProtocolError(f"line {number}: {line[:200]!r}: {exc}") from None
    blocks = []
    for head, times, rows in acc.values():
        keys = sorted({k for r in rows for k in r})
        try:
            blocks.append(
                SeriesBlock(
                    head.measurement, head.tags, times, {k: [r.get(k) for r in rows] for k in keys}
                )
            )
        except PointError as exc:
            raise LineProtocolError(str(exc)) from None
    return blocks
