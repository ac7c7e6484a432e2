"""The C road of the bulk loader's line split (telemetry/_native/lines.c) against Python's.

`python_split` is `PLAIN_LINE` as a regular expression, so comparing the two on any text
checks the C matcher against the pattern itself; the loader's own property
(tests/telemetry/test_duckdb_store.py) checks what is loaded from either road against
`decode_blocks`.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from telemetry.store import _split
from telemetry.store._split import MAX_FIELDS, Split, python_split

needs_native = pytest.mark.skipif(_split._native is None, reason="the C extension is not built")

word = st.text("aZ09_-. ", min_size=0, max_size=4)
name = st.text(st.characters(exclude_characters="\n", max_codepoint=0x3000), max_size=5)
value = st.one_of(
    st.sampled_from(["true", "false", "True", "t", "1i", "-1i", "1", "1.", ".5", "1.5", "-0.0",
                     "1e+5", "1e5", "1.5e-12", "1.5e+123", "1.5E+1", "--1i", "1.5i", "\"s\"",
                     "9" * 18 + "i", "9" * 19 + "i", "", "-", "1e+", "-1.5e-1"]),
    st.integers().map(lambda i: f"{i}i"),
    st.floats(allow_nan=True).map(repr),
    st.text("0123456789.e+-i", max_size=8),
)  # fmt: skip
time = st.one_of(
    st.sampled_from(["0", "-0", "007", "9" * 18, "1" + "0" * 18, "8" + "9" * 18, "9" + "0" * 18,
                     "-" + "9" * 18, "-" + "1" * 19, "", "1 2", "+5", "5 "]),
    st.integers(-(2**64), 2**64).map(str),
)  # fmt: skip
keys = st.sampled_from(["f", "g", "h_1", "", "é", "a b"])
field = st.builds(lambda k, v: f"{k}={v}", keys, value)
line = st.builds(
    lambda m, tags, fields, t: m + "".join(f",{k}={v}" for k, v in tags) + " " + ",".join(fields)
    + " " + t,
    st.sampled_from(["m", "cpu_1", "", "m-x", "电"]), st.lists(st.tuples(name, name), max_size=3),
    st.lists(field, min_size=1, max_size=4), time,
)  # fmt: skip
# near-canonical: every part valid but for what the value and time strategies give
safe = st.text("abcXYZ019_-.é电", min_size=1, max_size=5)
near = st.builds(
    lambda m, tags, keys, vals, t: m + "".join(f",{k}={v}" for k, v in tags) + " "
    + ",".join(f"{k}={v}" for k, v in zip(keys, vals, strict=False)) + " " + t,
    st.sampled_from(["m", "cpu_1"]), st.lists(st.tuples(safe, safe), max_size=3),
    st.lists(st.sampled_from(["f", "g", "h_1", "f"]), min_size=1, max_size=4),
    st.lists(value, min_size=4, max_size=4), time,
)  # fmt: skip
text = st.one_of(
    st.lists(st.one_of(line, near, near, st.text(max_size=30)), max_size=40).map("\n".join),
    st.lists(line, max_size=40).map(lambda ls: "".join(x + "\n" for x in ls)),
    st.text(max_size=300),
).map(lambda s: s.encode(errors="surrogatepass"))


def _same(a: Split, b: Split) -> None:
    assert (a.series, a.fields) == (b.series, b.fields)
    for k in ("lines", "keys", "field_parts", "times", "odd"):
        x, y = getattr(a, k), getattr(b, k)
        assert x.dtype == y.dtype, k
        assert np.array_equal(x, y), k


@needs_native
@settings(max_examples=2000, deadline=None)
@given(text)
def test_the_c_split_of_any_text_is_the_python_split(data: bytes) -> None:
    try:
        data.decode()
    except UnicodeDecodeError:
        return  # the loader sends a batch that is not UTF-8 to decode_blocks whole
    _same(_split.split_batch(data), python_split(data))


@needs_native
def test_a_line_with_many_fields_or_a_field_twice_goes_to_decode_line() -> None:
    many = "m " + ",".join(f"f{i}=1.5" for i in range(MAX_FIELDS + 1)) + " 5"
    most = "m " + ",".join(f"f{i}=1.5" for i in range(MAX_FIELDS)) + " 5"
    data = f"{many}\nm f=1.5,f=2.5 6\n{most}\n".encode()
    for s in (_split.split_batch(data), python_split(data)):
        assert s.odd.tolist() == [0, 1]
        assert s.lines.tolist() == [2]


def test_the_extension_is_built_where_the_tests_require_it() -> None:
    # scripts/test.sh sets this: CI must exercise the C road, not skip the tests above
    if not os.environ.get("PILOTPROOF_REQUIRE_NATIVE"):
        pytest.skip("PILOTPROOF_REQUIRE_NATIVE is not set")
    assert _split._native is not None, "telemetry._native.lines did not build or import"
