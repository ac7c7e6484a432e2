"""The HTML report of an evaluation, with its verification status — 中文 / English.

Self-contained: inline CSS and server-side SVG charts, no script and no CDN, so it opens
offline and prints (or becomes a PDF through headless Chromium when one is installed).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections import Counter
from datetime import datetime
from fractions import Fraction
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from kpi import VERDICT_LABELS, Coverage, Evaluation, KpiResult, row_counts
from telemetry.timegrid import NS

if TYPE_CHECKING:
    from verifier.verify.report import VerifyReport

CSS = """
body{font-family:"Noto Sans CJK SC","WenQuanYi Zen Hei","Microsoft YaHei","PingFang SC",
sans-serif;margin:2em;color:#222;max-width:1100px}
h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #ccc;padding-bottom:.2em}
h3{font-size:1.05em;margin-bottom:.2em}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em .5em;
font-size:.9em;text-align:left;vertical-align:top}th{background:#f3f3f3}
.pass{color:#1a7f37;font-weight:bold}.fail{color:#cf222e;font-weight:bold}
.insufficient_data,.not_declared{color:#9a6700;font-weight:bold}.not_applicable{color:#666}
.ok{color:#1a7f37}.bad{color:#cf222e}.muted{color:#666;font-size:.85em}
blockquote{margin:.3em 0;padding:.3em .8em;border-left:3px solid #ccc;background:#fafafa}
.kpi{page-break-inside:avoid;margin-bottom:1.5em}code{font-size:.85em}
.explain{background:#fff8e1;border-left:4px solid #bf8700;padding:.4em .8em}
.sign td{height:2.4em;min-width:12em}details{margin:.4em 0}
@page{size:A4;margin:16mm 14mm 18mm;
@bottom-left{content:"pilotproof · 验收证据报告 acceptance evidence report";font-size:8pt;
color:#666}
@bottom-right{content:"第 " counter(page) " / " counter(pages) " 页 · page " counter(page)
" of " counter(pages);font-size:8pt;color:#666}}
@media print{body{margin:0}}
"""

#: what each KPI parameter means, in words an auditor reads (KpiParams' fields)
PARAM_WORDS = {
    "min_online_fraction": (
        "要素在线判定：在线状态区间占比不低于",
        "an element is online over a period if online in at least",
    ),
    "min_point_completeness": (
        "数据点自动采集判定：合格样本 ÷ 应采样本不低于",
        "a point counts as collected automatically at good ÷ expected",
    ),
    "min_coverage": (
        "数据覆盖要求：有数据的整点小时占比不低于，否则判为“数据不足”",
        "below this share of the period's clock hours with data: insufficient data",
    ),
    "last_days": ("“近 N 天”日均标识解析量的天数", "days of the 'last N days' resolution average"),
    "history_start_ns": ("累计量（标识注册量）的起算时间", "cumulative counts start here"),
    "decimal_places": ("非有限小数的保留位数", "places of a non-terminating decimal"),
}

ROLE_LABELS = {
    "required": "必选 required",
    "optional": "可选 optional",
    "component": "组成项 component",
    "conditional": "条件项 conditional",
    "info": "参考 info",
}
MAX_BARS = 62


def render_report(
    evaluation: Evaluation | None,
    verification: VerifyReport | None,
    *,
    timezone: str | None = None,
) -> str:
    """The report of an evaluation, with its verification when there is one.

    A bundle refused before its KPIs were recomputed (`evaluation` None) still gets a
    report: what the statement says it covers, each check and each failure with its code —
    the document an auditor files a rejection with.

    Args:
        evaluation: the KPIs (as recomputed, when verified).
        verification: what the verifier found, or None for the report built with a bundle.
        timezone: the site's zone, in which times are shown beside UTC (default: the one
            the verification read from the bundle's inventory).
    """
    tz = timezone or (verification.timezone if verification is not None else None)
    if evaluation is None:
        if verification is None:
            raise ValueError("a report needs an evaluation, a verification, or both")
        return _rejection(verification, tz)
    e = evaluation
    zh, en = _verdict_words(e.verdict)
    parts = [
        "<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'>",
        f"<title>pilotproof — {escape(e.profile)}</title><style>{CSS}</style></head><body>",
        "<h1>验收证据报告 · Acceptance evidence report</h1>",
        "<table>",
        _row(
            "申报类别 Profile",
            f"{escape(e.profile_name_zh)} · {escape(e.profile_name_en)} "
            f"<code>{escape(e.profile)}</code>",
        ),
        _row("站点 Site", escape(e.site)),
        _row("评估期 Period", f"{_dt(e.window.start, tz)} — {_dt(e.window.end, tz)}"),
    ]
    if e.baseline is not None:
        parts.append(
            _row("基线期 Baseline", f"{_dt(e.baseline.start, tz)} — {_dt(e.baseline.end, tz)}")
        )
    parts += [
        _row("总体结论 Verdict", f"<span class='{_cls(e.verdict)}'>{zh} · {en}</span>"),
        _row("计算时间 Evaluated", _dt(e.evaluated_at, tz)),
        "</table>",
        _verdict_explained(e, verification),
        _verification_section(verification, tz),
        "<h2>指标一览 · KPI table</h2>",
        _kpi_table(e.results),
        *(f"<p class='note'>评估说明 · Note: {escape(n)}</p>" for n in e.notes),
        _params_table(e.params),
        "<h2>逐项说明 · Each KPI</h2>",
    ]
    parts += [_kpi_section(r) for r in e.results if r.source != "rule"]
    parts += [_signature_block(verification), _footer(verification), "</body></html>"]
    return "\n".join(parts)


def _verdict_explained(e: Evaluation, v: VerifyReport | None) -> str:
    """Why a bundle can verify while its verdict is not a pass: verification says the
    data and the arithmetic are authentic, the verdict says whether the targets are met."""
    if e.verdict == "pass":
        return ""
    required = [r for r in e.results if r.role == "required" and r.source != "rule"]
    missing = [r for r in required if r.verdict in ("not_declared", "insufficient_data")]
    failed = [r for r in required if r.verdict == "fail"]
    items = "".join(
        f"<li>{escape(r.name_zh)} · {escape(r.name_en)} — "
        f"{' · '.join(VERDICT_LABELS[r.verdict])}</li>"
        for r in [*failed, *missing]
    )
    verified = v is not None and v.ok
    lead = (
        "证据包验证通过，说明数据与计算真实、完整、未被篡改；总体结论则说明申报指标是否达到要求。"
        "Verified means the data and the arithmetic are authentic and complete; the verdict "
        "says whether the targets are met."
        if verified
        else "总体结论说明申报指标是否达到要求。The verdict says whether the targets are met."
    )
    if failed:
        more = f"；另有 {len(missing)} 项待定 · {len(missing)} more pending" if missing else ""
        why = f"{len(failed)} 项必选指标未达标 · {len(failed)} required KPI(s) fail{more}"
    else:
        why = (
            f"结论待定：{len(missing)} 项必选指标尚缺申报材料或数据（无一未达标）· pending: "
            f"{len(missing)} required KPI(s) lack a declaration or data (none fails). 补充申报"
            "材料（--declared）或延长评估期后重新评估 · add the declarations (--declared) or "
            "a longer period, then evaluate again."
        )
    return f"<div class='explain'><p>{lead}</p><p><b>{why}</b></p><ul>{items}</ul></div>"


def _params_table(params: dict[str, str]) -> str:
    """The evaluation's parameters in words: `min_coverage = 4/5` is "80 % of the
    period's clock hours with data"."""
    rows = []
    for key, raw in params.items():
        zh, en = PARAM_WORDS.get(key, (key, key))
        value = raw
        if key.startswith("min_"):
            value = f"{float(Fraction(raw)) * 100:g} % ({escape(raw)})"
        elif key == "history_start_ns":
            value = "—" if raw == "0" else datetime.fromtimestamp(int(raw) // NS).isoformat()
        rows.append(f"<tr><td>{escape(zh)}<br><span class='muted'>{escape(en)}</span></td>"
                    f"<td><b>{value}</b></td><td><code>{escape(key)}</code></td></tr>")  # fmt: skip
    return (
        "<h3>计算参数 · Parameters</h3><table><tr><th>含义 Meaning</th><th>取值 Value</th>"
        "<th>名称 Name</th></tr>" + "".join(rows) + "</table>"
    )


def _signature_block(v: VerifyReport | None) -> str:
    who = "审核方 Auditor" if v is not None else "申报方 Applicant"
    return (
        "<h2>签字 · Signatures</h2><table class='sign'>"
        f"<tr><th>{who}</th><td></td><th>日期 Date</th><td></td></tr>"
        "<tr><th>单位 Organisation</th><td></td><th>签字/盖章 Signature / seal</th><td></td></tr>"
        "</table>"
    )


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pilotproof")
    except PackageNotFoundError:
        return "unknown"


def _footer(v: VerifyReport | None) -> str:
    built = (
        f" · 证据包由 pilotproof {escape(v.software)} 生成 · the bundle was built by pilotproof "
        f"{escape(v.software)}"
        if v and v.software
        else ""
    )
    return (
        f"<p class='muted'>本报告由 pilotproof {escape(_version())} 生成 · written by pilotproof "
        f"{escape(_version())}{built}. 数值均由签名批次中的原始数据复算 · every measured value "
        "recomputes from the signed batches. 每项失败附稳定错误代码，含义见 docs/evidence.md · "
        "every failure carries a stable code, explained in docs/evidence.md.</p>"
    )


def _rejection(v: VerifyReport, tz: str | None) -> str:
    window = f"{_iso(v.window[0], tz)} — {_iso(v.window[1], tz)}" if v.window else "—"
    parts = [
        "<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'>",
        f"<title>pilotproof — {escape(v.profile or v.bundle)}</title><style>{CSS}</style>"
        "</head><body>",
        "<h1>验收证据核验报告 · Evidence verification report</h1>",
        "<p><span class='bad'>未通过 · NOT verified</span> — 以下检查未通过，指标未复算；"
        "证据包不能作为验收依据。The checks below failed, so no KPI was recomputed: the "
        "bundle cannot support acceptance.</p>",
        "<table>",
        _row("证据包 Bundle", escape(v.bundle)),
        _row("申报类别 Profile", escape(v.profile or "—（声明未读出 statement not read）")),
        _row("站点 Site", escape(v.site or "—")),
        _row("评估期 Period (as stated)", window),
        _row(
            "签名方 Signer", f"{escape(v.signer_name or '—')} <code>{escape(v.signer or '')}</code>"
        ),
        "</table>",
        _verification_section(v, tz),
        _params_table({k: str(x) for k, x in v.params.items()}) if v.params else "",
        _signature_block(v),
        _footer(v),
        "</body></html>",
    ]
    return "\n".join(parts)


def _verdict_words(verdict: str) -> tuple[str, str]:
    if verdict in VERDICT_LABELS:
        return VERDICT_LABELS[verdict]
    return {
        "incomplete": ("待定（缺申报材料或数据）", "pending: declarations or data missing")
    }.get(verdict, (verdict, verdict))


def _cls(verdict: str) -> str:
    return verdict if verdict in VERDICT_LABELS else "insufficient_data"


def _row(head: str, cell: str) -> str:
    return f"<tr><th>{head}</th><td>{cell}</td></tr>"


def _dt(d: datetime, tz: str | None = None) -> str:
    """A time in the site's zone (what the plant calls it), with UTC beside it."""
    if tz is None:
        return escape(d.isoformat(timespec="seconds"))
    local = d.astimezone(ZoneInfo(tz))
    utc = d.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%d %H:%M:%S")
    return escape(f"{local.strftime('%Y-%m-%d %H:%M:%S')} ({tz}) · {utc} UTC")


def _iso(text: str, tz: str | None) -> str:
    try:
        return _dt(datetime.fromisoformat(text), tz)
    except ValueError:
        return escape(text)


def _verification_section(v: VerifyReport | None, tz: str | None = None) -> str:
    out = ["<h2>验证状态 · Verification</h2>"]
    if v is None:
        out.append(
            "<p>本报告随证据包生成，尚未经独立验证。审核方请运行 "
            "<code>pilotproof evidence verify BUNDLE --trust keys.toml --report report.html</code>"
            " 重新生成带验证结果的报告。<br>This report was written with the bundle and is not "
            "yet verified: an auditor runs the command above to check signatures, the batch "
            "chain and every KPI, and gets this report again with the result.</p>"
        )
        return "\n".join(out)
    status = (
        "<span class='ok'>通过 · verified</span>"
        if v.ok
        else ("<span class='bad'>未通过 · NOT verified</span>")
    )
    out.append(f"<p>{status} — {escape(v.bundle)}</p>")
    if v.signer:
        out.append(
            f"<p>签名方 Signer: <strong>{escape(v.signer_name or '?')}</strong> "
            f"<code>{escape(v.signer)}</code> (受信密钥文件中的名称 · its name in the "
            "trusted-keys file)</p>"
        )
    out.append("<table>")
    out.append("<tr><th>检查 Check</th><th>结果 Result</th><th>说明 Detail</th></tr>")
    for c in v.checks:
        mark = "<span class='ok'>✔</span>" if c.ok else "<span class='bad'>✘</span>"
        out.append(
            f"<tr><td>{escape(c.name_zh)} · {escape(c.name)}</td><td>{mark}</td>"
            f"<td>{escape(c.detail)}</td></tr>"
        )
    out.append("</table>")
    if v.params is not None or v.inventory_counts is not None:
        counts = ", ".join(f"{k} {n}" for k, n in (v.inventory_counts or {}).items())
        params = ", ".join(f"{k} = {x}" for k, x in (v.params or {}).items())
        pinned = (
            "<span class='ok'>已与审核方持有的申报清单逐项核对 · checked against the auditor's "
            "own copy of the filed inventory</span>"
            if v.inventory_pinned
            else "<span class='bad'>未核对：指标使用证据包签名方提供的清单 · not pinned: the "
            "KPIs use the inventory the bundle's signer supplied (verify with --inventory)</span>"
        )
        out.append(
            "<table>"
            + _row("清单 Inventory", f"{escape(counts)}<br><code>sha256 "
                   f"{escape(v.inventory_digest or '')}</code><br>{pinned}")
            + _row("参数 Parameters", escape(params) + " <span class='muted'>(见下文 "
                   "“计算参数” · in words under Parameters)</span>")
            + "</table>"
        )  # fmt: skip
    if v.chains:
        out.append(
            "<h3>采集代理的批次链 · The agents' chains</h3><table><tr><th>代理 Agent</th>"
            "<th>链 Epoch</th><th>批次 Batches</th><th>行数 Lines</th>"
            "<th>数据时间范围 Data from — to</th></tr>"
        )
        for ch in v.chains:
            span = f"{_iso(ch.first, tz)} — {_iso(ch.last, tz)}" if ch.first and ch.last else "—"
            out.append(
                f"<tr><td>{escape(ch.agent)}</td><td>{ch.epoch}</td>"
                f"<td>{ch.batches:,}</td><td>{ch.lines:,}</td><td>{span}</td></tr>"
            )
        out.append("</table>")
    if v.warnings:
        out.append("<table><tr><th>提示 Warning</th><th>位置 Where</th><th>说明 Message</th></tr>")
        for w in v.warnings:
            out.append(f"<tr><td><code>{escape(w.code)}</code><br>{escape(w.label_zh)}</td>"
                       f"<td>{escape(w.where)}</td><td>{escape(w.message)}</td></tr>")  # fmt: skip
        out.append("</table>")
    if v.findings:
        out.append("<table><tr><th>代码 Code</th><th>位置 Where</th><th>说明 Message</th></tr>")
        for f in v.findings[:200]:
            out.append(
                f"<tr><td><code>{escape(f.code)}</code><br>{escape(f.label_zh)}</td>"
                f"<td>{escape(f.where)}</td><td>{escape(f.message)}</td></tr>"
            )
        out.append("</table>")
    return "\n".join(out)


def _kpi_table(results: list[KpiResult]) -> str:
    out = [
        "<table><tr><th>指标 KPI</th><th>角色 Role</th><th>值 Value</th><th>阈值 Threshold</th>"
        "<th>判定 Verdict</th><th>分子/分母 n/d</th></tr>"
    ]
    for r in results:
        zh, en = VERDICT_LABELS[r.verdict]
        nd = _counts(r)
        out.append(
            f"<tr><td><a href='#{escape(r.id)}'>{escape(r.name_zh)}</a><br>"
            f"<span class='muted'>{escape(r.name_en)}</span></td>"
            f"<td>{ROLE_LABELS.get(r.role, r.role)}</td><td>{escape(r.display_value())}</td>"
            f"<td>{escape(r.display_threshold())}</td>"
            f"<td class='{r.verdict}'>{zh} · {en}</td><td>{nd}</td></tr>"
        )
    out.append("</table>")
    return "\n".join(out)


def _kpi_section(r: KpiResult) -> str:
    zh, en = VERDICT_LABELS[r.verdict]
    c = r.clause
    out = [
        f"<div class='kpi' id='{escape(r.id)}'><h3>{escape(r.name_zh)} · {escape(r.name_en)} "
        f"<span class='{r.verdict}'>{zh} · {en}</span></h3>",
        f"<p>值 value <b>{escape(r.display_value())}</b> · 阈值 threshold "
        f"{escape(r.display_threshold())}"
        + (f" · {_counts(r)}" if r.numerator is not None else "")
        + f"<br><span class='muted'>{escape(r.formula)}</span></p>",
        f"<blockquote>{escape(c.ocr_corrected_quote or c.quote)}<br><span class='muted'>"
        f"{escape(c.gloss)} — {escape(c.document)} {escape(c.section)} "
        f"(<code>{escape(c.file)}</code>)</span></blockquote>",
    ]
    if r.notes:
        out.append("<ul>" + "".join(f"<li>{escape(n)}</li>" for n in r.notes) + "</ul>")
    if r.breakdown and r.breakdown.rows:
        chart = breakdown_chart(r.breakdown.by, r.breakdown.rows)
        if chart:
            out.append(chart)
        out.append(_breakdown_table(r))
    for cov in r.coverage:
        out.append(coverage_chart(cov))
    out.append("</div>")
    return "\n".join(out)


#: rows of a breakdown listed in full; a longer one is cut with the count of the rest
MAX_ROWS = 500


def _breakdown_table(r: KpiResult) -> str:
    """The rows behind the value — each element with its declared and observed link,
    each point, day or line — so an auditor can spot-check which ones were counted."""
    assert r.breakdown is not None
    rows = r.breakdown.rows
    keys = list(dict.fromkeys(k for row in rows[:MAX_ROWS] for k in row))
    counts = row_counts(r.method, rows)
    head = "".join(f"<th>{escape(k)}</th>" for k in keys)
    n = d = 0
    check = ""
    if counts is not None:
        head = "<th>分子 n</th><th>分母 d</th>" + head
        n, d = sum(a for a, _ in counts), sum(b for _, b in counts)
        if (r.numerator, r.denominator) != (n, d):  # the rule and the method disagree
            check = (f"<p class='bad'>rows mark {n} / {d}, the result says "
                     f"{r.numerator} / {r.denominator}</p>")  # fmt: skip
    body = "".join(
        "<tr>"
        + ("" if counts is None else "".join(
            f"<td>{'✔' if x else ''}</td>" for x in counts[i]))
        + "".join(f"<td>{escape(_cell(row.get(k)))}</td>" for k in keys)
        + "</tr>"
        for i, row in enumerate(rows[:MAX_ROWS])
    )  # fmt: skip
    more = (f"<p class='muted'>另有 {len(rows) - MAX_ROWS:,} 行未列出 · {len(rows) - MAX_ROWS:,} "
            "more rows in results.json</p>" if len(rows) > MAX_ROWS else "")  # fmt: skip
    marked = (
        "" if counts is None
        else f"<p class='muted'>✔ 计入分子 n / 分母 d 的行 · rows counted in the numerator "
        f"and the denominator: {n} / {d}</p>{check}"
    )  # fmt: skip
    return (
        f"<details><summary>明细 {len(rows):,} 行（按 {escape(r.breakdown.by)}）· the "
        f"{len(rows):,} rows behind the value, by {escape(r.breakdown.by)}</summary>"
        f"{marked}<table><tr>{head}</tr>{body}</table>{more}</details>"
    )


def _cell(v: object) -> str:
    if v is True:
        return "✔"
    if v is False:
        return "✘"
    return "" if v is None else str(v)


# --- charts (SVG) ------------------------------------------------------------------------


def breakdown_chart(by: str, rows: list[dict[str, Any]]) -> str:
    """Bars per row for short breakdowns (days, lines, loops); counts per category for
    long ones (elements, points), where a thousand bars would say nothing."""
    label_key = next((k for k, v in rows[0].items() if isinstance(v, str)), None)
    num_key = next(
        (k for k, v in rows[0].items() if isinstance(v, int) and not isinstance(v, bool)), None
    )
    per_item = by in ("element", "point")  # what matters is how many of each kind
    if not per_item and len(rows) <= MAX_BARS and label_key and num_key:
        bars = [(str(row[label_key]), float(row[num_key] or 0)) for row in rows]
        return bar_chart(f"{by} · {num_key}", bars)
    for key in ("observed_link", "complete", "online", "auto", "collection", "category"):
        if key in rows[0]:
            if key == "observed_link" and "online" in rows[0]:
                counts = Counter(
                    f"{row.get(key)} · {'在线 online' if row.get('online') else '离线 offline'}"
                    for row in rows
                )
            else:
                counts = Counter(str(row.get(key)) for row in rows)
            return bar_chart(f"{by} · {key}（个数 count）", sorted(counts.items()))
    return ""


def bar_chart(title: str, bars: list[tuple[str, float]]) -> str:
    width, bar_h, label_w = 640, 16, 150
    top = max((v for _, v in bars), default=0) or 1
    h = bar_h * len(bars) + 28
    out = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width + label_w + 90}' height='{h}' "
        f"role='img' aria-label='{escape(title)}'>",
        f"<text x='0' y='12' font-size='12' font-weight='bold'>{escape(title)}</text>",
    ]
    for i, (label, v) in enumerate(bars):
        y = 20 + i * bar_h
        w = max(1.0, width * v / top) if v else 0
        out.append(
            f"<text x='{label_w - 4}' y='{y + 12}' font-size='11' text-anchor='end'>"
            f"{escape(label[:24])}</text><rect x='{label_w}' y='{y + 2}' width='{w:.1f}' "
            f"height='{bar_h - 4}' fill='#4e79a7'/><text x='{label_w + w + 4:.1f}' y='{y + 12}' "
            f"font-size='11'>{v:,.0f}</text>"
        )
    out.append("</svg>")
    return "".join(out)


def coverage_chart(cov: Coverage) -> str:
    """The window as a strip: grey where the measurement has data, red where it has none."""
    width = 780
    start, end = cov.window.start_ns, cov.window.end_ns
    span = max(1, end - start)
    out = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width + 10}' height='40' role='img' "
        f"aria-label='coverage {escape(cov.measurement)}'>",
        f"<text x='0' y='11' font-size='11'>覆盖 coverage · {escape(cov.measurement)}: "
        f"{cov.hours_with_data:,} / {cov.hours:,} h</text>",
        f"<rect x='0' y='16' width='{width}' height='14' fill='#bbb'/>",
    ]
    for g in cov.gaps:
        a = (_iso_ns(g.start) - start) / span * width
        b = (_iso_ns(g.end) - start) / span * width
        out.append(
            f"<rect x='{max(0.0, a):.1f}' y='16' width='{max(1.0, b - a):.1f}' height='14' "
            "fill='#cf222e'/>"
        )
    out.append("</svg>")
    return "".join(out)


def _iso_ns(text: str) -> int:
    d = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return int(d.timestamp()) * NS


# --- PDF -------------------------------------------------------------------------------

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "chrome")


def find_chromium() -> str | None:
    return next((p for n in CHROMIUM_NAMES if (p := shutil.which(n))), None)


def _file_uri(path: Path) -> str:
    return Path(os.path.abspath(path)).as_uri()


async def html_to_pdf(html: Path, pdf: Path, *, timeout_s: float = 120) -> None:
    """Print `html` to `pdf` with headless Chromium; RuntimeError when none is installed."""
    browser = find_chromium()
    if browser is None:
        raise RuntimeError(
            "no Chromium found for the PDF: install Debian's `chromium` package, or open "
            "report.html in a browser and print it"
        )
    with tempfile.TemporaryDirectory(prefix="pilotproof-pdf-") as profile:
        proc = await asyncio.create_subprocess_exec(
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--user-data-dir={profile}",
            "--no-pdf-header-footer",
            f"--print-to-pdf={pdf}",
            _file_uri(html),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await asyncio.wait_for(proc.communicate(), timeout_s)
    if proc.returncode != 0:
        raise RuntimeError(f"{browser} could not print {html}: {err.decode()[-500:]}")


def _counts(r: KpiResult) -> str:
    """`n / d` of a ratio, `n` alone of a count (a count has no denominator)."""
    if r.numerator is None:
        return ""
    return f"{r.numerator:,}" if r.denominator is None else f"{r.numerator:,} / {r.denominator:,}"
