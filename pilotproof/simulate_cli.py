"""`pilotproof simulate …` — play, explain and backfill the example factories (模拟工厂)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pilotproof.options import StoreOpt, esc, open_store_or_exit, parse_time
from simulators import (
    LABELS,
    Period,
    Scenario,
    ScenarioError,
    backfill,
    compute_truth,
    example_scenarios,
    load_scenario,
)
from telemetry import StoreError
from telemetry.seal import KPI_STREAM, Sealer, generate_key, key_id, load_key
from telemetry.timegrid import NS

if TYPE_CHECKING:
    from simulators import SimulatedFactory

console = Console()
app = typer.Typer(
    add_completion=False,
    help=(
        "Simulated factories with known true KPIs — 模拟工厂. SCENARIO is a YAML file or the "
        "name of a bundled example (see `simulate list`)."
    ),
    no_args_is_help=True,
)

ScenarioArg = Annotated[str, typer.Argument(help="scenario file, or an example name")]


def _load(name: str) -> Scenario:
    try:
        return load_scenario(name)
    except ScenarioError as e:
        console.print(f"[red]{esc(e)}[/red]")
        raise typer.Exit(2) from None


@app.command("list")
def list_examples() -> None:
    """The bundled example scenarios — 示例场景."""
    # the names are what one copies into a command: never cut; the titles fold instead
    table = Table()
    table.add_column("scenario", no_wrap=True)
    table.add_column("profile", no_wrap=True)
    table.add_column("elements", justify="right", no_wrap=True)
    table.add_column("标题 / title", ratio=1)
    for name in example_scenarios():
        s = load_scenario(name)
        table.add_row(
            name, s.profile or "", str(len(s.expanded_elements())), f"{s.title_zh}\n{s.title_en}"
        )
    console.print(table)


@app.command("truth")
def truth(
    scenario: ScenarioArg,
    start: Annotated[
        str | None, typer.Option("--from", help="window start (default: evaluation)")
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="window end (default: evaluation)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """The true value of every KPI the scenario covers, from the scenario alone — 真值."""
    s = _load(scenario)
    a, b = parse_time(start, s.timezone), parse_time(end, s.timezone)
    window = Period.model_validate({"from": a or s.evaluation.start, "to": b or s.evaluation.end})
    t = compute_truth(s, window)
    if as_json:
        out = {
            "scenario": t.scenario,
            "window": {"from": window.start.isoformat(), "to": window.end.isoformat()},
            "values": {
                k: {
                    "value": None if v.value is None else str(v.value),
                    "decimal": v.decimal,
                    "numerator": v.numerator,
                    "denominator": v.denominator,
                    "source": v.source,
                    "note": v.note,
                    "breakdown": v.breakdown,
                }
                for k, v in t.values.items()
            },
        }
        typer.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return
    table = Table(
        "指标 / KPI",
        "value",
        "num / den",
        "note",
        title=f"{s.name}: {window.start:%Y-%m-%d %H:%M} → {window.end:%Y-%m-%d %H:%M} "
        f"({s.timezone})",
    )
    for k, v in t.values.items():
        zh, en = LABELS.get(k, (k, k))
        frac = (
            f"{v.numerator:,} / {v.denominator:,}"
            if v.denominator is not None and v.numerator is not None
            else ("" if v.numerator is None else f"{v.numerator:,}")
        )
        note = ("declared 申报; " if v.source == "declared" else "") + v.note
        table.add_row(f"{esc(zh)}\n{esc(en)}\n[dim]{esc(k)}[/dim]", _show(v.value), frac, note)
    console.print(table)


def _show(value: object) -> str:
    from fractions import Fraction

    if value is None:
        return "n/a"
    assert isinstance(value, Fraction)
    if value.denominator == 1:
        return f"{value.numerator:,}"
    return f"{float(value):.4%}" if abs(value) <= 1 else f"{float(value):,.4f}"


@app.command("backfill")
def backfill_cmd(
    scenario: ScenarioArg,
    store: StoreOpt = "sqlite:pilotproof.db",
    days: Annotated[
        int | None,
        typer.Option(
            help="the N days ending at the evaluation end "
            "(default: baseline start → evaluation end)"
        ),
    ] = None,
    telemetry: Annotated[
        bool,
        typer.Option(help="also write raw `telemetry` samples (large: every point at its rate)"),
    ] = False,
    seal: Annotated[
        Path | None,
        typer.Option(
            help="seal the KPI stream with this agent key, as an agent would, so evidence can "
            "be built from the history (the key is created when missing)"
        ),
    ] = None,
    agent: Annotated[
        str | None, typer.Option(help="the agent id the sealed chain is signed as")
    ] = None,
) -> None:
    """Write the scenario's history straight into a store, as the agent would — 回填历史数据."""
    s = _load(scenario)
    history = s.history()
    end = history.end_ns
    start = end - days * 86400 * NS if days else history.start_ns
    if days is not None and days < 1:
        console.print("[red]--days must be at least 1[/red]")
        raise typer.Exit(2)

    sealer: Sealer | None = None
    if seal is not None:
        signing = load_key(seal) if seal.exists() else generate_key(seal)
        sealer = Sealer(signing, agent or f"sim-{s.name}", KPI_STREAM)
        console.print(
            f"sealing as agent {sealer.agent}, key {key_id(signing.public_key())[:16]}… ({seal})",
            highlight=False,
        )

    async def go() -> None:
        st = await open_store_or_exit(store, create=True)
        try:
            with Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("days"),
                TimeElapsedColumn(),
                console=console,
            ) as bar:
                task = bar.add_task(f"backfill {s.name} → {st.describe()}", total=None)
                report = await backfill(
                    s,
                    st,
                    start,
                    end,
                    telemetry=telemetry,
                    progress=lambda done, total: bar.update(task, completed=done, total=total),
                    sealer=sealer,
                )
        except StoreError as e:
            console.print(f"[red]{esc(e)}[/red]")
            raise typer.Exit(1) from None
        finally:
            await st.close()
        table = Table("measurement", "rows", title="backfill — 回填")
        for m, n in sorted(report.rows.items()):
            table.add_row(m, f"{n:,}")
        table.add_row("[bold]total", f"[bold]{report.total_rows:,}")
        console.print(table)
        console.print(
            f"{report.seconds:.1f} s, {report.rows_per_second:,.0f} rows/s; "
            f"rejected: {report.rejected}"
        )
        if report.rejected:
            raise typer.Exit(1)

    asyncio.run(go())


