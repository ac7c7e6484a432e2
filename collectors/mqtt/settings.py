"""The settings of an MQTT source: `[[sources.mqtt]]` and its subscriptions."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from collectors.settings import Settings

#: names a topic level may not capture: they are the fields and keys of a stored row
RESERVED_TOPIC_NAMES = frozenset({"quality", "value", "text", "time", "_measurement", "_field"})
_LEVEL_NAME = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]*)\}$")


def check_topic_template(template: str) -> str:
    """A topic template: levels that are literal text, or exactly one `{name}`. Refused:
    MQTT wildcards (the template makes the filter), a `{name}` inside a level, a name
    twice or a reserved one."""
    if not template or len(template.encode()) > 65535:
        raise ValueError("a topic template must be 1 to 65,535 bytes")
    names: list[str] = []
    for level in template.split("/"):
        m = _LEVEL_NAME.match(level)
        if m:
            names.append(m.group(1))
            continue
        if any(c in level for c in "{}"):
            raise ValueError(
                f"topic {template!r}: level {level!r} mixes text and a {{name}}; a name takes "
                "a whole level (e.g. factory/{element}/telemetry)"
            )
        if any(c in level for c in "+#\0"):
            raise ValueError(
                f"topic {template!r}: level {level!r} holds an MQTT wildcard or NUL; write "
                "{name} for a level that varies (it becomes a tag)"
            )
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"topic {template!r} names {{{dup[0]}}} twice")
    bad = sorted(set(names) & RESERVED_TOPIC_NAMES)
    if bad:
        raise ValueError(
            f"topic {template!r}: {{{bad[0]}}} would be a tag named like a field or key of "
            f"the row; rename it"
        )
    return template


class MqttSubscription(Settings):
    topic: str = Field(
        description="a topic template; {name} parts become tags, e.g. factory/{site}/{element}/x"
    )
    format: Literal["telemetry", "status", "identifier", "line"] = Field(
        default="telemetry",
        description="telemetry: {ts, values, quality}; status: an NMS/CPE link export; "
        "identifier: node counts; line: InfluxDB line protocol",
    )
    fields: tuple[str, ...] = Field(default=(), description="keep only these values (telemetry)")
    time_unit: Literal["s", "ms", "us", "ns"] = "ms"

    @field_validator("topic")
    @classmethod
    def _template(cls, v: str) -> str:
        return check_topic_template(v)

    @model_validator(mode="after")
    def _element(self) -> MqttSubscription:
        if self.format == "telemetry" and "{element}" not in self.topic.split("/"):
            raise ValueError(
                f"topic {self.topic!r}: a telemetry subscription needs an {{element}} level "
                "(the element a message's values belong to)"
            )
        return self


class MqttSource(Settings):
    name: str = "mqtt"
    url: str = Field(description="mqtt://host:1883 or mqtts://host:8883")
    client_id: str | None = Field(default=None, description="default: pilotproof-<agent id>")
    username: str | None = None
    password: str | None = None
    ca_file: Path | None = None
    subscriptions: tuple[MqttSubscription, ...] = Field(min_length=1)
