"""The public API as a newcomer meets it: one error root with stable codes, typed packages,
imports that change nothing outside pilotproof and load only what they need, and drivers
known only through their registry."""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import collectors
from collectors import PLUGINS, SiteConfig, Sources
from collectors.reference import render_site_config_docs, sections
from telemetry import PilotproofError

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("telemetry", "collectors", "simulators", "kpi", "verifier", "pilotproof")


def _modules() -> list[str]:
    names = []
    for package in PACKAGES:
        names.append(package)
        path = [str(ROOT / package)]
        names += [m.name for m in pkgutil.walk_packages(path, f"{package}.")]
    return names


def _own_exceptions() -> list[type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for name in _modules():
        module = importlib.import_module(name)
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if (
                issubclass(obj, BaseException)
                and obj.__module__.split(".")[0] in PACKAGES
                and obj.__module__ == module.__name__
            ):
                found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return list(found.values())


def test_every_error_of_ours_derives_from_one_root_with_a_stable_code() -> None:
    errors = _own_exceptions()
    assert len(errors) >= 20, [e.__name__ for e in errors]
    outside = [
        f"{e.__module__}.{e.__name__}"
        for e in errors
        if not issubclass(e, PilotproofError) and not e.__name__.startswith("_")
    ]
    assert not outside, f"not under PilotproofError: {outside}"
    codes = {e: e.code for e in errors if issubclass(e, PilotproofError)}
    assert all(c.startswith("E_") and c.isupper() for c in codes.values()), codes
    # a subclass that keeps its parent's code would be indistinguishable to a script
    for e, code in codes.items():
        for parent in e.__mro__[1:]:
            if parent is not PilotproofError and issubclass(parent, PilotproofError):
                assert code != parent.code or "code" not in e.__dict__, (e, parent)


def test_an_instance_can_carry_its_own_code() -> None:
    from verifier import ArchiveError

    e = ArchiveError("E_ARCHIVE_RATIO", "too much inflation")
    assert isinstance(e, PilotproofError)
    assert isinstance(e, ValueError)
    assert e.code == "E_ARCHIVE_RATIO"
    assert str(e) == "too much inflation"


@pytest.mark.parametrize("package", PACKAGES)
def test_each_package_is_typed_and_curates_its_api(package: str) -> None:
    assert (ROOT / package / "py.typed").is_file()
    module = importlib.import_module(package)
    exported = getattr(module, "__all__", None)
    assert exported, f"{package} has no __all__"
    for name in exported:
        assert getattr(module, name) is not None  # every lazy name resolves
    assert not [n for n in exported if n.startswith("_") and n != "__version__"]


def test_the_hot_path_line_helpers_are_not_top_level_api() -> None:
    import telemetry

    hot = {"telemetry_head", "telemetry_stamp", "telemetry_line", "telemetry_prefix"}
    assert not hot & set(telemetry.__all__)


def _run(code: str) -> dict[str, object]:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True)  # fmt: skip
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_importing_every_module_changes_no_other_librarys_logger() -> None:
    """A library that sets another's log level at import decides for every program that
    imports it; the agent silences protocol libraries when it runs their drivers."""
    modules = [m for m in _modules() if not m.endswith("__main__")]
    result = _run(
        "import importlib, json, logging\n"
        f"for m in {modules!r}:\n"
        "    importlib.import_module(m)\n"
        "levels = {n: l.level for n, l in logging.root.manager.loggerDict.items()\n"
        "          if isinstance(l, logging.Logger) and l.level != logging.NOTSET\n"
        "          and not n.startswith('pilotproof')}\n"
        "print(json.dumps(levels))"
    )
    assert result == {}


@pytest.mark.parametrize(
    ("code", "absent"),
    [
        ("import pilotproof.cli", ["pydantic", "collectors", "kpi", "fastapi", "pandas"]),
        ("import pilotproof.agent_cli; import collectors",
         ["paho", "pymodbus", "asyncua", "pandas", "httpx", "fastapi", "kpi", "simulators"]),
        ("import pilotproof.kpi_cli", ["pandas", "httpx", "fastapi", "simulators", "asyncua"]),
        ("import pilotproof.serve_cli", ["fastapi", "uvicorn", "kpi", "pandas", "simulators"]),
        ("import pilotproof.keys_cli", ["kpi", "pandas", "httpx", "fastapi", "asyncua"]),
        ("import pilotproof.simulate_cli", ["asyncua", "pymodbus", "paho", "fastapi", "pandas"]),
        ("import pilotproof.store_cli", ["pandas", "httpx", "kpi", "fastapi"]),
    ],
)  # fmt: skip
def test_commands_import_only_what_they_run(code: str, absent: list[str]) -> None:
    result = _run(f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))")
    loaded = {str(m).split(".")[0] for m in result}  # type: ignore[attr-defined]
    assert not loaded & set(absent), sorted(loaded & set(absent))


def test_every_registered_driver_is_one_folder_with_its_parts() -> None:
    assert set(PLUGINS) == {"mqtt", "modbus", "opcua"}
    for name, plugin in PLUGINS.items():
        folder = ROOT / "collectors" / name
        for part in ("settings.py", "plugin.py", "README.md", "sample.toml", "__init__.py"):
            assert (folder / part).is_file(), f"collectors/{name}/{part}"
        assert plugin.settings.__module__ == f"collectors.{name}.settings"
        # the loader, the reference and `agent check` know it only through the registry
        assert name in Sources.model_fields
        assert plugin.table in render_site_config_docs()
        assert any(title == plugin.table for title, _ in sections())
    installed = (ROOT / "collectors" / "installed.py").read_text(encoding="utf-8")
    lines = [ln.split("#")[0].strip() for ln in installed.splitlines() if ln.startswith("import ")]
    assert lines == [f"import collectors.{n}.plugin" for n in sorted(PLUGINS)]
    # no module outside the driver folders names a driver's settings
    for path in (ROOT / "collectors").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        for model in ("MqttSource", "ModbusDevice", "OpcUaSource"):
            assert model not in text, f"{path.name} names {model}"


def test_a_site_config_gets_one_sources_field_per_driver() -> None:
    assert SiteConfig.model_fields["sources"].annotation is Sources
    assert collectors.Sources is Sources


@pytest.mark.parametrize("driver", ["mqtt", "modbus", "opcua"])
def test_agent_check_loads_no_protocol_library(driver: str, tmp_path: Path) -> None:
    """`agent check` validates everything `run` checks before connecting, from the settings
    and the files they name: it never needs paho, pymodbus or asyncua."""
    from telemetry.seal import generate_key

    sample = tmp_path / "sample.toml"
    shutil.copy(ROOT / "collectors" / driver / "sample.toml", sample)
    generate_key(tmp_path / "keys" / "agent.pem")  # as `agent keygen` makes it
    result = _run(
        "import json, sys\n"
        "from pilotproof.cli import main\n"
        f"sys.argv = ['pilotproof', 'agent', 'check', {str(sample)!r}]\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as e:\n"
        "    assert not e.code, e.code\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    loaded = {str(m).split(".")[0] for m in result}  # type: ignore[attr-defined]
    assert not loaded & {"paho", "pymodbus", "asyncua", "pandas", "httpx"}
