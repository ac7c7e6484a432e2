"""The `pilotproof` command as a user runs it (a real subprocess, real stores)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from pilotproof import __version__


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pilotproof.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"},
    )


def test_version() -> None:
    r = run("--version")
    assert r.returncode == 0
    assert r.stdout.strip() == f"pilotproof {__version__}"


def test_the_version_is_the_packages() -> None:
    import tomllib

    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    assert __version__ == project["project"]["version"]


def test_the_command_list_shows_each_commands_own_help_without_importing_it() -> None:
    from pilotproof.cli import COMMANDS, load_command

    listing = run("--help")
    assert listing.returncode == 0, listing.stderr
    for name, (_, sentence) in COMMANDS.items():
        command = load_command(name)
        assert (command.help or "").startswith(sentence.rstrip(".")), name
        assert sentence in listing.stdout
        r = run(name, "--help")  # each group and command, loaded as a user runs it
        assert r.returncode == 0, (name, r.stderr)
        assert f" {name} [OPTIONS]" in r.stdout, name


def test_an_unknown_command_is_refused_with_the_list() -> None:
    r = run("agnet", "check")
    assert r.returncode == 2
    assert "No such command 'agnet'" in r.stdout + r.stderr


def test_help_teaches_the_store_urls() -> None:
    r = run("store", "check", "--help")
    assert r.returncode == 0
    assert "sqlite:PATH" in r.stdout
    assert "PILOTPROOF_INFLUX_TOKEN" in r.stdout


@pytest.mark.parametrize("args", [(), ("--influxd",)])
def test_store_check_passes_on_both_stores(args: tuple[str, ...]) -> None:
    r = run("store", "check", *args)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "全部通过" in r.stdout
    assert "FAIL" not in r.stdout


def test_bad_store_url_is_a_clear_error() -> None:
    r = run("store", "check", "--store", "influx://somewhere")
    assert r.returncode == 2
    assert "unknown scheme 'influx'" in r.stdout
    assert "Traceback" not in r.stdout + r.stderr


def test_unreachable_influx_names_the_server() -> None:
    r = run("store", "check", "--store", "http://127.0.0.1:9/?db=x", "--give-up-after", "1")
    assert r.returncode == 2
    assert "InfluxDB at http://127.0.0.1:9" in r.stdout


def test_simulate_truth_json_and_backfill(tmp_path: Path) -> None:
    import json

    out = run("simulate", "truth", "identifier-node", "--json")
    assert out.returncode == 0, out.stderr
    values = json.loads(out.stdout)["values"]
    assert values["daily_avg_identifier_resolutions"]["value"] == "116000"
    db = tmp_path / "bf.db"
    out = run("simulate", "backfill", "identifier-node", "--store", f"sqlite:{db}", "--days", "2")
    assert out.returncode == 0, out.stderr
    assert "identifier" in out.stdout
    assert db.exists()


def test_simulate_reports_a_bad_scenario(tmp_path: Path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text("name: x\nsite: s\nevaluation: {from: 2026-10-01, to: 2026-10-02}\nelements: 3\n")
    out = run("simulate", "truth", str(f))
    assert out.returncode == 2
    assert f"{f}:4" in out.stdout + out.stderr


def test_kpi_list_and_profile_entries() -> None:
    r = run("kpi", "list")
    assert r.returncode == 0, r.stderr
    assert "ningbo-discrete-workshop" in r.stdout
    assert "miit2021-park-network" in r.stdout
    r = run("kpi", "list", "--profile", "miit2021-5g-factory")
    assert r.returncode == 0, r.stderr
    assert "fiveg_wireless_networking_rate" in r.stdout
    assert ">= 20 %" in r.stdout
    r = run("kpi", "list", "--profile", "no-such-profile")
    assert r.returncode == 2
    assert "unknown profile" in r.stdout


def test_kpi_evaluate_table_json_and_exit_codes(tmp_path: Path) -> None:
    db = f"sqlite:{tmp_path / 'kpi.db'}"
    for name in ("fiveg-factory-pass", "fiveg-factory-fail"):
        r = run("simulate", "backfill", name, "--store", db, "--days", "2")
        assert r.returncode == 0, r.stdout + r.stderr
    window = ("--from", "2026-10-29T00:00:00", "--to", "2026-10-31T00:00:00")
    ok = run("kpi", "evaluate", "--profile", "miit2021-5g-factory", "--store", db,
             "--scenario", "fiveg-factory-pass", *window)  # fmt: skip
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "生产要素无线联网率" in ok.stdout
    assert "≈26.83 % (11/41)" in ok.stdout
    assert "达标 pass" in ok.stdout
    assert "declared" in ok.stdout
    strict = run("kpi", "evaluate", "--profile", "miit2021-5g-factory", "--store", db,
                 "--scenario", "fiveg-factory-pass", "--strict", *window)  # fmt: skip
    assert strict.returncode == 1  # the declared entries are not declared yet
    bad = run("kpi", "evaluate", "--profile", "miit2021-5g-factory", "--store", db,
              "--scenario", "fiveg-factory-fail", "--json", *window)  # fmt: skip
    assert bad.returncode == 1, bad.stderr
    doc = json.loads(bad.stdout)
    r = next(x for x in doc["results"] if x["id"] == "fiveg_wireless_networking_rate")
    assert (r["verdict"], r["value"], r["numerator"], r["denominator"]) == ("fail", "7/41", 7, 41)
    assert r["clause"]["file"] == "001_f314a3984c038402.txt"
    assert r["queries"]
    assert r["queries"][0]["statement"].startswith("SELECT count(")
    missing = run("kpi", "evaluate", "--profile", "miit2021-5g-factory", "--store", db)
    assert missing.returncode == 2
    assert "--inventory FILE or --scenario NAME" in missing.stdout


def test_a_window_on_no_whole_hour_says_why_it_is_insufficient(tmp_path: Path) -> None:
    """Coverage counts clock hours: an agent that began at 11:00, evaluated from 10:58,
    leaves the 10 o'clock hour empty. The command says so, and which hour to start at."""
    import asyncio
    from datetime import datetime

    from kpi import Window
    from simulators import backfill, load_scenario
    from telemetry import SqliteStore

    data = Window(start=datetime.fromisoformat("2026-10-29T11:00:00+08:00"),
                  end=datetime.fromisoformat("2026-10-29T11:10:00+08:00"))  # fmt: skip

    async def write() -> None:
        store = SqliteStore(tmp_path / "s.db")
        await backfill(load_scenario("fiveg-factory-pass"), store, data.start_ns, data.end_ns)
        await store.close()

    asyncio.run(write())
    args = ("kpi", "evaluate", "--profile", "miit2021-5g-factory", "--scenario",
            "fiveg-factory-pass", "--store", f"sqlite:{tmp_path / 's.db'}")  # fmt: skip
    ragged = run(*args, "--from", "2026-10-29T10:58", "--to", "2026-10-29T11:10")
    assert ragged.returncode == 0, ragged.stderr
    assert "数据不足" in ragged.stdout
    said = " ".join(ragged.stdout.split())
    assert "coverage counts whole clock hours" in said, said
    assert "data in 1" in said, said
    assert "--from 2026-10-29T11:00:00+08:00" in said, said
    assert "数据覆盖按整点小时计" in said
    whole = run(*args, "--from", "2026-10-29T11:00", "--to", "2026-10-29T11:10")
    assert "whole clock hours" not in whole.stdout
    assert "数据不足" not in whole.stdout


