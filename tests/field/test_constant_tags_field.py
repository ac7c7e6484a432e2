"""A plant whose tags mostly stay constant, measured end to end with the real commands:

    pilotproof simulate serve constant-tags        (OPC UA)
    pilotproof agent run site.toml                 (subscriptions: report by exception)
    pilotproof kpi evaluate --json                 (from the store)
    pilotproof simulate truth constant-tags --json (from the scenario alone)

Regression: a subscribed tag that stays 3 (good status, server alive) sends one value
and then nothing, and counted as "not received", pulling the automatic-collection rate of
every real plant down. The rate the agent measures must equal the scenario's truth.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import yaml

from simulators import load_scenario, namespace_uri
from telemetry.localserver import LocalMosquitto, free_port
from tests.field.conftest import Field
from tests.field.harness import PILOTPROOF

SCENARIO = "constant-tags"
HEALTH_S = 5  # two whole health intervals are measured: 10 s of data
KPIS = ("process_data_auto_collection_rate", "scada_auto_upload_rate")


def iso(t_s: int) -> str:
    return datetime.fromtimestamp(t_s, UTC).isoformat()


def site_config(field: Field, port: int) -> Path:
    scenario = load_scenario(SCENARIO)
    inventory = scenario.inventory().model_copy(update={"status_interval_s": 5})
    (field.tmp / "inventory.yaml").write_text(
        yaml.safe_dump(inventory.model_dump(mode="json"), allow_unicode=True)
    )
    uri = namespace_uri(scenario.site)
    nodes = "".join(
        f'  [[sources.opcua.nodes]]\n  element = "{e.id}"\n  point = "{p.id}"\n'
        f'  node = "nsu={uri};s={e.id}.{p.id}"\n'
        for e in scenario.expanded_elements()
        for p in e.points
    )
    site = field.tmp / "site.toml"
    site.write_text(f"""inventory = "inventory.yaml"

[agent]
id = "gw-unit-7"
key = "keys/agent.pem"
health_interval_s = {HEALTH_S}

[store]
url = "{field.store_url}"

[metrics]
listen = "127.0.0.1:{field.metrics_port}"

[[sources.opcua]]
name = "unit-7"
url = "opc.tcp://127.0.0.1:{port}/pilotproof/"
sampling_interval_ms = 500
{nodes}""")
    return site


def run_json(*args: str) -> dict[str, object]:
    done = subprocess.run([str(PILOTPROOF), *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "200"})  # fmt: skip
    assert done.returncode in (0, 1), done.stdout + done.stderr  # 1: a required KPI fails
    return json.loads(done.stdout)  # type: ignore[no-any-return]


async def test_constant_tags_are_collected_and_the_rate_equals_the_truth(
    field: Field, mosquitto: LocalMosquitto
) -> None:
    port = free_port()
    server = subprocess.Popen(  # noqa: ASYNC220 - a server process for the whole test
        [str(PILOTPROOF), "simulate", "serve", SCENARIO, "--opcua-port", str(port),
         "--cert-dir", str(field.tmp / "pki-sim"), "--duration", "180",
         "--mqtt", mosquitto.url],  # (its network exports; the agent reads OPC UA only)
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    try:
        for _ in range(120):
            try:
                socket.create_connection(("127.0.0.1", port), 0.5).close()
                break
            except OSError:
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                await asyncio.sleep(0.25)
        agent = field.agent(site_config(field, port)).start()
        try:
            await agent.connected("opcua:unit-7")
            now = time.time()
            start = int(now) - int(now) % HEALTH_S + 2 * HEALTH_S  # a whole interval later
            end = start + 2 * HEALTH_S
            while time.time() < end + 5:  # the last interval closed (and its grace)
                assert agent.alive, agent.log()[-3000:]
                await asyncio.sleep(0.5)
        finally:
            assert agent.stop() == 0, agent.log()[-3000:]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
    window = ["--from", iso(start), "--to", iso(end)]
    measured = run_json("kpi", "evaluate", "--profile", "ningbo-process-workshop", "--store",
                        field.store_url, "--inventory", str(field.tmp / "inventory.yaml"),
                        *window, "--json")  # fmt: skip
    truth = run_json("simulate", "truth", SCENARIO, *window, "--json")
    results = {r["id"]: r for r in measured["results"]}  # type: ignore[attr-defined]
    values = truth["values"]
    assert isinstance(values, dict)
    for kpi in KPIS:
        if kpi not in results:
            continue  # (the profile reads one of the two)
        got, want = results[kpi], values[kpi]
        assert (got["numerator"], got["denominator"]) == (want["numerator"], want["denominator"]), (
            kpi, got, want,
        )  # fmt: skip
        assert (want["numerator"], want["denominator"]) == (12, 14)
    assert "process_data_auto_collection_rate" in results
