"""`pilotproof demo` — the whole product on one machine, embedded defaults (演示).

A simulated factory's month is backfilled and sealed; the factory's servers then run live
(OPC UA, Modbus TCP, and MQTT publishers on an embedded amqtt broker unless --mqtt is
given) and the real agent reads all three for a few seconds, sealing and forwarding as on
a gateway; the profile is evaluated; a signed
evidence bundle is built and verified offline; and the dashboard is served. Wiring only:
every part is the product's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from rich.progress import (
    Progress,
    TaskID,
)

from collectors import Agent, AgentSection, BufferSection, SiteConfig, StoreSection
from kpi import Declarations, Evaluation, Window, evaluate, load_declarations
from pilotproof.broker import embedded_broker
from pilotproof.evidence_cli import print_report
from pilotproof.kpi_cli import print_evaluation
from pilotproof.options import console, progress_bar
from pilotproof.sim_sources import agent_sources
from simulators import Scenario, SimulatedFactory, backfill
from telemetry import SqliteStore
from telemetry.seal import KPI_STREAM, Sealer, generate_key
from telemetry.timegrid import NS
from verifier import VerifyReport, build_bundle, load_trust, pack, trust_entry, verify_bundle
from verifier.chain import read_chains

HISTORY_AGENT = "demo-history"
LIVE_AGENT = "demo-gateway"


def _bar() -> Progress:
    return progress_bar(transient=False)


#: the sample declarations shipped for a profile, which the demo fills its declared KPIs
#: with (a newcomer sees a whole verdict, and what a declaration looks like)
SAMPLES = Path(__file__).parent / "samples"


def sample_declarations(profile: str) -> Path | None:
    """The sample declarations file of `profile`, if one is shipped."""
    path = SAMPLES / f"declared-{profile}.yaml"
    return path if path.is_file() else None


def declarations_of(s: Scenario, profile: str | None = None) -> Declarations:
    """The scenario's declared values, over the profile's sample declarations file."""
    declared: dict[str, object] = {}
    sample = sample_declarations(profile) if profile else None
    if sample is not None:
        declared.update(load_declarations(sample).model_dump()["declarations"])
    declared |= {
        k: {"value": v, "attachment": f"scenario {s.name}: declared"} for k, v in s.declared.items()
    }
    return Declarations.model_validate({"declarations": declared})


def _advance(bar: Progress, task: TaskID) -> Callable[[str, int, int], None]:
    return lambda what, i, n: bar.update(task, description=what, completed=i, total=n)


def _keys(work: Path, s: Scenario) -> tuple[Ed25519PrivateKey, Path, Ed25519PrivateKey]:
    """The history's and the gateway's agent keys, the bundle signer's, and the auditor's
    trusted-keys file naming them (both agents pinned to the site: a bundle of it must
    carry both chains)."""
    work.mkdir(parents=True, exist_ok=True)
    history = generate_key(work / "keys" / "history.pem")
    gateway_path = work / "keys" / "gateway.pem"
    gateway = generate_key(gateway_path)
    builder = generate_key(work / "keys" / "builder.pem")
    (work / "trusted-keys.toml").write_text(
        trust_entry("demo-builder", "verifier", builder.public_key())
        + trust_entry(HISTORY_AGENT, "agent", history.public_key(), site=s.site)
        + trust_entry(LIVE_AGENT, "agent", gateway.public_key(), site=s.site),
        encoding="utf-8",
    )
    return history, gateway_path, builder


async def run_demo(
    s: Scenario,
    work: Path,
    *,
    mqtt_url: str | None,
    days: int,
    live_s: float,
) -> tuple[Evaluation, VerifyReport, Path]:
    """Everything but serving; returns the evaluation, the verification and the bundle."""
    history_key, live_key_path, builder = await asyncio.to_thread(_keys, work, s)
    store_path = work / "demo.db"
    profile = s.profile or "miit2021-5g-factory"
    # the evaluation window: the scenario's, or its last `days` when that is shorter
    end = s.evaluation.end
    window = Window(start=max(s.evaluation.start, end - timedelta(days=days)), end=end)
    store = SqliteStore(store_path)
    try:
        # 1. a month of history, sealed as the site's gateway would have
        with _bar() as bar:
            task = bar.add_task(f"backfill {days} days of {s.name}", total=days + 1)
            # one day more than asked: the chain then starts before the window, and its
            # first record is the anchor that shows the window's start is complete
            start = window.end_ns - (days + 1) * 86400 * NS
            report = await backfill(
                s, store, start, window.end_ns,
                sealer=Sealer(history_key, HISTORY_AGENT, KPI_STREAM),
                progress=lambda d, n: bar.update(task, completed=d, total=n),
            )  # fmt: skip
        console.print(f"history: {report.total_rows:,} rows sealed in {report.seconds:.1f} s")

        # 2. the real agent, live over MQTT, for a few seconds
        async with contextlib.AsyncExitStack() as stack:
            url = mqtt_url if mqtt_url else await stack.enter_async_context(embedded_broker())
            await live(s, store, work, url, live_key_path, live_s)

        # 3. the KPI table, the declared KPIs from the sample declarations (copied beside)
        decl = declarations_of(s, profile)
        if (sample := sample_declarations(profile)) is not None:
            await asyncio.to_thread(shutil.copy, sample, work / "declared.yaml")
            console.print(f"declarations: {work / 'declared.yaml'} (a sample: name your own "
                          "documents there)")  # fmt: skip
        evaluation = await evaluate(profile, window, store, s.inventory(), declarations=decl)
        print_evaluation(evaluation, details=False, tz=s.timezone)

        # 4. evidence, built and verified as an auditor would
        with _bar() as bar:
            task = bar.add_task("build evidence", total=None)
            built = await build_bundle(
                store, profile, window, s.inventory(), builder, work / "bundle",
                declarations=decl, progress=_advance(bar, task), evaluation=evaluation,
            )  # fmt: skip
        archive = await asyncio.to_thread(pack, work / "bundle", work / "bundle.tar.gz")
        console.print(f"bundle {archive}: {built.lines:,} lines, {archive.stat().st_size:,} bytes")
        with _bar() as bar:
            task = bar.add_task("verify evidence", total=None)
            verified = await verify_bundle(
                archive, load_trust(work / "trusted-keys.toml"), inventory=s.inventory(),
                progress=_advance(bar, task),
            )  # fmt: skip
        print_report(verified)
        return evaluation, verified, archive
    finally:
        await store.close()


async def _sealed(store: SqliteStore, site: str) -> bool:
    """Whether the live gateway's KPI-stream chain has a record in the store."""
    return (LIVE_AGENT, 0) in await read_chains(store, site)


