"""Registers to values: every type, the four byte/word orders, scale and offset.

`decode` is the reference: numbers through pymodbus's `convert_from_registers` (big- or
little-endian word order), the byte-swapped orders (BADC, DCBA) swapping each
register's bytes first; strings UTF-8, NUL-padded, bytes swapped per register for BADC
and DCBA. `BlockDecoder` is what a poll uses: a read's registers are packed into bytes
once per byte/word order present, and the values are unpacked by one struct prepared
when the reads are planned (or, when registers overlap or orders mix, one
`struct.unpack_from` each); a property test holds it equal to `decode` for every type,
order, offset and register content.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import Any, Literal

from pymodbus.client.mixin import ModbusClientMixin

from collectors.modbus.settings import ModbusRegister
from telemetry.modbus import WIDTH

DATATYPE = ModbusClientMixin.DATATYPE
_TYPES = {
    "int16": DATATYPE.INT16,
    "uint16": DATATYPE.UINT16,
    "int32": DATATYPE.INT32,
    "uint32": DATATYPE.UINT32,
    "int64": DATATYPE.INT64,
    "uint64": DATATYPE.UINT64,
    "float32": DATATYPE.FLOAT32,
    "float64": DATATYPE.FLOAT64,
}


def width(reg: ModbusRegister) -> int:
    """Registers (or bits) a value occupies."""
    return reg.width


def _swap_bytes(regs: list[int]) -> list[int]:
    return [((r & 0xFF) << 8) | (r >> 8) for r in regs]


def decode(regs: list[int], reg: ModbusRegister) -> float | str:
    """The engineering value of `regs` (already sliced to `width(reg)`)."""
    if reg.type == "string":
        raw_regs = _swap_bytes(regs) if reg.order in ("BADC", "DCBA") else regs
        raw = b"".join(r.to_bytes(2, "big") for r in raw_regs)
        text = raw.rstrip(b"\0").decode("utf-8", errors="replace")
        # a device's string may hold NULs and line breaks, which a stored field cannot
        return "".join(c if c.isprintable() else "\ufffd" for c in text)
    if reg.type == "bool":
        return 1.0 if regs[0] else 0.0
    words = _swap_bytes(regs) if reg.order in ("BADC", "DCBA") else regs
    word_order: Literal["big", "little"] = "little" if reg.order in ("DCBA", "CDAB") else "big"
    value = ModbusClientMixin.convert_from_registers(words, _TYPES[reg.type], word_order=word_order)
    assert isinstance(value, int | float)
    return float(value) * reg.scale + reg.offset


_STRUCT = {"int16": "h", "uint16": "H", "int32": "i", "uint32": "I", "int64": "q",
           "uint64": "Q", "float32": "f", "float64": "d"}  # fmt: skip
# how each order lines a value's bytes up as big-endian ABCD… : packing every register
# little-endian swaps its two bytes (BADC, DCBA); packing the registers in reverse
# reverses the words (CDAB, DCBA)
_PACKING = {"ABCD": (">", False), "BADC": ("<", False), "CDAB": (">", True), "DCBA": ("<", True)}


def is_number(reg: ModbusRegister) -> bool:
    """Decoded by `BlockDecoder` (numeric registers); strings, bools and bits by `decode`."""
    return reg.table not in ("coil", "discrete") and reg.type in _STRUCT


class BlockDecoder:
    """The numeric registers of one read of `count` registers, each `(register, offset
    in the read)`, decoded together: `numbers(regs)` gives their values in that order."""

    def __init__(self, count: int, members: Sequence[tuple[ModbusRegister, int]]) -> None:
        orders = sorted({reg.order for reg, _ in members})
        self._packs = [
            (struct.Struct(f"{_PACKING[o][0]}{count}H").pack, _PACKING[o][1]) for o in orders
        ]
        self._items = []
        for reg, off in members:
            if not is_number(reg):
                raise ValueError(f"{reg.element}.{reg.point} ({reg.type}) is not numeric")
            n = WIDTH[reg.type]
            if off < 0 or off + n > count:
                raise ValueError(f"{reg.element}.{reg.point} at {off}+{n} is outside 0..{count}")
            reverse = _PACKING[reg.order][1]
            pos = 2 * (count - off - n if reverse else off)
            unpack_from = struct.Struct(">" + _STRUCT[reg.type]).unpack_from
            self._items.append((orders.index(reg.order), unpack_from, pos, reg.scale, reg.offset))
        self._whole = self._one_struct(count, members) if len(orders) == 1 else None

    @staticmethod
    def _one_struct(
        count: int, members: Sequence[tuple[ModbusRegister, int]]
    ) -> tuple[Callable[[bytes], tuple[Any, ...]], list[int], list[float], list[float]] | None:
        """The usual read — one byte order, no register read twice — unpacked by a single
        struct call (pad bytes between the values) instead of one call per value: the
        values in byte order, where each member's is in it, and the scales and offsets."""
        reverse = _PACKING[members[0][0].order][1]
        spans = sorted(
            (2 * (count - off - WIDTH[reg.type] if reverse else off), i)
            for i, (reg, off) in enumerate(members)
        )
        fmt, at = ">", 0
        for pos, i in spans:
            if pos < at:
                return None  # overlapping registers: one call per value
            fmt += f"{pos - at}x" * (pos > at) + _STRUCT[members[i][0].type]
            at = pos + 2 * WIDTH[members[i][0].type]
        where = [0] * len(members)
        for k, (_, i) in enumerate(spans):
            where[i] = k
        unpack = struct.Struct(fmt).unpack_from
        return unpack, where, [r.scale for r, _ in members], [r.offset for r, _ in members]

    def numbers(self, regs: list[int]) -> list[float]:
        bufs = [pack(*(regs[::-1] if reverse else regs)) for pack, reverse in self._packs]
        if self._whole is not None:
            unpack, where, scales, offsets = self._whole
            raw = unpack(bufs[0])
            return [float(raw[k]) * scale + offset
                    for k, scale, offset in zip(where, scales, offsets, strict=True)]  # fmt: skip
        return [float(unpack_from(bufs[i], pos)[0]) * scale + offset
                for i, unpack_from, pos, scale, offset in self._items]  # fmt: skip
