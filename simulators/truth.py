"""The true KPI values of a scenario, derived from the scenario alone.

No collected data is read: counts come from the schedules by interval arithmetic and
production figures from the rates in closed form, so a pipeline that drops, doubles or
shifts samples disagrees with this. Semantics follow DESIGN.md ("KPI semantics"); the
parameters are the documented defaults and can be overridden.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from fractions import Fraction

from pydantic import BaseModel, ConfigDict, Field

from simulators.behaviour import FactoryModel, split_largest_remainder
from simulators.breadth_truth import breadth_truth
from simulators.intervals import NS, grid_count, grid_count_in, local_midnight_ns, merge
from simulators.scenario import Period, Scenario
from telemetry.schema import DEVICE_KINDS, LINK_5G, WIRELESS_LINKS

#: categories of point in scope of each collection-rate KPI
SCADA_SCOPE = frozenset({"production", "operation", "quality", "equipment", "process", "material"})
PROCESS_SCOPE = frozenset({"process", "quality"})

#: the Ningbo 综合绩效 thresholds (file 003: 综合生产效率提高20%以上，运营成本降低20%以上，
#: 产品研制周期缩短30%以上，产品不良品率降低20%以上，能源利用率提高10%以上)
IMPROVEMENT_THRESHOLDS: dict[str, Fraction] = {
    "production_efficiency_improvement": Fraction(1, 5),
    "operating_cost_reduction": Fraction(1, 5),
    "rd_cycle_reduction": Fraction(3, 10),
    "defect_rate_reduction": Fraction(1, 5),
    "energy_utilization_improvement": Fraction(1, 10),
}

#: profiles whose connected_devices_count counts devices on any link, not on 5G; a truth
#: key `kpi@profile` is that profile's value where it differs from the KPI's default
#: (the industry-chain platforms count so too; tests/kpi/test_truth.py reads none of them)
PLATFORM_PROFILES = (
    "ningbo-industry-platform",
    "ningbo-industry-platform-existing",
    "ningbo-industrial-os-platform",
)

LABELS: dict[str, tuple[str, str]] = {
    "fiveg_wireless_networking_rate": (
        "基于5G网络连接的生产要素无线联网率",
        "5G share of wireless elements",
    ),
    "connected_devices_count": ("5G连接生产设备/仪器仪表/传感器数量", "Devices connected over 5G"),
    "key_equipment_nc_rate": ("关键装备数控化率", "Key-equipment NC rate"),
    "scada_auto_upload_rate": (
        "生产现场数据自动上传比例",
        "Production data uploaded automatically",
    ),
    "process_data_auto_collection_rate": ("生产过程数据自动采集率", "Process data auto-collection"),
    "auto_control_utilization_rate": ("工厂自控投用率", "Automatic-control utilisation"),
    "daily_avg_identifier_resolutions": ("日均标识解析量", "Daily identifier resolutions"),
    "daily_avg_identifier_resolutions_30d": ("近30日日均解析量", "Daily resolutions, last 30 days"),
    "served_chain_enterprises": ("服务上下游企业数", "Enterprises served"),
    "connected_enterprises": ("接入企业数量", "Enterprises connected"),
    "identifier_registrations": ("标识注册量", "Registered identifiers"),
    "production_efficiency_improvement": ("综合生产效率提高", "Production efficiency improvement"),
    "operating_cost_reduction": ("运营成本降低（申报）", "Operating cost reduction (declared)"),
    "rd_cycle_reduction": ("产品研制周期缩短（申报）", "R&D cycle reduction (declared)"),
    "defect_rate_reduction": ("产品不良品率降低", "Defect rate reduction"),
    "energy_utilization_improvement": ("能源利用率提高", "Energy utilisation improvement"),
    "comprehensive_performance_composite": ("综合绩效（满足指标数）", "Improvement indicators met"),
}


class TruthParams(BaseModel):
    model_config = ConfigDict(frozen=True)
    min_online_fraction: Fraction = Fraction(1, 2)
    min_point_completeness: Fraction = Fraction(95, 100)


class TruthValue(BaseModel):
    """One KPI's true value: exact, with its integer numerator and denominator when it has them."""

    model_config = ConfigDict(frozen=True)
    kpi: str
    value: Fraction | bool | None = Field(
        description="yes/no for a qualitative clause; None when the data cannot decide"
    )
    numerator: int | None = None
    denominator: int | None = None
    source: str = Field(default="measured", description="measured, or declared by the factory")
    note: str = ""
    breakdown: dict[str, str] = Field(default_factory=dict)

    @property
    def decimal(self) -> str:
        if isinstance(self.value, bool):
            return "yes" if self.value else "no"
        return "n/a" if self.value is None else f"{float(self.value):.6g}"


class Truth(BaseModel):
    model_config = ConfigDict(frozen=True)
    scenario: str
    window: Period
    baseline: Period | None
    params: TruthParams
    values: dict[str, TruthValue]

    def __getitem__(self, kpi: str) -> TruthValue:
        return self.values[kpi]


