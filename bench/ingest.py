"""Sustained ingest of the agent into a real influxd, per protocol, against a bare-library floor.

    uv run python bench/ingest.py [--messages 20000] [--polls 20000] [--updates 300]

Each row is measured in the same run, on this machine:

* MQTT → InfluxDB: a publisher in another process sends `--messages` QoS 1 messages of
  10 values each as fast as it can; the agent's rate runs from the first publish until
  every point is confirmed by influxd (buffer commit, sealing, forwarding included).
  Floor: a bare paho subscriber receiving the same messages (QoS 1), counting them.
* Modbus → InfluxDB: the agent polls the simulator's device back to back
  (`interval_s = 0`); from a running pipeline, `--polls` more polls until all are
  stored. Floor: a bare pymodbus client doing the same coalesced reads in a loop.
* OPC UA → InfluxDB: the simulator's server changes every value `--updates` times, 20 ms
  apart; the agent's values stored per second against a bare asyncua subscription
  counting its notifications over the same schedule.

Floor and agent take `--turns` turns each, alternating, since a run here varies by a third;
ratio = median agent points/s ÷ median floor points/s (goal ≥ 0.9 for MQTT and Modbus).
The last line is the peak RSS of this process, which hosts the agent (and the simulators).
The process tunes its collector as `pilotproof agent run` does (collectors/interpreter.py),
after the simulators and floors have been imported.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import paho.mqtt.client as mqtt
from asyncua import Client
from paho.mqtt.enums import CallbackAPIVersion
from pymodbus.client import AsyncModbusTcpClient
from rich.console import Console
from rich.table import Table

from collectors import Agent, AgentSection, BufferSection, SiteConfig, Sources, StoreSection
from collectors.interpreter import tune_collector
from collectors.modbus import ModbusDevice, plan_reads
from collectors.mqtt import MqttSource, MqttSubscription
from collectors.opcua import OpcUaNode, OpcUaSource, resolve
from pilotproof.sim_sources import modbus_registers
from simulators import ModbusSimServer, OpcUaSimServer, parse_scenario
from telemetry import DeclaredElement, DeclaredPoint, InfluxConfig, InfluxStore, Inventory
from telemetry.localserver import LocalInfluxd, LocalMosquitto
from telemetry.seal import generate_key

console = Console()
S = 1_000_000_000
T0 = 1_790_000_000 * S
VALUES = [f"v{i}" for i in range(10)]

SCENARIO = (
    """
name: bench
site: bench
evaluation: {from: "2026-10-01T00:00:00", to: "2026-10-02T00:00:00"}
elements:
  - id: plc
    kind: controller
    link: wired
    protocol: modbus
    modbus_unit: 1
    points:
"""
    + "".join(
        f"      - {{id: r{i}, type: float32, period_s: 1, signal: {{mean: {i}, amplitude: 1, "
        f"period_s: 7}}, modbus: {{table: holding, order: CDAB}}}}\n"
        for i in range(40)
    )
    + """
  - id: ua
    kind: machine
    link: 5g
    protocol: opcua
    points:
