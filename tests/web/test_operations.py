"""The operator's views over the API, on both stores: agents' health from their own
`pp_agent` rows, raw point trends, warnings, and the CSV downloads."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from collectors import Metrics
from kpi import Window
from pilotproof.web import Jobs, JobSpec, TokenStore, WebSettings, create_app
from simulators import backfill, load_scenario
from telemetry import SqliteStore, Store
from telemetry.localserver import LocalInfluxd
from telemetry.seal import KPI_STREAM, Sealer
from telemetry.timegrid import NS
from tests.conftest import new_influx_store
from verifier import load_trust, trust_entry

SCENARIO = "fiveg-factory-pass"
PROFILE = "miit2021-5g-factory"
SPAN = Window(
    start=datetime.fromisoformat("2026-10-29T08:00:00+08:00"),
    end=datetime.fromisoformat("2026-10-29T10:00:00+08:00"),
)
NOW = SPAN.end


@dataclass
class Ops:
    client: httpx.AsyncClient
    auth: dict[str, str]


def agent_row(agent: str, at: datetime, **figures: int) -> object:
    """A `pp_agent` row as a running agent writes it: its own Metrics, turned into a point."""
    m = Metrics(agent)
    for k, v in figures.items():
        setattr(m, k, v)
    m.connected = {f"d{i}": int(i < figures.get("_up", 0)) for i in range(figures.get("_n", 0))}
    return m.point(load_scenario(SCENARIO).site, int(at.timestamp() * NS))


@pytest.fixture(params=["sqlite", "influx"], scope="module")
async def ops(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Ops]:
    tmp = tmp_path_factory.mktemp("ops")
    scenario = load_scenario(SCENARIO)
    store: Store
    if request.param == "sqlite":
        store = SqliteStore(tmp / "store.db")
    else:
        influxd: LocalInfluxd = request.getfixturevalue("influxd")
        store = await new_influx_store(influxd)
    key = Ed25519PrivateKey.generate()
    await backfill(scenario, store, SPAN.start_ns, SPAN.end_ns, telemetry=True,
                   sealer=Sealer(key, "gw-a", KPI_STREAM), batch_lines=2000)  # fmt: skip
    # gw-a reports now, its buffer 90 % full, 2 of its 3 sources connected; gw-old
    # reported two hours ago; gw-never is pinned to the site and never reported
    rows = [
        agent_row("gw-a", NOW - timedelta(seconds=30), buffer_bytes=900, buffer_max_bytes=1000,
                  buffer_pending=40, buffer_sealed=2, sealer_up=1,
                  store_up=1, _n=3, _up=2),
        agent_row("gw-old", NOW - timedelta(hours=2), buffer_bytes=1, buffer_max_bytes=1000),
    ]  # fmt: skip
    await store.write(rows)  # type: ignore[arg-type]
    (tmp / "trust.toml").write_text(
        trust_entry("gw-a", "agent", key.public_key(), site=scenario.site)
        + trust_entry("gw-never", "agent", Ed25519PrivateKey.generate().public_key(),
                      site=scenario.site)
    )  # fmt: skip
    tokens = TokenStore(tmp / "tokens.db")
    token = tokens.create("plant", "operator")
    jobs = Jobs(JobSpec(store=store.config, inventory=scenario.inventory(),  # type: ignore[attr-defined]
                        trust=load_trust(tmp / "trust.toml")))  # fmt: skip
    app = create_app(store, WebSettings(default_profile=PROFILE, work_dir=tmp / "w"), tokens,
                     jobs, now=lambda: NOW)  # fmt: skip
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://pilotproof"
    ) as client:
        yield Ops(client, {"Authorization": f"Bearer {token}"})
    jobs.close()
    await store.close()


async def get(ops: Ops, path: str, **params: str) -> httpx.Response:
    r = await ops.client.get(path, params=params, headers=ops.auth)
    assert r.status_code == 200, (path, r.text)
    return r


def window(w: Window = SPAN) -> dict[str, str]:
    return {"from": w.start.isoformat(), "to": w.end.isoformat()}


async def test_agents_report_backlog_fill_drivers_and_their_chain(ops: Ops) -> None:
    agents = {a["agent"]: a for a in (await get(ops, "/api/agents")).json()}
    assert set(agents) == {"gw-a", "gw-old", "gw-never"}
    a = agents["gw-a"]
    assert not a["stale"]
    assert a["pinned_site"] == load_scenario(SCENARIO).site
    assert a["buffer_fill"] == pytest.approx(0.9)
    assert a["backlog_lines"] == 42
    assert (a["drivers"], a["connected"]) == (3, 2)
    assert a["sealer_up"] is True
    assert a["store_up"] is True
    # its chain in the store: every backfilled batch, sealed up to the span's end
    assert a["batches_stored"] > 1
    sealed_until = datetime.fromisoformat(a["sealed_until"])
    assert SPAN.end - timedelta(minutes=5) <= sealed_until <= SPAN.end
    assert agents["gw-old"]["stale"]
    assert agents["gw-old"]["pinned_site"] is None
    assert agents["gw-never"]["stale"]
    assert agents["gw-never"]["last_report"] is None


async def test_warnings_name_what_to_look_at(ops: Ops) -> None:
    earlier = Window(start=SPAN.start - timedelta(hours=2), end=SPAN.end)  # no data before
    found = (await get(ops, "/api/warnings", profile=PROFILE, **window(earlier))).json()
    by = {}
    for w in found:
        by.setdefault(w["code"], []).append(w["subject"])
        assert w["message_zh"]
        assert w["message_en"]
        assert w["severity"] in ("alert", "notice")
    assert sorted(by["W_AGENT_STALE"]) == ["gw-never", "gw-old"]
    assert by["W_BUFFER_FILLING"] == ["gw-a"]
    assert by["W_DRIVER_DOWN"] == ["gw-a"]
    assert "W_FORWARDING_DOWN" not in by
    assert "W_COVERAGE_GAP" in by  # the two hours before the history
    offline = [e["id"] for e in (await get(ops, "/api/elements")).json() if e["online"] is False]
    assert ("W_ELEMENT_OFFLINE" in by) == bool(offline)
    inside = (await get(ops, "/api/warnings", profile=PROFILE, **window())).json()
    assert "W_COVERAGE_GAP" not in {w["code"] for w in inside}


async def test_a_point_trend_holds_every_sample_of_the_window(ops: Ops) -> None:
    points = (await get(ops, "/api/points", **window())).json()
    assert points, "the backfill wrote raw telemetry"
    p = max(points, key=lambda p: p["samples"])
    q = {"element": p["element"], "point": p["point"], **window()}
    trend = (await get(ops, "/api/points/trend", **q)).json()
    assert sum(r["samples"] for r in trend["rows"]) == p["samples"]
    assert 0 < len(trend["rows"]) <= 241
    assert trend["every_s"] >= (p["period_s"] or 1)
    for r in trend["rows"]:
        assert r["min"] <= r["mean"] <= r["max"]
    svg = (await get(ops, "/api/points/trend.svg", **q)).text
    assert svg.startswith("<svg")
    assert "polyline" in svg
    got = (await get(ops, "/api/points/trend.csv", **q)).content.decode("utf-8")
    assert got.startswith("\ufeff")  # Excel reads UTF-8 only with its mark
    table = list(csv.reader(io.StringIO(got.removeprefix("\ufeff"))))
    assert table[0][:2] == ["time_utc", "time_local (Asia/Shanghai)"]
    assert len(table) == len(trend["rows"]) + 1
    r = await ops.client.get("/api/points/trend", headers=ops.auth,
                             params={"element": "no-such", "point": "x", **window()})  # fmt: skip
    assert r.status_code == 404
    assert "/api/points" in r.json()["detail"]


async def test_csv_downloads_hold_what_the_json_says(ops: Ops) -> None:
    ev = (await get(ops, "/api/kpis", profile=PROFILE, **window())).json()
    text = (await get(ops, "/api/kpis.csv", profile=PROFILE, **window())).text
    rows = list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))
    assert [(r["id"], r["verdict"]) for r in rows] == [
        (r["id"], r["verdict"]) for r in ev["results"]
    ]
    assert any("5G" in r["name_zh"] for r in rows)
    # a yes/no KPI measured is written as true/false, in the CSV and day by day
    yes_no = next(r for r in ev["results"] if isinstance(r["value"], bool))
    cell = next(r for r in rows if r["id"] == yes_no["id"])["value"]
    assert cell == str(yes_no["value"]).lower(), cell
    days = (await get(ops, f"/api/kpis/{yes_no['id']}/series", profile=PROFILE,
                      **window())).json()["daily"]  # fmt: skip
    assert {d["value"] for d in days} <= {"true", "false", None}
    assert any(d["value"] in ("true", "false") for d in days)
    kpi = next(r for r in ev["results"] if r["numerator"] is not None)["id"]
    daily = (await get(ops, f"/api/kpis/{kpi}/series.csv", profile=PROFILE, **window())).text
    series = (await get(ops, f"/api/kpis/{kpi}/series", profile=PROFILE, **window())).json()
    assert len(daily.strip().splitlines()) == len(series["daily"]) + 1
    els = (await get(ops, "/api/elements.csv")).text
    assert len(els.strip().splitlines()) == len(load_scenario(SCENARIO).inventory().elements) + 1


async def test_the_new_views_need_a_token(ops: Ops) -> None:
    for path in ("/api/agents", "/api/warnings", "/api/points", "/api/kpis.csv",
                 "/api/elements.csv"):  # fmt: skip
        assert (await ops.client.get(path)).status_code == 401


def test_metrics_rows_carry_the_buffer_cap(tmp_path: Path) -> None:
    """What `/api/agents` divides by is in the row an agent writes."""
    row = agent_row("gw", NOW, buffer_max_bytes=1 << 30)
    assert row.fields["buffer_max_bytes"] == 1 << 30  # type: ignore[attr-defined]


@pytest.mark.parametrize(("value", "cell"), [
    ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"), ("@SUM(A1)", "'@SUM(A1)"),
    ("-0.5", "-0.5"), ("+1", "+1"), (None, ""), ("plain", "plain"), (3, "3"),
])  # fmt: skip
def test_a_csv_cell_is_never_a_formula(value: object, cell: str) -> None:
    from pilotproof.web.export import csv_response

    body = bytes(csv_response("x.csv", ["v"], [[value]]).body).decode("utf-8")
    assert body.removeprefix("\ufeff").splitlines()[1].strip('"').replace('""', '"') == cell
