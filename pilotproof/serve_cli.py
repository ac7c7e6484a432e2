"""`pilotproof serve` and `pilotproof tokens …` — the web service and its access (服务)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pilotproof import __version__
from pilotproof.options import InventoryOpt, StoreOpt, console, esc, fail
from pilotproof.web import ROLES, TokenStore, WebSettings

tokens_app = typer.Typer(
    add_completion=False,
    help=(
        "Bearer tokens for the web service — 访问令牌. Roles: operator (read, build "
        "evidence), auditor (read, verify), admin (all, and tokens). Tokens are stored "
        "hashed; a new one is printed once."
    ),
    no_args_is_help=True,
)

TokensOpt = Annotated[
    Path, typer.Option("--tokens", help="the token file (SQLite; created when missing)")
]


@tokens_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="who the token is for, e.g. auditor-zhang")],
    role: Annotated[str, typer.Option(help="operator, auditor or admin")],
    tokens: TokensOpt = Path("pilotproof-tokens.db"),
) -> None:
    """Create a token and print it (the only time it is shown)."""
    if role not in ROLES:
        raise fail(f"--role {role!r}: use one of {', '.join(ROLES)}")
    try:
        token = TokenStore(tokens).create(name, role)
    except ValueError as e:
        raise fail(str(e), 1) from None
    console.print(
        f"[dim]{esc(role)} token for {esc(name)} (keep it; it is stored only as a hash):[/dim]"
    )
    print(token)


@tokens_app.command("list")
def list_tokens(tokens: TokensOpt = Path("pilotproof-tokens.db")) -> None:
    """Names and roles of the tokens (never the tokens)."""
    for t in TokenStore(tokens).list():
        print(f"{t.name}\t{t.role}")


@tokens_app.command("revoke")
def revoke(
    name: Annotated[str, typer.Argument(help="the token's name")],
    tokens: TokensOpt = Path("pilotproof-tokens.db"),
) -> None:
    """Revoke a token by name."""
    if not TokenStore(tokens).revoke(name):
        raise fail(f"no token named {name!r}", 1)
    console.print(f"revoked {esc(name)}")


def serve(
    profile: Annotated[str, typer.Option(help="the profile the dashboard opens with")],
    store: StoreOpt = "sqlite:pilotproof.db",
    inventory: InventoryOpt = None,
    scenario: Annotated[
        str | None, typer.Option(help="take the inventory from a simulator scenario")
    ] = None,
    tokens: TokensOpt = Path("pilotproof-tokens.db"),
    key: Annotated[
        Path | None, typer.Option(help="evidence signing key (enables building bundles)")
    ] = None,
    trust: Annotated[
        Path | None, typer.Option(help="trusted-keys file (enables verifying bundles)")
    ] = None,
    work_dir: Annotated[Path, typer.Option(help="where built bundles are kept")] = Path(
        "pilotproof-bundles"
    ),
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8080,
    workers: Annotated[
        int,
        typer.Option(min=1, help="worker processes that evaluate KPIs, build and verify bundles"),
    ] = 1,
    max_window_days: Annotated[
        int, typer.Option(min=1, help="longest window one request may evaluate")
    ] = 400,
    max_upload_mib: Annotated[
        int, typer.Option(min=1, help="largest bundle /api/verify accepts, MiB")
    ] = 256,
    keep_bundles: Annotated[
        int, typer.Option(min=1, help="built bundles kept for download (oldest removed)")
    ] = 20,
) -> None:
    """Serve the API and the dashboard — 启动 Web 服务.

    Create a first token with `pilotproof tokens create NAME --role admin`; the OpenAPI
    reference is at /docs.
    """
    from pilotproof.web import JobSpec
    from pilotproof.web.serve import run_service
    from simulators import ScenarioError, load_scenario
    from telemetry import (
        DuckdbConfig,
        Inventory,
        InventoryError,
        config_from_url,
        load_inventory,
    )
    from verifier import TrustError, load_key, load_trust

    if (inventory is None) == (scenario is None):
        raise fail("give exactly one of --inventory FILE or --scenario NAME")
    inv: Inventory
    try:
        inv = load_scenario(scenario).inventory() if scenario else load_inventory(inventory)  # type: ignore[arg-type]
    except (ScenarioError, InventoryError) as e:
        raise fail(str(e)) from None
    try:
        config = config_from_url(store)
        if isinstance(config, DuckdbConfig):
            raise ValueError(
                f"--store {store}: a DuckDB file admits one process at a time, and the "
                "service's jobs open the store each in their own; serve an sqlite: or "
                "InfluxDB store (`pilotproof kpi evaluate --store duckdb:PATH` reads DuckDB)"
            )
        spec = JobSpec(
            store=config,
            inventory=inv,
            key=JobSpec.raw_key(load_key(key)) if key else None,
            trust=load_trust(trust) if trust else None,
        )
    except (ValueError, TrustError) as e:
        raise fail(str(e)) from None
    console.print(f"pilotproof on http://{host}:{port}/ — API reference at /docs", highlight=False)
    run_service(
        spec,
        WebSettings(
            default_profile=profile,
            work_dir=work_dir,
            max_window_days=max_window_days,
            keep_bundles=keep_bundles,
            max_upload_bytes=max_upload_mib << 20,
        ),
        TokenStore(tokens),
        host=host,
        port=port,
        version=__version__,
        workers=workers,
    )
