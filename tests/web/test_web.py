"""The web API against the real app, on both stores, with real tokens and bundles."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from kpi import evaluate
from pilotproof.web import Jobs, JobSpec, TokenStore, WebSettings, create_app
from simulators import load_scenario
from telemetry import SqliteStore, Store
from telemetry.localserver import LocalInfluxd
from tests.conftest import new_influx_store
from tests.evidence_fixtures import PROFILE, SCENARIO, WINDOW, Keys, sealed_backfill


@dataclass
class Web:
    client: httpx.AsyncClient
    store: Store
    tokens: dict[str, str]

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


@pytest.fixture(params=["sqlite", "influx"], scope="module")
async def web(
    request: pytest.FixtureRequest,
    keys: Keys,
    sealed_sqlite: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Web]:
    tmp = tmp_path_factory.mktemp("web")
    store: Store
    if request.param == "sqlite":
        shutil.copy(sealed_sqlite, tmp / "store.db")
        store = SqliteStore(tmp / "store.db")
    else:
        influxd: LocalInfluxd = request.getfixturevalue("influxd")
        store = await new_influx_store(influxd)
        await sealed_backfill(store, keys.agent, "gw-a")
    tokens = TokenStore(tmp / "tokens.db")
    issued = {r: tokens.create(f"{r}-1", r) for r in ("operator", "auditor", "admin")}
    jobs = Jobs(
        JobSpec(store=store.config, inventory=load_scenario(SCENARIO).inventory(),  # type: ignore[attr-defined]
                trust=keys.trust, key=JobSpec.raw_key(keys.builder))
    )  # fmt: skip
    app = create_app(
        store,
        WebSettings(default_profile=PROFILE, default_days=1, work_dir=tmp / "bundles",
                    max_upload_bytes=5 << 20, verify_per_minute=3, keep_bundles=2),
        tokens,
        jobs,
        now=lambda: WINDOW.end,
    )  # fmt: skip
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://pilotproof") as client:
        yield Web(client, store, issued)
    jobs.close()
    await store.close()


async def test_health_needs_no_token(web: Web) -> None:
    r = await web.client.get("/api/health")
    assert r.status_code == 200
    assert r.json()["status"] == "ok"


@pytest.mark.parametrize(
    "path", ["/api/kpis", "/api/elements", "/api/profiles", "/metrics", "/api/tokens"]
)
async def test_everything_else_needs_a_valid_token(web: Web, path: str) -> None:
    assert (await web.client.get(path)).status_code == 401
    bad = {"Authorization": "Bearer pp_not-a-token"}
    assert (await web.client.get(path, headers=bad)).status_code == 401


async def test_roles_decide_what_a_token_may_do(web: Web) -> None:
    body = {"profile": PROFILE, "from": WINDOW.start.isoformat(), "to": WINDOW.end.isoformat()}
    r = await web.client.post("/api/evidence", json=body, headers=web.auth("auditor"))
    assert r.status_code == 403
    r = await web.client.post(
        "/api/verify", files={"bundle": ("b.tar.gz", b"x")}, headers=web.auth("operator")
    )
    assert r.status_code == 403
    assert (await web.client.get("/api/tokens", headers=web.auth("operator"))).status_code == 403


async def test_kpis_are_the_engines_own(web: Web) -> None:
    params = {"profile": PROFILE, "from": WINDOW.start.isoformat(), "to": WINDOW.end.isoformat()}
    r = await web.client.get("/api/kpis", params=params, headers=web.auth("auditor"))
    assert r.status_code == 200, r.text
    got = {k["id"]: k for k in r.json()["results"]}
    direct = await evaluate(PROFILE, WINDOW, web.store, load_scenario(SCENARIO).inventory())
    share = direct.result("fiveg_wireless_networking_rate")
    assert got["fiveg_wireless_networking_rate"]["numerator"] == share.numerator
    assert got["fiveg_wireless_networking_rate"]["decimal"] == share.decimal
    assert r.json()["verdict"] == direct.verdict


async def test_a_kpi_series_has_its_breakdown_and_days(web: Web) -> None:
    params = {"profile": PROFILE, "from": WINDOW.start.isoformat(), "to": WINDOW.end.isoformat()}
    r = await web.client.get(
        "/api/kpis/fiveg_wireless_networking_rate/series", params=params,
        headers=web.auth("operator"),
    )  # fmt: skip
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["kpi"]["breakdown"]["by"] == "element"
    assert [d["day"] for d in body["daily"]] == ["2026-10-29"]
    assert body["daily"][0]["numerator"] == body["kpi"]["numerator"]


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/api/kpis", {"profile": "no-such-profile"}, 404),
        ("/api/kpis/no_such_kpi/series", {}, 404),
        (
            "/api/kpis",
            {"from": "2026-10-29T10:00:00+08:00", "to": "2026-10-29T09:00:00+08:00"},
            400,
        ),
        ("/api/kpis", {"from": "2026-10-29T10:00:00"}, 400),
        ("/api/kpis", {"from": "yesterday"}, 422),  # FastAPI's own validation
    ],
)
async def test_bad_requests_say_what_is_wrong(
    web: Web, path: str, params: dict[str, str], status: int
) -> None:
    r = await web.client.get(path, params=params, headers=web.auth("auditor"))
    assert r.status_code == status, r.text
    assert r.json()["detail"]


async def test_elements_show_their_last_status(web: Web) -> None:
    r = await web.client.get("/api/elements", headers=web.auth("operator"))
    assert r.status_code == 200
    rows = r.json()
    assert len(rows) == len(load_scenario(SCENARIO).inventory().elements)
    assert any(e["online"] for e in rows)
    assert all(e["last_seen"] for e in rows if e["online"] is not None)


async def test_build_download_and_verify_evidence(web: Web) -> None:
    body = {"profile": PROFILE, "from": WINDOW.start.isoformat(), "to": WINDOW.end.isoformat()}
    r = await web.client.post("/api/evidence", json=body, headers=web.auth("operator"))
    assert r.status_code == 201, r.text
    built = r.json()
    r = await web.client.get(f"/api/evidence/{built['id']}", headers=web.auth("auditor"))
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/gzip"
    archive = r.content
    r = await web.client.post(
        "/api/verify", files={"bundle": ("b.tar.gz", archive)}, headers=web.auth("auditor")
    )
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["ok"], report
    tampered = archive[:-100] + bytes(100)
    r = await web.client.post(
        "/api/verify", files={"bundle": ("t.tar.gz", tampered)}, headers=web.auth("admin")
    )
    assert r.status_code == 200
    assert not r.json()["ok"]
    assert (
        await web.client.get("/api/evidence/../x", headers=web.auth("auditor"))
    ).status_code == 404


async def test_uploads_are_capped_and_verification_rate_limited(web: Web) -> None:
    big = bytes(6 << 20)
    r = await web.client.post(
        "/api/verify", files={"bundle": ("big.tar.gz", big)}, headers=web.auth("auditor")
    )
    assert r.status_code == 413
    statuses = []
    for _ in range(5):
        r = await web.client.post(
            "/api/verify", files={"bundle": ("x.tar.gz", b"junk")}, headers=web.auth("auditor")
        )
        statuses.append(r.status_code)
    assert 429 in statuses
    assert statuses[0] == 200  # verified, and found not to be a bundle
    assert r.json()["detail"].startswith("at most 3")


async def test_admins_manage_tokens(web: Web) -> None:
    admin = web.auth("admin")
    r = await web.client.post("/api/tokens", json={"name": "auditor-2", "role": "auditor"},
                              headers=admin)  # fmt: skip
    assert r.status_code == 201
    token = r.json()["token"]
    listed = (await web.client.get("/api/tokens", headers=admin)).json()
    assert {"name": "auditor-2", "role": "auditor"}.items() <= next(
        t for t in listed if t["name"] == "auditor-2"
    ).items()
    assert all("token" not in t for t in listed)
    h = {"Authorization": f"Bearer {token}"}
    assert (await web.client.get("/api/profiles", headers=h)).status_code == 200
    assert (await web.client.delete("/api/tokens/auditor-2", headers=admin)).status_code == 204
    assert (await web.client.get("/api/profiles", headers=h)).status_code == 401


async def test_metrics_count_requests_per_route(web: Web) -> None:
    await web.client.get("/api/health")
    r = await web.client.get("/metrics", headers=web.auth("operator"))
    assert r.status_code == 200
    assert 'pilotproof_http_requests_total{path="/api/health",status="200"}' in r.text


async def test_the_openapi_document_describes_the_api(web: Web) -> None:
    doc = (await web.client.get("/openapi.json")).json()
    paths = set(doc["paths"])
    assert {
        "/api/health", "/api/kpis", "/api/kpis/{kpi_id}/series", "/api/elements",
        "/api/evidence", "/api/evidence/{bundle_id}", "/api/verify", "/metrics",
    } <= paths  # fmt: skip
    for path, ops in doc["paths"].items():
        for op in ops.values():
            assert op.get("description") or op.get("summary"), path


async def test_the_dashboard_is_served_without_any_cdn(web: Web) -> None:
    page = await web.client.get("/")
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    for asset in ("/static/app.js", "/static/app.css"):
        r = await web.client.get(asset)
        assert r.status_code == 200
        assert "http://" not in r.text.replace("http://www.w3.org", "")
        assert "https://" not in r.text
    assert "https://" not in page.text


@pytest.mark.parametrize("kind", ["daily", "breakdown", "coverage"])
async def test_kpi_charts_are_svg_drawn_by_the_server(web: Web, kind: str) -> None:
    params = {"kind": kind, "from": WINDOW.start.isoformat(), "to": WINDOW.end.isoformat()}
    r = await web.client.get("/api/kpis/fiveg_wireless_networking_rate/chart.svg", params=params,
                             headers=web.auth("auditor"))  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("image/svg+xml")
    assert r.text.startswith("<svg")
    assert "<rect" in r.text


async def fresh_auditor(web: Web, name: str) -> dict[str, str]:
    """A token of its own: verifications are rate-limited per token."""
    r = await web.client.post(
        "/api/tokens", json={"name": name, "role": "auditor"}, headers=web.auth("admin")
    )
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


async def test_an_upload_is_verified_against_a_filed_inventory_with_a_report(
    web: Web, tmp_path: Path
) -> None:
    """The auditor pins the inventory the factory filed (a file, or the service's own), and
    takes away the HTML report of each verification — of a refused bundle too."""
    import json

    body = {"profile": PROFILE, "from": WINDOW.start.isoformat(), "to": WINDOW.end.isoformat()}
    built = await web.client.post("/api/evidence", json=body, headers=web.auth("operator"))
    assert built.status_code == 201, built.text
    archive = (await web.client.get(f"/api/evidence/{built.json()['id']}",
                                    headers=web.auth("auditor"))).content  # fmt: skip
    auditor = await fresh_auditor(web, f"pinning-{tmp_path.name}")
    filed = load_scenario(SCENARIO).inventory().model_dump(mode="json")
    other = json.loads(json.dumps(filed))
    other["elements"][0]["link"] = "wifi" if filed["elements"][0]["link"] != "wifi" else "wired"
    outcomes = []
    for inventory in (filed, other):
        r = await web.client.post("/api/verify", headers=auditor, files={
            "bundle": ("site.tar.gz", archive),
            "inventory": ("filed.json", json.dumps(inventory).encode()),
        })  # fmt: skip
        assert r.status_code == 200, r.text
        outcomes.append(r.json())
    good, bad = outcomes
    assert good["ok"], good["checks"]
    assert good["inventory_pinned"]
    assert not any(w["code"] == "W_INVENTORY_NOT_PINNED" for w in good["warnings"])
    assert not bad["ok"]
    assert "E_INVENTORY_MISMATCH" in {f["code"] for c in bad["checks"] for f in c["findings"]}
    # each verification left its report, naming the upload and never the server's folders
    for v, says in ((good, "通过 · verified"), (bad, "未通过 · NOT verified")):
        r = await web.client.get(v["report"], headers=auditor)
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/html")
        assert says in r.text
        assert "site.tar.gz" in r.text
        assert "pilotproof-upload-" not in r.text
    # the service's own inventory, pinned by a form field
    r = await web.client.post("/api/verify", headers=auditor, data={"pin_site": "true"},
                              files={"bundle": ("site.tar.gz", archive)})  # fmt: skip
    assert r.json()["ok"]
    assert r.json()["inventory_pinned"]
    # reports are the auditors': an operator may not read them, nobody may walk out
    assert (await web.client.get(good["report"], headers=web.auth("operator"))).status_code == 403
    assert (await web.client.get("/api/reports/..%2Fx", headers=auditor)).status_code == 404


async def test_an_unreadable_inventory_upload_is_refused_by_name(web: Web) -> None:
    auditor = await fresh_auditor(web, "bad-inventory")
    r = await web.client.post("/api/verify", headers=auditor, files={
        "bundle": ("b.tar.gz", b"x"), "inventory": ("mine.yaml", b"elements: [{id: 1"),
    })  # fmt: skip
    assert r.status_code == 400
    assert r.json()["detail"].startswith("the inventory: ")
    assert "mine.yaml" in r.json()["detail"]
