"""Line protocol: escaping, canonical form, decoding, and round trips through real influxd."""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from telemetry import (
    LineProtocolError,
    Point,
    PointError,
    decode_blocks,
    decode_line,
    decode_lines,
    encode_line,
    encode_lines,
    series_key,
)
from telemetry.line_protocol import (
    telemetry_head,
    telemetry_line,
    telemetry_prefix,
    telemetry_stamp,
)
from telemetry.localserver import LocalInfluxd
from tests.conftest import new_influx_store

T = 1_767_225_600_000_000_000


@pytest.mark.parametrize(
    ("point", "line"),
    [
        (Point("cpu", {"host": "a"}, {"v": 1.0}, 5), "cpu,host=a v=1.0 5"),
        (Point("a b,c=d", {}, {"v": 1}, 5), "a\\ b\\,c=d v=1i 5"),
        (
            Point("m", {"k ,=": "v ,="}, {"f ,=": True}, 5),
            "m,k\\ \\,\\==v\\ \\,\\= f\\ \\,\\==true 5",
        ),
        (Point("m", {}, {"s": 'a"b\\c'}, 5), 'm s="a\\"b\\\\c" 5'),
        (Point("m", {"t": "x\\y"}, {"f": False}, 5), "m,t=x\\y f=false 5"),
        (Point("m", {"t": "a\\ b"}, {"f": 1.0}, 5), "m,t=a\\\\ b f=1.0 5"),
        (Point("车间", {"产线": "一号线"}, {"产量": 12}, -5), "车间,产线=一号线 产量=12i -5"),
        (
            Point("m", {}, {"f": 1e-05, "g": 1e16, "h": -0.0, "i": 0.1}, 1),
            "m f=1e-05,g=1e+16,h=-0.0,i=0.1 1",
        ),
        (
            Point("m", {}, {"i": -(2**63), "j": 2**63 - 1}, 1),
            "m i=-9223372036854775808i,j=9223372036854775807i 1",
        ),
    ],
)
def test_encoding_follows_influx_escaping(point: Point, line: str) -> None:
    assert encode_line(point) == line
    assert decode_line(line) == point


def test_canonical_form_sorts_tags_and_fields() -> None:
    a = Point("m", {"z": "1", "a": "2"}, {"y": 1.0, "b": 2.0}, 1)
    b = Point("m", {"a": "2", "z": "1"}, {"b": 2.0, "y": 1.0}, 1)
    assert encode_line(a) == encode_line(b) == "m,a=2,z=1 b=2.0,y=1.0 1"
    assert encode_lines([a, b]) == [encode_line(a)] * 2


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("m,b=2,a=1 x=1 7", Point("m", {"a": "1", "b": "2"}, {"x": 1.0}, 7)),
        (
            "m x=t,y=F,z=TRUE,w=False 7",
            Point("m", {}, {"x": True, "y": False, "z": True, "w": False}, 7),
        ),
        ("m x=1E5,y=-.5,z=3. 7", Point("m", {}, {"x": 1e5, "y": -0.5, "z": 3.0}, 7)),
        ('m s="a b,c=d" 7', Point("m", {}, {"s": "a b,c=d"}, 7)),
        ('m s="x\\y" 7', Point("m", {}, {"s": "x\\y"}, 7)),  # a lone backslash is literal
        ("m\\=x v=1 7", Point("m=x", {}, {"v": 1.0}, 7)),
    ],
)
def test_decoder_accepts_non_canonical_input(line: str, expected: Point) -> None:
    assert decode_line(line) == expected


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("m", "expected 2 or 3"),
        ("m v=1", "no timestamp"),
        ("m v=1 12x", "invalid timestamp"),
        ("m v=inf 1", "invalid field value"),
        ("m v=1_000 1", "invalid field value"),
        ("m v=1u 1", "unsigned"),
        ('m v="abc 1', "unterminated"),
        ("m,t v=1 1", "invalid tag"),
        ("m v=1, 1", "trailing comma"),
        ('m s="a",,t=1 1', "stray or trailing comma"),
        ("m v=99999999999999999999i 1", "out of the signed|outside the signed"),
    ],
)
def test_decoder_errors_name_line_and_reason(line: str, reason: str) -> None:
    with pytest.raises(LineProtocolError, match=rf"line 2: .*({reason})"):
        decode_lines(f"# a comment\n{line}\n")


