// pilotproof dashboard: plain JavaScript, no framework, no CDN. Charts are SVG drawn by the
// server (/api/kpis/{id}/chart.svg), so nothing is loaded from outside this service.
"use strict";

const T = {
  zh: {
    overview: "总览", evidence: "验收证据", signout: "退出", signin: "登录",
    token: "访问令牌", profile: "申报类别", from: "开始", to: "结束", show: "查询",
    threshold: "阈值", value: "值", yes: "是", no: "否", verdict_pass: "达标", verdict_fail: "未达标",
    verdict_insufficient_data: "数据不足", verdict_not_declared: "未申报",
    verdict_incomplete: "待定（缺申报材料或数据）",
    verdict_not_applicable: "不适用", overall: "总体结论", back: "返回总览",
    daily: "逐日", breakdown: "分项", coverage: "数据覆盖", clause: "政策条款",
    build: "生成证据包", download: "下载证据包", verify: "上传并验证", verified: "验证通过",
    not_verified: "验证未通过", loading: "加载中…", badtoken: "令牌无效或已撤销",
    role: "角色", numden: "分子/分母", notes: "说明", checks: "检查项", file: "证据包文件 (.tar.gz)",
    when: "YYYY-MM-DD 或 YYYY-MM-DD HH:MM（工厂当地时间）", localtime: "工厂当地时间",
    recomputed: "复算指标", verdict: "判定",
    today: "今天", days7: "近 7 天", days30: "近 30 天", refresh: "每分钟刷新",
    elements: "生产要素", element: "要素", kind: "类型", link: "申报链路", online: "在线",
    last_seen: "最近上报", offline_count: "离线", no_status: "近 24 小时无状态上报",
    day: "日期", csv: "导出 CSV", points: "数据点", point: "数据点", samples: "样本数",
    trend: "趋势", agents: "采集代理", agent: "代理", last_report: "最近自检上报",
    stale: "失联", backlog: "待转发行数", buffer_fill: "缓存占用", drivers: "数据源连接",
    sealer: "封存/转发", store: "存储", batches: "已入库批次", sealed_until: "已封存至",
    warnings: "需要关注", no_warnings: "无告警", pick_point: "选择数据点",
    inventory: "申报清单（可选，YAML/JSON/TOML）", pin_site: "按本服务的申报清单核对",
    report: "下载验证报告", pinned: "清单已核对", not_pinned: "清单未核对", never: "从未",
    unit: "单位", every: "聚合间隔", role_required: "必选", role_optional: "可选",
    role_component: "组成项", role_conditional: "条件项", role_info: "参考",
  },
  en: {
    overview: "Overview", evidence: "Evidence", signout: "Sign out", signin: "Sign in",
    token: "Access token", profile: "Profile", from: "From", to: "To", show: "Show",
    threshold: "Threshold", value: "Value", yes: "yes", no: "no", verdict_pass: "pass", verdict_fail: "fail",
    verdict_insufficient_data: "insufficient data", verdict_not_declared: "not declared",
    verdict_incomplete: "pending: declarations or data missing",
    verdict_not_applicable: "not applicable", overall: "Verdict", back: "Back to overview",
    daily: "Daily", breakdown: "Breakdown", coverage: "Coverage", clause: "Clause",
    build: "Build bundle", download: "Download bundle", verify: "Upload and verify", verified: "Verified",
    not_verified: "NOT verified", loading: "Loading…", badtoken: "Unknown or revoked token",
    role: "Role", numden: "n / d", notes: "Notes", checks: "Checks", file: "Bundle file (.tar.gz)",
    when: "YYYY-MM-DD or YYYY-MM-DD HH:MM (the plant's local time)", localtime: "plant local time",
    recomputed: "KPIs recomputed", verdict: "Verdict",
    today: "Today", days7: "Last 7 days", days30: "Last 30 days", refresh: "Refresh every minute",
    elements: "Elements", element: "Element", kind: "Kind", link: "Declared link", online: "Online",
    last_seen: "Last seen", offline_count: "offline", no_status: "no status in the last 24 h",
    day: "Day", csv: "Export CSV", points: "Points", point: "Point", samples: "Samples",
    trend: "Trend", agents: "Agents", agent: "Agent", last_report: "Last self-report",
    stale: "stale", backlog: "Backlog (lines)", buffer_fill: "Buffer fill", drivers: "Sources connected",
    sealer: "Sealing/forwarding", store: "Store", batches: "Batches stored", sealed_until: "Sealed until",
    warnings: "Needs attention", no_warnings: "No warnings", pick_point: "Pick a point",
    inventory: "Filed inventory (optional, YAML/JSON/TOML)", pin_site: "Pin to this service's inventory",
    report: "Download the report", pinned: "inventory pinned", not_pinned: "inventory not pinned", never: "never",
    unit: "Unit", every: "Bucket", role_required: "required", role_optional: "optional",
    role_component: "component", role_conditional: "conditional", role_info: "informative",
  },
};

