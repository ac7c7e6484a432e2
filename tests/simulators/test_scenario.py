"""Scenario files: errors name the file, the line, the key and the value."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulators import ScenarioError, load_scenario, parse_scenario

BASE = """name: t
site: s
evaluation: {from: "2026-10-01T00:00:00", to: "2026-10-02T00:00:00"}
elements:
  - id: a
    kind: machine
    link: wired
    points:
      - {id: p, type: float64}
"""


def test_unknown_point_type_names_file_line_key_and_value(tmp_path: Path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text(BASE.replace("type: float64", "type: int17"))
    with pytest.raises(ScenarioError) as e:
        load_scenario(f)
    msg = str(e.value)
    assert f"{f}:9" in msg
    assert "elements[0].points[0].type" in msg
    assert "'int17'" in msg


def test_unknown_kind_and_link_say_what_is_allowed() -> None:
    with pytest.raises(ScenarioError) as e:
        parse_scenario(
            BASE.replace("kind: machine", "kind: robot").replace("link: wired", "link: 6g")
        )
    msg = str(e.value)
    assert "unknown element kind 'robot'" in msg
    assert "machine" in msg
    assert "unknown link '6g'" in msg
    assert "5g" in msg


def test_unknown_key_is_refused() -> None:
    with pytest.raises(ScenarioError, match=r"elements\[0\]\.colour"):
        parse_scenario(BASE.replace("    kind: machine", "    colour: red\n    kind: machine"))


def test_template_needs_placeholder_and_ids_are_unique() -> None:
    with pytest.raises(ScenarioError, match="placeholder"):
        parse_scenario(BASE.replace("  - id: a\n", "  - id: a\n    count: 3\n"))
    dup = BASE + "  - {id: a, kind: sensor, link: lora}\n"
    with pytest.raises(ScenarioError, match="'a' appears twice"):
        parse_scenario(dup)


def test_times_without_offset_are_in_the_scenario_zone() -> None:
    s = parse_scenario(BASE)
    assert s.evaluation.start.utcoffset().total_seconds() == 8 * 3600  # type: ignore[union-attr]


def test_missing_file_lists_the_examples() -> None:
    with pytest.raises(ScenarioError, match="fiveg-factory-pass"):
        load_scenario("no-such-scenario")


def test_not_yaml() -> None:
    with pytest.raises(ScenarioError, match="not valid YAML"):
        parse_scenario("a: [1, 2")
