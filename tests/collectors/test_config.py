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

    from collectors import Agent
    from collectors.config import MetricsSection, Sources
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
