"""A sample site config per profile (deploy/sites/), generated from the KPI catalog so each
names what that profile's measured KPIs need the site to declare and collect.

Wiring only: the text comes from `kpi` (what is measured) and the config is one the
agent's own loader accepts (a test loads every file).
"""

from __future__ import annotations

from kpi import Profile, load_catalog

#: what each measuring method needs from the site: (English, 中文)
NEEDS: dict[str, tuple[str, str]] = {
    "wireless_5g_share": (
        "every production element with its `link`; 5G CPE/NMS link exports over MQTT "
        '(format = "status") give the observed link',
        "申报全部生产要素及其 link；5G CPE/网管经 MQTT 上报链路状态",
    ),
    "connected_devices": (
        "every device with its `link`; the agent reports each one's status",
        "申报全部设备及其 link，代理上报在线状态",
    ),
    "key_equipment_nc": (
        "`key_equipment = true` and `numerically_controlled = true` on the elements they apply to",
        "在关键设备上标注 key_equipment 与 numerically_controlled",
    ),
    "point_collection": (
        "every data point with `collection` (auto/manual) and `period_s`; the agent writes "
        "point_health",
        "申报全部数据点及其采集方式与周期，代理写入 point_health",
    ),
    "points_reporting": (
        "every data point of the process, with `period_s`",
        "申报全部工艺数据点及其周期",
    ),
    "auto_control": (
        "the DCS loops under `inventory.loops`, and a [[roles]] entry `control_loop.auto` "
        "per loop-mode point",
        "在 inventory.loops 申报控制回路，并用 [[roles]] 把回路模式点映射为 control_loop.auto",
    ),
    "daily_resolutions": (
        "the identifier node under `identifier_nodes`, and its export subscribed "
        '(format = "identifier")',
        '申报标识解析节点并订阅其统计上报（format = "identifier"）',
    ),
    "registrations": (
        "the identifier node and its export, as for daily resolutions",
        "同标识解析量：申报节点并订阅其上报",
    ),
    "active_enterprises": (
        "the identifier node's export with an `enterprise` per count",
        "标识节点上报中带 enterprise 字段",
    ),
    "improvement": (
        "production lines under `inventory.lines`, their counters mapped with [[roles]] "
        "`production.output|defects|energy_kwh|runtime_s`, and a baseline window at evaluation",
        "在 inventory.lines 申报产线，用 [[roles]] 映射产量/不良/能耗/运行时间计数器，"
        "评估时给出基线窗口",
    ),
    "networking_rate_change": (
        "elements with their `link`, and a baseline window at evaluation",
        "申报要素及其 link，评估时给出基线窗口",
    ),
    "category_collection": (
        "every point of the clause's categories (equipment, energy, environment, quality …) "
        "with its `category` and `period_s`; the agent writes point_health",
        "按类别申报数据点（设备、能源、环境、质量等）及其周期，代理写入 point_health",
    ),
    "protocols_delivering": (
        "`protocol` (opcua, modbus, mqtt …) on every automatic point; the site config holds "
        "it to the driver that reads the point",
        "在每个自动采集点上申报 protocol（opcua、modbus、mqtt 等），站点配置校验其与采集驱动一致",
    ),
    "elements_networked": (
        "every element of the clause's kinds with its `link`; the agent reports each one's status",
        "申报条款所列类型的全部要素及其 link，代理上报在线状态",
    ),
    "elements_on_link": (
        "the elements of the clause's kind (controllers, identifier carriers as kind = tag, "
        "`extranet = true` for remote assets) with their `link`; CPE/NMS exports give the "
        "observed link",
        "申报条款所列类型的要素（控制器、kind = tag 的标识载体，远程资产标注 extranet = true）"
        "及其 link，CPE/网管上报实际链路",
    ),
    "live_scenarios": (
        "`scenarios = [...]` on the elements that serve each application scenario",
        "在服务各应用场景的要素上标注 scenarios",
    ),
    "live_scenarios:business_links": (
        "`business_links = [...]` (rd-design, production-control, warehousing-logistics, "
        "operations-service, marketing-management) on the elements whose data serves each",
        "在承载各业务环节数据的要素上标注 business_links",
    ),
    "radio_coverage": (
        '5G CPE/NMS exports with `rsrp` and `sinr` per element (format = "status")',
        '5G CPE/网管上报各要素的 rsrp 与 sinr（format = "status"）',
    ),
    "ipv6_elements": (
        "status exports with `ipv6 = true` for elements reached over IPv6",
        "状态上报中对经 IPv6 访问的要素给出 ipv6 = true",
    ),
    "platform_counter": (
        "the platform's own counts published to the agent as line protocol "
        '`platform_counter,platform=…,counter=… value=…i` (format = "line")',
        '平台将自身计数以 platform_counter 行协议发布给代理（format = "line"）',
    ),
    "probe_availability": (
        "a prober's results published to the agent as line protocol "
        '`service_probe,service=…,target=… ok=true,latency_ms=…` (format = "line"), one '
        "series per service the clause names (docs/kpis.md)",
        '探测程序将各服务探测结果以 service_probe 行协议发布给代理（format = "line"）',
    ),
    "daily_reports": (
        "the uploader's receipt of each daily report published to the agent as line "
        "protocol `report_upload,target=…,kind=daily records=…i,empty=false,acked=true` "
        '(format = "line")',
        '上报程序将每日报告回执以 report_upload 行协议发布给代理（format = "line"）',
    ),
    "platform_share": (
        "the platform's own counts of both sides of the share, as for platform counters",
        "平台上报比值两侧的计数，同平台计数",
    ),
    "counters_rising": (
        "the system's own counts (registrations by operation, identifier reads, interface "
        "messages …, names in docs/kpis.md) published as platform_counter line protocol "
        '(format = "line"), at least at the window\'s start and end',
        "系统将各项计数（按操作的注册量、标识读取量、接口消息量等）"
        '以 platform_counter 行协议发布（format = "line"）',
    ),
    "counters_daily": (
        "each monitoring feed published every day as platform_counter `counter=feed.<indicator>` "
        '(format = "line")',
        '监测平台每日以 platform_counter（counter=feed.<指标>）发布各数据源（format = "line"）',
    ),
    "technologies_in_use": (
        "elements with their `link` (tsn, pon, spe, broadband, sdn, sd-wan, otn, nb-iot, 5g), "
        "edge nodes as `kind = edge`, IPv6 in status exports",
        "申报要素及其 link（tsn、pon、spe、宽带、sdn、sd-wan、otn 等），"
        "边缘节点 kind = edge，状态上报中给出 ipv6",
    ),
    "area_coverage": (
        "the areas under `inventory.areas` (id, kind, area_m2) and the survey readings "
        "published as `coverage_sample,area=…,tech=5g|wifi signal_dbm=…,sinr_db=…` "
        '(format = "line")',
        "在 inventory.areas 申报区域（编号、类型、面积），"
        '覆盖测试读数以 coverage_sample 行协议发布（format = "line"）',
    ),
    "security_events_logged": (
        "the detection system's events published as `security_event,type=…,severity=… "
        'target="…",disposition="…"` (format = "line")',
        '安全监测系统将安全事件以 security_event 行协议发布（format = "line"），'
        "含目标资产与处置结果",
    ),
}


