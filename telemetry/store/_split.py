"""One batch of line protocol split for `DuckdbStore`'s bulk loader: which lines are plain
canonical ones, and for those their series part, field part and time.

A plain line (`PLAIN_LINE`, no field key twice, at most `MAX_FIELDS` fields) is cast in
SQL; the loader handles every other non-empty line with `decode_line`. The split runs in
C (`telemetry._native.lines`) when the optional extension is built, in Python otherwise,
with the same result (tests/telemetry/test_split_native.py). Series and field parts come
as the batch's distinct strings plus an index per line, so the SQL that follows casts
each distinct field part once and joins integers.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from types import ModuleType

import numpy as np
import numpy.typing as npt

#: a field value as the canonical encoder writes it, in the forms whose parse in SQL is
#: exactly Python's: booleans `true`/`false`, integers of up to 18 digits (always int64),
#: floats with an exponent of at most two digits (never infinite). Anything else — a
#: string, an escape, `T`, `1e+300` — is decoded by `telemetry.decode_line` instead.
_VALUE = r"(true|false|-?[0-9]{1,18}i|-?[0-9]+\.[0-9]+(e[+-][0-9]{1,2})?|-?[0-9]+e[+-][0-9]{1,2})"
_NAME = r"[^ ,=\"\\\x00-\x1f\x7f]+"
PLAIN_LINE = (
    rf"[A-Za-z0-9_]+(,{_NAME}={_NAME})* [A-Za-z0-9_]+={_VALUE}(,[A-Za-z0-9_]+={_VALUE})* "
    r"(-?[0-9]{1,18}|[1-8][0-9]{18})"
)
#: a plain line with more fields goes to `decode_line` (the C road checks repeats pairwise)
MAX_FIELDS = 64

Ints = npt.NDArray[np.int32]


@dataclass(frozen=True)
class Split:
    """The lines of one batch, split.

    Args:
        series: the distinct series parts of the plain lines, by first appearance.
        fields: the distinct field parts of the plain lines, by first appearance.
        lines: each plain line's 0-based number in the batch.
        keys: each plain line's series part, an index into `series`.
        field_parts: each plain line's field part, an index into `fields`.
        times: each plain line's time (int64 ns).
        odd: the numbers of the other non-empty lines. Empty lines are in neither.
    """

    series: list[str]
    fields: list[str]
    lines: Ints
    keys: Ints
    field_parts: Ints
    times: npt.NDArray[np.int64]
    odd: Ints


def _load_native() -> ModuleType | None:
    if os.environ.get("PILOTPROOF_PURE_PYTHON"):
        return None
    try:
        from telemetry._native import lines
    except ImportError:
        return None
    return lines


_native = _load_native()


def split_batch(data: bytes) -> Split:
    """Split one batch's text (UTF-8, LF-separated, a final LF ending its last line).

    Args:
        data: the batch's lines as sealed.
    """
    if _native is None:
        return python_split(data)
    series, fields, lines, keys, parts, times, odd = _native.split(data)
    return Split(
        series,
        fields,
        np.frombuffer(lines, dtype=np.int32),
        np.frombuffer(keys, dtype=np.int32),
        np.frombuffer(parts, dtype=np.int32),
        np.frombuffer(times, dtype=np.int64),
        np.frombuffer(odd, dtype=np.int32),
    )


_PLAIN = re.compile(PLAIN_LINE)


def python_split(data: bytes) -> Split:
    """`split_batch` in Python: the definition the C extension is checked against."""
    series: dict[str, int] = {}
    fields: dict[str, int] = {}
    cols: tuple[list[int], list[int], list[int], list[int]] = ([], [], [], [])
    odd: list[int] = []
    raw = data.split(b"\n")
    if raw and raw[-1] == b"":
        raw.pop()
    for i, b in enumerate(raw):
        if not b:
            continue
        line = b.decode()
        if _PLAIN.fullmatch(line) is None:
            odd.append(i)
            continue
        skey, fsec, ts = line.split(" ")
        names = [kv.split("=", 1)[0] for kv in fsec.split(",")]
        if len(names) > MAX_FIELDS or len(set(names)) != len(names):
            odd.append(i)
            continue
        cols[0].append(i)
        cols[1].append(series.setdefault(skey, len(series)))
        cols[2].append(fields.setdefault(fsec, len(fields)))
        cols[3].append(int(ts))
    return Split(
        list(series),
        list(fields),
        np.array(cols[0], dtype=np.int32),
        np.array(cols[1], dtype=np.int32),
        np.array(cols[2], dtype=np.int32),
        np.array(cols[3], dtype=np.int64),
        np.array(odd, dtype=np.int32),
    )
