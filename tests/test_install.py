"""The gateway install path as docs/deploy.md gives it: `deploy/systemd/install.sh` into a
temporary root (a dry install: no user, no systemctl), the unit checked by
`systemd-analyze verify`, the installed command run, and the template site config loaded
with every path the service writes under /var/lib/pilotproof."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from collectors import load_site_config
from collectors.opcua import OPCUA
from pilotproof import __version__

ROOT = Path(__file__).resolve().parents[1]
INSTALL = ROOT / "deploy" / "systemd" / "install.sh"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("root")
    done = subprocess.run(["bash", str(INSTALL)], capture_output=True, text=True, timeout=900,
                          env={**os.environ, "DESTDIR": str(dest)})  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"installed pilotproof {__version__}" in done.stderr
    return dest


def test_the_command_is_where_the_unit_runs_it(installed: Path) -> None:
    link = installed / "usr" / "local" / "bin" / "pilotproof"
    assert link.is_symlink()
    assert os.readlink(link) == "/opt/pilotproof/bin/pilotproof"
    command = installed / "opt" / "pilotproof" / "bin" / "pilotproof"
    done = subprocess.run([str(command), "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"pilotproof {__version__}"


def test_the_config_folder_holds_the_templates_and_the_state_folder_exists(
    installed: Path,
) -> None:
    etc = installed / "etc" / "pilotproof"
    assert (etc / "site.toml").read_bytes() == (INSTALL.parent / "site.toml").read_bytes()
    assert (etc / "pilotproof-agent.env").is_file()
    assert (installed / "var" / "lib" / "pilotproof").is_dir()
    unit = installed / "etc" / "systemd" / "system" / "pilotproof-agent.service"
    assert unit.read_bytes() == (INSTALL.parent / "pilotproof-agent.service").read_bytes()


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_accepts_the_unit(installed: Path, tmp_path: Path) -> None:
    """`systemd-analyze verify` with the unit's paths mapped into the install root: every
    key known, every command present and executable."""
    unit = (installed / "etc" / "systemd" / "system" / "pilotproof-agent.service").read_text()
    # the unit's command is the link; verified through the file it points to in this root
    command = installed / "opt" / "pilotproof" / "bin" / "pilotproof"
    mapped = tmp_path / "pilotproof-agent.service"
    mapped.write_text(
        unit.replace("/usr/local/bin/pilotproof", str(command)).replace(
            "/etc/pilotproof/", f"{installed}/etc/pilotproof/"
        )
    )
    done = subprocess.run(["systemd-analyze", "verify", str(mapped)], capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert not (done.stdout + done.stderr).strip(), done.stdout + done.stderr


def test_the_template_site_config_writes_only_under_var_lib(installed: Path) -> None:
    """With ProtectSystem=strict the service may write only /var/lib/pilotproof: every
    path the template makes the agent write is absolute and there."""
    config = load_site_config(installed / "etc" / "pilotproof" / "site.toml")
    state = Path("/var/lib/pilotproof")
    assert config.agent.key.is_relative_to(state)
    assert config.buffer.path.is_relative_to(state)
    for opcua in config.sources.of(OPCUA):
        assert opcua.cert_dir.is_relative_to(state)
