"""`pilotproof agent …` — the edge agent: check a site config, run it, make its key (采集代理)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from pilotproof.options import console, esc, fail
from telemetry import describe_validation_error

app = typer.Typer(
    add_completion=False,
    help=(
        "The edge agent — 采集代理: reads OPC UA, Modbus TCP and MQTT, keeps every accepted "
        "point in a durable buffer, seals signed hash-chained batches and forwards them to "
        "the store. `check` a site config, `keygen` its key, then `run` it."
    ),
    no_args_is_help=True,
)

ConfigArg = Annotated[Path, typer.Argument(help="the site config (TOML or YAML)")]


@app.command("check")
def check(config: ConfigArg) -> None:
    """Validate a site config and summarise it; errors name the file, key and value.

    Everything `agent run` checks before it connects is checked here too: the key, the
    buffer file, OPC UA user certificates, node ids and Modbus addresses."""
    from collectors import SiteConfigError, load_site_config

    try:
        c = load_site_config(config)
    except SiteConfigError as e:
        raise fail(str(e)) from None
    table = Table("section", "value", title=f"{config} — OK")
    table.add_row("agent", f"{esc(c.agent.id)} (key {esc(c.agent.key)})")
    table.add_row("site", f"{esc(c.inventory.site)}, {len(c.inventory.elements)} elements")
    table.add_row("store", c.store.url)
    table.add_row("buffer", f"{esc(c.buffer.path)}, cap {c.buffer.max_bytes:,} bytes")
    warnings: list[str] = []
    for plugin, sources in c.sources.each():
        for s in sources:
            name = getattr(s, "name", plugin.name)
            table.add_row(f"{plugin.name} {esc(name)}", esc(plugin.summary(s)))
            warnings += [f"{plugin.table} {name!r}: {w}" for w in plugin.warnings(s)]
        try:  # what `run` checks before it connects
            if sources and plugin.preflight is not None:
                plugin.preflight(sources)
            elif sources:
                plugin.build(sources, c.driver_context)
        except (ValueError, OSError) as e:
            raise fail(f"{config}: {e}") from None
    console.print(table)
    for w in warnings:
        console.print(w, style="yellow", markup=False, highlight=False)
    # what `run` refuses at start, `check` refuses too (systemd's ExecStartPre runs it)
    if not c.agent.key.exists():
        raise fail(
            f"{config}: the key {c.agent.key} does not exist yet: run "
            f"`pilotproof agent keygen {c.agent.key}` (as the user the agent runs as)"
        )
    from collectors.settings import unwritable
    from telemetry.seal import load_key

    try:
        load_key(c.agent.key)
    except (ValueError, OSError) as e:
        raise fail(f"{config}: [agent] key = {c.agent.key}: {e}") from None
    if problem := unwritable(c.buffer.path):
        raise fail(f"{config}: [buffer] path = {c.buffer.path}: {problem}")


@app.command("keygen")
def keygen(
    path: Annotated[Path, typer.Argument(help="where to write the private key (PEM)")],
) -> None:
    """Create the agent's Ed25519 key (and PATH.pub); never overwrites an existing key."""
    from telemetry.seal import generate_key, key_id, load_key

    if path.exists():
        key = load_key(path)
        console.print(f"{esc(path)} exists; key id {esc(key_id(key.public_key()))}")
        raise typer.Exit(1)
    key = generate_key(path)
    console.print(f"wrote {esc(path)} (0600) and {esc(path.with_suffix('.pub'))}")
    console.print(f"key id (SHA-256 of the raw public key): {key_id(key.public_key())}")