def test_decode_skips_blank_lines_and_comments() -> None:
    text = "\n# header\nm v=1i 1\n\r\nm v=2i 2\n"
    assert [p.fields["v"] for p in decode_lines(text)] == [1, 2]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"measurement": ""}, "measurement name is empty"),
        ({"measurement": "#m"}, "start with '#'"),
        ({"measurement": "a\\b"}, "backslash"),
        ({"tags": {"": "v"}}, "key '': tag key is empty"),
        ({"tags": {"k": ""}}, "key 'k': tag value is empty"),
        ({"tags": {"k": "v\\"}}, "ends with a backslash"),
        ({"tags": {"k": "a\nb"}}, "line break"),
        ({"tags": {"k": 3}}, "tag value must be a string, got int 3"),
        ({"tags": {"time": "x"}}, "reserved"),
        ({"fields": {}}, "at least one field"),
        ({"fields": {"v": float("nan")}}, "key 'v': field value nan is not finite"),
        ({"fields": {"v": float("-inf")}}, "not finite"),
        ({"fields": {"v": [1]}}, "unsupported type list"),
        ({"fields": {"v": 2**63}}, "outside the signed 64-bit range"),
        ({"fields": {"v": "a\nb"}}, "line break"),
        ({"fields": {"v": "\ud800"}}, "lone surrogate"),
        ({"fields": {"k": 1.0}, "tags": {"k": "x"}}, "both a tag and a field"),
        ({"time_ns": 1.5}, "time_ns must be an int"),
    ],
)
def test_invalid_points_are_refused_with_the_place_named(
    kwargs: dict[str, object], message: str
) -> None:
    args: dict[str, object] = {
        "measurement": "meter",
        "tags": {"line": "L1"},
        "fields": {"v": 1.0},
        "time_ns": 1,
    }
    args.update(kwargs)
    with pytest.raises(PointError) as err:
        Point(**args)  # type: ignore[arg-type]
    assert message in str(err.value)
    assert f"point {args['measurement']!r}" in str(err.value)


def test_points_are_immutable_and_type_exact() -> None:
    p = Point("m", {"a": "1"}, {"v": 1}, 1)
    with pytest.raises(AttributeError):
        p.time_ns = 2  # type: ignore[misc]
    with pytest.raises(TypeError):
        p.tags["a"] = "2"  # type: ignore[index]
    assert p != Point("m", {"a": "1"}, {"v": 1.0}, 1)
    assert p != Point("m", {"a": "1"}, {"v": True}, 1)
    assert p == Point("m", {"a": "1"}, {"v": 1}, 1)


# --- property tests ---------------------------------------------------------------------

# Text with every character line protocol has to escape, Chinese, and anything printable.
_special = st.sampled_from([",", " ", "=", '"', "\\", "'", "中", "文", "車", "é", "#", "\t"])
_text = st.text(
    alphabet=st.one_of(_special, st.characters(min_codepoint=0x20, blacklist_categories=("Cs",))),
    min_size=1,
    max_size=12,
)


def _valid_name(s: str) -> bool:
    return not s.endswith("\\") and "\t" not in s and "\x7f" not in s


def _valid_field_key(s: str) -> bool:
    return not any(f"\\{c}" in s for c in ', ="')


_name = _text.filter(_valid_name)
_field_value = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.booleans(),
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"),
        max_size=30,
    ),
)


@st.composite
def points(draw: st.DrawFn) -> Point:
    measurement = draw(
        _name.filter(lambda s: "\\" not in s and not s.startswith("#") and s.strip() == s)
    )
    tag_keys = draw(
        st.lists(
            _name.filter(lambda k: k not in {"time", "_field", "_measurement"}),
            max_size=4,
            unique=True,
        )
    )
    tags = {k: draw(_name) for k in tag_keys}
    fields = draw(
        st.dictionaries(
            _name.filter(
                lambda k: (
                    k not in tags
                    and k not in {"time", "_field", "_measurement"}
                    and _valid_field_key(k)
                )
            ),
            _field_value,
            min_size=1,
            max_size=4,
        )
    )
    t = draw(st.integers(min_value=-(2**62), max_value=2**62))
    return Point(measurement, tags, fields, t)


@given(points())
@settings(max_examples=500)
def test_decode_inverts_encode(p: Point) -> None:
    line = encode_line(p)
    assert decode_line(line) == p
    assert encode_lines([p]) == [line]


_influx_ids = itertools.count()