const state = {
  lang: localStorage.getItem("pp.lang") || "zh",
  token: localStorage.getItem("pp.token") || "",
  profile: localStorage.getItem("pp.profile") || "",
  from: localStorage.getItem("pp.from") || "",
  to: localStorage.getItem("pp.to") || "",
  evaluation: null,
  refresh: false,
  me: null,  // /api/me: the token's name and role (what the evidence page offers)
  site: null,  // /api/site: the plant's time zone, in which every time is shown and typed
  point: null,  // the point whose trend is shown
  view: 0,  // bumped by every render: a slow answer for an older view is dropped
};
const $ = (sel) => document.querySelector(sel);
const t = (k) => (T[state.lang][k] ?? k);
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
const name = (o) => (state.lang === "zh" ? o.name_zh : o.name_en);

async function api(path, options = {}) {
  const headers = Object.assign({Authorization: `Bearer ${state.token}`}, options.headers || {});
  const r = await fetch(path, Object.assign({}, options, {headers}));
  if (r.status === 401) { signOut(t("badtoken")); throw new Error(t("badtoken")); }
  if (!r.ok) {
    let detail = r.statusText;
    try { detail = (await r.json()).detail; } catch (_) { /* not JSON */ }
    throw new Error(`${r.status}: ${typeof detail === "string" ? detail : JSON.stringify(detail)}`);
  }
  return r;
}

// a file from an authenticated GET: a plain link would carry no Bearer token
async function download(path, filename) {
  const blob = await (await api(path)).blob();
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = filename;
  a.click();
}

function csvButton(id, path, filename) {
  setTimeout(() => {
    const b = document.getElementById(id);
    if (b) b.onclick = () => download(path, filename).catch((e) => alert(e.message));
  });
  return `<button type="button" class="csv" id="${id}">${t("csv")}</button>`;
}

// Times are typed and shown in the plant's zone, never the browser's: a window picked as
// 29–31 Oct must be the one `kpi evaluate --from 2026-10-29 --to 2026-10-31` evaluates. A
// time is sent as typed, without an offset, and the service reads it as site-local time.
function typed(text) { return (text || "").trim().replace(" ", "T"); }

function query() {
  const q = new URLSearchParams();
  if (state.profile) q.set("profile", state.profile);
  if (state.from) q.set("from", typed(state.from));
  if (state.to) q.set("to", typed(state.to));
  return q.toString();
}

