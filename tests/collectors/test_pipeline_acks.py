"""Acknowledgements of one commit given together, in order; others one by one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from collectors.buffer import Buffer
from collectors.health import HealthTracker
from collectors.metrics import Metrics
from collectors.pipeline import Pipeline
from collectors.roles import RoleMapper
from collectors.samples import Samples
from telemetry import DeclaredElement, DeclaredPoint, Inventory


@dataclass(eq=False)
class Grouped:
    n: int
    together: Callable[[list[Any]], None]

    def __call__(self) -> None:
        self.together([self])


def pipeline(tmp_path: Path) -> Pipeline:
    inv = Inventory(site="s", elements=(DeclaredElement(id="e", kind="sensor", link="5g",
                    points=(DeclaredPoint(id="p", period_s=1),)),))  # fmt: skip
    return Pipeline(Buffer(tmp_path / "b.db"), HealthTracker(inv, 60), Metrics("a"),
                    RoleMapper((), "s"))  # fmt: skip


def sample(i: int) -> Samples:
    s = Samples(10**18 + i)
    s.add(f"telemetry,element=e,point=p,site=s quality=0i,value={i}.0 {10**18 + i}",
          ("e", "p"), 0, float(i), {"site": "s", "element": "e", "point": "p"})  # fmt: skip
    return s


def test_a_commit_acknowledges_its_groups_once_each_in_submission_order(tmp_path: Path) -> None:
    p = pipeline(tmp_path)
    calls: list[list[int]] = []
    plain: list[int] = []
    together = lambda acks: calls.append([a.n for a in acks])  # noqa: E731
    work = []
    for i in range(6):
        done = Grouped(i, together) if i != 3 else (lambda: plain.append(3))
        work.append((sample(i), done))
    p._commit(work)
    assert calls == [[0, 1, 2, 4, 5]]
    assert plain == [3]
    assert p.metrics.points_in == 6


def test_a_refused_commit_acknowledges_nothing(tmp_path: Path) -> None:
    p = pipeline(tmp_path)
    p.buffer.max_bytes = 1  # full: nothing fits
    calls: list[list[int]] = []
    p._commit([(sample(0), Grouped(0, lambda acks: calls.append([a.n for a in acks])))])
    assert calls == []
    assert len(p._parked) == 1  # kept for a later try, unacknowledged
