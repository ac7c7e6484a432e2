"""Every sample config a user starts from — `collectors/*/sample.toml` and the deployment's
`deploy/site/site.toml` — run by `pilotproof agent run` as a process for at least ten
seconds against a matching server, with its values in the store.

Only what must point at this machine is changed in each sample (addresses, ports, the
store, the key's and buffer's folder); every other line is the sample as shipped.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import struct
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from pymodbus import FramerType
from pymodbus.server import ModbusSerialServer
from pymodbus.simulator import DataType, SimData, SimDevice

from simulators.serial_link import NullModem
from telemetry.localserver import LocalMosquitto, free_port
from tests.field.conftest import Field
from tests.field.harness import ALL, AgentProcess, check, keygen
from tests.field.thirdparty import NodeModbusServer, NodeOpcUaServer, registers

REPO = Path(__file__).resolve().parents[2]
RUN_S = 10  # each sample runs at least this long


def adapt(field: Field, sample: Path, replacements: dict[str, str], name: str) -> Path:
    """The sample, with only the given strings replaced (each must occur), as a site
    config in the test's folder, plus the agent key it names."""
    text = sample.read_text(encoding="utf-8")
    for old, new in replacements.items():
        assert old in text, f"{sample}: {old!r} is no longer in the sample; update this test"
        text = text.replace(old, new)
    site = field.tmp / name
    site.write_text(text, encoding="utf-8")
    assert check(site).returncode == 0, check(site).stdout
    return site


def adapt_sample(field: Field, protocol: str, replacements: dict[str, str]) -> Path:
    """`collectors/<protocol>/sample.toml` adapted as `adapt` does, writing to the test's store."""
    store = {'url = "sqlite:pilotproof.db"': f'url = "{field.store_url}"'}
    sample = REPO / "collectors" / protocol / "sample.toml"
    return adapt(field, sample, {**store, **replacements}, f"{protocol}.toml")


def with_metrics(site: Path, port: int) -> None:
    """A `[metrics]` table added to a sample that has none (how a test sees the agent)."""
    site.write_text(site.read_text() + f'\n[metrics]\nlisten = "127.0.0.1:{port}"\n')


async def run_for(agent: AgentProcess, seconds: float, ready: str) -> None:
    await agent.until(lambda: agent.metric("driver_connected", driver=ready) == 1, 60, ready)
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        assert agent.alive, agent.log()[-3000:]
        await asyncio.sleep(0.5)


def publish(port: int, messages: list[tuple[str, dict[str, object]]], **auth: str) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"sample-{time.time_ns()}")
    if auth:
        client.username_pw_set(auth["username"], auth["password"])
    client.connect("127.0.0.1", port)
    client.loop_start()
    for topic, body in messages:
        client.publish(topic, json.dumps(body), qos=1).wait_for_publish(timeout=30)
    client.disconnect()
    client.loop_stop()


def now_ms() -> int:
    return time.time_ns() // 1_000_000


async def test_the_mqtt_sample(field: Field) -> None:
    with LocalMosquitto() as broker:
        site = adapt_sample(
            field, "mqtt", {'url = "mqtt://127.0.0.1:1883"': f'url = "{broker.url}"'}
        )
        # (the sample has no [metrics]: added, to see when the agent has subscribed —
        # messages published before a first subscription are nobody's)
        with_metrics(site, field.metrics_port)
        agent = field.agent(site).start()
        try:
            await agent.connected("mqtt:plant-broker")
            t = now_ms()
            publish(broker.port, [
                *[("factory/ningbo-plant-1/agv-01/telemetry",
                   {"ts": t + k * 1000, "values": {"speed": 1.0 + k}}) for k in range(5)],
                ("nms/ningbo-plant-1/agv-01/status",
                 {"ts": t, "link": "5g", "online": True, "rsrp": -91.5, "sinr": 13}),
                ("idnode/node-1/stats",
                 {"ts": t, "node": "node-1", "enterprise": "ent-1", "resolutions": 120,
                  "registrations": 3}),
            ])  # fmt: skip
            await asyncio.sleep(RUN_S)
            assert agent.alive, agent.log()
        finally:
            assert agent.stop() == 0, agent.log()[-3000:]
    speed = await field.store.read("telemetry", 0, ALL, where={"element": "agv-01"})
    assert sorted(p.fields["value"] for p in speed) == [1.0, 2.0, 3.0, 4.0, 5.0]
    (status,) = await field.store.read("element_status", t * 10**6, t * 10**6 + 1)
    assert status.fields == {"online": True, "rsrp": -91.5, "sinr": 13.0}
    assert status.tags["link"] == "5g"
    (ident,) = await field.store.read("identifier", 0, ALL)
    assert ident.fields == {"resolutions": 120, "registrations": 3}


