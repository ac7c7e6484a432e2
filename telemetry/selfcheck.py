"""A store self-check: write a known little factory day, read it back, compare every answer.

Integrators run it (`pilotproof store check --store URL`) to prove that pilotproof can
write to and aggregate in their InfluxDB (1.x, or 2.x/3.x through the v1 API) before an
agent depends on it. It writes only to the measurement `pp_selfcheck`, tagged with a
run id, so it never mixes with KPI data and reruns never see each other.
"""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from pydantic import BaseModel

from telemetry.point import Point
from telemetry.store.base import Aggregate, AggregateFn, LocalDays, Store
from telemetry.timegrid import NS

MEASUREMENT = "pp_selfcheck"


class CheckResult(BaseModel):
    name: str
    name_zh: str
    expected: str
    got: str
    ok: bool


def _sample(run: str, start_ns: int) -> list[Point]:
    """6 elements x 2 days, one status a minute with a deterministic online pattern."""
    points = []
    links = ["5g", "5g", "wifi", "lora", "wired", "5g"]
    for e, link in enumerate(links):
        for minute in range(0, 2 * 24 * 60, 10):
            online = (minute // 10 + e) % (e + 2) != 0
            points.append(
                Point(
                    MEASUREMENT,
                    {"run": run, "element": f"E{e}", "link": link, "设备": f"机床{e}号"},
                    {"online": online, "rsrp": -70.0 - e - (minute % 7) * 0.5, "n": minute},
                    start_ns + minute * 60 * NS,
                )
            )
    return points


async def run_self_check(store: Store, tz: str = "Asia/Shanghai") -> list[CheckResult]:
    run = uuid.uuid4().hex[:12]
    zone = ZoneInfo(tz)
    today = datetime.now(zone).date()
    start = int(datetime(today.year, today.month, today.day, tzinfo=zone).timestamp()) * NS
    start -= 3 * 86_400 * NS  # three local days ago, so the window is complete
    end = start + 2 * 86_400 * NS
    pts = _sample(run, start)
    results: list[CheckResult] = []

    def check(name: str, zh: str, expected: object, got: object) -> None:
        results.append(
            CheckResult(
                name=name, name_zh=zh, expected=str(expected), got=str(got), ok=expected == got
            )
        )

    t = time.perf_counter()
    written = await store.write(pts)
    check(
        f"write {len(pts)} points ({time.perf_counter() - t:.2f} s)",
        "写入",
        len(pts),
        written.written,
    )
    rewrite = await store.write(pts[:10])  # idempotent: the same points again
    check("rewrite is idempotent", "重复写入幂等", 10, rewrite.written)

    def q(fn: AggregateFn, field: str, **kw: Any) -> Aggregate:
        return Aggregate(
            measurement=MEASUREMENT,
            field=field,
            fn=fn,
            start_ns=start,
            end_ns=end,
            where={"run": run},
            **kw,
        )

    def frame(df: pd.DataFrame) -> dict[str, object]:
        return {str(r[0]): r[-1] for r in df.itertuples(index=False)}

    # The expected answers, computed here in Python from the very points written.
    counts: dict[str, int] = defaultdict(int)
    online: dict[str, int] = defaultdict(int)
    last: dict[str, object] = {}
    sums: dict[str, int] = defaultdict(int)
    for p in pts:
        element = p.tags["element"]
        counts[element] += 1
        online[element] += p.fields["online"] is True
        last[element] = p.fields["online"]
        sums[p.tags["link"]] += int(p.fields["n"])

    check(
        "count per element",
        "每设备计数",
        dict(counts),
        frame(await store.aggregate(q("count", "online", group_by=("element",)))),
    )
    check(
        "online samples per element",
        "每设备在线次数",
        {k: v for k, v in online.items() if v},
        frame(
            await store.aggregate(q("count", "online", group_by=("element",), field_equals=True))
        ),
    )
    check(
        "last status per element",
        "每设备最新状态",
        last,
        frame(await store.aggregate(q("last", "online", group_by=("element",)))),
    )
    check(
        "sum per link",
        "按链路求和",
        dict(sorted(sums.items())),
        frame(await store.aggregate(q("sum", "n", group_by=("link",)))),
    )
    by_day = await store.aggregate(q("count", "online", buckets=LocalDays(tz=tz)))
    check(
        f"samples per local day ({tz})",
        "按本地日计数",
        [len(pts) // 2] * 2,
        [int(v) for v in by_day["value"]],
    )
    chinese = await store.read(MEASUREMENT, start, start + 1, where={"run": run, "element": "E3"})
    check(
        "Chinese tag round trip",
        "中文标签往返",
        "机床3号",
        chinese[0].tags.get("设备") if chinese else None,
    )
    return results