def _ratio(kpi: str, num: int, den: int, note: str = "", **kw: object) -> TruthValue:
    return TruthValue(
        kpi=kpi,
        value=Fraction(num, den) if den else None,
        numerator=num,
        denominator=den,
        note=note or ("" if den else "no denominator: insufficient data"),
        **kw,
    )


def compute_truth(
    scenario: Scenario,
    window: Period | None = None,
    params: TruthParams | None = None,
) -> Truth:
    window = window or scenario.evaluation
    params = params or TruthParams()
    model = FactoryModel(scenario)
    a, b = window.start_ns, window.end_ns
    values: dict[str, TruthValue] = {}

    def add(v: TruthValue) -> None:
        values[v.kpi] = v

    online, observed = _online_elements(model, a, b, params)
    elements = scenario.expanded_elements()

    # 5G share of wirelessly networked elements (wired ones are in neither count)
    wireless = [e.id for e in elements if e.id in online and observed[e.id] in WIRELESS_LINKS]
    on5g = [i for i in wireless if observed[i] == LINK_5G]
    if any(e.link in WIRELESS_LINKS for e in elements):
        by_link: dict[str, int] = {}
        for i in wireless:
            by_link[observed[i]] = by_link.get(observed[i], 0) + 1
        add(
            _ratio(
                "fiveg_wireless_networking_rate",
                len(on5g),
                len(wireless),
                breakdown={k: str(v) for k, v in sorted(by_link.items())},
            )
        )
    devices = [e.id for e in elements if e.kind in DEVICE_KINDS]
    if devices:
        on_5g = [i for i in devices if i in online and observed[i] == LINK_5G]
        any_link = [i for i in devices if i in online]
        add(
            TruthValue(
                kpi="connected_devices_count",
                value=Fraction(len(on_5g)),
                numerator=len(on_5g),
                note="device kinds online on 5G in the window",
                breakdown={"online_any_link": str(len(any_link)), "declared": str(len(devices))},
            )
        )
        # the platform profiles count devices online on any link (measures.yaml override)
        for profile in PLATFORM_PROFILES:
            add(
                TruthValue(
                    kpi=f"connected_devices_count@{profile}",
                    value=Fraction(len(any_link)),
                    numerator=len(any_link),
                )
            )
    key = [e for e in elements if e.key_equipment]
    if key:
        nc = [e.id for e in key if e.numerically_controlled and e.id in online]
        add(_ratio("key_equipment_nc_rate", len(nc), len(key)))

    for kpi, scope in (
        ("scada_auto_upload_rate", SCADA_SCOPE),
        ("process_data_auto_collection_rate", PROCESS_SCOPE),
    ):
        total = complete = 0
        manual = 0
        for e in elements:
            for p in e.points:
                if p.category not in scope:
                    continue
                total += 1
                expected, _received, good = model.samples_good(e.id, p.id, a, b)
                if p.collection == "manual":
                    manual += 1
                elif expected and Fraction(good, expected) >= params.min_point_completeness:
                    complete += 1
        if total:
            add(_ratio(kpi, complete, total, breakdown={"manual_points": str(manual)}))

    if scenario.loops:
        auto = samples = 0
        per_loop = {}
        step = scenario.status_interval_s * NS
        for loop in scenario.loops:
            n = grid_count(a, b, step)
            off = merge(
                [*model.manual_intervals(loop, a, b), *model.offline_intervals(loop.element, a, b)]
            )
            k = n - grid_count_in(off, a, b, step)
            per_loop[loop.id] = f"{k}/{n}"
            auto += k
            samples += n
        add(_ratio("auto_control_utilization_rate", auto, samples, breakdown=per_loop))

    if scenario.identifier is not None:
        _identifier_truth(model, a, b, add)

    breadth_truth(model, a, b, online, observed, params, add)

    if scenario.lines and scenario.baseline is not None:
        _improvement_truth(model, scenario, scenario.baseline, window, add)

    return Truth(
        scenario=scenario.name,
        window=window,
        baseline=scenario.baseline,
        params=params,
        values=values,
    )


def _online_elements(
    model: FactoryModel, a: int, b: int, params: TruthParams
) -> tuple[set[str], dict[str, str]]:
    """Elements online in enough status intervals, and the link each was mostly seen on."""
    step = model.scenario.status_interval_s * NS
    n = grid_count(a, b, step)
    online: set[str] = set()
    observed: dict[str, str] = {}
    for eid in model.elements:
        offline = model.offline_intervals(eid, a, b)
        seen: dict[str, int] = {}
        latest: dict[str, int] = {}  # segments come in time order: a later index is later
        for i, (s, e, link) in enumerate(model.link_segments(eid, a, b)):
            k = grid_count(s, e, step) - grid_count_in(offline, s, e, step)
            if k:
                seen[link] = seen.get(link, 0) + k
                latest[link] = i
        k_total = sum(seen.values())
        if n and Fraction(k_total, n) >= params.min_online_fraction:
            online.add(eid)
        # the link of most online intervals; a tie goes to the tied link seen online last
        observed[eid] = (
            max(seen, key=lambda x: (seen[x], latest[x])) if seen else model.elements[eid].link
        )
    return online, observed