def render_site_sample(profile: Profile) -> str:
    catalog = load_catalog()
    measured: list[str] = []
    declared = 0
    methods: set[str] = set()
    for entry in profile.entries(catalog):
        b = catalog.binding(entry)
        if b is None:
            declared += entry.kind != "administrative"
            continue
        methods.add(b.method)
        # a method that reads another inventory field for some clauses says which
        en, zh = NEEDS.get(f"{b.method}:{b.params.get('tags', '')}") or NEEDS.get(
            b.method, ("see docs/kpis.md", "见 docs/kpis.md")
        )
        measured += [
            f"#   - {entry.id} — {entry.name_zh}",
            f"#       needs: {en}",
            f"#       需要: {zh}",
        ]
    identifier = methods & {"daily_resolutions", "registrations", "active_enterprises"}
    lines = [
        f"# Sample site config for the profile `{profile.id}`",
        f"# {profile.name_zh} — {profile.name_en}",
        "# Generated by `pilotproof agent samples` from the KPI catalog; check yours with",
        "# `pilotproof agent check FILE`. Every key: docs/site-config.md.",
        "#",
        "# Measured KPIs of this profile, and what the site must declare and collect for them:",
        *(measured or ["#   (none: every entry of this profile is declared evidence)"]),
        f"# Declared-evidence entries (a value and an attachment in --declared): {declared}",
        "",
        'inventory = "../site/inventory.yaml"   # replace with your site\'s inventory',
        "",
        "[agent]",
        'id = "gw-01"',
        'key = "/var/lib/pilotproof/agent.pem"   # `pilotproof agent keygen` makes it',
        "",
        "[store]",
        'url = "http://127.0.0.1:8086/?db=pilotproof"   # token: PILOTPROOF_INFLUX_TOKEN',
        "",
        "[buffer]",
        'path = "/var/lib/pilotproof/buffer.db"',
        "max_bytes = 4294967296",
        "",
        "[[sources.mqtt]]",
        'name = "plant-broker"',
        'url = "mqtt://127.0.0.1:1883"',
        'client_id = "pilotproof-gw-01"',
        "",
        "  [[sources.mqtt.subscriptions]]",
        '  topic = "factory/{site}/{element}/telemetry"',
        '  format = "telemetry"',
        "",
        "  [[sources.mqtt.subscriptions]]",
        '  topic = "nms/{site}/{element}/status"',
        '  format = "status"',
    ]
    if identifier:
        lines += [
            "",
            "  [[sources.mqtt.subscriptions]]",
            '  topic = "idnode/{node}/stats"',
            '  format = "identifier"',
        ]
    if methods & {"platform_counter", "platform_share"}:
        lines += [
            "",
            "  # the platform's own counts, as line protocol (platform_counter)",
            "  [[sources.mqtt.subscriptions]]",
            '  topic = "platform/{site}/counters"',
            '  format = "line"',
        ]
    if methods & {"probe_availability", "daily_reports"}:
        lines += [
            "",
            "  # a prober's results and report receipts, as line protocol",
            "  [[sources.mqtt.subscriptions]]",
            '  topic = "probes/{site}/results"',
            '  format = "line"',
        ]
    if methods & {"improvement", "auto_control"}:
        lines += [
            "",
            "# Map raw points to KPI measurements (elements and points from your inventory):",
            "# [[roles]]",
            '# element = "line1-plc"',
            '# point = "good_parts"',
            '# role = "production.output"',
            '# line = "line-1"',
        ]
    return "\n".join(lines) + "\n"
