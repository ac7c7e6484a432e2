"""The Prometheus text exposition format (version 0.0.4), written once for the agent's
`/metrics` and the web service's."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

Labels = Mapping[str, str]
Kind = Literal["counter", "gauge"]


@dataclass
class Family:
    """One metric: its name, type and help, and a value per label set.

    Args:
        name: the metric name, e.g. `pilotproof_points_in_total`.
        kind: `counter` or `gauge`.
        help: one line saying what it counts.
        samples: `(labels, value)` pairs; a family without samples still prints its
            HELP and TYPE, so a scraper learns the metric before its first event.
    """

    name: str
    kind: Kind
    help: str
    samples: list[tuple[Labels, float]] = field(default_factory=list)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return str(int(value))
    return repr(float(value))


def exposition(families: Iterable[Family]) -> str:
    """The text a Prometheus scraper reads; label values escaped as the format says."""
    out: list[str] = []
    for f in families:
        out += [f"# HELP {f.name} {f.help}", f"# TYPE {f.name} {f.kind}"]
        for labels, value in f.samples:
            inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
            out.append(
                f"{f.name}{{{inner}}} {_number(value)}" if inner else f"{f.name} {_number(value)}"
            )
    return "\n".join(out) + "\n"
