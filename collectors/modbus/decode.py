"""Registers to values: every type, the four byte/word orders, scale and offset.

`decode` is the reference: numbers through pymodbus's `convert_from_registers` (big- or
little-endian word order), the byte-swapped orders (BADC, DCBA) swapping each
register's bytes first; strings UTF-8, NUL-padded, bytes swapped per register for BADC
and DCBA. `number_decoder` is what a poll uses: the same arithmetic as one `struct`
pack and unpack per value, prepared once per register (a property test holds it equal
to `decode` for every type, order and register content).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
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


_STRUCT = {"int16": "h", "uint16": "H", "int32": "i", "uint32": "I", "int64": "q",
           "uint64": "Q", "float32": "f", "float64": "d"}  # fmt: skip


def number_decoder(reg: ModbusRegister) -> Callable[[list[int], int], float] | None:
    """`(registers of a read, offset) -> value` for a numeric register; None for strings,
    bools and bits (they go through `decode`)."""
    if reg.table in ("coil", "discrete") or reg.type not in _STRUCT:
        return None
    n = WIDTH[reg.type]
    # packing the words little-endian swaps each register's two bytes (BADC, DCBA)
    pack = struct.Struct(("<" if reg.order in ("BADC", "DCBA") else ">") + f"{n}H").pack
    unpack = struct.Struct(">" + _STRUCT[reg.type]).unpack
    reverse = reg.order in ("DCBA", "CDAB")  # little-endian word order
    scale, offset = reg.scale, reg.offset

    def number(regs: list[int], off: int) -> float:
        words = regs[off : off + n]
        if reverse:
            words.reverse()
        return float(unpack(pack(*words))[0]) * scale + offset

    return number
