"""The `pilotproof` command: one entry point, one sub-command group per job.

Each group's module is imported only when the group runs (`LazyGroup`), and each module
imports the heavy parts (the KPI engine, the simulators, the web app, protocol
libraries) inside the commands that use them — so `pilotproof --version` and
`pilotproof agent check` start in a fraction of the time the whole product takes to load
(`bench/startup.py` measures it).
"""

from __future__ import annotations

import importlib
import sys
from typing import Annotated, Any

import typer
import typer._click as click
from typer.core import TyperCommand, TyperGroup

from pilotproof._version import __version__

#: name → (module:attribute, the first sentence of its help). The attribute is a Typer
#: app (a group) or a function (one command). The help is what `pilotproof --help` lists
#: without importing the module; tests/test_cli.py holds it equal to the module's own.
COMMANDS: dict[str, tuple[str, str]] = {
    "agent": ("pilotproof.agent_cli:app", "The edge agent — 采集代理."),
    "demo": ("pilotproof.demo_cli:demo", "The whole product on embedded defaults — 一键演示."),
    "evidence": ("pilotproof.evidence_cli:app", "Evidence bundles — 验收证据."),
    "keys": ("pilotproof.keys_cli:app", "Ed25519 keys — 密钥."),
    "kpi": ("pilotproof.kpi_cli:app", "KPIs of the source documents — 指标."),
    "serve": ("pilotproof.serve_cli:serve", "Serve the API and the dashboard — 启动 Web 服务."),
    "simulate": ("pilotproof.simulate_cli:app",
                 "Simulated factories with known true KPIs — 模拟工厂."),
    "store": ("pilotproof.store_cli:app",
              "Check, import into and export a store — 存储自检与导入导出."),
    "tokens": ("pilotproof.serve_cli:tokens_app", "Bearer tokens for the web service — 访问令牌."),
}  # fmt: skip


def load_command(name: str) -> click.Command:
    """The click command of a sub-command, importing its module."""
    target, _ = COMMANDS[name]
    module, attr = target.split(":")
    obj: Any = getattr(importlib.import_module(module), attr)
    if not isinstance(obj, typer.Typer):
        single = typer.Typer(add_completion=False)
        single.command(name)(obj)
        obj = single
    command = typer.main.get_command(obj)
    command.name = name
    _quiet_flags(command)
    return command


def _quiet_flags(command: click.Command) -> None:
    """No `<bool>` beside a flag in the help, `--help` included: a flag takes no value."""
    for param in command.params:
        if getattr(param, "is_flag", False):
            param.metavar = ""
    make_help = command.get_help_option

    def get_help_option(ctx: click.Context) -> Any:
        option = make_help(ctx)
        if option is not None:
            option.metavar = ""
        return option

    setattr(command, "get_help_option", get_help_option)  # noqa: B010 - this instance only
    for sub in getattr(command, "commands", {}).values():
        _quiet_flags(sub)


class LazyGroup(TyperGroup):
    """A Typer group whose sub-commands are imported when invoked; listing them in the
    help shows `COMMANDS`' sentences instead of importing every module."""

    _listing = False

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return super().get_command(ctx, cmd_name)
        if self._listing:
            return TyperCommand(cmd_name, help=COMMANDS[cmd_name][1])
        return load_command(cmd_name)

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        _quiet_flags(self)
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


app = typer.Typer(
    name="pilotproof",
    cls=LazyGroup,
    help=(
        "Measured, signed, recomputable evidence for industrial-internet pilot acceptance "
        "(工业互联网试点示范验收证据).\n\n"
        "Edge agents collect OPC UA / Modbus / MQTT telemetry into InfluxDB or SQLite; KPIs "
        "are computed from the store and tied to the clauses of the source documents."
    ),
    no_args_is_help=True,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        print(f"pilotproof {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """pilotproof — industrial IoT evidence collector and KPI verifier."""


def main() -> None:
    try:
        app()
    except Exception as e:
        # one of our errors that a command did not handle itself: said, not traced. Looked
        # up, not imported: no such error exists unless its module was loaded
        errors = sys.modules.get("telemetry.errors")
        if errors is None or not isinstance(e, errors.PilotproofError):
            raise
        print(f"error: {e} [{e.code}]", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