@app.command("serve")
def serve(
    scenario: ScenarioArg,
    mqtt: Annotated[
        str,
        typer.Option(
            help="MQTT broker to publish to, e.g. mqtt://127.0.0.1:1883; `embedded` starts one "
            "in this process on a free port; `none` publishes nothing"
        ),
    ] = "embedded",
    site_config: Annotated[
        Path | None,
        typer.Option(
            help="write an agent site config (YAML) that reads everything served: "
            "`pilotproof agent check` it, make its key, `agent run` it"
        ),
    ] = None,
    host: Annotated[
        str, typer.Option(help="address the OPC UA and Modbus servers bind")
    ] = "127.0.0.1",
    opcua_port: Annotated[int, typer.Option(help="0 picks a free port")] = 4840,
    modbus_port: Annotated[int, typer.Option(help="0 picks a free port")] = 5020,
    cert_dir: Annotated[
        Path, typer.Option(help="where the OPC UA server certificate is generated and kept")
    ] = Path("pki/simulator"),
    start: Annotated[
        str | None,
        typer.Option("--from", help="scenario time to start at (default: now); replays outages"),
    ] = None,
    speed: Annotated[float, typer.Option(help="scenario seconds per wall second")] = 1.0,
    duration: Annotated[
        float | None, typer.Option(help="stop after this many wall seconds")
    ] = None,
) -> None:
    """Serve the scenario live over OPC UA, Modbus TCP and MQTT — 实时模拟设备."""
    from simulators import SimClock, SimulatedFactory

    s = _load(scenario)
    t0 = parse_time(start, s.timezone)
    clock = SimClock(start_ns=int(t0.timestamp()) * NS if t0 else None, speed=speed)

    async def go() -> None:
        async with contextlib.AsyncExitStack() as stack:
            if mqtt == "embedded":
                from pilotproof.broker import embedded_broker

                url: str | None = await stack.enter_async_context(embedded_broker())
            else:
                url = None if mqtt == "none" else mqtt
            await serve_factory(url)

    async def serve_factory(url: str | None) -> None:
        try:
            factory = SimulatedFactory(
                s,
                mqtt_url=url,
                host=host,
                opcua_port=opcua_port,
                modbus_port=modbus_port,
                cert_dir=cert_dir,
                clock=clock,
            )
        except ValueError as e:
            console.print(f"[red]{esc(e)}[/red]")
            raise typer.Exit(2) from None
        async with factory:
            print_served(factory, url)
            if site_config is not None:
                write_site_config(factory, url, site_config)
                console.print(f"wrote {esc(site_config)}: `pilotproof agent keygen keys/agent.pem`"
                              f" next to it, then `pilotproof agent run {esc(site_config)}`",
                              highlight=False)  # fmt: skip
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(factory.run(), duration) if duration else await factory.run()

    try:
        asyncio.run(go())
    except KeyboardInterrupt:
        console.print("stopped")