async def test_the_opcua_sample(field: Field) -> None:
    """Username sign-in over SignAndEncrypt with a server trust list, by namespace URI —
    against node-opcua, its certificate in the agent's trust folder."""
    config = {"namespaceUri": "urn:press-vendor:line", "securityModes": ["SignAndEncrypt"],
              "allowAnonymous": False, "users": {"pilotproof": "change-me"},
              "autoAcceptCertificates": True,
              "variables": [
                  {"nodeId": "s=Press02.Force", "dataType": "Double", "behaviour": "sine",
                   "periodMs": 200, "offset": 50, "amplitude": 5},
                  {"nodeId": "s=Press02.Stroke", "dataType": "UInt32", "behaviour": "counter",
                   "periodMs": 500}]}  # fmt: skip
    with NodeOpcUaServer(field.tmp / "ua", config) as ua:
        trusted = field.tmp / "pki" / "trusted"
        trusted.mkdir(parents=True)
        shutil.copy(ua.certificate, trusted / "press-line.pem")
        site = adapt_sample(
            field, "opcua", {'url = "opc.tcp://192.168.10.30:4840"': f'url = "{ua.url}"'}
        )
        with_metrics(site, field.metrics_port)
        agent = field.agent(site).start()
        try:
            await run_for(agent, RUN_S, "opcua:press-line")
        finally:
            assert agent.stop() == 0, agent.log()[-3000:]
    rows = await field.store.read("telemetry", 0, ALL, where={"element": "press-02"})
    force = [p.fields["value"] for p in rows if p.tags["point"] == "force"]
    stroke = [p.fields["value"] for p in rows if p.tags["point"] == "stroke"]
    assert len(force) >= 8  # the sample samples every 1,000 ms
    assert all(44 < f < 56 for f in force)
    assert len(stroke) >= 8
    assert stroke == sorted(stroke)
    assert not list((field.tmp / "pki" / "rejected").glob("*"))  # the server was trusted