// "2026-10-29 08:00" in the site's zone, from an ISO time with an offset
function siteTime(iso) {
  const zone = state.site ? state.site.timezone : "UTC";
  const parts = Object.fromEntries(new Intl.DateTimeFormat("en-CA", {
    timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", hourCycle: "h23",
  }).formatToParts(new Date(iso)).map((p) => [p.type, p.value]));
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}`;
}

async function site() {
  if (!state.site) state.site = await (await api("/api/site")).json();
  return state.site;
}

function translate() {
  document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
  $("#lang").textContent = state.lang === "zh" ? "English" : "中文";
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
}

function signOut(message) {
  state.token = "";
  state.me = null;
  localStorage.removeItem("pp.token");
  renderLogin(message);
}

function renderLogin(message = "") {
  $("#nav").hidden = true;
  $("#signout").hidden = true;
  $("#main").innerHTML = `<div class="panel login"><h2>${t("signin")}</h2>
    <label>${t("token")}<input id="token" type="password" autocomplete="off" placeholder="pp_…"></label>
    <button id="signin" class="primary" type="button">${t("signin")}</button>
    <p class="error" id="login-error">${esc(message)}</p></div>`;
  $("#signin").onclick = async () => {
    state.token = $("#token").value.trim();
    try {
      await api("/api/profiles");
      localStorage.setItem("pp.token", state.token);
      route();
    } catch (e) { $("#login-error").textContent = e.message; }
  };
}

async function controls() {
  const [profiles, s] = await Promise.all([(async () => (await api("/api/profiles")).json())(), site()]);
  const options = profiles.map((p) => `<option value="${esc(p.id)}" ${p.id === state.profile ? "selected" : ""}>${esc(name(p))} (${esc(p.id)})</option>`).join("");
  return `<div class="controls">
    <label>${t("profile")}<select id="profile"><option value="">—</option>${options}</select></label>
    <label>${t("from")}<input id="from" type="text" inputmode="numeric" placeholder="2026-10-01" title="${esc(t("when"))}" value="${esc(state.from)}"></label>
    <label>${t("to")}<input id="to" type="text" inputmode="numeric" placeholder="2026-11-01" title="${esc(t("when"))}" value="${esc(state.to)}"></label>
    <span class="muted" id="zone">${esc(t("localtime"))}: ${esc(s.timezone)}</span>
    <button id="show" class="primary" type="button">${t("show")}</button>
    <span class="presets">${[["today", 0], ["days7", 7], ["days30", 30]].map(([k, d]) =>
      `<button type="button" class="preset" data-days="${d}">${t(k)}</button>`).join("")}</span>
    <label class="muted"><input id="refresh" type="checkbox" ${state.refresh ? "checked" : ""}> ${t("refresh")}</label></div>`;
}

// today's date in the site's zone, and whole local days back from it
function siteDay(offsetDays) {
  return siteTime(new Date(Date.now() + offsetDays * 864e5).toISOString()).slice(0, 10);
}

function bindControls() {
  $("#show").onclick = () => {
    state.profile = $("#profile").value;
    state.from = $("#from").value;
    state.to = $("#to").value;
    for (const k of ["profile", "from", "to"]) localStorage.setItem(`pp.${k}`, state[k]);
    renderOverview();
  };
  // presets: whole local days ending with today (the window's end is tomorrow 00:00)
  document.querySelectorAll(".preset").forEach((b) => {
    b.onclick = () => {
      const days = Number(b.dataset.days);
      $("#from").value = siteDay(days ? 1 - days : 0);  // 7 days: today and the 6 before
      $("#to").value = siteDay(1);
      $("#show").onclick();
    };
  });
  $("#refresh").onchange = () => { state.refresh = $("#refresh").checked; };
}

// auto-refresh: the overview evaluates again every minute while the box is ticked (an
// evaluation is shared and cached by the service, so this costs little)
setInterval(() => {
  if (state.refresh && state.token && (location.hash || "#/") === "#/") renderOverview();
}, 60_000);

function verdictLabel(v) { return `<span class="verdict ${esc(v)}">${esc(t(`verdict_${v}`))}</span>`; }

// "n / d" of a ratio, "n" of a count (it has no denominator), nothing without counts
function counts(r) {
  if (r.numerator == null) return "";
  return r.denominator == null ? `${r.numerator}` : `${r.numerator} / ${r.denominator}`;
}

function display(r) {
  if (typeof r.value === "boolean") return r.value ? t("yes") : t("no");
  if (r.decimal == null) return "—";
  if ((r.unit || "").startsWith("ratio")) return `${(Number(r.decimal) * 100).toFixed(2)} %`;
  return Number(r.decimal).toLocaleString();
}

async function renderOverview() {
  const view = ++state.view;
  const top = await controls();
  if (view !== state.view) return;
  $("#main").innerHTML = `${top}<p class="muted">${t("loading")}</p>`;
  bindControls();
  try {
    const [ev, warned] = await Promise.all([
      (async () => (await api(`/api/kpis?${query()}`)).json())(),
      (async () => (await api(`/api/warnings?${query()}`)).json())(),
    ]);
    const again = await controls();
    if (view !== state.view) return;
    // what was typed while the evaluation ran survives the re-render below
    const kept = ["profile", "from", "to"].map((k) => [k, $(`#${k}`) ? $(`#${k}`).value : null]);
    state.evaluation = ev;
    if (!state.profile) state.profile = ev.profile;
    const cards = ev.results.filter((r) => r.source !== "rule").map((r) => `
      <div class="card ${esc(r.verdict)}" data-kpi="${esc(r.id)}" role="link" tabindex="0">
        <h3>${esc(name(r))}</h3>
        <div class="value">${esc(display(r))}</div>
        <div>${t("threshold")} ${esc(r.threshold_text)} · ${verdictLabel(r.verdict)}</div>
        <div class="muted">${esc(t(`role_${r.role}`))}${r.numerator != null ? ` · ${counts(r)}` : ""}</div>
      </div>`).join("");
    $("#main").innerHTML = `${again}
      ${warningsPanel(warned)}
      <div class="panel"><strong>${esc(state.lang === "zh" ? ev.profile_name_zh : ev.profile_name_en)}</strong>
      · ${esc(ev.site)} · <span id="window">${esc(siteTime(ev.window.start))} → ${esc(siteTime(ev.window.end))}</span> (${esc(state.site.timezone)}) · ${t("overall")}: ${verdictLabel(ev.verdict)}
      ${csvButton("csv-kpis", `/api/kpis.csv?${query()}`, `${ev.profile}-kpis.csv`)}</div>
      <div class="cards" id="cards">${cards}</div>`;
    for (const [k, v] of kept) if (v != null && $(`#${k}`)) $(`#${k}`).value = v;
    bindControls();
    document.querySelectorAll(".card").forEach((c) => {
      c.onclick = () => { location.hash = `#/kpi/${c.dataset.kpi}`; };
      c.onkeydown = (e) => { if (e.key === "Enter") c.onclick(); };
    });
  } catch (e) {
    if (view === state.view) $("#main").insertAdjacentHTML("beforeend", `<p class="error">${esc(e.message)}</p>`);
  }
}

