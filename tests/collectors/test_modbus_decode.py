"""The poll's block decoder equals the reference `decode` for every type, order and offset."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, strategies as st

from collectors.modbus import BlockDecoder, ModbusRegister, decode, is_number, width

NUMERIC = ["int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64"]
ORDERS = ["ABCD", "DCBA", "BADC", "CDAB"]

member = st.tuples(
    st.sampled_from(NUMERIC),
    st.sampled_from(ORDERS),
    st.sampled_from([1.0, 0.1, -2.5]),
    st.sampled_from([0.0, 40.0]),
    st.integers(0, 124),  # offset in the read, clipped to fit below
)


def same(got: float, want: float | str) -> bool:
    assert isinstance(want, float)
    return (math.isnan(got) and math.isnan(want)) or (got == want and str(got) == str(want))


@given(st.lists(member, min_size=1, max_size=12), st.data())
def test_the_block_decoder_equals_the_reference(
    members: list[tuple[str, str, float, float, int]], data: st.DataObject
) -> None:
    """Registers of mixed types and orders (overlapping too) in one read of up to 125."""
    regs_of = []
    for k, (type_, order, scale, offset, off) in enumerate(members):
        reg = ModbusRegister(element="e", point=f"p{k}", address=0, type=type_,  # type: ignore[arg-type]
                             order=order, scale=scale, offset=offset)  # type: ignore[arg-type]  # fmt: skip
        regs_of.append((reg, off))
    count = max(off + width(reg) for reg, off in regs_of)
    count = min(125, count)
    regs_of = [(reg, min(off, count - width(reg))) for reg, off in regs_of]
    regs = data.draw(st.lists(st.integers(0, 0xFFFF), min_size=count, max_size=count))
    got = BlockDecoder(count, regs_of).numbers(regs)
    for (reg, off), value in zip(regs_of, got, strict=True):
        want = decode(regs[off : off + width(reg)], reg)
        assert same(value, want), (reg.type, reg.order, off, value, want)


def test_strings_bools_and_bits_are_not_block_decoded() -> None:
    assert not is_number(ModbusRegister(element="e", point="p", address=0, type="string"))
    assert not is_number(ModbusRegister(element="e", point="p", address=0, type="bool"))
    coil = ModbusRegister(element="e", point="p", address=0, table="coil", type="uint16")
    assert not is_number(coil)
    with pytest.raises(ValueError, match="not numeric"):
        BlockDecoder(1, [(coil, 0)])
    wide = ModbusRegister(element="e", point="p", address=0, type="float64")
    with pytest.raises(ValueError, match=r"outside 0\.\.2"):
        BlockDecoder(2, [(wide, 0)])


@given(st.sampled_from(ORDERS), st.lists(st.tuples(st.sampled_from(NUMERIC), st.integers(0, 3),
       st.sampled_from([1.0, 0.1, -2.5]), st.sampled_from([0.0, 40.0])), min_size=1, max_size=20),
       st.integers(0, 4), st.data())  # fmt: skip
def test_one_order_without_overlaps_is_one_unpack_and_equals_the_reference(
    order: str, layout: list[tuple[str, int, float, float]], tail: int, data: st.DataObject
) -> None:
    # the usual read (bench/e2e.py: 40 float32 CDAB): values side by side with gaps, in
    # any listed order — unpacked by one struct, and still the reference's values
    regs_of, off = [], 0
    for kind, gap, scale, offset in layout:
        off += gap
        reg = ModbusRegister(element="e", point=f"p{off}", address=off, type=kind,
                             order=order, scale=scale, offset=offset)  # type: ignore[arg-type]  # fmt: skip
        regs_of.append((reg, off))
        off += width(reg)
    regs_of = data.draw(st.permutations(regs_of))
    count = off + tail
    regs = data.draw(st.lists(st.integers(0, 0xFFFF), min_size=count, max_size=count))
    decoder = BlockDecoder(count, regs_of)
    assert decoder._whole is not None
    for (reg, at), value in zip(regs_of, decoder.numbers(regs), strict=True):
        want = decode(regs[at : at + width(reg)], reg)
        assert same(value, want), (reg.type, reg.order, at, value, want)
