"""`Samples`: telemetry a driver encoded itself, the hot path from a poll or message to the buffer.

A Modbus poll of 40 registers or an MQTT message of 10 values would otherwise become
40 or 10 `Point` objects, each validated and then encoded again by the committer — more
than the protocol library spends receiving them. A driver instead makes each series'
line prefix once (`telemetry.telemetry_prefix`, validated like a Point's tags) and per
sample only formats the value (`telemetry.telemetry_line`). Health and point roles read
the keys, qualities and values kept beside the lines.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from telemetry import Point


@dataclass(slots=True)
class Samples:
    """Canonical `telemetry` lines stamped `t_ns`, with each one's key, quality and value."""

    t_ns: int
    lines: list[str] = field(default_factory=list)
    keys: list[tuple[str, str]] = field(default_factory=list)  # (element, point)
    qualities: list[int] = field(default_factory=list)
    values: list[float | str | None] = field(default_factory=list)  # str: a `text` sample
    tags: list[dict[str, str]] = field(default_factory=list)  # for `points()` only

    def add(
        self, line: str, key: tuple[str, str], quality: int, value: float | str | None,
        tags: dict[str, str],
    ) -> None:  # fmt: skip
        self.lines.append(line)
        self.keys.append(key)
        self.qualities.append(quality)
        self.values.append(value)
        self.tags.append(tags)

    def __len__(self) -> int:
        return len(self.lines)

    def points(self) -> list[Point]:
        """The same samples as Points (tests and slow paths; the lines are what is kept)."""
        out = []
        for tags, q, v in zip(self.tags, self.qualities, self.values, strict=True):
            fields: dict[str, float | int | str] = {"quality": q}
            if isinstance(v, str):
                fields["text"] = v
            elif v is not None:
                fields["value"] = v
            out.append(Point("telemetry", tags, fields, self.t_ns))
        return out


Accepted = list[Point] | Samples
"""What a driver hands the pipeline: Points (any measurement) or its own telemetry lines."""


def as_points(item: Accepted) -> list[Point]:
    return item.points() if isinstance(item, Samples) else item
