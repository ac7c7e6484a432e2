"""The C road of `telemetry.merkle` (telemetry/_native/merkle.c) against the Python one.

Both compute the Merkle roots every seal and every verification stands on, so they must
agree on any input: any lines, any bytes as a batch's text (LF or not at the end, empty
lines, CR, NUL, invalid UTF-8), any timestamp text at the edges of int64. The Python road
is itself checked against RFC 9162's recursive definition and its known answers
(tests/verifier/test_known_answers.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest
from hypothesis import given, settings, strategies as st

from telemetry import merkle
from telemetry.merkle import LineScan, python_root, python_scan

native = merkle._native
needs_native = pytest.mark.skipif(native is None, reason="the C extension is not built here")

INT64 = 1 << 63
edge_times = st.sampled_from(
    [0, 1, -1, INT64 - 1, INT64, -INT64, -INT64 - 1, 10**19, 10**30, 1790814060000000000]
)
time_text = st.one_of(
    st.integers(min_value=-(INT64 + 5), max_value=INT64 + 5).map(lambda i: str(i).encode()),
    edge_times.map(lambda i: str(i).encode()),
    st.sampled_from(
        [b"", b"-", b"--5", b"+5", b"0005", b"-0", b"1_000", b"\t5", b"5 ", b"\xd9\xa3"]
    ),
    st.binary(max_size=24),
)
line = st.builds(lambda head, t: head + b" " + t, st.binary(max_size=120), time_text)
text = st.one_of(
    st.lists(line, max_size=60).map(lambda ls: b"\n".join(ls)),
    st.lists(line, max_size=60).map(lambda ls: b"".join(x + b"\n" for x in ls)),
    st.binary(max_size=2000),
)


@needs_native
@settings(max_examples=1000, deadline=None)
@given(text)
def test_scan_of_any_text_is_the_python_scan(data: bytes) -> None:
    assert merkle.scan_lines(data) == python_scan(data)


@needs_native
@settings(max_examples=500, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=300))
def test_root_of_any_lines_is_the_python_root(lines: list[bytes]) -> None:
    assert merkle.merkle_root(lines) == python_root(lines)


@needs_native
def test_root_on_large_trees_and_every_size_to_a_power_of_two_past() -> None:
    for n in (*range(70), 127, 128, 129, 1023, 1024, 1025, 5000):
        lines = [f"line {i}".encode() for i in range(n)]
        assert merkle.merkle_root(lines) == python_root(lines)


@needs_native
def test_scan_reads_the_edges_of_int64() -> None:
    top, bottom = INT64 - 1, -INT64
    assert merkle.scan_lines(f"a {top}\nb {bottom}\n".encode()) == LineScan(
        2, python_root([f"a {top}".encode(), f"b {bottom}".encode()]), bottom, top, 0
    )
    assert merkle.scan_lines(f"a 5\nb {INT64}".encode()).bad == 2
    assert merkle.scan_lines(f"a 5\nb {-INT64 - 1}".encode()).bad == 2
    assert merkle.scan_lines(b"a 5\n\nb 6\n").bad == 2  # an empty line has no time


@needs_native
def test_root_refuses_what_is_not_bytes_and_says_which() -> None:
    with pytest.raises(TypeError, match="line 1 is str"):
        merkle.merkle_root([b"a", "b"])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        merkle.merkle_root(5)  # type: ignore[arg-type]
    assert merkle.merkle_root((b"a", b"b")) == python_root([b"a", b"b"])


@needs_native
def test_roots_agree_while_other_threads_hash() -> None:
    # the C road hashes without the GIL: threads at once must each get their own root
    batches = [[f"{k} {i}".encode() for i in range(3000)] for k in range(8)]
    want = [python_root(b) for b in batches]
    got: list[bytes | None] = [None] * len(batches)

    def work(k: int) -> None:
        for _ in range(5):
            got[k] = merkle.merkle_root(batches[k])

    threads = [threading.Thread(target=work, args=(k,)) for k in range(len(batches))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == want


def test_pure_python_is_chosen_by_the_environment() -> None:
    code = "from telemetry import merkle; print(merkle.NATIVE)"
    env = {**os.environ, "PILOTPROOF_PURE_PYTHON": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr


def test_the_extension_is_built_where_the_tests_require_it() -> None:
    # scripts/test.sh sets this: CI must exercise the C road, not pass on the fallback
    if not os.environ.get("PILOTPROOF_REQUIRE_NATIVE"):
        pytest.skip("PILOTPROOF_REQUIRE_NATIVE is not set")
    assert merkle.NATIVE, "telemetry._native.merkle did not build or import (setup.py)"
