"""End to end into InfluxDB, side by side in one run: the agent against Node-RED and bare floors.

    uv run python bench/e2e.py [--messages 300000] [--elements 500] [--sweep 10000,20000,40000]
                               [--modbus-seconds 20] [--only floor,nodered,agent]

What a plant sees is how fast points become *queryable*, not how fast they are received.
One influxd and one Mosquitto serve every pipeline; each pipeline writes into a database of
its own and runs as a process tree of its own:

* **floor** — a bare paho subscriber that turns each message into a line and POSTs the
  lines with httpx in batches (5,000 lines or 50 ms): no validation, no buffer, no seal.
* **nodered** — Node-RED 4 with node-red-contrib-influxdb: `mqtt in` (JSON) → a function
  making the point → `join` (1,000 points or 1 s) → `influxdb batch`. Installed by this
  bench with npm into a cache folder (`~/.cache/pilotproof/bench-npm`), never globally.
* **agent** — `pilotproof agent run site.toml`, as a user runs it: every message committed
  to the durable buffer before it is acknowledged, every line sealed into the signed
  chain by the sealer process, then written to influxd.

MQTT: a publisher process sends `--messages` messages of one value each (QoS 1, as a
plant's gateways publish evidence; `--qos 0` to compare) over `--elements` elements as fast
as it can; printed for each pipeline: the time from the first publish until every point
is queryable, the highest rate of `--sweep` it holds (every point stored, the last one
within 2 s of the end of publishing), and the peak RSS of its process tree. Then the
agent's ratio to each (goal: ≥ 1.0× Node-RED, ≥ 0.9× the floor).

Modbus: a Modbus TCP device (the simulator's, 40 float32 holding registers) polled back to
back by the agent (`interval_s = 0`) and by a bare pymodbus + httpx loop doing the same
coalesced reads; printed: points queryable per second over `--modbus-seconds` of steady
state (goal ≥ 0.9× the floor).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from collectors.modbus import ModbusDevice, ModbusRegister, plan_reads
from pilotproof.sim_sources import modbus_registers
from simulators import ModbusSimServer, parse_scenario
from telemetry.localserver import LocalInfluxd, LocalMosquitto, free_port

console = Console(width=120)
PY = sys.executable
ROOT = Path(__file__).resolve().parent.parent
T0_MS = 1_790_000_000_000  # the first message's time; each run uses a window of its own
SITE = "bench"
NODE_RED = {"node-red": "4.1.15", "node-red-contrib-influxdb": "0.7.0"}
HOLD_LAG_S = 4.0  # a rate is held when the last point is queryable this soon after the end
# (longer than any pipeline batches: the agent seals every 2 s, Node-RED joins for 1 s)

# --- the publisher ------------------------------------------------------------------------

PUBLISHER = r"""
# MQTT 3.1.1 written by hand: paho's Python client publishes only ~8,000 QoS 1 messages/s
# here, slower than every pipeline measured, so it would measure itself
import socket, struct, sys, threading, time
port, n, elements, t0, rate, qos = (int(a) for a in sys.argv[1:7])
root = sys.argv[7]
WINDOW = 10_000  # QoS 1 messages in flight (packet ids go to 65,535)

def packet(kind, body):
    size, out = len(body), bytearray([kind])
    while True:
        size, byte = divmod(size, 128)
        out.append(byte | (128 if size else 0))
        if not size:
            return bytes(out) + body

def utf8(text):
    raw = text.encode()
    return struct.pack("!H", len(raw)) + raw

sock = socket.create_connection(("127.0.0.1", port))
sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
sock.sendall(packet(0x10, utf8("MQTT") + bytes([4, 2]) + struct.pack("!H", 60)
                    + utf8(f"e2e-pub-{t0}")))
assert sock.recv(4)[:2] == b" "
acked, done = [0], threading.Condition()

def read():
    buf = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return
        buf += chunk
        at, acks, pong = 0, 0, False
        while len(buf) - at >= 2 and len(buf) - at >= 2 + buf[at + 1]:
            acks += buf[at] == 0x40  # PUBACK
            pong = pong or buf[at] == 0xD0  # PINGRESP
            at += 2 + buf[at + 1]
        buf = buf[at:]
        with done:
            acked[0] = -1 if pong else acked[0] + acks
            done.notify_all()

