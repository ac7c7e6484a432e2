"""The dashboard end to end in headless Chromium (Debian's package), driven by Playwright
with no browser download: sign in, pick a profile, see a failing KPI, drill down, build
evidence, download it, verify it, switch language. Screenshots land in
test-artifacts/dashboard/ (kept by CI as artefacts)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright

from collectors import Metrics
from pilotproof.web import TokenStore
from simulators import backfill, load_scenario
from telemetry import SqliteStore
from telemetry.localserver import free_port
from telemetry.seal import KPI_STREAM, Sealer
from telemetry.timegrid import NS
from tests.evidence_fixtures import HISTORY, WINDOW, Keys
from verifier import trust_entry

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboard"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCENARIO = "fiveg-factory-fail"  # its 5G share fails: the dashboard must show that
PROFILE = "miit2021-5g-factory"

if CHROMIUM is None and os.environ.get("CI") != "true":
    pytest.skip(
        "no Chromium: `apt-get install chromium` (scripts/test.sh does)", allow_module_level=True
    )


@pytest.fixture(scope="module")
async def site(keys: Keys, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A sealed 12-hour history of the failing factory, a token file, keys and trust."""
    from datetime import datetime

    from kpi import Window

    tmp = tmp_path_factory.mktemp("dashboard")
    scenario = load_scenario(SCENARIO)
    span = Window(start=datetime.fromisoformat(HISTORY[0]), end=datetime.fromisoformat(HISTORY[1]))
    store = SqliteStore(tmp / "store.db")
    await backfill(scenario, store, span.start_ns, span.end_ns,
                   sealer=Sealer(keys.agent, "gw-a", KPI_STREAM), batch_lines=2000)  # fmt: skip
    # raw point values for the trend view: the history's last hour (the same KPI rows
    # again, unchanged, beside the telemetry)
    await backfill(scenario, store, span.end_ns - 3600 * NS, span.end_ns, telemetry=True)
    # gw-a's self-report of a minute ago, as a running agent writes it
    m = Metrics("gw-a")
    m.buffer_bytes, m.buffer_max_bytes, m.buffer_pending = 350 << 20, 1 << 30, 1200
    m.sealer_up, m.connected = 1, {"opcua:cell": 1, "modbus:plc": 1, "mqtt:bus": 1}
    await store.write([m.point(scenario.site, time.time_ns() - 60 * NS)])
    await store.close()
    from cryptography.hazmat.primitives import serialization

    (tmp / "builder.key").write_bytes(
        keys.builder.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (tmp / "trust.toml").write_text(
        trust_entry("builder", "verifier", keys.builder.public_key())
        + trust_entry("gw-a", "agent", keys.agent.public_key(), site=scenario.site)
    )
    token = TokenStore(tmp / "tokens.db").create("e2e-admin", "admin")
    return tmp, token


@pytest.fixture(scope="module")
def server(site: tuple[Path, str]) -> Iterator[str]:
    tmp, _ = site
    port = free_port()
    # its output to a file: a pipe nobody reads fills up (64 KiB of request logs) and
    # then blocks the service mid-request
    log = (tmp / "server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "pilotproof.cli", "serve", "--profile", PROFILE,
         "--scenario", SCENARIO, "--store", f"sqlite:{tmp / 'store.db'}",
         "--tokens", str(tmp / "tokens.db"), "--key", str(tmp / "builder.key"),
         "--trust", str(tmp / "trust.toml"), "--work-dir", str(tmp / "bundles"),
         "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"{base}/api/health", timeout=2)
            break
        except httpx.TransportError:
            assert proc.poll() is None, (tmp / "server.log").read_text()
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.3)
    yield base
    proc.terminate()
    proc.wait(timeout=20)
    log.close()


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield b
        await b.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    ctx = await browser.new_context(
        accept_downloads=True, viewport={"width": 1280, "height": 900}, timezone_id="UTC"
    )
    pg = await ctx.new_page()
    yield pg
    await ctx.close()


async def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def local(dt: object) -> str:
    """What a plant engineer types: the time in the site's zone (the browser's is UTC)."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    assert isinstance(dt, datetime)
    return dt.astimezone(ZoneInfo(load_scenario(SCENARIO).timezone)).strftime("%Y-%m-%d %H:%M")


async def choose_profile_and_window(page: Page) -> None:
    """The overview and the evidence page share the profile and window inputs."""
    await page.select_option("#profile", PROFILE)
    await page.fill("#from", local(WINDOW.start))
    await page.fill("#to", local(WINDOW.end))


async def test_an_auditor_walks_through_the_dashboard(
    page: Page, server: str, site: tuple[Path, str], tmp_path: Path
) -> None:
    _, token = site
    # the service's Content-Security-Policy must not block its own dashboard, and nothing
    # may load from another host
    blocked: list[str] = []
    page.on("console", lambda m: blocked.append(m.text) if "Content Security" in m.text else None)
    elsewhere: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(server) else elsewhere.append(r.url))
    await page.goto(server + "/")
    await page.fill("#token", "pp_wrong")
    await page.click("#signin")
    await page.wait_for_selector("#login-error:has-text('令牌无效')")
    await page.fill("#token", token)
    await page.click("#signin")

    # overview: pick the profile and the window, see the failing 5G share
    await page.wait_for_selector("#profile")
    await choose_profile_and_window(page)
    await page.click("#show")
    failing = page.locator(".card.fail[data-kpi='fiveg_wireless_networking_rate']")
    await failing.wait_for()
    assert "未达标" in await failing.inner_text()
    await shot(page, "1-overview-zh")

    # drill down: value, clause, and the three server-side charts
    await failing.click()
    await page.wait_for_selector("#kpi-detail")
    detail = await page.inner_text("#kpi-detail")
    assert "5G" in detail
    assert await page.locator("#chart-daily svg rect").count() > 0
    assert await page.locator("#chart-breakdown svg rect").count() > 0
    await shot(page, "2-drill-down")

    # evidence: build, download, upload, verified
    await page.click("a[href='#/evidence']")
    await page.wait_for_selector("#build")
    await choose_profile_and_window(page)
    await page.click("#build")
    await page.wait_for_selector("#download", timeout=60_000)
    async with page.expect_download() as info:
        await page.click("#download")
    download = await info.value
    saved = tmp_path / "bundle.tar.gz"
    await download.save_as(saved)
    assert saved.stat().st_size > 1000
    await page.set_input_files("#bundle", str(saved))
    await page.click("#verify")
    result = page.locator("#verify-result")
    await result.wait_for(timeout=120_000)
    assert await result.inner_text() == "验证通过"
    # the KPIs as recomputed from the bundle, the failing 5G share among them
    fiveg = page.locator("#recomputed tr[data-kpi='fiveg_wireless_networking_rate']")
    assert "未达标" in await fiveg.inner_text()
    assert await page.inner_text("#pinned") == "清单未核对"
    # again, pinned to the inventory the service runs with; then take the report away
    await page.check("#pin-site")
    await page.click("#verify")
    await page.wait_for_selector("#pinned:has-text('清单已核对')", timeout=120_000)
    assert await result.inner_text() == "验证通过"
    async with page.expect_download() as info:
        await page.click("#report")
    report = tmp_path / "report.html"
    await (await info.value).save_as(report)
    assert "通过 · verified" in report.read_text(encoding="utf-8")
    await shot(page, "3-evidence-verified")

    # 中文 → English
    await page.click("#lang")
    await page.wait_for_selector("nav a:has-text('Overview')")
    await page.click("a[href='#/']")
    await page.wait_for_selector(".card.fail")
    assert "fail" in await page.locator(".card.fail").first.inner_text()
    await shot(page, "4-overview-en")

    # the API reference is drawn by the service itself
    await page.goto(server + "/docs")
    await page.wait_for_selector("h3:has-text('POST /api/verify')")
    await shot(page, "5-api-reference")
    assert blocked == []
    assert elsewhere == []


async def test_a_window_picked_in_local_dates_is_the_one_kpi_evaluate_gets(
    page: Page, server: str, site: tuple[Path, str]
) -> None:
    """The browser runs in UTC, the plant in Asia/Shanghai. Picking 29 Oct to 30 Oct must
    evaluate the plant's 29 Oct — exactly what `pilotproof kpi evaluate --from 2026-10-29
    --to 2026-10-30` gives — and show that window in the plant's time."""
    import json

    tmp, token = site
    await page.goto(server + "/")
    await page.fill("#token", token)
    await page.click("#signin")
    await page.wait_for_selector("#profile")
    await page.select_option("#profile", PROFILE)
    await page.fill("#from", "2026-10-29")
    await page.fill("#to", "2026-10-30")
    await page.click("#show")
    # the one job worker may be verifying another test's bundle: wait for it
    await page.wait_for_selector(
        "#window:has-text('2026-10-29 00:00 → 2026-10-30 00:00')", timeout=120_000
    )
    assert "Asia/Shanghai" in await page.inner_text("#zone")
    await shot(page, "6-local-dates-zh")
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "pilotproof.cli", "kpi", "evaluate", "--profile", PROFILE,
         "--scenario", SCENARIO, "--store", f"sqlite:{tmp / 'store.db'}",
         "--from", "2026-10-29", "--to", "2026-10-30", "--json"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr  # 1: a required KPI fails
    expected = {r["id"]: r for r in json.loads(done.stdout)["results"] if r["source"] != "rule"}
    cards = page.locator(".card")
    assert await cards.count() == len(expected)
    compared = 0
    for i in range(await cards.count()):
        card = cards.nth(i)
        r = expected[str(await card.get_attribute("data-kpi"))]
        assert r["verdict"] in str(await card.get_attribute("class")).split(), r["id"]
        if r["numerator"] is not None:
            text = await card.locator(".muted").inner_text()
            n, d = r["numerator"], r["denominator"]
            assert (f"{n}" if d is None else f"{n} / {d}") in text, (r["id"], text)
            assert "null" not in text
            compared += 1
    assert compared >= 1  # a counted KPI, not only verdicts


async def sign_in(page: Page, server: str, token: str) -> None:
    await page.goto(server + "/")
    await page.fill("#token", token)
    await page.click("#signin")
    await page.wait_for_selector("#profile")


async def test_the_element_list_shows_every_declared_element(
    page: Page, server: str, site: tuple[Path, str]
) -> None:
    _, token = site
    await sign_in(page, server, token)
    await page.click("a[href='#/elements']")
    await page.wait_for_selector("#elements")
    declared = load_scenario(SCENARIO).inventory().elements
    assert await page.locator("#elements tr[data-element]").count() == len(declared)
    for e in declared[:5]:
        row = page.locator(f"#elements tr[data-element='{e.id}']")
        assert e.link in await row.inner_text()
    assert "Asia/Shanghai" in await page.inner_text("#element-summary")
    await shot(page, "7-elements-zh")
    await page.click("#lang")
    await page.wait_for_selector("th:has-text('Declared link')")
    await shot(page, "7-elements-en")


@pytest.mark.parametrize(("role", "offered", "hidden"), [
    ("auditor", "#verify", "#build"), ("operator", "#build", "#verify"),
])  # fmt: skip
async def test_the_evidence_page_offers_what_the_role_may_do(
    page: Page, server: str, site: tuple[Path, str], role: str, offered: str, hidden: str
) -> None:
    """An auditor is not shown a build button that would answer 403, nor an operator an
    upload that would."""
    tmp, _ = site
    token = TokenStore(tmp / "tokens.db").create(f"e2e-{role}", role)  # type: ignore[arg-type]
    await sign_in(page, server, token)
    await page.click("a[href='#/evidence']")
    await page.wait_for_selector("#whoami")
    assert role in await page.inner_text("#whoami")
    assert await page.locator(offered).count() == 1
    assert await page.locator(hidden).count() == 0
    await shot(page, f"8-evidence-{role}-zh")


async def test_the_report_of_a_verified_and_of_a_refused_bundle(
    page: Page, site: tuple[Path, str], tmp_path: Path
) -> None:
    """The auditor's two documents, as `evidence verify --report` writes them, rendered by
    the browser: screenshots of both land in test-artifacts/report/."""
    tmp, _ = site
    window = ("--from", WINDOW.start.isoformat(), "--to", WINDOW.end.isoformat())

    def pp(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "pilotproof.cli", *args],
                              capture_output=True, text=True, timeout=300)  # fmt: skip

    built = await asyncio.to_thread(
        pp, "evidence", "build", "--profile", PROFILE, "--scenario", SCENARIO, "--store",
        f"sqlite:{tmp / 'store.db'}", "--key", str(tmp / "builder.key"), "--out",
        str(tmp_path / "bundle"), *window, "--tar",
    )  # fmt: skip
    assert built.returncode == 0, built.stdout + built.stderr
    trust = str(tmp / "trust.toml")
    packed, folder = str(tmp_path / "bundle.tar.gz"), str(tmp_path / "bundle")
    good = await asyncio.to_thread(pp, "evidence", "verify", packed, "--trust", trust,
                                   "--report", str(tmp_path / "ok.html"))  # fmt: skip
    assert good.returncode == 0, good.stdout + good.stderr
    (tmp_path / "bundle" / "report.html").write_text("edited", encoding="utf-8")
    bad = await asyncio.to_thread(pp, "evidence", "verify", folder, "--trust", trust,
                                  "--report", str(tmp_path / "bad.html"))  # fmt: skip
    assert bad.returncode == 1, bad.stdout + bad.stderr
    out = ARTIFACTS.parent / "report"
    out.mkdir(parents=True, exist_ok=True)
    ok = (tmp_path / "ok.html").read_text(encoding="utf-8")
    assert "rows counted in the numerator and the denominator: 7 / 41" in ok  # 7 of 41 on 5G
    for name, says in (("ok", "通过 · verified"), ("bad", "未通过 · NOT verified")):
        await page.goto((tmp_path / f"{name}.html").as_uri())
        assert says in await page.inner_text("body")
        # the rows behind each value unfolded, as an auditor spot-checks them
        await page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
        await page.screenshot(path=str(out / f"report-{name}.png"), full_page=True)


async def test_a_preset_picks_whole_local_days_ending_today(
    page: Page, server: str, site: tuple[Path, str]
) -> None:
    """ "Last 7 days" is today and the six days before, in the plant's calendar (the
    browser's is UTC): the window shown runs from midnight 6 days ago to tomorrow's."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    _, token = site
    await sign_in(page, server, token)
    await page.select_option("#profile", PROFILE)
    await page.click(".preset[data-days='7']")
    today = datetime.now(ZoneInfo(load_scenario(SCENARIO).timezone)).date()
    first, end = today - timedelta(days=6), today + timedelta(days=1)
    await page.wait_for_selector(f"#window:has-text('{first} 00:00 → {end} 00:00')")
    assert await page.input_value("#from") == str(first)
    assert await page.locator("#refresh").count() == 1


async def test_every_view_in_both_languages(
    browser: Browser, server: str, site: tuple[Path, str], tmp_path: Path
) -> None:
    """Overview with its warnings, drill-down, elements, a point's trend, the agents, the
    evidence page: each shown in 中文 and in English (screenshots `view-*-{zh,en}.png`),
    with no key left untranslated and the CSV the overview offers downloaded."""
    _, token = site
    words = {"zh": ("需要关注", "数据点", "采集代理", "缓存占用"),
             "en": ("Needs attention", "Points", "Agents", "Buffer fill")}  # fmt: skip
    for lang, (attention, points, agents, fill) in words.items():
        ctx = await browser.new_context(
            accept_downloads=True, viewport={"width": 1280, "height": 900}, timezone_id="UTC"
        )
        await ctx.add_init_script(f"localStorage.setItem('pp.lang', '{lang}')")
        page = await ctx.new_page()
        try:
            await sign_in(page, server, token)
            await choose_profile_and_window(page)
            await page.click("#show")
            # the render of the window picked, not the default one it replaces
            await page.wait_for_selector(f"#window:has-text('{local(WINDOW.start)}')",
                                         timeout=120_000)  # fmt: skip
            warning = await page.inner_text("#warnings")
            assert attention in warning
            # the history is a month old: no element reported a status in the last 24 h
            assert await page.locator("#warnings li[data-code='W_ELEMENT_SILENT']").count() == 1
            await shot(page, f"view-overview-{lang}")
            async with page.expect_download() as info:
                await page.click("#csv-kpis")
            table = tmp_path / f"kpis-{lang}.csv"
            await (await info.value).save_as(table)
            text = table.read_text(encoding="utf-8")
            assert text.startswith("\ufeffid,name_zh,name_en")
            assert "fiveg_wireless" in text

            await page.click(".card[data-kpi='fiveg_wireless_networking_rate']")
            await page.wait_for_selector("#chart-daily svg")
            await shot(page, f"view-drill-down-{lang}")

            await page.click("a[href='#/elements']")
            await page.wait_for_selector("#elements tr[data-element]")
            await shot(page, f"view-elements-{lang}")
            # an element's name leads to its points
            first = page.locator("#elements tr[data-element] a").first
            element = await first.inner_text()
            await first.click()
            await page.wait_for_selector(f"h2:has-text('{points}')")
            await page.fill("#from", "2026-10-29 11:00")
            await page.fill("#to", "2026-10-29 12:00")
            await page.click("#show")
            await page.wait_for_selector("#trend svg polyline.mean", timeout=60_000)
            assert element in await page.inner_text("#trend")
            # another point picked: its trend, and the pick kept when the window changes
            other = (await page.locator("#point option").nth(1).inner_text()).split(" — ")[0]
            await page.select_option("#point", index=1)
            await page.wait_for_selector(f"#trend:has-text('{other.split(' (')[0]}')")
            await page.click("#show")
            await page.wait_for_selector("#trend svg polyline.mean")
            assert other.split(" (")[0] in await page.inner_text("#trend")
            await shot(page, f"view-points-{lang}")

            await page.click("a[href='#/agents']")
            row = page.locator("#agents tr[data-agent='gw-a']")
            await row.wait_for()
            assert "34.2 %" in await row.inner_text()  # 350 MiB of 1 GiB
            assert "3 / 3" in await row.inner_text()
            assert fill in await page.inner_text("#agents")
            await shot(page, f"view-agents-{lang}")
            assert agents in await page.inner_text("nav")

            await page.click("a[href='#/evidence']")
            await page.wait_for_selector("#verify")
            await shot(page, f"view-evidence-{lang}")
            # no i18n key shown raw, in either language
            for key in ("no_warnings", "pick_point", "buffer_fill", "last_report"):
                assert key not in await page.inner_text("body")
        finally:
            await ctx.close()
