"""`pilotproof keys …` — Ed25519 keys and trusted-keys entries (密钥)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from pilotproof.options import fail
from verifier import KeyRole, generate_key, key_id, load_public_key, trust_entry

# messages go to stderr: stdout is only the TOML entry, so `keys show K >> keys.toml` works
console = Console(stderr=True)

app = typer.Typer(
    add_completion=False,
    help=(
        "Ed25519 keys — 密钥. Agents sign their batch records, the evidence builder signs "
        "bundles; an auditor lists the keys they trust in a TOML file (`keys show` prints "
        "its entries). A key id is the SHA-256 of the raw public key."
    ),
    no_args_is_help=True,
)

NameOpt = Annotated[
    str | None, typer.Option(help="name in the trust entry (an agent: its agent.id)")
]
RoleOpt = Annotated[
    str, typer.Option(help="agent (signs batch records) or verifier (signs bundles)")
]
SiteOpt = Annotated[
    str | None,
    typer.Option(
        help="pin an agent to its site: a bundle of that site must then carry this agent's "
        "chain, so a site's agent cannot be left out of its evidence"
    ),
]


def _role(role: str, site: str | None = None) -> KeyRole:
    if role not in ("agent", "verifier"):
        raise fail(f"--role {role!r}: use agent or verifier")
    if site is not None and role != "agent":
        raise fail(f"--site {site!r} pins an agent to its site: use it with --role agent")
    return role  # type: ignore[return-value]


@app.command("gen")
def gen(
    path: Annotated[Path, typer.Argument(help="where to write the private key (PKCS#8 PEM)")],
    name: NameOpt = None,
    role: RoleOpt = "verifier",
    site: SiteOpt = None,
) -> None:
    """Create a key pair: PATH (mode 0600) and PATH.pub; never overwrites a key."""
    r = _role(role, site)
    if path.exists():
        raise fail(f"{path} exists; a key is never overwritten (use `keys show {path}`)", 1)
    key = generate_key(path)
    console.print(f"wrote {path} (0600) and {path.with_suffix('.pub')}", highlight=False)
    console.print(f"key id: {key_id(key.public_key())}", highlight=False)
    console.print("[dim]trusted-keys entry (give it to the auditor):[/dim]")
    print(trust_entry(name or path.stem, r, key.public_key(), site=site))


@app.command("show")
def show(
    path: Annotated[Path, typer.Argument(help="a private key, a .pub PEM or a base64 raw key")],
    name: NameOpt = None,
    role: RoleOpt = "verifier",
    site: SiteOpt = None,
) -> None:
    """Print a key's trusted-keys entry, with its id (never the private key).

    Only the TOML goes to stdout: `pilotproof keys show agent.pub --name gw-01 --role agent
    >> trusted-keys.toml` builds an auditor's file; `--site plant-1` pins the agent to
    its site.
    """
    r = _role(role, site)
    try:
        public = load_public_key(path)
    except (OSError, ValueError) as e:
        raise fail(str(e)) from None
    print(trust_entry(name or path.stem, r, public, site=site))