def complete_days(model: FactoryModel, a: int, b: int) -> list[tuple[int, int, date]]:
    tz = model.tz
    day = datetime.fromtimestamp(a / NS, tz).date()
    out = []
    while True:
        lo = local_midnight_ns(day, tz)
        hi = local_midnight_ns(day + timedelta(days=1), tz)
        if hi > b:
            break
        if lo >= a:
            out.append((lo, hi, day))
        day += timedelta(days=1)
    return out


def _identifier_truth(
    model: FactoryModel, a: int, b: int, add: Callable[[TruthValue], None]
) -> None:
    spec = model.scenario.identifier
    assert spec is not None
    days = complete_days(model, a, b)
    empty = [str(d) for _, _, d in days if d in spec.no_data_days]
    total = spec.resolutions_per_day * (len(days) - len(empty))
    note = f"days without data (counted as 0): {', '.join(empty)}" if empty else ""
    daily_avg = _ratio("daily_avg_identifier_resolutions", total, len(days), note=note)
    add(daily_avg)
    last30 = [d for d in days if d[0] >= b - 30 * 86400 * NS] if len(days) >= 30 else days
    empty30 = [d for _, _, d in last30 if d in spec.no_data_days]
    add(
        _ratio(
            "daily_avg_identifier_resolutions_30d",
            spec.resolutions_per_day * (len(last30) - len(empty30)),
            len(last30),
            note=f"{len(empty30)} day(s) without data counted as 0" if empty30 else "",
        )
    )
    active = (
        sum(1 for share in _enterprise_shares(model) if share > 0) if len(days) > len(empty) else 0
    )
    for kpi in ("served_chain_enterprises", "connected_enterprises"):
        add(TruthValue(kpi=kpi, value=Fraction(active), numerator=active))
    regs = model.identifier_total("registrations", b)
    add(
        TruthValue(
            kpi="identifier_registrations",
            value=Fraction(regs),
            numerator=regs,
            note="cumulative since the start of the scenario's history",
        )
    )


def _enterprise_shares(model: FactoryModel) -> Iterable[int]:
    spec = model.scenario.identifier
    assert spec is not None
    return split_largest_remainder(spec.resolutions_per_day, model.enterprise_weights)


def _improvement_truth(
    model: FactoryModel,
    scenario: Scenario,
    base: Period,
    ev: Period,
    add: Callable[[TruthValue], None],
) -> None:
    def totals(p: Period) -> dict[str, int]:
        out = {}
        for f in ("output", "defects", "energy_kwh", "runtime_s"):
            out[f] = sum(
                model.line_counter(line, f, p.end_ns) - model.line_counter(line, f, p.start_ns)
                for line in scenario.lines
            )
        return out

    tb, te = totals(base), totals(ev)
    results: dict[str, Fraction | None] = {}

    def rel(new: Fraction, old: Fraction) -> Fraction | None:
        return None if old == 0 else (new - old) / old

    eff_b = Fraction(tb["output"], tb["runtime_s"]) if tb["runtime_s"] else None
    eff_e = Fraction(te["output"], te["runtime_s"]) if te["runtime_s"] else None
    results["production_efficiency_improvement"] = (
        rel(eff_e, eff_b) if eff_b is not None and eff_e is not None else None
    )
    d_b = Fraction(tb["defects"], tb["output"]) if tb["output"] else None
    d_e = Fraction(te["defects"], te["output"]) if te["output"] else None
    results["defect_rate_reduction"] = (d_b - d_e) / d_b if d_b and d_e is not None else None
    u_b = Fraction(tb["output"], tb["energy_kwh"]) if tb["energy_kwh"] else None
    u_e = Fraction(te["output"], te["energy_kwh"]) if te["energy_kwh"] else None
    results["energy_utilization_improvement"] = (
        rel(u_e, u_b) if u_b is not None and u_e is not None else None
    )
    detail = {f"baseline_{k}": str(v) for k, v in tb.items()} | {
        f"evaluation_{k}": str(v) for k, v in te.items()
    }
    for kpi, value in results.items():
        add(TruthValue(kpi=kpi, value=value, breakdown=detail))
    for kpi in ("operating_cost_reduction", "rd_cycle_reduction"):
        if kpi in scenario.declared:
            results[kpi] = scenario.declared[kpi]
            add(TruthValue(kpi=kpi, value=scenario.declared[kpi], source="declared"))
    met = [k for k, v in results.items() if v is not None and v >= IMPROVEMENT_THRESHOLDS[k]]
    add(
        TruthValue(
            kpi="comprehensive_performance_composite",
            value=Fraction(len(met)),
            numerator=len(met),
            denominator=5,
            note="met: " + ", ".join(sorted(met)),
        )
    )
