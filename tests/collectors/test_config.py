"""Site configs: every sample loads; errors name the file, the key and the value."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from collectors import SiteConfigError, load_site_config

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = sorted((ROOT / "collectors").glob("*/sample.toml"))


def test_there_is_a_sample_per_driver() -> None:
    assert {p.parent.name for p in SAMPLES} == {"mqtt", "modbus", "opcua"}


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.parent.name)
def test_every_sample_config_loads(path: Path) -> None:
    c = load_site_config(path)
    assert c.agent.key == path.parent / "keys" / "agent.pem"  # relative to the file
    assert c.inventory.elements


def test_errors_name_file_key_and_value(tmp_path: Path) -> None:
    base = (ROOT / "collectors" / "modbus" / "sample.toml").read_text(encoding="utf-8")
    bad = tmp_path / "site.toml"
    bad.write_text(base.replace('order = "CDAB"', 'order = "CADB"'), encoding="utf-8")
    with pytest.raises(SiteConfigError, match=r"site.toml: sources.modbus.0.registers.0.order"
                       r" = 'CADB'"):  # fmt: skip
        load_site_config(bad)
    bad.write_text(base.replace('point = "temp"', 'point = "tmep"'), encoding="utf-8")
    with pytest.raises(SiteConfigError, match=r"cnc-07.tmep, which the inventory does not"):
        load_site_config(bad)
    bad.write_text(base.replace("address_base = 1 ", ""), encoding="utf-8")
    with pytest.raises(SiteConfigError, match=r"address_base"):
        load_site_config(bad)
    bad.write_text("[agent\nid=1", encoding="utf-8")
    with pytest.raises(SiteConfigError, match=r"site.toml: not valid toml"):
        load_site_config(bad)


async def test_metrics_endpoint_and_pp_agent_rows(tmp_path: Path) -> None:
    import httpx

    from collectors import Agent, MetricsSection, Sources
    from telemetry import SqliteStore
    from telemetry.localserver import free_port
    from tests.collectors.conftest import running, site_config, wait_for
    from tests.collectors.test_resilience import INVENTORY

    port = free_port()
    config = site_config(tmp_path, INVENTORY, Sources(), status_interval_s=1).model_copy(
        update={"metrics": MetricsSection(listen=f"127.0.0.1:{port}")}
    )
    store = SqliteStore(tmp_path / "store.db")
    agent = Agent(config, store=store)
    async with running(agent), httpx.AsyncClient() as http:
        await wait_for(lambda: agent.metrics.points_out >= 1, 10, "a pp_agent row stored")
        r = await http.get(f"http://127.0.0.1:{port}/metrics")
        assert r.status_code == 200
        assert 'pilotproof_points_in_total{agent="gw-test"}' in r.text
        assert (await http.get(f"http://127.0.0.1:{port}/other")).status_code == 404
    rows = await store.read("pp_agent", 0, 2**62)
    assert rows
    assert rows[0].tags["agent"] == "gw-test"
    await store.close()


def test_docs_site_config_md_is_generated_from_the_models() -> None:
    from collectors.reference import render_site_config_docs

    committed = (Path(__file__).resolve().parents[2] / "docs" / "site-config.md").read_text(
        encoding="utf-8"
    )
    assert committed == render_site_config_docs(), "run `uv run pilotproof agent docs`"


@pytest.mark.parametrize(
    ("setting", "reason"),
    [
        ("deadband = 0.5", "needs mode = 'subscription'"),
        ('auth = "certificate"', "needs user_certificate and user_key"),
        ('user_certificate = "u.der"\nuser_key = "u.pem"', "only used with auth = 'certificate'"),
        ('security = "None"', "trust_dir = .* needs security = 'Sign' or 'SignAndEncrypt'"),
        (
            'security = "None"\nauth = "certificate"\nuser_certificate = "u.der"\n'
            'user_key = "u.pem"',
            "user token is signed over the server certificate",
        ),
    ],
)
def test_opcua_settings_that_would_be_ignored_are_refused(
    tmp_path: Path, setting: str, reason: str
) -> None:
    base = (ROOT / "collectors" / "opcua" / "sample.toml").read_text(encoding="utf-8")
    text = base.replace('name = "press-line"\n', f'name = "press-line"\n{setting}\n', 1)
    for key in ("auth", "security"):
        if f"{key} =" in setting:
            text = re.sub(rf'^{key} = "\w+" .*$', "", text, count=1, flags=re.M)
    if "certificate" in setting and "None" in setting:
        text = text.replace('trust_dir = "pki/trusted"', "", 1)
    if "deadband" in setting:  # a deadband is filtered by subscriptions; polls read all
        text = text.replace('mode = "subscription"', 'mode = "poll"', 1)
    bad = tmp_path / "site.toml"
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(SiteConfigError, match=reason):
        load_site_config(bad)


def test_paths_are_taken_from_the_config_files_folder(tmp_path: Path) -> None:
    text = (ROOT / "collectors" / "opcua" / "sample.toml").read_text(encoding="utf-8")
    text = text.replace('auth = "username"', 'auth = "certificate"', 1)
    text = text.replace("# user_certificate", "user_certificate", 1).replace(
        "# user_key", "user_key", 1
    )
    (tmp_path / "site").mkdir()
    site = tmp_path / "site" / "site.toml"
    site.write_text(text, encoding="utf-8")
    ua = load_site_config(site).sources.opcua[0]
    base = tmp_path / "site"
    assert (ua.cert_dir, ua.trust_dir) == (base / "pki", base / "pki" / "trusted")
    assert ua.user_certificate == base / "pki" / "users" / "pilotproof.der"
    assert ua.user_key == base / "pki" / "users" / "pilotproof.pem"


# --- what `agent check` refuses (found by trying to break `agent run`) --------------------

MINIMAL = """[agent]
id = "gw"
key = "agent.pem"
{agent}
[store]
url = "{store}"