// offline elements, stale agents, a filling buffer, coverage gaps: in the operator's face
function warningsPanel(ws) {
  if (!ws.length) return `<div class="panel muted" id="warnings">${t("no_warnings")}</div>`;
  const items = ws.map((w) => `<li class="${esc(w.severity)}" data-code="${esc(w.code)}">
    ${esc(state.lang === "zh" ? w.message_zh : w.message_en)} <code class="muted">${esc(w.code)}</code></li>`).join("");
  return `<div class="panel warnings" id="warnings"><strong>${t("warnings")} (${ws.length})</strong><ul>${items}</ul></div>`;
}

async function svg(id, kind) {
  const r = await api(`/api/kpis/${encodeURIComponent(id)}/chart.svg?kind=${kind}&${query()}`);
  return r.text();
}

async function renderKpi(id) {
  const view = ++state.view;
  $("#main").innerHTML = `<p class="muted">${t("loading")}</p>`;
  try {
    const s = await (await api(`/api/kpis/${encodeURIComponent(id)}/series?${query()}`)).json();
    const k = s.kpi;
    const rows = s.daily.map((d) => `<tr><td>${esc(d.day)}</td><td>${esc(d.value === "true" ? t("yes") : d.value === "false" ? t("no") : d.value ?? "—")}</td><td>${counts(d)}</td><td>${verdictLabel(d.verdict)}</td></tr>`).join("");
    const [daily, breakdown, coverage] = await Promise.all([svg(id, "daily"), svg(id, "breakdown"), svg(id, "coverage")]);
    if (view !== state.view) return;
    $("#main").innerHTML = `<p><a href="#/">← ${t("back")}</a></p>
      <div class="panel" id="kpi-detail"><h2>${esc(name(k))}</h2>
        <p>${t("value")} <strong>${esc(display(k))}</strong> · ${t("threshold")} ${esc(k.threshold_text)} · ${verdictLabel(k.verdict)}
        ${k.numerator != null ? ` · ${t("numden")} ${counts(k)}` : ""}</p>
        <p class="muted">${esc(k.formula)}</p>
        ${k.notes.length ? `<ul>${k.notes.map((n) => `<li>${esc(n)}</li>`).join("")}</ul>` : ""}
        <h3>${t("clause")}</h3><blockquote>${esc(k.clause.ocr_corrected_quote || k.clause.quote)}<br>
        <span class="muted">${esc(k.clause.gloss)} — ${esc(k.clause.document)} ${esc(k.clause.section)}</span></blockquote></div>
      <div class="panel"><h3>${t("daily")} ${csvButton("csv-daily", `/api/kpis/${encodeURIComponent(id)}/series.csv?${query()}`, `${id}-daily.csv`)}</h3><div id="chart-daily">${daily}</div>
        <table><tr><th>${t("day")}</th><th>${t("value")}</th><th>${t("numden")}</th><th>${t("verdict")}</th></tr>${rows}</table></div>
      <div class="panel"><h3>${t("breakdown")}</h3><div id="chart-breakdown">${breakdown}</div></div>
      <div class="panel"><h3>${t("coverage")}</h3>${coverage}</div>`;
  } catch (e) {
    $("#main").innerHTML = `<p><a href="#/">← ${t("back")}</a></p><p class="error">${esc(e.message)}</p>`;
  }
}

