"""What the operator views read from the store: element status, agent health, and the
warnings drawn from both (and from an evaluation's coverage)."""

import asyncio
from datetime import UTC, datetime, timedelta

from fastapi import HTTPException

from kpi import Evaluation, Window
from pilotproof.web.models import AgentView, ElementView, Warning
from pilotproof.web.state import Service
from telemetry import Aggregate, StoreError
from telemetry.seal import KPI_STREAM
from telemetry.timegrid import NS

#: how far back agents are looked for: one silent longer than this is shown as never seen
AGENT_LOOKBACK = timedelta(days=31)
#: an agent is stale when no row of its own arrived for this many status intervals
STALE_INTERVALS = 3
#: a buffer this full is a warning: at its cap new points are refused
FILL_ALERT = 0.8
#: pp_batch rows sit at time = seq: this bound reads them all
SEQ_END = 1 << 62
#: the pp_agent fields an AgentView shows, as they are named in the row
AGENT_FIELDS = (
    "points_in", "points_out", "parse_errors", "driver_errors", "store_rejected",
    "buffer_full", "buffer_pending", "buffer_sealed", "buffer_bytes", "buffer_max_bytes",
    "drivers", "connected", "sealer_up", "store_up",
)  # fmt: skip


def _ts(ns: int) -> datetime | None:
    """A time from ns, or None for one no datetime holds (a row nobody verified)."""
    try:
        return datetime.fromtimestamp(ns / NS, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _count(v: object) -> int | None:
    """A figure of an agent's own row as a count, or None when it is not one: the rows
    come from any process that can write to the store, and must not take the view down."""
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return v if v >= 0 else None
    if isinstance(v, float) and v.is_integer() and v >= 0:
        return int(v)
    return None


async def _aggregate(svc: Service, q: Aggregate) -> list[dict[str, object]]:
    try:
        df = await svc.store.aggregate(q)
    except StoreError as e:
        raise HTTPException(503, f"the store is unavailable: {e}") from None
    # records, not iterrows: a row Series upcasts an int time to float beside a float value
    return [{str(k): None if v != v else v for k, v in r.items()} for r in df.to_dict("records")]


async def elements(svc: Service) -> list[ElementView]:
    """Declared production elements with their last reported status (last 24 h)."""
    end = svc.now()
    day = Window(start=end - timedelta(days=1), end=end)
    rows = await _aggregate(svc, Aggregate.over(
        day, "element_status", "online", "last", group_by=("element",),
        where={"site": svc.inventory.site}, keep_time=True,
    ))  # fmt: skip
    last = {str(r["element"]): (bool(r["value"]), _count(r["time"]) or 0) for r in rows}
    out = []
    for el in svc.inventory.elements:
        seen = last.get(el.id)
        out.append(
            ElementView(
                id=el.id, kind=el.kind, declared_link=el.link, key_equipment=el.key_equipment,
                numerically_controlled=el.numerically_controlled,
                online=seen[0] if seen else None,
                last_seen=_ts(seen[1]) if seen else None,
            )
        )  # fmt: skip
    return out


async def agents(svc: Service) -> list[AgentView]:
    """Every agent that wrote a `pp_agent` row for this site in the last 31 days, and every
    agent the trusted-keys file pins to it: its newest figures and its stored chain."""
    site = svc.inventory.site
    end = svc.now()
    span = Window(start=end - AGENT_LOOKBACK, end=end + timedelta(minutes=5))
    where = {"site": site}
    reads = [
        _aggregate(svc, Aggregate.over(span, "pp_agent", f, "last", group_by=("agent",),
                                       where=where, keep_time=True))
        for f in AGENT_FIELDS
    ]  # fmt: skip
    chain = Window.of_ns(0, SEQ_END)
    reads.append(_aggregate(svc, Aggregate.over(
        chain, "pp_batch", "last_ns", "last", group_by=("agent",),
        where={**where, "stream": KPI_STREAM},
    )))  # fmt: skip
    reads.append(_aggregate(svc, Aggregate.over(
        chain, "pp_batch", "seq", "max", group_by=("agent",),
        where={**where, "stream": KPI_STREAM},
    )))  # fmt: skip
    *fields, last_ns, max_seq = await asyncio.gather(*reads)
    figures: dict[str, dict[str, object]] = {}
    newest: dict[str, int] = {}
    for name, rows in zip(AGENT_FIELDS, fields, strict=True):
        for r in rows:
            agent = str(r["agent"])
            figures.setdefault(agent, {})[name] = r["value"]
            newest[agent] = max(newest.get(agent, 0), _count(r["time"]) or 0)
    # as stored: what the chain check of a bundle verifies, this view only shows
    sealed = {str(r["agent"]): n for r in last_ns if (n := _digits(r["value"])) is not None}
    stored = {str(r["agent"]): n + 1 for r in max_seq if (n := _count(r["value"])) is not None}
    trust = svc.jobs.spec.trust
    pinned = {k.name: k.site for k in trust.key if k.role == "agent"} if trust else {}
    names = set(figures) | {a for a, s in pinned.items() if s == site}
    stale_after = timedelta(seconds=STALE_INTERVALS * svc.inventory.status_interval_s)
    out = []
    for agent in sorted(names):
        f = figures.get(agent, {})

        def num(key: str, f: dict[str, object] = f) -> int | None:
            return _count(f.get(key))

        last = _ts(newest[agent]) if agent in newest else None
        size, cap = num("buffer_bytes"), num("buffer_max_bytes")
        pending, sealed_lines = num("buffer_pending"), num("buffer_sealed")
        out.append(
            AgentView(
                agent=agent, pinned_site=pinned.get(agent), last_report=last,
                stale=last is None or end - last > stale_after,
                points_in=num("points_in"), points_out=num("points_out"),
                parse_errors=num("parse_errors"), driver_errors=num("driver_errors"),
                store_rejected=num("store_rejected"), buffer_full=num("buffer_full"),
                backlog_lines=None if pending is None else pending + (sealed_lines or 0),
                buffer_bytes=size, buffer_max_bytes=cap,
                buffer_fill=size / cap if size is not None and cap else None,
                drivers=num("drivers"), connected=num("connected"),
                sealer_up=None if num("sealer_up") is None else bool(num("sealer_up")),
                store_up=None if num("store_up") is None else bool(num("store_up")),
                batches_stored=stored.get(agent),
                sealed_until=_ts(sealed[agent]) if agent in sealed else None,
            )
        )  # fmt: skip
    return out


def _digits(v: object) -> int | None:
    """`last_ns` is a string field: its digits as an int, or None."""
    text = str(v) if v is not None else ""
    return int(text) if text.isdigit() and len(text) <= 20 else None


def _named(ids: list[str], most: int = 8) -> str:
    shown = ", ".join(ids[:most])
    return shown + (f" … (+{len(ids) - most})" if len(ids) > most else "")


def warnings(
    svc: Service,
    els: list[ElementView],
    ags: list[AgentView],
    evaluation: Evaluation | None,
) -> list[Warning]:
    """What an operator should look at: offline or silent elements, stale agents, filling
    buffers, a store or driver down, and coverage gaps in the evaluated window."""
    out: list[Warning] = []
    offline = [e.id for e in els if e.online is False]
    if offline:
        out.append(Warning(
            code="W_ELEMENT_OFFLINE", severity="alert", subject=_named(offline),
            message_zh=f"{len(offline)} 个生产要素最近一次状态为离线：{_named(offline)}",
            message_en=f"{len(offline)} element(s) last reported offline: {_named(offline)}",
        ))  # fmt: skip
    silent = [e.id for e in els if e.online is None]
    if silent:
        out.append(Warning(
            code="W_ELEMENT_SILENT", severity="notice", subject=_named(silent),
            message_zh=f"{len(silent)} 个生产要素近 24 小时无状态上报：{_named(silent)}"
                       "（采集代理未运行，或未读取它们）",
            message_en=f"{len(silent)} element(s) reported no status in the last 24 h: "
                       f"{_named(silent)} (no agent running, or none reads them)",
        ))  # fmt: skip
    for a in ags:
        seen = a.last_report.isoformat(timespec="seconds") if a.last_report else None
        if a.stale:
            out.append(Warning(
                code="W_AGENT_STALE", severity="alert", subject=a.agent,
                message_zh=f"采集代理 {a.agent} " + (f"自 {seen} 起无自检上报" if seen else
                           "从未上报（信任文件中已登记）") + "：检查网关与 pilotproof-agent 服务",
                message_en=f"agent {a.agent} " + (f"has reported nothing since {seen}" if seen
                           else "never reported (it is in the trusted-keys file)")
                           + ": check the gateway and its pilotproof-agent service",
            ))  # fmt: skip
            continue  # its figures are old: the warnings below would repeat this one
        if a.buffer_fill is not None and a.buffer_fill >= FILL_ALERT:
            pct = f"{a.buffer_fill:.0%}"
            out.append(Warning(
                code="W_BUFFER_FILLING", severity="alert", subject=a.agent,
                message_zh=f"采集代理 {a.agent} 的缓存已用 {pct}，满后将拒收新数据："
                           "检查到存储的连接",
                message_en=f"agent {a.agent}'s buffer is {pct} full; at its cap new points are "
                           "refused: check its connection to the store",
            ))  # fmt: skip
        if a.store_up is False or a.sealer_up is False:
            out.append(Warning(
                code="W_FORWARDING_DOWN", severity="alert", subject=a.agent,
                message_zh=f"采集代理 {a.agent} 当前无法写入存储（数据留在其缓存中）",
                message_en=f"agent {a.agent} cannot write to the store now (its points wait "
                           "in its buffer)",
            ))  # fmt: skip
        if a.drivers and a.connected is not None and a.connected < a.drivers:
            out.append(Warning(
                code="W_DRIVER_DOWN", severity="alert", subject=a.agent,
                message_zh=f"采集代理 {a.agent}：{a.drivers - a.connected}/{a.drivers} "
                           "个数据源未连接",
                message_en=f"agent {a.agent}: {a.drivers - a.connected} of {a.drivers} "
                           "sources not connected",
            ))  # fmt: skip
    if evaluation is not None:
        gaps: dict[str, tuple[int, int]] = {}
        for r in evaluation.results:
            for c in r.coverage:
                if c.hours_with_data < c.hours:
                    gaps[c.measurement] = (c.hours_with_data, c.hours)
        for m, (have, total) in sorted(gaps.items()):
            out.append(Warning(
                code="W_COVERAGE_GAP", severity="notice", subject=m,
                message_zh=f"{m}：评估期内 {total} 个整点小时中仅 {have} 个有数据"
                           "（覆盖率按整点小时计，不足一小时或跨整点的时段按所在小时计）",
                message_en=f"{m}: data in {have} of the window's {total} clock hours "
                           "(coverage counts whole clock hours; a part-hour counts as its hour)",
            ))  # fmt: skip
    return out