async def live(
    s: Scenario, store: SqliteStore, work: Path, url: str, key: Path, seconds: float
) -> None:
    """The simulated factory's servers (OPC UA, Modbus TCP, MQTT publishers) and the real
    agent reading all three, for `seconds`."""
    async with SimulatedFactory(s, mqtt_url=url) as factory:
        config = SiteConfig(
            agent=AgentSection(id=LIVE_AGENT, key=key, seal_interval_s=0.5),
            store=StoreSection(url=f"sqlite:{work / 'demo.db'}"),
            buffer=BufferSection(path=work / "gateway-buffer.db"),
            # status every 5 s, to see a few rows in seconds (the live run is after the
            # evaluated window, whose history has the scenario's interval)
            inventory=s.inventory().model_copy(update={"status_interval_s": 5}),
            sources=agent_sources(factory, url, work),
        )
        agent = Agent(config, store=store)
        stop = asyncio.Event()
        task = asyncio.create_task(agent.run(stop))
        ticking = asyncio.create_task(factory.run())
        try:
            with _bar() as bar:
                protocols = ", ".join(sorted(factory.endpoints()))
                job = bar.add_task(f"live ({protocols})", total=int(seconds))
                t0 = time.monotonic()
                # at least `seconds`, and until the gateway's first KPI-stream batch is
                # stored: it is pinned to the site, so every bundle of it carries its chain
                while (elapsed := time.monotonic() - t0) < seconds or (
                    elapsed < seconds + 60 and not await _sealed(store, s.site)
                ):
                    bar.update(job, completed=int(elapsed),
                               description=f"live ({protocols}): {agent.metrics.points_in:,} "
                               f"points in, {agent.metrics.points_out:,} stored")  # fmt: skip
                    await asyncio.sleep(0.5)
                bar.update(job, completed=int(seconds))
        finally:
            ticking.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticking
            stop.set()
            await asyncio.wait_for(task, 60)
    console.print(
        f"live: {agent.metrics.points_in:,} points accepted over {protocols}, "
        f"{agent.metrics.points_out:,} in the store, {agent.metrics.parse_errors} rejected"
    )