async function renderEvidence() {
  ++state.view;
  if (!state.me) state.me = await (await api("/api/me")).json();
  // an operator builds, an auditor verifies, an admin does both: nobody is offered a
  // button that would only answer 403
  const builds = state.me.role !== "auditor", verifies = state.me.role !== "operator";
  $("#main").innerHTML = `${await controls()}
    <p class="muted" id="whoami">${esc(state.me.name)} · ${t("role")}: ${esc(state.me.role)}</p>
    ${builds ? `<div class="panel"><button id="build" class="primary" type="button">${t("build")}</button>
      <span id="built"></span></div>` : ""}
    ${verifies ? `<div class="panel"><label>${t("file")} <input id="bundle" type="file" accept=".gz,.tgz,application/gzip"></label>
      <label>${t("inventory")} <input id="inventory" type="file" accept=".yaml,.yml,.json,.toml"></label>
      <label><input id="pin-site" type="checkbox"> ${t("pin_site")}</label>
      <button id="verify" class="primary" type="button">${t("verify")}</button>
      <div id="verdict"></div></div>` : ""}`;
  $("#show").onclick = () => { state.profile = $("#profile").value; state.from = $("#from").value; state.to = $("#to").value; };
  if (builds) $("#build").onclick = async () => {
    $("#built").textContent = t("loading");
    try {
      const ev = state.evaluation;
      // typed times are the plant's (sent without an offset); else the window on show
      const to = typed($("#to").value || state.to) || (ev ? ev.window.end : new Date().toISOString());
      const from = typed($("#from").value || state.from) || (ev ? ev.window.start : new Date(new Date(to) - 30 * 864e5).toISOString());
      const body = {profile: $("#profile").value || (ev && ev.profile), from, to};
      const b = await (await api("/api/evidence", {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)})).json();
      $("#built").innerHTML = ` ${esc(b.id)} · ${b.lines.toLocaleString()} lines · ${b.bytes.toLocaleString()} bytes · <a id="download" href="#" data-id="${esc(b.id)}">${t("download")}</a>`;
      $("#download").onclick = async (e) => {
        e.preventDefault();
        const blob = await (await api(`/api/evidence/${encodeURIComponent(b.id)}`)).blob();
        const a = document.createElement("a");
        a.href = URL.createObjectURL(blob);
        a.download = `${b.id}.tar.gz`;
        a.click();
      };
    } catch (e) { $("#built").innerHTML = `<span class="error">${esc(e.message)}</span>`; }
  };
  if (verifies) $("#verify").onclick = async () => {
    const file = $("#bundle").files[0];
    if (!file) return;
    $("#verdict").textContent = t("loading");
    const form = new FormData();
    form.append("bundle", file);
    const inv = $("#inventory").files[0];
    if (inv) form.append("inventory", inv);
    else if ($("#pin-site").checked) form.append("pin_site", "true");
    try {
      const r = await (await api("/api/verify", {method: "POST", body: form})).json();
      const checks = r.checks.map((c) => `<tr><td>${esc(state.lang === "zh" ? c.name_zh : c.name)}</td><td>${c.ok ? "✔" : "✘"}</td><td>${esc(c.detail)}</td></tr>`).join("");
      const findings = r.checks.flatMap((c) => c.findings).map((f) => `<tr><td><code>${esc(f.code)}</code></td><td>${esc(f.where)}</td><td>${esc(f.message)}</td></tr>`).join("");
      const warnings = r.warnings.map((w) => `<li><code>${esc(w.code)}</code> ${esc(w.message)}</li>`).join("");
      $("#verdict").innerHTML = `<h3 class="verdict ${r.ok ? "pass" : "fail"}" id="verify-result">${r.ok ? t("verified") : t("not_verified")}</h3>
        <p><span id="pinned">${r.inventory_pinned ? t("pinned") : t("not_pinned")}</span> ·
        <button type="button" id="report">${t("report")}</button></p>
        <table><tr><th>${t("checks")}</th><th></th><th></th></tr>${checks}</table>
        ${findings ? `<table>${findings}</table>` : ""}
        ${warnings ? `<ul class="muted" id="verify-warnings">${warnings}</ul>` : ""}
        ${r.evaluation ? recomputed(r.evaluation) : ""}`;
      $("#report").onclick = () => download(r.report, `${file.name.replace(/\.tar\.gz$|\.tgz$/, "")}-report.html`).catch((e) => alert(e.message));
    } catch (e) { $("#verdict").innerHTML = `<p class="error">${esc(e.message)}</p>`; }
  };
}

