"""The deployment kit: every file the compose file or the systemd unit mounts exists and
loads with the product's own loaders; the compose file, the Grafana provisioning and the
dashboard parse and agree; the dashboard's InfluxQL runs on a real influxd. (No Docker
engine runs here; these checks are what can fail before one does.)"""

from __future__ import annotations

import configparser
import json
import re
from pathlib import Path

import httpx
import pytest
import yaml

from collectors import load_site_config
from telemetry import load_inventory, schema
from telemetry.localserver import LocalInfluxd
from verifier import load_trust

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
COMPOSE = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))


def mounts(service: str) -> dict[str, Path]:
    """Container path → host path of each bind mount of `service`."""
    out = {}
    for v in COMPOSE["services"][service].get("volumes", []):
        src, dst = v.split(":")[:2]
        if src.startswith("./"):
            out[dst] = DEPLOY / src
    return out


def test_the_compose_file_has_the_whole_stack() -> None:
    assert set(COMPOSE["services"]) == {"influxdb", "mosquitto", "agent", "web", "grafana"}
    assert COMPOSE["services"]["influxdb"]["image"].startswith("influxdb:2")
    env = COMPOSE["services"]["influxdb"]["environment"]
    assert env["DOCKER_INFLUXDB_INIT_MODE"] == "setup"
    for key in ("ORG", "BUCKET", "ADMIN_TOKEN"):
        assert env[f"DOCKER_INFLUXDB_INIT_{key}"]
    assert "/docker-entrypoint-initdb.d/init-dbrp.sh" in mounts("influxdb")


def test_every_mounted_file_exists() -> None:
    for service in COMPOSE["services"]:
        for dst, src in mounts(service).items():
            assert src.exists(), f"{service} mounts {src} at {dst}, which does not exist"


def test_every_variable_the_compose_file_uses_is_in_the_example_env() -> None:
    text = (DEPLOY / "compose.yaml").read_text(encoding="utf-8")
    used = set(re.findall(r"\$\{(\w+)\}", text))
    example = (DEPLOY / ".env.example").read_text(encoding="utf-8")
    defined = {
        line.split("=", 1)[0]
        for line in example.splitlines()
        if "=" in line and not line.startswith("#")
    }
    assert used <= defined, used - defined


def test_the_dbrp_init_maps_the_database_pilotproof_uses() -> None:
    script = (DEPLOY / "influxdb" / "init-dbrp.sh").read_text(encoding="utf-8")
    assert "influx v1 dbrp create" in script
    assert "--default" in script
    assert COMPOSE["services"]["influxdb"]["environment"]["PILOTPROOF_DB"] == "${INFLUX_DB}"


def test_the_agent_config_loads_with_the_agents_own_loader() -> None:
    agent = COMPOSE["services"]["agent"]
    config_path = agent["command"][-1]
    site = mounts("agent")[config_path]
    config = load_site_config(site)  # also loads inventory.yaml beside it
    assert config.store.url.startswith("http://influxdb:8086/")
    mqtt = config.sources.mqtt[0]
    assert mqtt.url == "mqtt://mosquitto:1883"
    # the broker asks for passwords, and knows the agent's user
    conf = (DEPLOY / "mosquitto" / "mosquitto.conf").read_text()
    assert "allow_anonymous false" in conf
    users = {
        line.split(":")[0] for line in (DEPLOY / "mosquitto" / "passwd").read_text().splitlines()
    }
    assert mqtt.username in users
    assert mounts("agent")["/etc/pilotproof/inventory.yaml"].name == "inventory.yaml"


def test_the_web_services_files_load() -> None:
    web = COMPOSE["services"]["web"]["command"]
    files = mounts("web")
    inventory = load_inventory(files[web[web.index("--inventory") + 1]])
    trust = load_trust(files[web[web.index("--trust") + 1]])
    assert inventory.elements
    assert trust.site_agents(inventory.site) == {"gw-01"}
    assert web[:2] == ["pilotproof", "serve"]


def test_the_systemd_unit_runs_the_agent_with_its_env_file() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read(DEPLOY / "systemd" / "pilotproof-agent.service")
    assert "agent run ${PILOTPROOF_SITE_CONFIG}" in unit["Service"]["ExecStart"]
    assert unit["Service"]["KillSignal"] == "SIGTERM"
    env = (DEPLOY / "systemd" / "pilotproof-agent.env").read_text()
    assert "PILOTPROOF_SITE_CONFIG=" in env
    assert unit["Install"]["WantedBy"] == "multi-user.target"


def test_the_dockerfile_copies_what_exists() -> None:
    root = DEPLOY.parent
    for line in (DEPLOY / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY "):
            for src in line.split()[1:-1]:
                assert (root / src).exists(), src


def test_grafana_provisioning_and_dashboard_agree() -> None:
    ds = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/influxdb.yaml").read_text())
    (source,) = ds["datasources"]
    assert source["type"] == "influxdb"
    assert source["jsonData"]["httpHeaderName1"] == "Authorization"
    provider = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/dashboards/pilotproof.yaml").read_text()
    )
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    assert mounts("grafana")["/var/lib/grafana/dashboards"] == DEPLOY / "grafana" / "dashboards"
    dash = json.loads((DEPLOY / "grafana/dashboards/pilotproof.json").read_text())
    titles = " ".join(p["title"] for p in dash["panels"])
    for needed in ("Element status", "5G", "collection rate", "Identifier resolutions"):
        assert needed.lower() in titles.lower()
    for p in dash["panels"]:
        assert p["datasource"]["uid"] == source["uid"]
        for target in p["targets"]:
            measurements = set(re.findall(r'FROM "(\w+)"', target["query"]))
            assert measurements <= set(schema.MEASUREMENTS), measurements


@pytest.fixture(scope="module")
def dashboard_queries() -> list[str]:
    dash = json.loads((DEPLOY / "grafana/dashboards/pilotproof.json").read_text())
    return [t["query"] for p in dash["panels"] for t in p["targets"]]


def test_the_dashboard_queries_run_on_a_real_influxd(
    influxd: LocalInfluxd, dashboard_queries: list[str]
) -> None:
    """InfluxQL errors (a typo, an aggregate mix InfluxDB refuses) show here."""
    httpx.post(f"{influxd.url}/query", params={"q": "CREATE DATABASE grafana_check"})
    for q in dashboard_queries:
        sql = q.replace("$timeFilter", "time > now() - 30d").replace("$site", "ningbo-plant-1")
        r = httpx.get(f"{influxd.url}/query", params={"db": "grafana_check", "q": sql})
        assert r.status_code == 200, (sql, r.text)
        for result in r.json()["results"]:
            assert "error" not in result, (sql, result)
