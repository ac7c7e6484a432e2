"""A driver written outside pilotproof, installed the way a package is (a distribution
with a `pilotproof.drivers` entry point), and used through the real commands: the
registry is the only thing that knows drivers, so `agent check` summarises it, `agent
run` supervises it and seals what it reads, and its mistakes are refused by name.

The plugin below is the whole of a driver — the diff a new driver is: its settings, its
descriptor, its code (README and sample aside). Nothing in pilotproof is edited."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.field.conftest import SITE, Field
from tests.field.harness import PILOTPROOF, assert_sealed_exactly_once, check, count

SETTINGS = '''
from pydantic import Field
from collectors import Settings


class TickSource(Settings):
    """A counter that ticks: one value per interval for one point."""

    name: str
    element: str
    point: str
    interval_s: float = Field(default=0.5, gt=0)
'''

PLUGIN = """
# what a plugin author writes at the top: the contract, from the package and its modules
# (loaded while the agent builds its site-config model: no import cycle may bite)
from collectors import DriverPlugin, Samples, Sink, register
from collectors.driver import Driver
from pp_tick.settings import TickSource


def build(sources, context) -> list[Driver]:
    from pp_tick.driver import TickDriver

    if any(s.name == "explode" for s in sources):
        raise ValueError(f"tick source 'explode': cannot open /dev/tick ({Sink}, {Samples})")
    return [TickDriver(s, context) for s in sources]


TICK = register(DriverPlugin(
    name="tick", settings=TickSource, build=build,
    summary=lambda s: f"{s.element}.{s.point} every {s.interval_s} s",
    points=lambda s: [(s.element, s.point)],
))
"""

DRIVER = """
import asyncio
import time

from telemetry import Point


class TickDriver:
    def __init__(self, source, context):
        self.source, self.site = source, context.site
        self.name = f"tick:{source.name}"
        self.elements = (source.element,)

    async def run(self, sink, stop):
        s, n = self.source, 0
        sink.connected(True)
        while not stop.is_set():
            n += 1
            sink.track(s.element)
            sink.reachable(s.element, True)
            tags = {"site": self.site, "element": s.element, "point": s.point}
            fields = {"value": float(n), "quality": 0}
            sink.submit([Point("telemetry", tags, fields, time.time_ns())])
            try:
                await asyncio.wait_for(stop.wait(), s.interval_s)
            except TimeoutError:
                pass
"""

INVENTORY = """elements = [
  {id = "counter-1", kind = "machine", link = "wired", points = [{id = "ticks", period_s = 1}]},
]"""


def install(root: Path) -> Path:
    """The plugin as a package installs it: its module and a dist-info with the entry point."""
    pkg = root / "pp_tick"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    for name, text in (("settings", SETTINGS), ("plugin", PLUGIN), ("driver", DRIVER)):
        (pkg / f"{name}.py").write_text(textwrap.dedent(text))
    info = root / "pp_tick-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: pp-tick\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[pilotproof.drivers]\ntick = pp_tick.plugin\n")
    return root


def tick(point: str = "ticks", extra: str = "") -> str:
    return f"""[[sources.tick]]
name = "t1"
element = "counter-1"
point = "{point}"
interval_s = 0.2
{extra}"""


async def test_a_third_party_driver_is_checked_run_and_sealed(
    field: Field, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(install(field.tmp / "site-packages")))
    site = field.site(tick(), INVENTORY)
    done = check(site)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "tick t1" in done.stdout
    assert "counter-1.ticks every 0.2 s" in done.stdout
    agent = field.agent(site).start()
    try:
        await agent.connected("tick:t1")
        await agent.until(lambda: agent.metric("points_out_total") >= 10, what="ticks stored")
        # /metrics says, per driver, what it handed over and how long ago
        assert agent.metric("driver_points_total", driver="tick:t1") >= 10
        assert 0 <= agent.metric("driver_last_sample_age_seconds", driver="tick:t1") < 5
        # … and per element: the latest 1-second slot sampled (the declared period)
        assert 0 <= agent.metric("element_last_sample_age_seconds", element="counter-1") < 6
        assert agent.metric("buffer_max_bytes") > 0
    finally:
        assert agent.stop() == 0, agent.log()[-3000:]
    assert "Traceback" not in agent.log()
    stored = await count(field.store, "telemetry", "value", site=SITE, element="counter-1")
    assert stored >= 10
    await assert_sealed_exactly_once(field.store, SITE, "gw-field", field.public_key)
    await asyncio.sleep(0)


@pytest.mark.parametrize(
    ("sources", "says"),
    [
        pytest.param(tick(extra="colour = 'red'"), "sources.tick.0.colour", id="unknown-key"),
        pytest.param(
            tick(point="nope"),
            "sources.tick[t1] reads point counter-1.nope, which the inventory",
            id="undeclared-point",
        ),
        pytest.param(
            tick().replace("[[sources.tick]]", "[[sources.tock]]"),
            "sources.tock",
            id="unknown-driver",
        ),
    ],
)
def test_its_mistakes_are_refused_by_name(
    field: Field, monkeypatch: pytest.MonkeyPatch, sources: str, says: str
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(install(field.tmp / "site-packages")))
    done = check(field.site(sources, INVENTORY))
    assert done.returncode == 2, done.stdout + done.stderr
    assert says in done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr


def test_agent_check_runs_the_build_of_a_driver_without_a_preflight(
    field: Field, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What `agent run` would refuse before connecting, `agent check` refuses too."""
    monkeypatch.setenv("PYTHONPATH", str(install(field.tmp / "site-packages")))
    done = check(field.site(tick().replace('name = "t1"', 'name = "explode"'), INVENTORY))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "tick source 'explode': cannot open /dev/tick" in done.stdout + done.stderr


def test_a_plugin_module_imported_first_is_still_a_driver(
    field: Field, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plugin's own test imports its module before anything of the agent's: the
    registry still has it when the site-config model is built."""
    root = install(field.tmp / "site-packages")
    site = field.site(tick(), INVENTORY)
    code = (
        "import pathlib, pp_tick.plugin\n"
        "from collectors import load_site_config\n"
        f"c = load_site_config(pathlib.Path({str(site)!r}))\n"
        "print([s.name for s in c.sources.tick])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(root)}, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['t1']"


def test_a_driver_cannot_take_a_name_of_the_sources_table(
    field: Field, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = install(field.tmp / "site-packages")
    plugin = root / "pp_tick" / "plugin.py"
    plugin.write_text(plugin.read_text().replace('name="tick"', 'name="each"'))
    monkeypatch.setenv("PYTHONPATH", str(root))
    done = check(field.site("", INVENTORY))
    out = done.stdout + done.stderr
    assert done.returncode == 2, out
    assert "a driver cannot be named 'each'" in out
    assert "Traceback" not in out


def test_a_plugin_that_fails_to_load_is_named(
    field: Field, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = install(field.tmp / "site-packages")
    (root / "pp_tick" / "plugin.py").write_text("raise RuntimeError('half installed')\n")
    monkeypatch.setenv("PYTHONPATH", str(root))
    done = check(field.site("", INVENTORY))
    assert done.returncode != 0
    out = done.stdout + done.stderr
    assert "the driver plugin 'tick' (from pp-tick 0.1)" in out
    assert "half installed" in out
    # what needs no site config still works: the key can be made
    keygen = subprocess.run([str(PILOTPROOF), "agent", "keygen", str(field.tmp / "k.pem")],
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert keygen.returncode == 0, keygen.stdout + keygen.stderr