// the KPIs as the verifier recomputed them from the bundled lines
function recomputed(ev) {
  const rows = ev.results.filter((r) => r.source !== "rule").map((r) => `<tr data-kpi="${esc(r.id)}">
    <td>${esc(name(r))}</td><td>${esc(display(r))}</td><td>${counts(r)}</td>
    <td>${esc(r.threshold_text)}</td><td>${verdictLabel(r.verdict)}</td></tr>`).join("");
  return `<h3>${t("recomputed")} · ${t("overall")}: ${verdictLabel(ev.verdict)}</h3>
    <table id="recomputed"><tr><th>KPI</th><th>${t("value")}</th><th>${t("numden")}</th><th>${t("threshold")}</th><th>${t("verdict")}</th></tr>${rows}</table>`;
}

async function renderElements() {
  const view = ++state.view;
  $("#main").innerHTML = `<p class="muted">${t("loading")}</p>`;
  try {
    const [rows] = await Promise.all([(async () => (await api("/api/elements")).json())(), site()]);
    if (view !== state.view) return;
    const mark = (e) => (e.online == null ? `<span class="muted">—</span>`
      : e.online ? `<span class="verdict pass">✔</span>` : `<span class="verdict fail">✘</span>`);
    const offline = rows.filter((e) => e.online === false).length;
    const silent = rows.filter((e) => e.online == null).length;
    const body = rows.map((e) => `<tr class="${e.online === false ? "offline" : ""}" data-element="${esc(e.id)}">
      <td><a href="#/points?element=${encodeURIComponent(e.id)}">${esc(e.id)}</a></td><td>${esc(e.kind)}</td><td>${esc(e.declared_link)}</td><td>${mark(e)}</td>
      <td>${e.last_seen ? esc(siteTime(e.last_seen)) : `<span class="muted">${t("no_status")}</span>`}</td></tr>`).join("");
    $("#main").innerHTML = `<div class="panel"><h2>${t("elements")} ${csvButton("csv-elements", "/api/elements.csv", `${state.site.site}-elements.csv`)}</h2>
      <p id="element-summary">${rows.length} · ${t("offline_count")} <strong>${offline}</strong> · ${esc(t("no_status"))}: ${silent}
      <span class="muted">(${esc(state.site.timezone)})</span></p>
      <table id="elements"><tr><th>${t("element")}</th><th>${t("kind")}</th><th>${t("link")}</th><th>${t("online")}</th><th>${t("last_seen")}</th></tr>${body}</table></div>`;
  } catch (e) {
    if (view === state.view) $("#main").innerHTML = `<p class="error">${esc(e.message)}</p>`;
  }
}

