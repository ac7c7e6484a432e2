"""The poll's prepared decoders equal the reference `decode` for every type and order."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from collectors.config import ModbusRegister
from collectors.modbus import decode, number_decoder, width

NUMERIC = ["int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64"]


@given(
    st.sampled_from(NUMERIC),
    st.sampled_from(["ABCD", "DCBA", "BADC", "CDAB"]),
    st.sampled_from([1.0, 0.1, -2.5]),
    st.sampled_from([0.0, 40.0]),
    st.lists(st.integers(0, 0xFFFF), min_size=8, max_size=8),
    st.integers(0, 4),
)
def test_number_decoder_equals_the_reference(
    type_: str, order: str, scale: float, offset: float, regs: list[int], off: int
) -> None:
    reg = ModbusRegister(element="e", point="p", address=0, type=type_, order=order,
                         scale=scale, offset=offset)  # fmt: skip
    fast = number_decoder(reg)
    assert fast is not None
    want = decode(regs[off : off + width(reg)], reg)
    got = fast(regs, off)
    assert isinstance(want, float)
    assert (math.isnan(got) and math.isnan(want)) or (got == want and str(got) == str(want))


def test_strings_bools_and_bits_use_the_reference() -> None:
    assert number_decoder(ModbusRegister(element="e", point="p", address=0, type="string")) is None
    assert number_decoder(ModbusRegister(element="e", point="p", address=0, type="bool")) is None
    coil = ModbusRegister(element="e", point="p", address=0, table="coil", type="uint16")
    assert number_decoder(coil) is None
