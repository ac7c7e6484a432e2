"""The Modbus register vocabulary: tables, value types and byte orders, and how many
registers a value occupies. One definition for the agent's register settings and the
simulators' register maps, so the two cannot disagree on a name."""

from __future__ import annotations

from typing import Literal

Table = Literal["holding", "input", "coil", "discrete"]
ValueType = Literal[
    "bool", "int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64", "string"
]
#: where the bytes A (most significant) … D of a 32-bit value land, register by register
ByteOrder = Literal["ABCD", "DCBA", "BADC", "CDAB"]
#: registers a numeric value occupies
WIDTH: dict[str, int] = {"bool": 1, "int16": 1, "uint16": 1, "int32": 2, "uint32": 2,
                         "float32": 2, "int64": 4, "uint64": 4, "float64": 4}  # fmt: skip
#: the Modbus function code that reads each table
TABLE_FC: dict[str, int] = {"coil": 1, "discrete": 2, "holding": 3, "input": 4}