// raw telemetry: pick a point with samples in the window, see its trend (mean, min–max)
async function renderPoints(element) {
  const view = ++state.view;
  $("#main").innerHTML = `${await controls()}<p class="muted">${t("loading")}</p>`;
  bindControls();
  $("#show").onclick = () => {
    state.from = $("#from").value; state.to = $("#to").value;
    for (const k of ["from", "to"]) localStorage.setItem(`pp.${k}`, state[k]);
    renderPoints(element);
  };
  try {
    const pts = await (await api(`/api/points?${query()}`)).json();
    if (view !== state.view) return;
    const chosen = state.point && (!element || state.point.element === element) ? state.point
      : pts.find((p) => !element || p.element === element) || null;
    // an option's value is its index in `pts`: ids may hold any character but a control
    const options = pts.map((p, i) => {
      const sel = chosen && chosen.element === p.element && chosen.point === p.point ? "selected" : "";
      return `<option value="${i}" ${sel}>${esc(p.element)} · ${esc(p.point)}${p.unit ? ` (${esc(p.unit)})` : ""} — ${p.samples.toLocaleString()}</option>`;
    }).join("");
    let chart = `<p class="muted">${t("pick_point")}</p>`, csv = "";
    if (chosen) {
      state.point = {element: chosen.element, point: chosen.point};
      const q = `element=${encodeURIComponent(chosen.element)}&point=${encodeURIComponent(chosen.point)}&${query()}`;
      chart = await (await api(`/api/points/trend.svg?${q}`)).text();
      csv = csvButton("csv-trend", `/api/points/trend.csv?${q}`, `${chosen.element}-${chosen.point}.csv`);
    }
    const top = await controls();
    if (view !== state.view) return;
    // what was typed meanwhile survives the re-render (nothing awaits between)
    const kept = ["from", "to"].map((k) => [k, $(`#${k}`).value]);
    $("#main").innerHTML = `${top}
      <div class="panel"><h2>${t("points")} · ${t("trend")}</h2>
      <label>${t("point")} <select id="point">${options}</select></label> ${csv}
      <div id="trend">${chart}</div></div>`;
    for (const [k, v] of kept) $(`#${k}`).value = v;
    bindControls();
    $("#show").onclick = () => {
      state.from = $("#from").value; state.to = $("#to").value;
      for (const k of ["from", "to"]) localStorage.setItem(`pp.${k}`, state[k]);
      renderPoints(null);
    };
    $("#point").onchange = () => {
      const p = pts[Number($("#point").value)];
      state.point = {element: p.element, point: p.point};
      renderPoints(p.element);
    };
  } catch (e) {
    if (view === state.view) $("#main").insertAdjacentHTML("beforeend", `<p class="error">${esc(e.message)}</p>`);
  }
}