async def test_the_modbus_sample(field: Field) -> None:
    """The TCP device against modbus-serial, the two RTU meters on one serial line (a
    null-modem pair of pseudo-terminals, served by pymodbus's RTU server), and the
    sample's role: the part counter becomes `production` rows."""
    device = {"unitId": 1, "holding": {**registers(0, 123456, "uint32", "CDAB"),
                                       **registers(20, 4200, "uint32", "ABCD")},
              "input": {"10": 215}, "coils": {"0": True}}  # fmt: skip
    meter = [SimData(0, count=1000, values=0, datatype=DataType.REGISTERS)]
    bits = [SimData(0, count=10, values=False, datatype=DataType.BITS)]
    with NodeModbusServer(field.tmp / "mb", device) as mb, NullModem() as cable:
        rtu = ModbusSerialServer(
            [SimDevice(id=u, simdata=(bits, bits, meter, meter)) for u in (11, 12)],
            framer=FramerType.RTU, port=cable.ports[0], baudrate=9600, parity="N",
        )  # fmt: skip
        await rtu.serve_forever(background=True)
        for unit, kwh in ((11, 1234.5), (12, 987.25)):
            high, low = struct.unpack(">HH", struct.pack(">f", kwh))
            await rtu.async_setValues(unit, 4, 0x0100, [high, low])
        try:
            site = adapt_sample(field, "modbus", {
                'host = "192.168.10.17"\nport = 502': f'host = "127.0.0.1"\nport = {mb.port}',
                '"/dev/ttyUSB0"': f'"{cable.ports[1]}"',
                # a pseudo-terminal refuses parity bits (termios EINVAL): 8N1 here
                'parity = "E"              # N | E | O; bytesize 8 and stopbits 1 unless set':
                    'parity = "N"',
                'parity = "E"': 'parity = "N"',
                # status instants every 2 s instead of 60, to see the role's rows in a
                # short run (the first instant only sets the counter's baseline)
                'site = "ningbo-plant-1"': 'site = "ningbo-plant-1"\nstatus_interval_s = 2',
            })  # fmt: skip
            site.write_text(site.read_text().replace(
                "[inventory]", f'[metrics]\nlisten = "127.0.0.1:{field.metrics_port}"\n\n'
                "[inventory]", 1))  # fmt: skip
            agent = field.agent(site).start()
            try:
                await run_for(agent, RUN_S + 2, "modbus:cnc-07-plc")
                await agent.until(
                    lambda: agent.metric("driver_connected", driver="modbus:meter-01") == 1,
                    30,
                    "meter-01 over RTU",
                )
            finally:
                assert agent.stop() == 0, agent.log()[-3000:]
        finally:
            await rtu.shutdown()  # type: ignore[no-untyped-call]
    rows = await field.store.read("telemetry", 0, ALL)
    values = {(str(p.tags["element"]), str(p.tags["point"])): p.fields.get("value") for p in rows}
    assert values[("cnc-07", "spindle_rpm")] == 123456.0
    assert values[("cnc-07", "temp")] == 21.5
    assert values[("cnc-07", "running")] == 1.0
    assert values[("cnc-07", "parts")] == 4200.0
    assert values[("meter-01", "kwh")] == 1234.5
    assert values[("meter-02", "kwh")] == 987.25
    production = await field.store.read("production", 0, ALL, where={"line": "L1"})
    assert production  # the role's rows: the counter's increase per status interval
    assert {p.fields["output"] for p in production} == {0.0}  # (it did not move)


async def test_the_deployment_site_config(field: Field) -> None:
    """deploy/site/site.toml with its inventory file, a broker with passwords (as the
    compose stack runs Mosquitto), InfluxDB and /metrics."""
    key = field.tmp / "var" / "agent.pem"
    keygen(key)
    inventory = (REPO / "deploy/site/inventory.yaml").read_text(encoding="utf-8")
    assert "status_interval_s: 60\n" in inventory
    (field.tmp / "inventory.yaml").write_text(  # status every 2 s (see below)
        inventory.replace("status_interval_s: 60\n", "status_interval_s: 2\n"), encoding="utf-8"
    )
    port = free_port()
    with LocalMosquitto(users={"pilotproof-agent": "change-me-agent", "plc": "plc"}) as broker:
        site = adapt(field, REPO / "deploy/site/site.toml", {
            'key = "/var/lib/pilotproof/agent.pem"': f'key = "{key}"',
            'url = "http://influxdb:8086/?db=pilotproof"': f'url = "{field.store_url}"',
            'path = "/var/lib/pilotproof/buffer.db"': 'path = "buffer.db"',
            'listen = ":9108"': f'listen = "127.0.0.1:{port}"',
            'url = "mqtt://mosquitto:1883"': f'url = "{broker.url}"',
            # status every 2 s instead of 60, to see element_status in a short run
            "status_interval_s = 60": "status_interval_s = 2",
        }, "site.toml")  # fmt: skip
        agent = field.agent(site, port).start()
        try:
            await agent.until(
                lambda: agent.metric("driver_connected", driver="mqtt:plant-broker") == 1,
                60,
                "subscribed",
            )
            t = now_ms()
            publish(broker.port, [
                (f"factory/ningbo-plant-1/agv-0{k}/telemetry",
                 {"ts": t, "values": {"speed": float(k), "battery_pct": 80.0}})
                for k in range(1, 6)
            ], username="plc", password="plc")  # fmt: skip
            await run_for(agent, RUN_S, "mqtt:plant-broker")
        finally:
            assert agent.stop() == 0, agent.log()[-3000:]
    rows = await field.store.read("telemetry", 0, ALL, where={"point": "speed"})
    assert sorted(p.fields["value"] for p in rows) == [1.0, 2.0, 3.0, 4.0, 5.0]
    status = await field.store.read("element_status", 0, ALL, where={"element": "agv-01"})
    assert any(p.fields["online"] for p in status)
