"""`pilotproof demo` — the README's first command (演示)."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from pilotproof import __version__
from pilotproof.options import console, fail


def demo(
    scenario: Annotated[str, typer.Option(help="an example scenario (`simulate list`)")] = (
        "fiveg-factory-pass"
    ),
    serve: Annotated[
        bool, typer.Option(help="serve the dashboard at the end (--no-serve stops after verify)")
    ] = True,
    mqtt: Annotated[
        str | None,
        typer.Option(help="an MQTT broker URL to use instead of the embedded amqtt broker"),
    ] = None,
    days: Annotated[int, typer.Option(min=1, max=62, help="days of history to backfill")] = 30,
    live_seconds: Annotated[
        float, typer.Option(min=1, help="how long the agent ingests the factory live")
    ] = 6.0,
    work_dir: Annotated[
        Path | None, typer.Option(help="keep everything here (default: a new temp folder)")
    ] = None,
    port: Annotated[int, typer.Option(help="dashboard port")] = 8080,
) -> None:
    """The whole product on embedded defaults — 一键演示.

    Backfills and seals a month of a simulated factory into SQLite; runs the real agent
    against the factory live over MQTT (an embedded broker unless --mqtt); evaluates the
    scenario's profile and prints the KPI table; builds a signed evidence bundle and
    verifies it offline; then serves the dashboard and prints its URL and a sign-in token.
    Exit code 0 only when the bundle verifies.
    """
    from pilotproof.demo import declarations_of, run_demo
    from pilotproof.web import JobSpec, TokenStore, WebSettings
    from pilotproof.web.serve import run_service
    from simulators import ScenarioError, load_scenario
    from telemetry import config_from_url
    from verifier import load_key, load_trust

    try:
        s = load_scenario(scenario)
    except ScenarioError as e:
        raise fail(str(e)) from None
    work = work_dir or Path(tempfile.mkdtemp(prefix="pilotproof-demo-"))
    if work.exists() and any(work.iterdir()):
        raise fail(f"{work} is not empty; give a new --work-dir")
    _, verified, archive = asyncio.run(
        run_demo(s, work, mqtt_url=mqtt, days=days, live_s=live_seconds)
    )
    console.print(f"everything is in {work} (bundle: {archive.name})", highlight=False)
    if not verified.ok:
        raise typer.Exit(1)
    if not serve:
        return
    token = TokenStore(work / "tokens.db").create("demo-admin", "admin")
    spec = JobSpec(
        store=config_from_url(f"sqlite:{work / 'demo.db'}"),
        inventory=s.inventory(),
        key=JobSpec.raw_key(load_key(work / "keys" / "builder.pem")),
        trust=load_trust(work / "trusted-keys.toml"),
        # the dashboard shows the declared KPIs the demo evaluated with
        declarations=declarations_of(s, s.profile or "miit2021-5g-factory"),
    )
    console.print(
        f"[bold]dashboard: http://127.0.0.1:{port}/[/bold]  sign in with the token "
        f"[bold]{token}[/bold] (Ctrl-C to stop)",
        highlight=False,
    )
    run_service(
        spec,
        WebSettings(default_profile=s.profile or "miit2021-5g-factory", work_dir=work / "web"),
        TokenStore(work / "tokens.db"),
        host="127.0.0.1",
        port=port,
        version=__version__,
    )
