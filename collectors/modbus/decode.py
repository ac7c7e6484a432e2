"""Registers to values: every type, the four byte/word orders, scale and offset.

Numbers go through pymodbus's `convert_from_registers` (big- or little-endian word
order); the byte-swapped orders (BADC, DCBA) swap the two bytes of each register first.
Strings are UTF-8, NUL-padded, bytes swapped per register for BADC and DCBA.
"""

from __future__ import annotations

from typing import Literal

from pymodbus.client.mixin import ModbusClientMixin

from collectors.config import ModbusRegister

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
WIDTH = {"bool": 1, "int16": 1, "uint16": 1, "int32": 2, "uint32": 2, "float32": 2,
         "int64": 4, "uint64": 4, "float64": 4}  # fmt: skip


def width(reg: ModbusRegister) -> int:
    """Registers (or bits) a value occupies."""
    if reg.table in ("coil", "discrete"):
        return 1
    if reg.type == "string":
        return reg.length or 8
    return WIDTH[reg.type]


def _swap_bytes(regs: list[int]) -> list[int]:
    return [((r & 0xFF) << 8) | (r >> 8) for r in regs]


def decode(regs: list[int], reg: ModbusRegister) -> float | str:
    """The engineering value of `regs` (already sliced to `width(reg)`)."""
    if reg.type == "string":
        raw_regs = _swap_bytes(regs) if reg.order in ("BADC", "DCBA") else regs
        raw = b"".join(r.to_bytes(2, "big") for r in raw_regs)
        return raw.rstrip(b"\0").decode("utf-8", errors="replace")
    if reg.type == "bool":
        return 1.0 if regs[0] else 0.0
    words = _swap_bytes(regs) if reg.order in ("BADC", "DCBA") else regs
    word_order: Literal["big", "little"] = "little" if reg.order in ("DCBA", "CDAB") else "big"
    value = ModbusClientMixin.convert_from_registers(words, _TYPES[reg.type], word_order=word_order)
    assert isinstance(value, int | float)
    return float(value) * reg.scale + reg.offset