[inventory]
site = "s1"
{inventory}
elements = [{{id = "e1", kind = "machine", link = "wired", points = [
  {{id = "{point}", period_s = {period}}}]}}]
{extra}
"""


def site(
    tmp_path: Path,
    *,
    agent: str = "",
    store: str = "sqlite:store.db",
    inventory: str = "",
    point: str = "p",
    period: str = "1",
    extra: str = "",
) -> Path:
    path = tmp_path / "site.toml"
    path.write_text(MINIMAL.format(agent=agent, store=store, inventory=inventory, point=point,
                                   period=period, extra=extra), encoding="utf-8")  # fmt: skip
    return path


def mqtt(topic: str, fmt: str = "telemetry") -> str:
    return f"""[[sources.mqtt]]
url = "mqtt://127.0.0.1:1883"
subscriptions = [{{topic = "{topic}", format = "{fmt}"}}]
"""


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"agent": "seal_interval_s = inf"}, "seal_interval_s"),
        ({"period": "inf"}, "period_s"),
        ({"period": "nan"}, "period_s"),
        ({"point": "t\\\\\\\\"}, "ends with a backslash"),
        ({"store": "influx://x"}, "unknown scheme 'influx'"),
        ({"extra": '[metrics]\nlisten = "localhost"'}, "needs host:port"),
        ({"extra": '[metrics]\nlisten = ":99999"'}, "needs host:port"),
        ({"agent": "status_interval_s = 3"}, "status_interval_s is 60"),
        ({"extra": mqtt("part/dev-{element}/x")}, "mixes text and a {name}"),
        ({"extra": mqtt("f/{element}/#")}, "MQTT wildcard"),
        ({"extra": mqtt("f/{element}/{element}")}, "names {element} twice"),
        ({"extra": mqtt("f/{element}/{quality}")}, "named like a field"),
        ({"extra": mqtt("f/{node}/x")}, "needs an {element} level"),
    ],
)
def test_check_refuses_what_run_would_mishandle(
    tmp_path: Path, kwargs: dict[str, str], error: str
) -> None:
    with pytest.raises(SiteConfigError) as e:
        load_site_config(site(tmp_path, **kwargs))
    assert error in str(e.value), e.value
    assert "(top level) = {" not in str(e.value)  # a rule's message, not the whole config


def test_the_status_interval_is_declared_once_in_the_inventory(tmp_path: Path) -> None:
    c = load_site_config(site(tmp_path, inventory="status_interval_s = 5"))
    assert c.status_interval_s == 5
    c = load_site_config(site(tmp_path, agent="status_interval_s = 5",
                              inventory="status_interval_s = 5"))  # fmt: skip
    assert c.status_interval_s == 5


def test_a_relative_sqlite_store_is_taken_from_the_config_folder(tmp_path: Path) -> None:
    (tmp_path / "deep").mkdir()
    path = site(tmp_path / "deep")
    assert load_site_config(path).store.url == f"sqlite:{tmp_path / 'deep' / 'store.db'}"


def test_yaml_numbers_are_read_as_yaml_1_2(tmp_path: Path) -> None:
    """Regression: PyYAML reads `address: 0100` as octal 64 (YAML 1.1)."""
    path = tmp_path / "site.yaml"
    path.write_text(
        """agent: {id: gw, key: agent.pem}
store: {url: "sqlite:store.db"}
inventory:
  site: s1
  elements: [{id: e1, kind: machine, link: wired, points: [{id: p, period_s: 1}]}]
sources:
  modbus:
    - name: plc
      host: 127.0.0.1
      address_base: 0
      registers: [{element: e1, point: p, address: 0100}]
""",
        encoding="utf-8",
    )
    (register,) = load_site_config(path).sources.modbus[0].registers
    assert register.address == 100


async def test_metrics_cannot_be_used_to_starve_the_agent() -> None:
    """Regression: /metrics had no connection cap and a 5 s timeout per header line, so
    a client trickling headers held a descriptor for ever; a thousand of them exhausted
    the agent's file descriptors. Now: at most 16 at once, each request whole in 5 s."""
    import asyncio

    import httpx

    from collectors import Metrics, serve_metrics
    from collectors.metrics import METRICS_CONNECTIONS, METRICS_REQUEST_S
    from telemetry.localserver import free_port

    port = free_port()
    server = await serve_metrics(Metrics("gw"), "127.0.0.1", port)
    try:
        held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(200)]
        for _, writer in held:
            writer.write(b"GET /metrics HTTP/1.1\r\nX-Slow: 1\r\n")  # and never the end
        await asyncio.sleep(0.5)
        closed = 0
        for reader, _ in held:
            try:
                closed += await asyncio.wait_for(reader.read(), 0.05) == b""
            except ConnectionResetError:  # closed by the server with our request unread
                closed += 1
            except TimeoutError:
                pass
        assert closed >= 200 - METRICS_CONNECTIONS  # the rest was refused at once
        await asyncio.sleep(METRICS_REQUEST_S + 0.5)  # the slow ones time out …
        async with httpx.AsyncClient() as client:  # … and a scraper is served
            r = await client.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
        assert r.status_code == 200
        assert "pilotproof_points_in_total" in r.text
        for _, writer in held:
            writer.close()
    finally:
        server.close()
