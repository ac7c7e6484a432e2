"""Typed values to Modbus registers and back, in the four byte/word orders.

Our own `struct` code rather than pymodbus's helpers: the agent decodes with pymodbus,
so a simulator that encoded with it too could not catch a shared mistake.

Orders name where the bytes A (most significant) … D land, register by register:
ABCD big-endian, DCBA little-endian, BADC bytes swapped in each word, CDAB words swapped.
For 64-bit values the pattern extends (ABCDEFGH, HGFEDCBA, BADCFEHG, GHEFCDAB).
"""

from __future__ import annotations

import struct

_FORMATS = {
    "int16": ">h",
    "uint16": ">H",
    "int32": ">i",
    "uint32": ">I",
    "int64": ">q",
    "uint64": ">Q",
    "float32": ">f",
    "float64": ">d",
}

RANGES: dict[str, tuple[int, int]] = {
    "int16": (-(2**15), 2**15 - 1),
    "uint16": (0, 2**16 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "uint64": (0, 2**64 - 1),
}


def _reorder(big_endian: bytes, order: str) -> bytes:
    words = [big_endian[i : i + 2] for i in range(0, len(big_endian), 2)]
    if order in ("DCBA", "CDAB"):
        words.reverse()
    if order in ("DCBA", "BADC"):
        words = [w[::-1] for w in words]
    return b"".join(words)


def encode(
    value: int | float | str, vtype: str, order: str = "ABCD", registers: int = 0
) -> list[int]:
    """Registers holding `value`; strings are UTF-8, NUL-padded to `registers` registers."""
    if vtype == "string":
        raw = str(value).encode("utf-8")[: registers * 2].ljust(registers * 2, b"\0")
        if order in ("DCBA", "BADC"):  # strings only swap bytes within each register
            raw = _reorder(raw, "BADC")
    else:
        raw = _reorder(struct.pack(_FORMATS[vtype], value), order)
    return [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]


def decode(regs: list[int], vtype: str, order: str = "ABCD") -> int | float | str:
    raw = b"".join(r.to_bytes(2, "big") for r in regs)
    if vtype == "string":
        if order in ("DCBA", "BADC"):
            raw = _reorder(raw, "BADC")
        return raw.rstrip(b"\0").decode("utf-8", errors="replace")
    value: int | float = struct.unpack(_FORMATS[vtype], _reorder(raw, order))[0]
    return value
