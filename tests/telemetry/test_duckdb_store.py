"""DuckdbStore against SqliteStore: any sequence of writes leaves the same samples.

DuckDB keeps no primary key, so its overwrite rule (the last value of a series, field
and time wins, within a write and over what is stored) is its own code; here it meets
SQLite's `INSERT OR REPLACE` on writes in any order, repeated times, mixed fields and
type conflicts, through both write paths, and across a reopen of the file.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from telemetry import Aggregate, DuckdbStore, Point, SeriesBlock, SqliteStore, Store

S = 1_000_000_000
T0 = 1_767_225_600 * S

values = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.integers(-(2**63), 2**63 - 1),
    st.booleans(),
    st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\n\r"), max_size=5),
)
points = st.builds(
    lambda m, e, fields, dt: Point(m, {"element": e}, fields, T0 + dt * S),
    st.sampled_from(["m1", "m2"]),
    st.sampled_from(["a", "b", "c"]),
    st.dictionaries(st.sampled_from(["f", "g", "h"]), values, min_size=1, max_size=3),
    st.integers(-3, 6),
)
# each write is Points or, for the bulk path, the same Points as one block per series
writes = st.lists(st.tuples(st.lists(points, max_size=12), st.booleans()), max_size=6)


async def _apply(store: Store, batches: list[tuple[list[Point], bool]]) -> list[int]:
    counts = []
    for pts, as_blocks in batches:
        if as_blocks and pts and _blockable(pts):
            r = await store.write_blocks(_blocks(pts))
        else:
            r = await store.write(pts)
        counts.append(r.written * 1000 + len(r.rejected))
    return counts


def _blockable(pts: list[Point]) -> bool:
    """A block holds one type per column; mixed types go through `write` instead."""
    kinds: dict[tuple[str, str, str], type] = {}
    for p in pts:
        for k, v in p.fields.items():
            if kinds.setdefault((p.measurement, p.tags["element"], k), type(v)) is not type(v):
                return False
    return True


def _blocks(pts: list[Point]) -> list[SeriesBlock]:
    by: dict[tuple[str, str], list[Point]] = {}
    for p in pts:
        by.setdefault((p.measurement, p.tags["element"]), []).append(p)
    out = []
    for (m, e), ps in by.items():
        keys = sorted({k for p in ps for k in p.fields})
        columns = {k: [p.fields.get(k) for p in ps] for k in keys}
        out.append(SeriesBlock(m, {"element": e}, [p.time_ns for p in ps], columns))
    return out


async def _state(store: Store) -> list[Point]:
    out = []
    for m in ("m1", "m2"):
        out += await store.read(m, T0 - 10 * S, T0 + 10 * S)
    return out


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(writes)
def test_any_writes_leave_what_sqlite_leaves(batches: list[tuple[list[Point], bool]]) -> None:
    async def run() -> None:
        with tempfile.TemporaryDirectory() as d:
            sq, dk = SqliteStore(Path(d) / "s.db"), DuckdbStore(Path(d) / "d.duckdb")
            half = len(batches) // 2
            assert await _apply(sq, batches) == (
                await _apply(dk, batches[:half])
            ) + await _reopened_apply(dk, Path(d) / "d.duckdb", batches[half:])
            dk = DuckdbStore(Path(d) / "d.duckdb")
            assert await _state(sq) == await _state(dk)
            for m, f in (("m1", "f"), ("m2", "g")):
                q = Aggregate(measurement=m, field=f, fn="count", start_ns=T0 - 10 * S,
                              end_ns=T0 + 10 * S, group_by=("element",))  # fmt: skip
                pd.testing.assert_frame_equal(await sq.aggregate(q), await dk.aggregate(q))
            await sq.close()
            await dk.close()

    asyncio.run(run())


async def _reopened_apply(
    dk: DuckdbStore, path: Path, batches: list[tuple[list[Point], bool]]
) -> list[int]:
    """The second half of the writes on the file opened again: the latest time of each
    series and field is read back from the file."""
    await dk.close()
    again = DuckdbStore(path)
    try:
        return await _apply(again, batches)
    finally:
        await again.close()


# --- bulk loading of lines --------------------------------------------------------------

names = st.sampled_from(["a", "b c", "d,e", "é", "f=g", "h\\"])
fields = st.dictionaries(
    st.sampled_from(["f", "g", "h h", "time"]),
    st.one_of(
        st.floats(allow_nan=False, allow_infinity=False),
        st.integers(-(2**63), 2**63 - 1),
        st.booleans(),
        st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\n\r"), max_size=4),
    ),
    min_size=1,
    max_size=3,
)


def _line(m: str, e: str, f: dict[str, object], dt: int) -> str:
    """A canonical line where the contract allows the point, otherwise a raw one."""
    from telemetry import encode_line

    try:
        return encode_line(Point(m, {"element": e}, f, T0 + dt * S))  # type: ignore[arg-type]
    except ValueError:
        return f"{m},element={e} {','.join(f'{k}={v}' for k, v in f.items())} {T0 + dt}"


canonical = st.builds(
    _line, st.sampled_from(["m1", "m2", "m 3"]), names, fields, st.integers(-3, 6)
)
# how else a line may look: InfluxDB's other spellings, and anything at all
variants = st.one_of(
    canonical.map(lambda x: x.replace("=true", "=T").replace("=false", "=False")),
    canonical.map(lambda x: x.replace(".0 ", " ").replace("i ", " ")),
    canonical.map(lambda x: x.replace(",", ",f=1.5,", 1) if " " in x else x),
    st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\n"), max_size=40),
    # any bytes: kept as they are (not UTF-8 too) through surrogateescape
    st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"").decode("utf-8", "surrogateescape")),
    canonical.map(lambda x: "\ufeff" + x),
    canonical.map(lambda x: x.replace(" ", " element=1.0,", 1)),
)
texts = st.lists(st.one_of(canonical, canonical, canonical, variants), max_size=30)


async def _python_road(lines: list[str], path: Path) -> tuple[str, list[Point]]:
    """What the verifier did before: each line decoded from UTF-8, `decode_blocks` into
    SQLite."""
    from telemetry import LineProtocolError, decode_blocks

    store = SqliteStore(path)
    try:
        strict = [x.encode(errors="surrogateescape").decode() for x in lines]
        result = await store.write_blocks(decode_blocks(strict))
        outcome = "rejected" if result.rejected else f"written {result.written}"
        return outcome, await _all(store, lines)
    except (LineProtocolError, UnicodeError):
        return "error", []
    finally:
        await store.close()


async def _bulk_road(chunks: list[bytes], path: Path, lines: list[str]) -> tuple[str, list[Point]]:
    from telemetry import LineProtocolError

    store = DuckdbStore(path)
    try:
        loader = store.loader()
        for c in chunks:
            await loader.add(c)
        result = await loader.finish()
        outcome = "rejected" if result.rejected else f"written {result.written}"
        return outcome, await _all(store, lines)
    except (LineProtocolError, UnicodeError):
        return "error", []
    finally:
        await store.close()


async def _all(store: Store, lines: list[str]) -> list[Point]:
    from telemetry import decode_line

    measurements = set()
    for x in lines:
        try:
            measurements.add(decode_line(x).measurement)
        except (ValueError, UnicodeError):
            continue
    out = []
    for m in sorted(measurements):
        out += await store.read(m, -(2**62), 2**62)
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts, st.integers(0, 3))
def test_bulk_lines_load_as_decode_blocks_writes_them(lines: list[str], cuts: int) -> None:
    """Any lines, in any chunks: refused alike, or the same count written and the same
    samples as decoding them in Python and writing the blocks."""

    async def run() -> None:
        # a chunk is one batch's lines
        encoded = [x.encode(errors="surrogateescape") for x in lines]
        chunks = [b"\n".join(part) for part in _parts(encoded, cuts + 1)]
        with tempfile.TemporaryDirectory() as d:
            a = await _python_road(lines, Path(d) / "s.db")
            b = await _bulk_road(chunks, Path(d) / "d.duckdb", lines)
            # refused either way (a decode error, or a store refusing a field's type: one
            # series holding two types is the first in Python, the second here): the
            # verifier reports E_BATCH_FORMAT for both
            refused = {"error", "rejected"}
            if a[0] in refused or b[0] in refused:
                assert {a[0], b[0]} <= refused, (a, b)
            else:
                assert a == b

    asyncio.run(run())


def _parts(items: list[bytes], n: int) -> list[list[bytes]]:
    size = max(1, -(-len(items) // n))
    return [items[i : i + size] for i in range(0, len(items), size)] or [[]]


# --- what a review found (each failed before its mend) ----------------------------------


async def _pair(tmp_path: Path, pts: list[Point]) -> tuple[SqliteStore, DuckdbStore]:
    sq, dk = SqliteStore(tmp_path / "s.db"), DuckdbStore(tmp_path / "d.duckdb")
    for st_ in (sq, dk):
        await st_.write(pts)
    return sq, dk


async def test_an_integer_sum_past_int64_is_refused_as_sqlite_refuses_it(tmp_path: Path) -> None:
    from telemetry import StoreQueryError

    sq, dk = await _pair(tmp_path, [Point("m", {"e": "a"}, {"i": 2**62}, t) for t in (1, 2, 3)])
    q = Aggregate(measurement="m", field="i", fn="sum", start_ns=0, end_ns=10)
    for st_ in (sq, dk):
        try:
            await st_.aggregate(q)
        except StoreQueryError:
            continue
        raise AssertionError(f"{st_.describe()} summed past int64")


async def test_float_sums_do_not_depend_on_the_write_order(tmp_path: Path) -> None:
    pts = [Point("m", {"e": "a"}, {"f": v}, t) for t, v in ((3, -1e16), (2, 1e16), (1, 1.0))]
    sq, dk = await _pair(tmp_path, pts)
    for fn in ("sum", "mean"):
        q = Aggregate(measurement="m", field="f", fn=fn, start_ns=0, end_ns=10)  # type: ignore[arg-type]
        pd.testing.assert_frame_equal(await sq.aggregate(q), await dk.aggregate(q))


async def test_field_equals_matches_no_value_of_another_kind(tmp_path: Path) -> None:
    pts = [Point("m", {"e": "a"}, {"s": "true", "f": 1.0, "b": True}, 1)]
    sq, dk = await _pair(tmp_path, pts)
    for field, want in (
        ("s", True),
        ("f", "1"),
        ("b", "true"),
        ("b", 1),
        ("f", True),
        ("s", "true"),
    ):
        q = Aggregate(measurement="m", field=field, fn="count", start_ns=0, end_ns=10,
                      field_equals=want)  # fmt: skip
        pd.testing.assert_frame_equal(await sq.aggregate(q), await dk.aggregate(q), obj=repr(q))


async def _loaded(tmp_path: Path, data: bytes) -> tuple[str, list[Point]]:
    lines = [x.decode() for x in data.split(b"\n")]
    return await _bulk_road([data], tmp_path / "d.duckdb", lines)


async def test_a_byte_order_mark_stays_part_of_the_name(tmp_path: Path) -> None:
    data = "\ufeffm f=1.0 1\n".encode()
    lines = [x.decode() for x in data.split(b"\n")]
    assert await _loaded(tmp_path, data) == await _python_road(lines, tmp_path / "s.db")


async def test_a_field_named_as_a_tag_of_its_series_is_refused(tmp_path: Path) -> None:
    assert (await _loaded(tmp_path, b"m,a=1 b=1.0 1\nm,a=1 a=2.0 2\n"))[0] == "error"


async def test_a_line_longer_than_duckdbs_reader_takes_loads(tmp_path: Path) -> None:
    data = ("m,a=" + "x" * (5 << 20) + " f=1.0 1\n").encode()
    outcome, pts = await _loaded(tmp_path, data)
    assert outcome == "written 1"
    assert len(pts) == 1


@pytest.mark.parametrize("segment_lines", [1, 3, 1 << 22])
async def test_a_later_batch_wins_over_an_earlier_one_on_either_road(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, segment_lines: int
) -> None:
    """The same series, field and time in two batches: the later line is kept, whether
    each line is cast in SQL or decoded in Python, within a segment or across two."""
    from telemetry.store import duck

    monkeypatch.setattr(duck, "SEGMENT_LINES", segment_lines)
    first = b'm f=1.0 5\nm f=2.0 6\nm f=3.0 7\nm s="a" 7\n'
    second = b'm f=9.0 7\nm s="b" 7\nm f=8.0 6\n'
    lines = [x.decode() for x in (first + second).split(b"\n")]
    bulk = await _bulk_road([first, second], tmp_path / "d.duckdb", lines)
    assert bulk == await _python_road(lines, tmp_path / "s.db")
    assert [p.fields for p in bulk[1]] == [{"f": 1.0}, {"f": 8.0}, {"f": 9.0, "s": "b"}]