@app.command("discover")
def discover_cmd(
    protocol: Annotated[str, typer.Argument(help="opcua (the only one that can be browsed)")],
    url: Annotated[str, typer.Argument(help="e.g. opc.tcp://192.168.10.30:4840")],
    security: Annotated[
        str, typer.Option(help="None | Sign | SignAndEncrypt (Basic256Sha256)")
    ] = "None",
    username: Annotated[str | None, typer.Option(help="sign in with this user …")] = None,
    password: Annotated[str | None, typer.Option(help="… and password")] = None,
    user_certificate: Annotated[
        Path | None, typer.Option(help="sign in with this user certificate (and --user-key)")
    ] = None,
    user_key: Annotated[Path | None, typer.Option(help="the user certificate's key")] = None,
    cert_dir: Annotated[
        Path, typer.Option(help="the agent's own certificate (made once), as in a source")
    ] = Path("pki"),
    trust_dir: Annotated[
        Path | None, typer.Option(help="trusted server certificates, as in a source")
    ] = None,
) -> None:
    """Browse a server and print a `\\[\\[sources.opcua]]` block to start a config from.

    It connects exactly as a source with the same settings would — security, the
    agent's certificate in --cert-dir, the user and the trust list — so a server that
    answers here is one the agent can read. Example:

    pilotproof agent discover opcua opc.tcp://10.0.0.5:4840 --security SignAndEncrypt
    --username pilotproof --password …
    """
    if protocol != "opcua":
        raise fail("only `opcua` servers can be browsed; Modbus maps come from device manuals")
    from collectors.opcua import OPCUA, OpcUaNode, OpcUaSource, discover, toml_snippet
    from collectors.opcua.driver import classify

    OPCUA.silence()  # asyncua's tracebacks for what `classify` says in one line
    auth = "certificate" if user_certificate else "username" if username else "anonymous"
    try:
        source = OpcUaSource(
            name="discovered", url=url, security=security, auth=auth,
            username=username, password=password, user_certificate=user_certificate,
            user_key=user_key, cert_dir=cert_dir, trust_dir=trust_dir,
            nodes=(OpcUaNode(element="-", point="-", node="i=2258"),),
        )  # fmt: skip
    except ValidationError as e:
        raise fail(f"discover: {describe_validation_error(e)}") from None
    import asyncio

    try:
        found = asyncio.run(discover(source))
    except Exception as e:  # any refusal: said in one line with its kind
        kind, message = classify(e, source, str(cert_dir))
        raise fail(f"cannot browse {url}: {kind}: {message}", 1) from None
    print(toml_snippet(source, found))
    Console(stderr=True).print(f"[dim]{len(found)} variable(s); edit element and point names "
                               "to match the inventory[/dim]")  # fmt: skip


@app.command("run")
def run(
    config: ConfigArg,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="log every reconnect and retry")
    ] = False,
    new_chain: Annotated[
        bool,
        typer.Option(
            "--new-chain",
            help="begin a new chain epoch: only when the buffer was lost while the store "
            "holds this agent's chain (the agent refuses to start then, and says so). "
            "Auditors see the change in the evidence",
        ),
    ] = False,
) -> None:
    """Run the agent until SIGTERM or Ctrl-C; then it seals and forwards what it holds.

    Repeated warnings (a dead device, a wrong password) are logged once and then at most
    once a minute with a count; /metrics (\\[metrics] listen) has every counter."""
    from collectors.logs import CollapseRepeats

    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(CollapseRepeats())
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, handlers=[handler])
    from collectors import (
        Agent,
        AgentStartError,
        BufferOpenError,
        ChainConflictError,
        SiteConfigError,
        load_site_config,
    )

    try:
        c = load_site_config(config)
        agent = Agent(c, new_chain=new_chain)
    except SiteConfigError as e:
        raise fail(str(e)) from None
    except (BufferOpenError, ValueError, OSError) as e:
        raise fail(f"{config}: {e}") from None

    import asyncio
    import signal

    from collectors.interpreter import tune_collector

    tune_collector()  # a process of its own from here on: the agent's

    async def go() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        console.print(f"agent {esc(c.agent.id)} running: {len(agent.drivers)} driver(s) → "
                      f"{esc(c.store.url)}", markup=False)  # fmt: skip
        await agent.run(stop)
        m = agent.metrics
        console.print(f"stopped: {m.points_in:,} points in, {m.points_out:,} out, "
                      f"{m.parse_errors:,} rejected, {m.batches_sealed:,} batches")  # fmt: skip

    try:
        asyncio.run(go())
    except (ChainConflictError, AgentStartError) as e:
        raise fail(f"{config}: {e}") from None


@app.command("docs")
def docs_cmd(
    out: Annotated[Path, typer.Option(help="where to write the reference")] = Path(
        "docs/site-config.md"
    ),
) -> None:
    """Write the site-config reference, generated from the config models — 生成配置参考."""
    from collectors.reference import render_site_config_docs

    out.write_text(render_site_config_docs(), encoding="utf-8")
    console.print(f"wrote {out}")


@app.command("samples")
def samples_cmd(
    out: Annotated[Path, typer.Option(help="the folder to write them to")] = Path("deploy/sites"),
) -> None:
    """Write a sample site config per profile, naming what each profile's KPIs need."""
    from kpi import list_profiles
    from pilotproof.site_samples import render_site_sample

    out.mkdir(parents=True, exist_ok=True)
    profiles = list_profiles()
    for p in profiles:
        (out / f"{p.id}.toml").write_text(render_site_sample(p), encoding="utf-8")
    console.print(f"wrote {len(profiles)} site configs to {out}")