threading.Thread(target=read, daemon=True).start()
topics = [utf8(f"{root}/bench/e{k}/telemetry") for k in range(elements)]
start = time.time()
print(f"start {start!r}", flush=True)
STEP = 100
for i0 in range(0, n, STEP):
    if rate:
        ahead = start + i0 / rate - time.time()
        if ahead > 0:
            time.sleep(ahead)
    if qos:
        with done:
            done.wait_for(lambda: i0 - acked[0] <= WINDOW - STEP)
    out = []
    for i in range(i0, min(i0 + STEP, n)):
        body = b'{"ts":%d,"values":{"v":%r}}' % (t0 + i, (i % 1000) * 0.5)
        if qos:
            out.append(packet(0x32, topics[i % elements] + struct.pack("!H", i % 65535 + 1) + body))
        else:
            out.append(packet(0x30, topics[i % elements] + body))
    sock.sendall(b"".join(out))
with done:
    if qos:
        done.wait_for(lambda: acked[0] >= n, 600)
    sock.sendall(b"\xc0\x00")  # PINGREQ: its answer comes after everything before it
    done.wait_for(lambda: acked[0] == -1, 600)
print(f"end {time.time()!r}", flush=True)
sock.sendall(b"\xe0\x00")
sock.close()
"""


def publish(port: int, root: str, n: int, elements: int, t0_ms: int, rate: int,
            qos: int) -> tuple[float, float]:  # fmt: skip
    """Publish from a process of its own to `<root>/bench/e<k>/telemetry`; returns when
    its first and last message left (the last acknowledged, at QoS 1)."""
    done = subprocess.run(
        [PY, "-c", PUBLISHER, str(port), str(n), str(elements), str(t0_ms), str(rate), str(qos),
         root],
        capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    if done.returncode:
        raise SystemExit(f"the publisher failed:\n{done.stderr[-3000:]}")
    marks = dict(line.split() for line in done.stdout.splitlines() if line)
    return float(marks["start"]), float(marks["end"])


# --- the pipelines ------------------------------------------------------------------------

FLOOR = r"""
import json, sys, threading, time, httpx, paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
port, url, db, qos, root = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
lines, lock = [], threading.Lock()
def on_message(_c, _u, m):
    element = m.topic.split("/")[2]
    body = json.loads(m.payload)
    t = body["ts"] * 1_000_000
    with lock:
        for k, v in body["values"].items():
            lines.append(f"telemetry,element={element},point={k},site=bench "
                         f"quality=0i,value={float(v)!r} {t}")
sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="e2e-floor")
sub.on_message = on_message
sub.connect("127.0.0.1", port)
sub.subscribe(f"{root}/bench/+/telemetry", qos=qos)
sub.loop_start()
http = httpx.Client(base_url=url, timeout=60)
while True:
    time.sleep(0.05)
    with lock:
        batch, lines[:] = lines[:], []
    for i in range(0, len(batch), 5000):
        http.post("/write", params={"db": db}, content="\n".join(batch[i:i + 5000]))