"""
    + "".join(
        f"      - {{id: n{i}, type: float64, period_s: 1, signal: {{mean: {i}, amplitude: 5, "
        f"period_s: 3}}}}\n"
        for i in range(50)
    )
)


def config(tmp: Path, inventory: Inventory, sources: Sources, name: str) -> SiteConfig:
    key = tmp / f"{name}.pem"
    generate_key(key)
    return SiteConfig(
        agent=AgentSection(id=f"bench-{name}", key=key, seal_interval_s=0.2),
        store=StoreSection(url="sqlite:unused.db"),  # the store object is passed in
        buffer=BufferSection(path=tmp / f"{name}-buffer.db"),
        inventory=inventory,
        sources=sources,
    )


async def influx(server: LocalInfluxd, db: str) -> InfluxStore:
    store = InfluxStore(InfluxConfig(url=server.url, database=db))
    await store.create_database()
    return store


async def until(predicate: object, within_s: float = 600) -> None:
    deadline = time.perf_counter() + within_s
    while not predicate():  # type: ignore[operator]
        if time.perf_counter() > deadline:
            raise TimeoutError("bench step did not finish")
        await asyncio.sleep(0.01)


# --- MQTT ---------------------------------------------------------------------------------


PUBLISHER = """
import json, sys, paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
port, n, t0, values = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{port}-{n}")
pub.max_inflight_messages_set(1000)
pub.connect("127.0.0.1", port)
pub.loop_start()
infos = []
for i in range(n):
    vals = {f"v{k}": i * 0.5 for k in range(values)}
    body = {"ts": (t0 + i * 1_000_000) // 1_000_000, "values": vals}
    infos.append(pub.publish("factory/bench/m1/telemetry", json.dumps(body), qos=1))
for info in infos:
    info.wait_for_publish(120)
pub.disconnect()
pub.loop_stop()
"""


def publish_all(port: int, n: int) -> float:
    """Publish from another process, so the load does not share our interpreter's GIL."""
    t0 = time.perf_counter()
    subprocess.Popen(
        [sys.executable, "-c", PUBLISHER, str(port), str(n), str(T0), str(len(VALUES))]
    )
    return t0


async def mqtt_floor(broker: LocalMosquitto, n: int) -> float:
    got = 0
    done = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_message(_c: object, _u: object, _m: object) -> None:
        nonlocal got
        got += 1
        if got >= n:
            loop.call_soon_threadsafe(done.set)

    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-floor")
    sub.on_message = on_message  # type: ignore[assignment]
    sub.connect("127.0.0.1", broker.port)
    sub.subscribe("factory/+/+/telemetry", qos=1)
    sub.loop_start()
    await asyncio.sleep(0.5)
    t0 = await asyncio.to_thread(publish_all, broker.port, n)
    await asyncio.wait_for(done.wait(), 600)
    elapsed = time.perf_counter() - t0
    sub.disconnect()
    sub.loop_stop()
    return n * len(VALUES) / elapsed


async def mqtt_agent(
    tmp: Path, broker: LocalMosquitto, server: LocalInfluxd, n: int, turn: int
) -> float:
    inv = Inventory(site="bench", elements=(DeclaredElement(id="m1", kind="sensor", link="5g",
                    points=tuple(DeclaredPoint(id=v, period_s=1) for v in VALUES)),))  # fmt: skip
    # a client id per turn: a persistent session of an earlier turn would be handed the
    # floor's messages, queued meanwhile, and count them as its own
    topic = MqttSubscription(topic="factory/{site}/{element}/telemetry")
    sources = Sources(mqtt=(MqttSource(url=broker.url, client_id=f"bench-agent-{turn}",
                                       subscriptions=(topic,)),))  # fmt: skip
    store = await influx(server, f"mqtt{turn}")
    agent = Agent(config(tmp, inv, sources, f"mqtt{turn}"), store=store)
    stop = asyncio.Event()
    task = asyncio.create_task(agent.run(stop))
    await until(lambda: agent.metrics.connected.get("mqtt:mqtt") == 1)
    await until(lambda: agent.metrics.sealer_up == 1)
    total = n * len(VALUES)
    t0 = await asyncio.to_thread(publish_all, broker.port, n)
    await until(lambda: agent.metrics.points_out >= total)
    elapsed = time.perf_counter() - t0
    stop.set()
    await task
    await store.close()
    return total / elapsed


# --- Modbus -------------------------------------------------------------------------------


def modbus_device(sim: ModbusSimServer) -> ModbusDevice:
    return ModbusDevice(
        name="plc", host="127.0.0.1", port=sim.port, unit=1, address_base=0, interval_s=0,
        registers=modbus_registers(x for x in sim.map.points if x.element == "plc"),
    )  # fmt: skip


async def modbus_floor(sim: ModbusSimServer, polls: int) -> float:
    dev = modbus_device(sim)
    reads = plan_reads(dev)
    client = AsyncModbusTcpClient("127.0.0.1", port=sim.port)
    await client.connect()
    t0 = time.perf_counter()
    for _ in range(polls):
        for r in reads:
            rr = await client.read_holding_registers(r.address, count=r.count, device_id=1)
            regs = rr.registers
            for reg in r.registers:
                off = reg.address - r.address
                client.convert_from_registers(regs[off : off + 2], client.DATATYPE.FLOAT32,
                                              word_order="little")  # fmt: skip
    elapsed = time.perf_counter() - t0
    client.close()
    return polls * len(dev.registers) / elapsed


async def modbus_agent(
    tmp: Path, sim: ModbusSimServer, server: LocalInfluxd, polls: int, turn: int
) -> float:
    dev = modbus_device(sim)
    inv = sim.scenario.inventory()
    store = await influx(server, f"modbus{turn}")
    agent = Agent(config(tmp, inv, Sources(modbus=(dev,)), f"modbus{turn}"), store=store)
    driver = agent.drivers[0]
    stop = asyncio.Event()
    task = asyncio.create_task(agent.run(stop))
    # sustained: from a running pipeline (the sealer started, points already flowing)
    await until(lambda: agent.metrics.sealer_up == 1 and agent.metrics.points_out > 0)
    t0, first = time.perf_counter(), getattr(driver, "polls", 0)
    await until(lambda: getattr(driver, "polls", 0) >= first + polls)
    last = getattr(driver, "polls", 0)
    await until(lambda: agent.metrics.points_out >= last * len(dev.registers))
    elapsed = time.perf_counter() - t0
    stop.set()
    await task
    await store.close()
    return (last - first) * len(dev.registers) / elapsed


# --- OPC UA -------------------------------------------------------------------------------


async def drive(sim: OpcUaSimServer, updates: int) -> float:
    t0 = time.perf_counter()
    for k in range(updates):
        await sim.update(T0 + k * S)
        await asyncio.sleep(0.02)
    return t0


async def opcua_floor(sim: OpcUaSimServer, updates: int) -> float:
    got = 0

    class Handler:
        def datachange_notification(self, *_: object) -> None:
            nonlocal got
            got += 1

    async with Client(sim.url) as c:
        ns = await c.get_namespace_array()
        nodes = [c.get_node(resolve(sim.node_id("ua", f"n{i}"), ns)) for i in range(50)]
        sub = await c.create_subscription(20, Handler())
        await sub.subscribe_data_change(nodes, queuesize=10, sampling_interval=20)
        await asyncio.sleep(1)
        got = 0
        t0 = await drive(sim, updates)
        await asyncio.sleep(0.5)
        elapsed = time.perf_counter() - t0
    return got / elapsed


async def opcua_agent(
    tmp: Path, sim: OpcUaSimServer, server: LocalInfluxd, updates: int, turn: int
) -> float:
    src = OpcUaSource(name="ua", url=sim.url, sampling_interval_ms=20, nodes=tuple(
        OpcUaNode(element="ua", point=f"n{i}", node=sim.node_id("ua", f"n{i}"))
        for i in range(50)))  # fmt: skip
    store = await influx(server, f"opcua{turn}")
    agent = Agent(config(tmp, sim.scenario.inventory(), Sources(opcua=(src,)), f"opcua{turn}"),
                  store=store)  # fmt: skip
    stop = asyncio.Event()
    task = asyncio.create_task(agent.run(stop))
    await until(lambda: agent.metrics.connected.get("opcua:ua") == 1)
    await until(lambda: agent.metrics.sealer_up == 1)
    await asyncio.sleep(1)
    base = agent.metrics.points_in
    t0 = await drive(sim, updates)
    await asyncio.sleep(0.5)
    got = agent.metrics.points_in - base
    await until(lambda: agent.metrics.points_out >= agent.metrics.points_in - 5)
    elapsed = time.perf_counter() - t0
    stop.set()
    await task
    await store.close()
    return got / elapsed


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=20_000)
    ap.add_argument("--polls", type=int, default=20_000)
    ap.add_argument("--updates", type=int, default=300)
    ap.add_argument("--turns", type=int, default=3,
                    help="floor and agent take this many turns each, alternating")  # fmt: skip
    ap.add_argument("--only", default="mqtt,modbus,opcua",
                    help="comma-separated paths to run: mqtt, modbus, opcua")  # fmt: skip
    args = ap.parse_args()
    only = set(args.only.split(","))
    scenario = parse_scenario(SCENARIO, "bench.yaml")
    tune_collector()  # as the agent's own process does
    rows: list[tuple[str, list[float], list[float], str]] = []

    async def turns(name: str, floor: Callable[[], Awaitable[float]],
                    agent: Callable[[int], Awaitable[float]], what: str) -> None:  # fmt: skip
        floors, agents = [], []
        for k in range(args.turns):
            floors.append(await floor())
            agents.append(await agent(k))
        rows.append((name, agents, floors, what))

    with (
        tempfile.TemporaryDirectory() as d,
        LocalInfluxd() as server,
        LocalMosquitto() as broker,
    ):
        tmp = Path(d)
        if "mqtt" in only:
            await turns("MQTT → InfluxDB", lambda: mqtt_floor(broker, args.messages),
                        lambda k: mqtt_agent(tmp, broker, server, args.messages, k),
                        "paho subscriber counting the messages")  # fmt: skip
        if "modbus" in only:
            mb = ModbusSimServer(scenario)
            await mb.start()
            await mb.update(T0)
            await turns("Modbus → InfluxDB", lambda: modbus_floor(mb, args.polls),
                        lambda k: modbus_agent(tmp, mb, server, args.polls, k),
                        "pymodbus client, same coalesced reads")  # fmt: skip
            await mb.stop()
        if "opcua" in only:
            ua = OpcUaSimServer(scenario)
            await ua.start()
            await turns("OPC UA → InfluxDB", lambda: opcua_floor(ua, args.updates),
                        lambda k: opcua_agent(tmp, ua, server, args.updates, k),
                        "asyncua subscription counting notifications")  # fmt: skip
            await ua.stop()
    table = Table("path", "agent points/s: median (runs)", "floor points/s: median (runs)",
                  "ratio", "floor", title="agent ingest into a real influxd")  # fmt: skip
    for name, agent_rates, floor_rates, what in rows:
        a, f = statistics.median(agent_rates), statistics.median(floor_rates)
        table.add_row(name, f"{a:,.0f} ({', '.join(f'{x:,.0f}' for x in agent_rates)})",
                      f"{f:,.0f} ({', '.join(f'{x:,.0f}' for x in floor_rates)})",
                      f"{a / f:.2f}", what)  # fmt: skip
    console.print(table)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    console.print(f"peak RSS of this process (agent + simulators): {rss:,.0f} MiB")


if __name__ == "__main__":
    asyncio.run(main())