// the agents' own health: what a gateway reports of itself, and what reached the store
async function renderAgents() {
  const view = ++state.view;
  $("#main").innerHTML = `<p class="muted">${t("loading")}</p>`;
  try {
    const [rows] = await Promise.all([(async () => (await api("/api/agents")).json())(), site()]);
    if (view !== state.view) return;
    const yes = (v) => (v == null ? "—" : v ? `<span class="verdict pass">✔</span>` : `<span class="verdict fail">✘</span>`);
    // a <meter>, not a styled bar: the Content-Security-Policy allows no inline style
    const fill = (a) => (a.buffer_fill == null ? "—" : `<meter min="0" max="1" low="0.5" high="0.8" optimum="0" value="${a.buffer_fill}"></meter> ${(a.buffer_fill * 100).toFixed(1)} %`);
    const body = rows.map((a) => `<tr class="${a.stale ? "offline" : ""}" data-agent="${esc(a.agent)}">
      <td>${esc(a.agent)}${a.pinned_site ? ` <span class="muted">(${esc(a.pinned_site)})</span>` : ""}</td>
      <td>${a.last_report ? esc(siteTime(a.last_report)) : `<span class="muted">${t("never")}</span>`}${a.stale ? ` <span class="verdict fail">${t("stale")}</span>` : ""}</td>
      <td>${a.backlog_lines == null ? "—" : a.backlog_lines.toLocaleString()}</td><td>${fill(a)}</td>
      <td>${a.drivers == null ? "—" : `${a.connected} / ${a.drivers}`}</td><td>${yes(a.sealer_up)}</td><td>${yes(a.store_up)}</td>
      <td>${a.batches_stored == null ? "—" : a.batches_stored.toLocaleString()}</td>
      <td>${a.sealed_until ? esc(siteTime(a.sealed_until)) : "—"}</td></tr>`).join("");
    $("#main").innerHTML = `<div class="panel"><h2>${t("agents")}</h2>
      <p class="muted">${esc(state.site.timezone)}</p>
      <table id="agents"><tr><th>${t("agent")}</th><th>${t("last_report")}</th><th>${t("backlog")}</th><th>${t("buffer_fill")}</th>
      <th>${t("drivers")}</th><th>${t("sealer")}</th><th>${t("store")}</th><th>${t("batches")}</th><th>${t("sealed_until")}</th></tr>${body}</table></div>`;
  } catch (e) {
    if (view === state.view) $("#main").innerHTML = `<p class="error">${esc(e.message)}</p>`;
  }
}

function route() {
  translate();
  if (!state.token) { renderLogin(); return; }
  $("#nav").hidden = false;
  $("#signout").hidden = false;
  const hash = location.hash || "#/";
  if (hash.startsWith("#/kpi/")) renderKpi(decodeURIComponent(hash.slice(6)));
  else if (hash === "#/evidence") renderEvidence();
  else if (hash === "#/elements") renderElements();
  else if (hash.startsWith("#/points")) renderPoints(new URLSearchParams(hash.split("?")[1] || "").get("element"));
  else if (hash === "#/agents") renderAgents();
  else renderOverview();
}

$("#lang").onclick = () => {
  state.lang = state.lang === "zh" ? "en" : "zh";
  localStorage.setItem("pp.lang", state.lang);
  route();
};
$("#signout").onclick = () => signOut("");
window.addEventListener("hashchange", route);
route();
