"""The operator views and the inventory upload against what a hostile device, agent or
uploader can put in front of them (found by an adversarial review): every answer is a
view or a 4xx that names the problem, never a 500, and nothing reads the server's files."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from hypothesis import given, settings, strategies as st

from pilotproof.web import Jobs, JobSpec, TokenStore, WebSettings, create_app
from pilotproof.web.charts import trend_svg
from pilotproof.web.models import PointTrend, TrendRow
from simulators import load_scenario
from telemetry import Point, SqliteStore, parse_inventory
from telemetry.inventory import InventoryError
from telemetry.timegrid import NS
from telemetry.yamlfile import YamlBombError, load
from verifier import trust_entry
from verifier.keys import load_trust

SCENARIO = "fiveg-factory-pass"
NOW = datetime(2026, 10, 29, 2, 0, tzinfo=UTC)


def laughs(levels: int) -> str:
    """The "billion laughs": each level nine aliases of the one before."""
    lines = ['a0: &a0 "lol"']
    for i in range(1, levels + 1):
        refs = ", ".join(f"*a{i - 1}" for _ in range(9))
        lines.append(f"a{i}: &a{i} [{refs}]")
    return "\n".join(lines) + f"\nelements: *a{levels}\n"


@pytest.fixture(scope="module")
async def client(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[httpx.AsyncClient]:
    tmp = tmp_path_factory.mktemp("hostile-views")
    s = load_scenario(SCENARIO)
    store = SqliteStore(tmp / "store.db")
    t = int(NOW.timestamp()) * NS
    site = {"site": s.site}
    element, point = s.inventory().elements[0].id, s.inventory().elements[0].points[0].id
    await store.write([
        # an agent's own row with figures of every wrong kind
        Point("pp_agent", {**site, "agent": "gw-x"}, {"buffer_bytes": -900,
              "buffer_max_bytes": 0, "drivers": -3, "connected": -5}, t - 60 * NS),
        # (each field of another type than gw-x's: a store fixes a field's type once)
        Point("pp_agent", {**site, "agent": "gw-y"}, {"store_up": 1.5,
              "points_in": "many", "sealer_up": True}, t - 60 * NS),
        # chain rows whose last_ns is no time at all
        Point("pp_batch", {**site, "agent": "gw-x", "stream": "kpi"},
              {"seq": 0, "last_ns": "zz"}, 0),
        Point("pp_batch", {**site, "agent": "gw-y", "stream": "kpi"},
              {"seq": 0, "last_ns": "1" + "0" * 30}, 0),
        # a constant 1e17 counter: flat, and too large for "± 1" to widen its axis
        *(Point("telemetry", {**site, "element": element, "point": point},
                {"value": 1e17, "quality": 0}, t - i * NS) for i in range(1, 30)),
    ])  # type: ignore[list-item]  # fmt: skip
    await store.close()
    (tmp / "trust.toml").write_text(trust_entry("gw-x", "agent", _public(), site=s.site))
    tokens = TokenStore(tmp / "tokens.db")
    token = tokens.create("auditor", "auditor")
    store = SqliteStore(tmp / "store.db")
    jobs = Jobs(JobSpec(store=store.config, inventory=s.inventory(),
                        trust=load_trust(tmp / "trust.toml")))  # fmt: skip
    settings = WebSettings(
        default_profile="miit2021-5g-factory", work_dir=tmp / "w", verify_per_minute=100
    )  # every hostile upload gets its answer
    app = create_app(store, settings, tokens, jobs, now=lambda: NOW)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://pp",
                                 headers={"Authorization": f"Bearer {token}"}) as c:  # fmt: skip
        c.element, c.point = element, point  # type: ignore[attr-defined]
        yield c
    jobs.close()
    await store.close()


def _public() -> object:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.generate().public_key()


async def test_agents_with_rows_of_every_wrong_kind_are_shown_not_crashed(
    client: httpx.AsyncClient,
) -> None:
    r = await client.get("/api/agents")
    assert r.status_code == 200, r.text
    agents = {a["agent"]: a for a in r.json()}
    assert agents["gw-x"]["buffer_fill"] is None  # -900 of 0: no fill to show
    assert agents["gw-x"]["drivers"] is None  # a negative count is none
    assert agents["gw-x"]["sealed_until"] is None  # "zz" is no time
    assert agents["gw-y"]["sealed_until"] is None  # 10^30 ns is past every calendar
    assert agents["gw-y"]["points_in"] is None  # "many"
    assert agents["gw-y"]["store_up"] is None  # 1.5 is no state
    warned = await client.get("/api/warnings", params={"from": "2026-10-29T09:00"})
    assert warned.status_code == 200, warned.text
    assert "-3" not in warned.text  # no "2 of -3 sources"


async def test_a_flat_huge_trend_is_drawn(client: httpx.AsyncClient) -> None:
    q = {"element": client.element, "point": client.point,  # type: ignore[attr-defined]
         "from": "2026-10-29T09:55", "to": "2026-10-29T10:00"}  # fmt: skip
    r = await client.get("/api/points/trend.svg", params=q)
    assert r.status_code == 200, r.text
    ET.fromstring(r.text)  # well-formed
    assert "nan" not in r.text.lower()


@pytest.mark.parametrize("query", [
    {"to": "0001-01-01"},  # the default window would start before year 1
    {"from": "20261029", "to": "20261030"},  # numbers, not dates
    {"from": "1.5e9"},
])  # fmt: skip
async def test_windows_no_calendar_holds_are_refused_with_a_reason(
    client: httpx.AsyncClient, query: dict[str, str]
) -> None:
    for path in ("/api/points", "/api/warnings", "/api/kpis.csv"):
        r = await client.get(path, params=query)
        assert r.status_code in (400, 422), (path, r.status_code, r.text)
        assert r.json()["detail"], r.text


@pytest.mark.parametrize("element", ["a\x00b", "line\nbreak", "x" * 201])
async def test_ids_with_control_characters_never_reach_the_store(
    client: httpx.AsyncClient, element: str
) -> None:
    r = await client.get("/api/points/trend", params={"element": element, "point": "p"})
    assert r.status_code == 422, r.text


@pytest.mark.parametrize("path", ["/api/reports/" + "x" * 300, "/api/evidence/" + "y" * 300])
async def test_overlong_ids_are_not_found(client: httpx.AsyncClient, path: str) -> None:
    assert (await client.get(path)).status_code == 404


BAD_INVENTORIES = {
    "laughs.yaml": laughs(9).encode(),
    "passwd.toml": b'inventory = "/etc/passwd"\n',
    "self.toml": b'inventory = "self.toml"\n',
    "utf16.yaml": "site: x".encode("utf-16"),
    "binary.json": bytes(range(256)),
    "deep.json": b"[" * 100_000 + b"]" * 100_000,
    "deep.yaml": b"a: " + b"[" * 50_000 + b"]" * 50_000,
    "digits.yaml": b"site: x\nstatus_interval_s: " + b"9" * 5000 + b"\n",
    "stamp.yaml": b"site: !!timestamp 2026-13-45\n",
}


@pytest.mark.parametrize("name", sorted(BAD_INVENTORIES))
async def test_a_hostile_inventory_upload_is_a_400_that_reads_no_file(
    client: httpx.AsyncClient, name: str
) -> None:
    r = await client.post("/api/verify", files={
        "bundle": ("b.tar.gz", b"x"), "inventory": (name, BAD_INVENTORIES[name]),
    })  # fmt: skip
    assert r.status_code == 400, (r.status_code, r.text[:300])
    detail = r.json()["detail"]
    assert detail.startswith("the inventory: ")
    assert "root:" not in detail  # nothing of /etc/passwd
    assert "pilotproof-upload-" not in detail  # nor the server's folders


@given(st.integers(min_value=2, max_value=12))
@settings(max_examples=11, deadline=None)
def test_an_alias_bomb_is_refused_before_it_expands(levels: int) -> None:
    text = laughs(levels)
    if levels <= 5:  # 9^5 = 59,049 values, twice: ordinary YAML
        assert load(text)["elements"]
    elif levels >= 7:  # 9^7 = 4.8 M values: refused (6 is near the 1 M bound either way)
        with pytest.raises(YamlBombError):
            load(text)
        with pytest.raises(InventoryError, match="aliases"):
            parse_inventory(text, toml=False, where="up.yaml")


finite = st.floats(allow_nan=True, allow_infinity=True)


@given(st.lists(st.tuples(finite, finite, finite), min_size=0, max_size=30))
@settings(max_examples=200, deadline=None)
def test_any_trend_draws_as_well_formed_svg(values: list[tuple[float, float, float]]) -> None:
    t0 = datetime(2026, 10, 29, tzinfo=UTC)
    rows = [TrendRow(time=t0 + timedelta(minutes=i), mean=m, min=a, max=b, samples=1)
            for i, (m, a, b) in enumerate(values)]  # fmt: skip
    svg = trend_svg(PointTrend(element="<e&>", point="p'", every_s=60, rows=rows), "Asia/Shanghai")
    root = ET.fromstring(svg)
    for el in root.iter():
        for attr in ("points", "x", "y", "x1", "x2", "y1", "y2"):
            v = el.get(attr)
            if v is not None:
                for num in v.replace(",", " ").split():
                    assert math.isfinite(float(num)), (attr, v)