@given(st.lists(points(), min_size=1, max_size=5))
@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
async def test_real_influxd_returns_points_unchanged(
    influxd: LocalInfluxd, batch: list[Point]
) -> None:
    # One database per example, so examples never meet.
    store = await new_influx_store(influxd, batch_size=2)
    try:
        # InfluxDB fixes a field's type per measurement and keeps the last write of a
        # series and time: give each point a measurement of its own.
        unique = [
            Point(f"{p.measurement}.{i}", p.tags, p.fields, p.time_ns) for i, p in enumerate(batch)
        ]
        result = await store.write(unique)
        assert result.rejected == []
        for p in unique:
            got = await store.read(p.measurement, p.time_ns, p.time_ns + 1, where=dict(p.tags))
            assert got == [p]
    finally:
        await store.close()


def test_a_field_key_cannot_smuggle_an_invalid_measurement_past_the_cache() -> None:
    Point("m", None, {"#x": 1.0, "a\\b": 2.0}, 1)  # both are valid field keys
    with pytest.raises(PointError, match="start with '#'"):
        Point("#x", None, {"f": 1.0}, 1)
    with pytest.raises(PointError, match="backslash"):
        Point("a\\b", None, {"f": 1.0}, 1)


@pytest.mark.parametrize("key", ["a\\ b", "a\\,b", "a\\=b", 'a\\"b'])
def test_field_keys_refuse_a_backslash_influx_would_read_as_escape(key: str) -> None:
    # Probed on influxd 1.6: the first three are refused, the last is stored as 'a"b'.
    with pytest.raises(PointError, match="backslash before"):
        Point("m", None, {key: 1.0}, 1)
    Point("m", {"t": key}, {"a\\b": 1.0}, 1)  # in tag values and elsewhere they are fine


def test_decoder_refuses_underscored_integers() -> None:
    with pytest.raises(LineProtocolError, match="invalid integer"):
        decode_lines("m f=1_0i 1")


@settings(max_examples=150, deadline=None)
@given(st.lists(points(), min_size=1, max_size=30), st.randoms())
def test_decode_blocks_gives_the_samples_decode_lines_gives(
    pts: list[Point], rnd: random.Random
) -> None:
    """The bulk path: the same samples, grouped per series (a series seen again later in
    the input joins its block), with escapes and quotes going the slow way."""
    # repeat some series at other times, so blocks get several rows
    more = [Point(p.measurement, p.tags, p.fields, p.time_ns + 1 + i) for i, p in enumerate(pts)]
    lines = [encode_line(p) for p in pts + more]
    rnd.shuffle(lines)
    decoded = decode_lines(lines)
    kinds: dict[tuple[str, str], set[type]] = {}
    for p in decoded:
        for k, v in p.fields.items():
            kinds.setdefault((series_key(p), k), set()).add(type(v))
    if any(len(t) > 1 for t in kinds.values()):
        # a series whose field changes type between samples cannot be one block
        with pytest.raises(LineProtocolError, match="mixes"):
            decode_blocks(lines)
        return
    expected = sorted(encode_line(p) for p in decoded)
    got = sorted(encode_line(p) for b in decode_blocks(lines) for p in b.points())
    assert got == expected


_telemetry_tags = st.dictionaries(
    _name.filter(lambda k: k not in {"time", "_field", "_measurement", "quality", "value"}),
    _name,
    max_size=4,
)


@given(
    _telemetry_tags,
    st.sampled_from([0, 1, 2]),
    st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False)),
    st.integers(min_value=-(2**62), max_value=2**62),
)
def test_a_drivers_own_telemetry_line_is_the_canonical_one(
    tags: dict[str, str], quality: int, value: float | None, t: int
) -> None:
    fields: dict[str, float | int] = {"quality": quality}
    if value is not None:
        fields["value"] = value
    prefix = telemetry_prefix(tags)
    line = telemetry_line(prefix, quality, value, t)
    assert line == encode_line(Point("telemetry", tags, fields, t))
    if value is not None:  # the prepared head and stamp a poll uses make the same line
        assert f"{telemetry_head(prefix, quality)}{value!r}{telemetry_stamp(t)}" == line


def test_a_telemetry_prefix_refuses_tags_a_point_refuses() -> None:
    with pytest.raises(PointError, match="reserved"):
        telemetry_prefix({"time": "x"})
    with pytest.raises(PointError, match="both a tag and a field"):
        telemetry_prefix({"value": "x"})