"""

NODE_RED_FUNCTION = """
const element = msg.topic.split("/")[2];
const body = msg.payload;
return [Object.entries(body.values).map(([k, v]) => ({payload: {
    measurement: "telemetry",
    tags: {site: "bench", element: element, point: k},
    fields: {quality: 0, value: Number(v)},
    timestamp: body.ts,
}}))];
"""


def node_red_flow(mqtt_port: int, influx_port: int, db: str, qos: int,
                  root: str) -> list[dict[str, object]]:  # fmt: skip
    return [
        {"id": "e2e-tab", "type": "tab", "label": "e2e"},
        {"id": "e2e-broker", "type": "mqtt-broker", "broker": "127.0.0.1", "port": str(mqtt_port),
         "clientid": "e2e-nodered", "protocolVersion": "4", "keepalive": "60",
         "cleansession": True},
        {"id": "e2e-influx", "type": "influxdb", "hostname": "127.0.0.1", "port": str(influx_port),
         "protocol": "http", "database": db, "name": "", "usetls": False,
         "influxdbVersion": "1.x"},
        {"id": "e2e-in", "type": "mqtt in", "z": "e2e-tab", "topic": f"{root}/bench/+/telemetry",
         "qos": str(qos), "datatype": "json", "broker": "e2e-broker", "nl": False, "rap": True,
         "inputs": 0, "wires": [["e2e-fn"]]},
        {"id": "e2e-fn", "type": "function", "z": "e2e-tab", "func": NODE_RED_FUNCTION,
         "outputs": 1,
         "wires": [["e2e-join"]]},
        {"id": "e2e-join", "type": "join", "z": "e2e-tab", "mode": "custom", "build": "array",
         "property": "payload", "propertyType": "msg", "count": "1000", "timeout": "1",
         "joiner": "\\n", "joinerType": "str", "accumulate": False, "wires": [["e2e-out"]]},
        {"id": "e2e-out", "type": "influxdb batch", "z": "e2e-tab", "influxdb": "e2e-influx",
         "precision": "ms", "retentionPolicy": "", "wires": []},
    ]  # fmt: skip


def node_red_modules() -> Path:
    """Node-RED and its InfluxDB nodes, installed once per version into a cache folder."""
    spec = json.dumps({"name": "pp-bench", "private": True, "dependencies": NODE_RED}, indent=1)
    root = Path(os.environ.get("PILOTPROOF_NPM_CACHE") or Path.home() / ".cache" / "pilotproof")
    target = root / "bench-npm" / hashlib.sha256(spec.encode()).hexdigest()[:16]
    if (target / "node_modules" / ".bin" / "node-red").exists():
        return target
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit(
            "npm (Node.js 20) is needed for the Node-RED pipeline; or --only floor,agent,mqtt"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="nr-", dir=target.parent))
    (tmp / "package.json").write_text(spec)
    console.print(f"installing Node-RED {NODE_RED['node-red']} with npm into {target} …")
    subprocess.run([npm, "install", "--no-audit", "--no-fund", "--omit=optional"], cwd=tmp,
                   check=True, capture_output=True, timeout=900)  # fmt: skip
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target


def keygen(key: Path) -> Path:
    subprocess.run([PY, "-m", "pilotproof.cli", "agent", "keygen", str(key)], check=True,
                   capture_output=True)  # fmt: skip
    return key


def site_head(agent_id: str, key: Path, store_url: str, buffer: Path, site: str) -> str:
    """The site config up to its inventory's elements, as a user writes one (TOML)."""
    return (f'[agent]\nid = "{agent_id}"\nkey = "{key}"\n\n[store]\nurl = "{store_url}"\n\n'
            f'[buffer]\npath = "{buffer}"\n\n[inventory]\nsite = "{site}"\n')  # fmt: skip


def site_toml(tmp: Path, broker: LocalMosquitto, influx: LocalInfluxd, db: str, elements: int,
              root: str) -> Path:  # fmt: skip
    key = keygen(tmp / "agent.pem")
    inventory = ",\n".join(
        f'  {{id = "e{k}", kind = "sensor", link = "5g", points = [{{id = "v", period_s = 1}}]}}'
        for k in range(elements)
    )
    path = tmp / "site.toml"
    head = site_head("gw-e2e", key, f"{influx.url}/?db={db}", tmp / "buffer.db", SITE)
    path.write_text(
        head
        + f"""elements = [
{inventory}
]

[[sources.mqtt]]
name = "plant"
url = "{broker.url}"
client_id = "e2e-agent"

  [[sources.mqtt.subscriptions]]
  topic = "{root}/{{site}}/{{element}}/telemetry"
"""
    )
    return path


# --- measuring ----------------------------------------------------------------------------


def tree(pid: int) -> list[int]:
    """A process and all its descendants."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            todo += _children(p)
        except OSError:
            continue
    return out


def tree_rss(pid: int) -> int:
    """The resident bytes of a process and all its descendants, now."""
    total = 0
    for p in tree(pid):
        try:
            status = Path(f"/proc/{p}/status").read_text()
            total += next(int(x.split()[1]) for x in status.splitlines() if x.startswith("VmRSS"))
        except (OSError, StopIteration):
            continue
    return total * 1024


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process and its descendants have used so far."""
    return sum(process_cpu(pid).values())


