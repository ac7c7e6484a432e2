"""The agent's other commands as a user types them: `agent check` refuses what `run` could
not do and warns about what would go wrong later; `agent discover` connects exactly as a
source would (security, certificate, user) and prints a block `check` accepts."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.field.conftest import Field
from tests.field.harness import PILOTPROOF, check
from tests.field.test_opcua_field import INVENTORY as UA_INVENTORY
from tests.field.thirdparty import NodeOpcUaServer

MODBUS_INVENTORY = """elements = [
  {id = "m1", kind = "machine", link = "wired", points = [{id = "x", period_s = 1}]},
]"""


def opcua_node(node: str) -> str:
    return f"""[[sources.opcua]]
name = "press"
url = "opc.tcp://127.0.0.1:4840"
  [[sources.opcua.nodes]]
  element = "press-01"
  point = "setpoint"
  node = "{node}"
"""


def modbus_register(address: int, kind: str, base: int) -> str:
    return f"""[[sources.modbus]]
name = "plc"
host = "127.0.0.1"
address_base = {base}
  [[sources.modbus.registers]]
  element = "m1"
  point = "x"
  address = {address}
  type = "{kind}"
"""


@pytest.mark.parametrize(
    ("node", "warning"),
    [
        ("nsu=urn:press-vendor:line;s=Press01.Setpoint", None),
        ("ns=2;s=Press01.Setpoint", "names its namespace by index (ns=2)"),
        ("s=Press01.Setpoint", "is in namespace 0"),
        ("nsu=urn:x;i=6001", None),
        ("ns=3;g=09087e75-8e5e-499b-954f-f2a9603db28a", "by index"),
    ],
)
def test_check_warns_about_node_ids_that_will_break(
    field: Field, node: str, warning: str | None
) -> None:
    """Regression: `ns=1;s=…` and `s=…` passed `agent check` and were never collected."""
    done = check(field.site(opcua_node(node), UA_INVENTORY))
    assert done.returncode == 0, done.stdout
    if warning is None:
        assert "namespace" not in done.stdout, done.stdout
    else:
        assert warning in done.stdout.replace("\n", " "), done.stdout


@pytest.mark.parametrize(
    ("sources", "inventory", "error"),
    [
        (opcua_node("nsu=urn:press-vendor:line;Press01.Temperature"), UA_INVENTORY,
         "is not an OPC UA node id"),
        (opcua_node("ns=70000;i=1"), UA_INVENTORY, "at most 65535"),
        (opcua_node("i=99999999999"), UA_INVENTORY, "not an OPC UA node id"),
        (modbus_register(65534, "float64", 0), MODBUS_INVENTORY, "past the last Modbus address"),
        (modbus_register(0, "uint16", 1), MODBUS_INVENTORY, "is below address_base = 1"),
    ],
)  # fmt: skip
def test_check_refuses_what_run_could_not_do(
    field: Field, sources: str, inventory: str, error: str
) -> None:
    site = field.site(sources, inventory)
    for command in (["check"], ["run"]):
        done = subprocess.run(
            [str(PILOTPROOF), "agent", *command, str(site)],
            capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "200"},
        )  # fmt: skip
        out = done.stdout + done.stderr
        assert done.returncode == 2, out
        assert error in out.replace("\n", " "), out
        assert str(site) in out, out  # names the file
        assert "Traceback" not in out, out


@pytest.mark.parametrize("command", ["check", "run"])
def test_without_its_key_check_and_run_refuse_and_say_how_to_make_one(
    field: Field, command: str
) -> None:
    """systemd's ExecStartPre runs `agent check`: it must stop a start that `run` would
    refuse."""
    site = field.site(modbus_register(0, "uint16", 0), MODBUS_INVENTORY)
    (field.tmp / "keys" / "agent.pem").unlink()
    done = subprocess.run([str(PILOTPROOF), "agent", command, str(site)], capture_output=True,
                          text=True, timeout=60, env={**os.environ, "COLUMNS": "200"})  # fmt: skip
    out = done.stdout + done.stderr
    assert done.returncode == 2, out
    assert "pilotproof agent keygen" in out, out
    assert "Traceback" not in out, out


def test_discover_connects_as_a_source_would_and_prints_a_block_check_accepts(
    field: Field,
) -> None:
    config = {"namespaceUri": "urn:press-vendor:line", "securityModes": ["SignAndEncrypt"],
              "allowAnonymous": False, "users": {"pilotproof": "secret"},
              "autoAcceptCertificates": True,
              "variables": [{"nodeId": "s=Press01.Setpoint", "value": 3},
                            {"nodeId": "s=Press01.Temp", "behaviour": "sine"}]}  # fmt: skip
    with NodeOpcUaServer(field.tmp / "ua", config) as ua:
        base = [str(PILOTPROOF), "agent", "discover", "opcua", ua.url]
        anonymous = subprocess.run(base, capture_output=True, text=True, timeout=120,
                                   cwd=field.tmp)  # fmt: skip
        assert anonymous.returncode == 1, anonymous.stdout + anonymous.stderr
        (field.tmp / "trusted").mkdir()
        untrusted = subprocess.run(
            [*base, "--security", "SignAndEncrypt", "--username", "pilotproof", "--password",
             "secret", "--cert-dir", "pki", "--trust-dir", str(field.tmp / "trusted")],
            capture_output=True, text=True, timeout=120, cwd=field.tmp,
        )  # fmt: skip
        said = untrusted.stdout + untrusted.stderr
        assert untrusted.returncode == 1, said
        assert "certificate" in said, said  # one line saying which certificate to trust …
        assert "Traceback" not in said  # … not the library's tracebacks about it
        assert len(untrusted.stderr.strip().splitlines()) <= 3, said
        found = subprocess.run(
            [*base, "--security", "SignAndEncrypt", "--username", "pilotproof", "--password",
             "secret", "--cert-dir", "pki"],
            capture_output=True, text=True, timeout=120, cwd=field.tmp,
        )  # fmt: skip
    assert found.returncode == 0, found.stdout + found.stderr
    block = found.stdout
    assert 'node = "nsu=urn:press-vendor:line;s=Press01.Setpoint"' in block, block
    # node-opcua's own nodes (namespace 0: the Server object, i=…) are not a device's
    nodes = [line for line in block.splitlines() if line.strip().startswith("node = ")]
    assert nodes, block
    assert all('node = "nsu=' in line for line in nodes), nodes
    assert 'security = "SignAndEncrypt"' in block
    # the block, with the password filled in and the names matched to an inventory, is a
    # source `agent check` accepts
    block = block.replace('password = "…"', 'password = "secret"')
    block = block.replace('element = "Press01"', 'element = "press-01"')
    block = block.replace('point = "Setpoint"', 'point = "setpoint"').replace(
        'point = "Temp"', 'point = "temp"'
    )
    done = check(field.site(block, UA_INVENTORY))
    assert done.returncode == 0, done.stdout + block
