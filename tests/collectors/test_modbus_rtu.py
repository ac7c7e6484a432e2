"""Modbus RTU over a real serial line: the simulator and the agent on two pseudo-terminals
joined by `simulators.serial_link.NullModem`, each opened through pyserial and termios."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from collectors import Agent, SiteConfigError, Sources, load_site_config
from collectors.modbus import ModbusDevice, ModbusDriver, ModbusRegister
from simulators import FactoryModel, ModbusSimServer, Scenario
from simulators.serial_link import NullModem
from telemetry import SqliteStore
from tests.collectors.conftest import read_by_anyone, running, site_config, wait_for
from tests.collectors.test_modbus_agent import NORMAL, expected, mb_registers

ROOT = Path(__file__).resolve().parents[2]
# a pseudo-terminal refuses parity bits (tcsetattr EINVAL), so the line is 8N1 here
LINE = {"baudrate": 115200, "parity": "N"}


@pytest.fixture
def cable() -> Iterator[NullModem]:
    with NullModem() as c:
        yield c


def on_serial(server: ModbusSimServer, port: str, **kw: object) -> ModbusDevice:
    """The simulated device's registers, read over a serial port."""
    raw = {"name": "mb", "serial_port": port, "unit": server.units["mb-types"],
           "address_base": 0, "registers": mb_registers(server), **LINE, **kw}  # fmt: skip
    return ModbusDevice.model_validate(raw)


async def test_rtu_devices_share_a_bus_and_a_silent_one_stops_only_itself(
    tmp_path: Path, cable: NullModem, types_scenario: Scenario
) -> None:
    server = ModbusSimServer(types_scenario, serial_port=cable.ports[0], **LINE)  # type: ignore[arg-type]
    await server.start()
    await server.update(NORMAL)
    good = on_serial(server, cable.ports[1], interval_s=0.2, timeout_s=0.3, retries=0)
    # a unit nobody answers for: on a real bus, silence until the timeout
    silent = on_serial(server, cable.ports[1], name="silent", unit=200, interval_s=0.2,
                       timeout_s=0.3, retries=0, status_elements=["mq-01"],
                       registers=[{"element": "mq-01", "point": "temp", "address": 0}])  # fmt: skip
    store = SqliteStore(tmp_path / "store.db")
    inventory = read_by_anyone(types_scenario.inventory())  # a unit stands in for another's
    config = site_config(tmp_path, inventory, Sources(modbus=(good, silent)),
                         status_interval_s=1)  # fmt: skip
    agent = Agent(config, store=store)
    driver, quiet = agent.drivers
    assert isinstance(driver, ModbusDriver)
    assert isinstance(quiet, ModbusDriver)
    assert driver.link is quiet.link  # one port, one bus
    try:
        async with running(agent):
            await wait_for(lambda: driver.polls >= 5, what="5 polls over RTU")
            await asyncio.sleep(1.2)  # one status instant at least
            assert agent.metrics.connected["modbus:mb"] == 1
            assert agent.metrics.connected["modbus:silent"] == 0
            assert quiet.polls == 0
    finally:
        await server.stop()
    model = FactoryModel(types_scenario)
    registers = {r.point: r for r in good.registers}
    rows = await store.read("telemetry", 0, 2**62, where={"element": "mb-types"})
    assert len(rows) == driver.polls * len(registers)
    for p in rows:
        reg = registers[p.tags["point"]]
        if reg.point != "faulty":  # every type and byte order, decoded from RTU frames
            field = "text" if reg.type == "string" else "value"
            assert p.fields == {field: expected(model, reg, NORMAL), "quality": 0}, p
    assert not await store.read("telemetry", 0, 2**62, where={"element": "mq-01"})
    status = await store.read("element_status", 0, 2**62)
    online = {(p.tags["element"], p.fields["online"]) for p in status}
    assert {("mb-types", True), ("mq-01", False)} <= online, sorted(online)
    assert ("mq-01", True) not in online
    await store.close()


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"serial_port": "/dev/ttyUSB0"}, "set host .* or serial_port .*, exactly one of them"),
        ({"baudrate": 19200}, "baudrate only apply to serial_port"),
        ({"host": None, "serial_port": "/dev/ttyUSB0", "port": 5020}, "port = 5020 is a TCP port"),
        ({"host": None, "serial_port": "/dev/ttyUSB0", "unit": 0}, "0 is broadcast"),
    ],
)
def test_transport_settings_that_cannot_apply_are_refused(
    change: dict[str, object], reason: str
) -> None:
    raw = {"name": "m", "host": "10.0.0.5", "address_base": 0,
           "registers": [{"element": "e", "point": "p", "address": 0}]}  # fmt: skip
    raw.update(change)
    raw = {k: v for k, v in raw.items() if v is not None}
    with pytest.raises(ValueError, match=reason):
        ModbusDevice.model_validate(raw)


@pytest.mark.parametrize(
    ("second", "reason"),
    [
        ({"unit": 2, "baudrate": 19200}, "share serial_port /dev/ttyUSB0 but not its settings"),
        ({"unit": 1}, "both unit 1 on serial_port /dev/ttyUSB0"),
    ],
)
def test_devices_on_one_port_must_agree(second: dict[str, object], reason: str) -> None:
    reg = ModbusRegister(element="e", point="p", address=0)
    a = ModbusDevice(name="a", serial_port="/dev/ttyUSB0", unit=1, address_base=0, registers=(reg,))
    b = ModbusDevice.model_validate({**a.model_dump(), "name": "b", **second})
    with pytest.raises(ValueError, match=reason):
        Sources(modbus=(a, b))


def test_the_sample_config_declares_an_rtu_bus(tmp_path: Path) -> None:
    config = load_site_config(ROOT / "collectors" / "modbus" / "sample.toml")
    rtu = [d for d in config.sources.modbus if d.serial_port]
    assert len(rtu) >= 2
    assert len({d.serial_port for d in rtu}) == 1
    bad = tmp_path / "site.toml"
    text = (ROOT / "collectors" / "modbus" / "sample.toml").read_text(encoding="utf-8")
    bad.write_text(text.replace('parity = "E"', 'parity = "X"', 1), encoding="utf-8")
    with pytest.raises(SiteConfigError, match="parity"):
        load_site_config(bad)