def test_kpi_evaluate_reads_the_inventory_from_a_site_config(tmp_path: Path) -> None:
    """Every sample keeps the inventory in the site config: `--inventory site.toml` reads
    it there (a table, or a file the config names), and gives what the YAML file gives."""
    import yaml

    from simulators import load_scenario

    db = f"sqlite:{tmp_path / 'kpi.db'}"
    assert (
        run("simulate", "backfill", "fiveg-factory-pass", "--store", db, "--days", "1").returncode
        == 0
    )
    inventory = load_scenario("fiveg-factory-pass").inventory().model_dump(mode="json")
    (tmp_path / "inventory.yaml").write_text(yaml.safe_dump(inventory, allow_unicode=True))
    (tmp_path / "site.toml").write_text(
        'inventory = "inventory.yaml"\n[agent]\nid = "gw"\nkey = "k.pem"\n'
        '[store]\nurl = "sqlite:x.db"\n'
    )
    window = ("--from", "2026-10-30", "--to", "2026-10-31")
    results = []
    for source in ("inventory.yaml", "site.toml"):
        r = run("kpi", "evaluate", "--profile", "miit2021-5g-factory", "--store", db,
                "--inventory", str(tmp_path / source), "--json", *window)  # fmt: skip
        assert r.returncode in (0, 1), r.stdout + r.stderr
        results.append(
            [(x["id"], x["value"], x["verdict"]) for x in json.loads(r.stdout)["results"]]
        )
    assert results[0] == results[1]
    assert any(value for _, value, _ in results[0])