def print_served(factory: SimulatedFactory, mqtt_url: str | None) -> None:
    """What a user needs to point an agent at the servers: endpoints, Modbus unit ids and
    register counts per element, OPC UA namespace, MQTT topics."""
    from pilotproof.sim_sources import SIM_SUBSCRIPTIONS

    s = factory.scenario
    table = Table("protocol", "endpoint", title=f"serving {s.name} — 模拟中 (Ctrl-C stops)")
    for proto, where in factory.endpoints().items():
        table.add_row(proto, where)
    console.print(table)
    if factory.modbus is not None:
        units = Table("element", "unit id", "registers", "first address",
                      title="Modbus TCP — 寄存器 (address base 0)")  # fmt: skip
        by_element: dict[str, list[int]] = {}
        for loc in factory.modbus.map.points:
            by_element.setdefault(loc.element, []).append(loc.address)
        for element, unit in sorted(factory.modbus.units.items(), key=lambda kv: kv[1]):
            addresses = by_element.get(element, [])
            first = str(min(addresses)) if addresses else "—"
            units.add_row(element, str(unit), str(len(addresses)), first)
        console.print(units)
    if factory.opcua is not None:
        console.print(f"OPC UA nodes: nsu={factory.opcua.namespace};s=<element>.<point>",
                      highlight=False, markup=False)  # fmt: skip
    if mqtt_url is not None:
        topics = ", ".join(x.topic for x in SIM_SUBSCRIPTIONS)
        console.print(f"MQTT {mqtt_url}: {topics}", highlight=False, markup=False)
    console.print("the whole map: --site-config FILE writes an agent config that reads it all")


def write_site_config(factory: SimulatedFactory, mqtt_url: str | None, path: Path) -> None:
    """An agent site config (YAML) for the served factory, as `agent check` accepts it."""
    import yaml

    from pilotproof.sim_sources import agent_sources

    s = factory.scenario
    sources = agent_sources(factory, mqtt_url, path.parent)
    raw = sources.model_dump(mode="json", exclude_defaults=True)
    config = {
        "agent": {"id": "sim-gateway", "key": "keys/agent.pem"},
        "store": {"url": "sqlite:pilotproof.db"},
        "buffer": {"path": "buffer.db"},
        "inventory": s.inventory().model_dump(mode="json"),
        "sources": raw,
    }
    header = (f"# agent site config for `pilotproof simulate serve {s.name}`: every element "
              "it serves\n")  # fmt: skip
    path.write_text(header + yaml.safe_dump(config, allow_unicode=True, sort_keys=False),
                    encoding="utf-8")  # fmt: skip


__all__ = ["app"]