def process_cpu(pid: int) -> dict[int, float]:
    """CPU seconds of each process of the tree."""
    out = {}
    for p in tree(pid):
        try:
            stat = Path(f"/proc/{p}/stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            # utime, stime (clock ticks)
            out[p] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            continue
    return out


def _children(pid: int) -> list[int]:
    tasks = Path(f"/proc/{pid}/task")
    return [int(c) for t in tasks.iterdir() for c in (t / "children").read_text().split()]


@dataclass
class Running:
    """A pipeline's process tree, sampled for its RSS while it runs."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    peak_rss: int = 0
    _stop: bool = field(default=False, repr=False)

    async def sample(self) -> None:
        while not self._stop and self.proc.poll() is None:
            self.peak_rss = max(self.peak_rss, tree_rss(self.proc.pid))
            await asyncio.sleep(0.1)

    def stop(self) -> None:
        self._stop = True
        if self.proc.poll() is None:
            # the agent seals and forwards what it holds, then exits (under py-spy: the
            # agent, so that py-spy sees it end and writes its profile)
            for pid in _children(self.proc.pid) if PROFILE is not None else [self.proc.pid]:
                os.kill(pid, signal.SIGTERM)
            try:
                self.proc.wait(120)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


async def stored(http: httpx.AsyncClient, db: str, t0_ms: int, t1_ms: int) -> int:
    q = f"SELECT count(value) FROM telemetry WHERE time >= {t0_ms}ms AND time < {t1_ms}ms"
    r = await http.get("/query", params={"db": db, "q": q})
    series = r.json()["results"][0].get("series")
    return int(series[0]["values"][0][1]) if series else 0


async def until_stored(http: httpx.AsyncClient, db: str, t0_ms: int, n: int,
                       idle_s: float = 15.0) -> tuple[int, float]:  # fmt: skip
    """Wait until `n` points from `t0_ms` on are queryable, or none came for `idle_s`;
    returns how many and when the last of them became queryable (time.time())."""
    last, last_change = -1, time.time()
    half = None
    while True:
        got = await stored(http, db, t0_ms, t0_ms + n)
        now = time.time()
        if got != last:
            last, last_change = got, now
        if half is None and got >= n / 2:
            half = now
        if got >= n or now - last_change > idle_s:
            if TRACE and half:
                console.print(f"    (half stored {last_change - half:.1f} s before the last)")
            return got, last_change
        await asyncio.sleep(0.05)


@dataclass
class Result:
    name: str
    seconds: float | None = None  # first publish → all queryable
    lost: int = 0
    held: int | None = None  # highest rate of the sweep held
    rate: float | None = None  # Modbus: points queryable per second
    peak_rss: int = 0
    cpu_s: float = 0.0  # CPU seconds of its process tree during the run
    runs: list[float] = field(default_factory=list)  # each run's seconds


async def warm_up(running: Running, http: httpx.AsyncClient, db: str, broker: LocalMosquitto,
                  args: argparse.Namespace) -> None:  # fmt: skip
    """Until a first message per element is queryable (its window is before the runs')."""
    warm = T0_MS - 10_000
    for _ in range(600):
        await asyncio.to_thread(publish, broker.port, running.name, args.elements, args.elements,
                                warm, 0, args.qos)  # fmt: skip
        if await stored(http, db, warm, warm + args.elements):
            break
        if running.proc.poll() is not None:
            raise SystemExit(f"{running.name} exited: see {running.log}")
        await asyncio.sleep(1)
    await until_stored(http, db, warm, args.elements, idle_s=5)


async def one_run(running: Running, http: httpx.AsyncClient, db: str, broker: LocalMosquitto,
                  args: argparse.Namespace, t0: list[int]) -> tuple[float, int, float]:  # fmt: skip
    """`--messages` as fast as they go: (s from the first publish until all are
    queryable, how many were lost, CPU seconds of the pipeline)."""
    start_ms, t0[0] = t0[0], t0[0] + args.messages + 1000
    cpu, each = tree_cpu(running.proc.pid), process_cpu(running.proc.pid)
    with console.status(f"{running.name}: {args.messages:,} messages …"):
        first, _ = await asyncio.to_thread(publish, broker.port, running.name, args.messages,
                                           args.elements, start_ms, 0, args.qos)  # fmt: skip
        got, at = await until_stored(http, db, start_ms, args.messages)
    cpu = tree_cpu(running.proc.pid) - cpu
    if TRACE:
        split = {p: c - each.get(p, 0.0) for p, c in process_cpu(running.proc.pid).items()}
        console.print(f"    (CPU s per process: {', '.join(f'{c:.1f}' for c in split.values())})")
    console.print(f"  {running.name}: {got:,} of {args.messages:,} queryable {at - first:.1f} s "
                  f"after the first publish, {cpu:.1f} CPU s")  # fmt: skip
    return at - first, args.messages - got, cpu


async def sweep(running: Running, http: httpx.AsyncClient, db: str, broker: LocalMosquitto,
                args: argparse.Namespace, t0: list[int]) -> int | None:  # fmt: skip
    """The highest rate of `--sweep` the pipeline holds for `--hold-s`."""
    held = None
    for rate in args.sweep:
        n = int(rate * args.hold_s)
        start_ms, t0[0] = t0[0], t0[0] + n + 1000
        with console.status(f"{running.name}: {rate:,} messages/s for {args.hold_s:.0f} s …"):
            _, end = await asyncio.to_thread(publish, broker.port, running.name, n, args.elements,
                                             start_ms, rate, args.qos)  # fmt: skip
            got, at = await until_stored(http, db, start_ms, n, idle_s=10)
        ok = got == n and at - end <= HOLD_LAG_S
        console.print(
            f"  {running.name}: {rate:,}/s offered: {got:,} of {n:,} stored, the last "
            f"{at - end:+.1f} s after the end: {'held' if ok else 'not held'}"
        )
        if not ok:
            break
        held = rate
    return held


TRACE = bool(os.environ.get("E2E_TRACE"))
PROFILE: Path | None = None  # --profile: the agent's process tree under py-spy


def launch(name: str, argv: list[str], tmp: Path, cwd: Path | None = None) -> Running:
    log = tmp / f"{name}.log"
    if PROFILE is not None and argv[0] == PY and "agent" in argv:
        spy = shutil.which("py-spy") or str(Path.home() / ".local/bin/py-spy")
        out = PROFILE / f"{name}-{int(time.time())}.txt"
        argv = [spy, "record", "--subprocesses", "--format", "raw", "-r", "100", "-o", str(out),
                "--", *argv]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            cwd=cwd or tmp, start_new_session=True)  # fmt: skip
    return Running(name, proc, log)


async def mqtt_bench(args: argparse.Namespace, tmp: Path, influx: LocalInfluxd) -> list[Result]:
    """Every pipeline runs at once, each on a topic root and database of its own; the
    timed runs take turns (`--repeat` rounds, the order rotating) and the median counts,
    so that a slow moment of the machine does not fall on one pipeline only."""
    with LocalMosquitto() as broker:

        def floor(db: str) -> Running:
            return launch("floor", [PY, "-c", FLOOR, str(broker.port), influx.url, db,
                                    str(args.qos), "floor"], tmp)  # fmt: skip

        def node_red(db: str) -> Running:
            modules = node_red_modules()
            user = tmp / f"nodered-{db}"
            user.mkdir()
            (user / "node_modules").symlink_to(modules / "node_modules")
            flows = user / "flows.json"
            flows.write_text(json.dumps(node_red_flow(broker.port, influx.port, db, args.qos,
                                                      "nodered")))  # fmt: skip
            (user / "settings.js").write_text(
                "module.exports = {flowFile: 'flows.json', uiHost: '127.0.0.1', "
                "logging: {console: {level: 'warn'}}, editorTheme: {tours: false}};\n"
            )  # fmt: skip
            exe = modules / "node_modules" / ".bin" / "node-red"
            return launch("nodered", [str(exe), "--userDir", str(user), "--port",
                                      str(free_port()), "--settings", str(user / "settings.js"),
                                      str(flows)], tmp)  # fmt: skip

        def agent(db: str) -> Running:
            work = tmp / f"agent-{db}"
            work.mkdir()
            site = site_toml(work, broker, influx, db, args.elements, "agent")
            return launch("agent", [PY, "-m", "pilotproof.cli", "agent", "run", str(site)], tmp,
                          cwd=work)  # fmt: skip

        starts = {"floor": floor, "nodered": node_red, "agent": agent}
        names = [n for n in starts if n in args.only]
        running: dict[str, tuple[Running, str]] = {}
        samplers = []
        async with httpx.AsyncClient(base_url=influx.url, timeout=60) as http:
            try:
                for name in names:
                    db = f"e2e_{name}_{int(time.time())}"
                    await http.post("/query", params={"q": f"CREATE DATABASE {db}"})
                    running[name] = (starts[name](db), db)
                    samplers.append(asyncio.create_task(running[name][0].sample()))
                for r, db in running.values():
                    await warm_up(r, http, db, broker, args)
                t0 = [T0_MS]
                runs: dict[str, list[tuple[float, int, float]]] = {n: [] for n in names}
                for k in range(args.repeat):
                    for name in names[k % len(names) :] + names[: k % len(names)]:
                        r, db = running[name]
                        runs[name].append(await one_run(r, http, db, broker, args, t0))
                results = []
                for name in names:
                    r, db = running[name]
                    seconds = statistics.median(x[0] for x in runs[name])
                    results.append(Result(
                        name, seconds=seconds, lost=max(x[1] for x in runs[name]),
                        cpu_s=statistics.median(x[2] for x in runs[name]),
                        held=await sweep(r, http, db, broker, args, t0), peak_rss=r.peak_rss,
                        runs=[x[0] for x in runs[name]],
                    ))  # fmt: skip
                return results
            finally:
                for r, _ in running.values():
                    r.stop()
                for t in samplers:
                    t.cancel()


# --- Modbus -------------------------------------------------------------------------------

MODBUS_SCENARIO = """
name: e2e
site: bench
evaluation: {from: "2026-10-01T00:00:00", to: "2026-10-02T00:00:00"}
elements:
  - id: plc
    kind: controller
    link: wired
    protocol: modbus
    modbus_unit: 1
    points:
""" + "".join(
    f"      - {{id: r{i}, type: float32, period_s: 1, signal: {{mean: {i}, amplitude: 1, "
    f"period_s: 7}}, modbus: {{table: holding, order: CDAB}}}}\n"
    for i in range(40)
)

MODBUS_FLOOR = r"""
# the least a program polling this device into InfluxDB must do: the same coalesced reads,
# every value of a read decoded in one struct call (CDAB: words swapped), lines posted
# in the background while the next polls go on
import asyncio, json, struct, sys, time, httpx
from pymodbus.client import AsyncModbusTcpClient
port, url, db, reads = int(sys.argv[1]), sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
async def main():
    client = AsyncModbusTcpClient("127.0.0.1", port=port)
    await client.connect()
    plans = [(address, count, [p for p, _ in points], [o for _, o in points],
              struct.Struct(f">{len(points)}f"), struct.Struct(f">{2 * len(points)}H"),
              [f"telemetry,element=plc,point={p},site=bench quality=0i,value=" for p, _ in points])
             for address, count, points in reads]
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        lines, flushed, posting = [], time.monotonic(), None
        while True:
            t = time.time_ns()
            stamp = f" {t}"
            for address, count, names, offsets, floats, words, heads in plans:
                rr = await client.read_holding_registers(address, count=count, device_id=1)
                r = rr.registers
                swapped = [w for o in offsets for w in (r[o + 1], r[o])]
                for head, v in zip(heads, floats.unpack(words.pack(*swapped))):
                    lines.append(f"{head}{v!r}{stamp}")
            if time.monotonic() - flushed >= 0.05 and (posting is None or posting.done()):
                posting = asyncio.create_task(
                    http.post("/write", params={"db": db}, content="\n".join(lines)))
                lines, flushed = [], time.monotonic()
asyncio.run(main())
"""


async def modbus_run(name: str, running: Running, db: str, influx: LocalInfluxd,
                     seconds: float) -> Result:  # fmt: skip
    sampler = asyncio.create_task(running.sample())
    since = f"{time.time_ns() - 3_600 * 10**9}"
    q = f"SELECT count(value) FROM telemetry WHERE time >= {since}"

    async def count() -> int:
        r = await http.get("/query", params={"db": db, "q": q})
        series = r.json()["results"][0].get("series")
        return int(series[0]["values"][0][1]) if series else 0

    try:
        async with httpx.AsyncClient(base_url=influx.url, timeout=60) as http:
            for _ in range(600):
                if await count() > 0:
                    break
                if running.proc.poll() is not None:
                    raise SystemExit(f"{name} exited: see {running.log}")
                await asyncio.sleep(0.1)
            await asyncio.sleep(3)  # steady state: the sealer and the batches are flowing
            with console.status(f"{name}: {seconds:.0f} s of back-to-back polls …"):
                each = process_cpu(running.proc.pid)
                a, ta = await count(), time.perf_counter()
                await asyncio.sleep(seconds)
                b, tb = await count(), time.perf_counter()
                split = {p: c - each.get(p, 0.0) for p, c in process_cpu(running.proc.pid).items()}
        result = Result(name, rate=(b - a) / (tb - ta), peak_rss=running.peak_rss,
                        cpu_s=sum(split.values()))  # fmt: skip
        per = ", ".join(f"{c:.1f}" for c in split.values())
        console.print(f"  {name}: {result.rate:,.0f} points/s queryable; CPU s per process: {per}")
        return result
    finally:
        running.stop()
        sampler.cancel()


MODBUS_SERVER = r"""
# the simulator's Modbus TCP device, in a process of its own (not sharing the bench's GIL)
import asyncio, sys, time
from simulators import ModbusSimServer, parse_scenario
async def main():
    sim = ModbusSimServer(parse_scenario(sys.stdin.read(), "e2e.yaml"))
    await sim.start()
    await sim.update(time.time_ns())
    print(sim.port, flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""


def modbus_site(work: Path, key: Path, influx: LocalInfluxd, db: str, port: int,
                registers: list[ModbusRegister]) -> Path:  # fmt: skip
    points = "\n".join(
        f'  [[sources.modbus.registers]]\n  element = "plc"\n  point = "{g.point}"\n'
        f'  table = "{g.table}"\n  address = {g.address}\n  type = "{g.type}"\n'
        f'  order = "{g.order}"\n' for g in registers
    )  # fmt: skip
    inventory = ", ".join(f'{{id = "{g.point}", period_s = 1}}' for g in registers)
    site = work / "site.toml"
    head = site_head("gw-e2e-mb", key, f"{influx.url}/?db={db}", work / "buffer.db", SITE)
    plc = f'{{id = "plc", kind = "controller", link = "wired", points = [{inventory}]}}'
    site.write_text(
        head
        + f"""elements = [{plc}]

[[sources.modbus]]
name = "plc"
host = "127.0.0.1"
port = {port}
unit = 1
address_base = 0
interval_s = 0

{points}
"""
    )
    return site


def modbus_server() -> tuple[subprocess.Popen[str], int]:
    server = subprocess.Popen([PY, "-c", MODBUS_SERVER], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, cwd=ROOT)  # fmt: skip
    assert server.stdin is not None
    assert server.stdout is not None
    server.stdin.write(MODBUS_SCENARIO)
    server.stdin.close()
    return server, int(server.stdout.readline())


async def modbus_bench(args: argparse.Namespace, tmp: Path, influx: LocalInfluxd) -> list[Result]:
    """The pipelines take turns polling one device (`--repeat` rounds each, alternating);
    the median counts."""
    scenario = parse_scenario(MODBUS_SCENARIO, "e2e.yaml")
    server, port = await asyncio.to_thread(modbus_server)
    registers = list(modbus_registers(
        x for x in ModbusSimServer(scenario).map.points if x.element == "plc"))  # fmt: skip
    device = ModbusDevice(name="plc", host="127.0.0.1", port=port, unit=1, address_base=0,
                          interval_s=0, registers=registers)  # fmt: skip
    reads = [[r.address, r.count, [[g.point, g.address - r.address] for g in r.registers]]
             for r in plan_reads(device)]  # fmt: skip
    http = httpx.AsyncClient(base_url=influx.url)
    names = [n for n in ("floor", "agent") if n in args.only]
    rates: dict[str, list[float]] = {n: [] for n in names}
    peak: dict[str, int] = dict.fromkeys(names, 0)
    try:
        for k in range(args.repeat):
            for name in names[k % len(names) :] + names[: k % len(names)]:
                db = f"e2e_mb_{name}_{k}_{int(time.time())}"
                await http.post("/query", params={"q": f"CREATE DATABASE {db}"})
                if name == "floor":
                    argv = [PY, "-c", MODBUS_FLOOR, str(port), influx.url, db, json.dumps(reads)]
                    running = await asyncio.to_thread(launch, "modbus-floor", argv, tmp)
                else:
                    work = tmp / f"agent-{db}"
                    work.mkdir()
                    key = await asyncio.to_thread(keygen, work / "agent.pem")
                    site = modbus_site(work, key, influx, db, port, registers)
                    running = launch("modbus-agent", [PY, "-m", "pilotproof.cli", "agent", "run",
                                                      str(site)], tmp, cwd=work)  # fmt: skip
                result = await modbus_run(name, running, db, influx, args.modbus_seconds)
                rates[name].append(result.rate or 0.0)
                peak[name] = max(peak[name], result.peak_rss)
    finally:
        await http.aclose()
        server.terminate()
        server.wait()
    return [Result(n, rate=statistics.median(rates[n]), peak_rss=peak[n], runs=rates[n])
            for n in names]  # fmt: skip


# --- report -------------------------------------------------------------------------------


def report(mqtt: list[Result], modbus: list[Result], args: argparse.Namespace) -> None:
    mib = 1 << 20
    if mqtt:
        table = Table("pipeline", f"{args.messages:,} messages: s until queryable, median (runs)",
                      "lost",
                      "CPU s", "highest rate held (msg/s)", "peak RSS (MiB)",
                      title=f"MQTT → InfluxDB, end to end (QoS {args.qos}, "
                            f"{args.elements} elements, one value a message)")  # fmt: skip
        for r in mqtt:
            runs = " / ".join(f"{x:.1f}" for x in r.runs)
            table.add_row(r.name, f"{r.seconds:.1f} ({runs})" if r.seconds else "—", f"{r.lost:,}",
                          f"{r.cpu_s:.1f}",
                          f"{r.held:,}" if r.held else "none of the sweep",
                          f"{r.peak_rss / mib:,.0f}")  # fmt: skip
        console.print(table)
        by = {r.name: r for r in mqtt}
        agent = by.get("agent")
        if agent and agent.seconds:
            for peer, goal in (("nodered", 1.0), ("floor", 0.9)):
                other = by.get(peer)
                if other and other.seconds:
                    ratio = other.seconds / agent.seconds
                    console.print(
                        f"MQTT agent ÷ {peer}: {ratio:.2f} (throughput, end to end; "
                        f"goal ≥ {goal}) {'ok' if ratio >= goal else 'BELOW'}"
                    )
    if modbus:
        table = Table("pipeline", "points/s queryable, median (runs)", "peak RSS (MiB)",
                      title="Modbus TCP → InfluxDB, end to end (40 float32 registers, "
                            "back-to-back polls)")  # fmt: skip
        for r in modbus:
            runs = " / ".join(f"{x:,.0f}" for x in r.runs)
            table.add_row(r.name, f"{r.rate:,.0f} ({runs})", f"{r.peak_rss / mib:,.0f}")
        console.print(table)
        by = {r.name: r for r in modbus}
        if "agent" in by and "floor" in by and by["floor"].rate:
            ratio = (by["agent"].rate or 0) / by["floor"].rate
            console.print(
                f"Modbus agent ÷ floor: {ratio:.2f} (goal ≥ 0.9) "
                f"{'ok' if ratio >= 0.9 else 'BELOW'}"
            )


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=300_000)
    ap.add_argument("--elements", type=int, default=500)
    ap.add_argument("--qos", type=int, choices=(0, 1), default=1)
    ap.add_argument(
        "--sweep",
        default="10000,20000,40000",
        help="offered rates (messages/s) tried in turn, each for --hold-s",
    )
    ap.add_argument("--hold-s", type=float, default=20.0)
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per pipeline (median)")
    ap.add_argument("--modbus-seconds", type=float, default=15.0)
    ap.add_argument(
        "--only",
        default="floor,nodered,agent,mqtt,modbus",
        help="pipelines (floor, nodered, agent) and paths (mqtt, modbus) to run",
    )
    ap.add_argument("--profile", type=Path, help="record the agent with py-spy into this folder")
    args = ap.parse_args()
    global PROFILE
    PROFILE = args.profile
    args.sweep = [int(x) for x in args.sweep.split(",") if x]
    args.only = set(args.only.split(","))
    if not args.only & {"mqtt", "modbus"}:
        args.only |= {"mqtt", "modbus"}
    with tempfile.TemporaryDirectory(prefix="pp-e2e-") as d, LocalInfluxd() as influx:
        tmp = Path(d)
        mqtt = await mqtt_bench(args, tmp, influx) if "mqtt" in args.only else []
        modbus = await modbus_bench(args, tmp, influx) if "modbus" in args.only else []
    report(mqtt, modbus, args)


if __name__ == "__main__":
    os.chdir(ROOT)
    asyncio.run(main())