def test_help_shows_toml_tables_as_written() -> None:
    """Rich markup must not eat `[[sources.opcua]]` (it once printed `[]`)."""
    r = run("agent", "--help")
    assert r.returncode == 0
    assert "[[sources.opcua]]" in r.stdout
    assert "[user:pass@]" in run("store", "check", "--help").stdout


@settings(max_examples=1000)
@given(
    text=st.text(
        alphabet=st.characters(whitelist_categories=("L", "N", "P", "S", "Zs")), max_size=200
    )
)
def test_any_text_a_user_sees_prints_as_it_is(text: str) -> None:
    """Bundle findings, config values and errors go through `esc` before rich prints them."""
    from rich.console import Console

    from pilotproof.options import esc

    console = Console(record=True, width=100_000, color_system=None)
    console.print(esc(text), end="", highlight=False, soft_wrap=True)
    assert console.export_text().rstrip("\n") == text.rstrip("\n")


def _every_command() -> list[tuple[str, ...]]:
    from pilotproof.cli import COMMANDS, load_command

    out: list[tuple[str, ...]] = [()]
    for name in COMMANDS:
        out.append((name,))
        out += [(name, sub) for sub in getattr(load_command(name), "commands", {})]
    return out


@pytest.mark.parametrize("words", _every_command(), ids=lambda w: " ".join(w) or "pilotproof")
def test_every_help_is_clean(words: tuple[str, ...]) -> None:
    """`--help` of every command as a user types it: no `<bool>` beside a flag, no markup
    eaten (a `[metrics]` table name printed as `( listen)`)."""
    r = run(*words, "--help")
    assert r.returncode == 0, r.stderr
    assert "<bool>" not in r.stdout, r.stdout
    assert "( " not in r.stdout, r.stdout


def test_simulate_list_never_cuts_the_names_one_copies() -> None:
    from simulators import example_scenarios, load_scenario

    done = subprocess.run([sys.executable, "-m", "pilotproof.cli", "simulate", "list"],
                          capture_output=True, text=True, timeout=120,
                          env={"COLUMNS": "80", "PATH": "/usr/bin:/bin"})  # fmt: skip
    assert done.returncode == 0, done.stderr
    for name in example_scenarios():
        assert name in done.stdout, name
        profile = load_scenario(name).profile
        assert profile is None or profile in done.stdout, profile


def test_agent_check_holds_a_points_protocol_to_the_driver_that_reads_it(tmp_path: Path) -> None:
    """The inventory says which protocol delivers each point (the multi-protocol KPIs
    count them); `agent check` refuses a config whose source is another driver's, and a
    manual point that names a protocol, each with what to change."""
    (tmp_path / "k.pem").write_text("")

    def site(protocol: str, collection: str = "auto") -> Path:
        f = tmp_path / f"site-{protocol}-{collection}.toml"
        f.write_text(f"""[agent]
id = "gw"
key = "k.pem"
[store]
url = "sqlite:x.db"
[inventory]
site = "s"
elements = [{{id = "cnc-01", kind = "machine", link = "wired", points = [
  {{id = "rpm", period_s = 1, protocol = "{protocol}", collection = "{collection}"}}]}}]
[[sources.modbus]]
name = "cnc"
host = "127.0.0.1"
port = 5020
unit = 1
address_base = 0
  [[sources.modbus.registers]]
  element = "cnc-01"
  point = "rpm"
  address = 0
""")
        return f

    wrong = run("agent", "check", str(site("opcua")))
    assert wrong.returncode != 0
    said = " ".join((wrong.stdout + wrong.stderr).split())
    assert "sources.modbus[cnc] reads cnc-01.rpm" in said
    assert "set its protocol = 'modbus'" in said
    assert "Traceback" not in said
    manual = run("agent", "check", str(site("modbus", "manual")))
    assert manual.returncode != 0
    assert "a manual point has no protocol" in " ".join((manual.stdout + manual.stderr).split())
    unknown = run("agent", "check", str(site("modbus-tcp")))
    assert "unknown protocol 'modbus-tcp'" in unknown.stdout + unknown.stderr
