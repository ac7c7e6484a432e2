"""The Modbus driver's descriptor (see `collectors.plugin`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from collectors.modbus.settings import ModbusDevice, ModbusRegister, check_shared_buses
from collectors.plugin import DriverContext, DriverPlugin, register, settings_only

if TYPE_CHECKING:
    from collectors.driver import Driver


def _build(devices: Sequence[ModbusDevice], context: DriverContext) -> list[Driver]:
    from collectors.modbus.driver import modbus_drivers

    return list(modbus_drivers(devices, context))


def _summary(d: ModbusDevice) -> str:
    line = f"{d.baudrate} {d.bytesize}{d.parity}{d.stopbits}"
    where = f"{d.host}:{d.port}" if d.host else f"RTU {d.serial_port} {line}"
    return f"{where} unit {d.unit}: {len(d.registers)} register(s) every {d.interval_s} s"


MODBUS = register(
    DriverPlugin(
        name="modbus",
        settings=ModbusDevice,
        build=_build,
        summary=_summary,
        nested=(("registers", ModbusRegister),),
        check_all=check_shared_buses,
        preflight=settings_only,  # a client is made, and can fail, only when it runs
        quiet=("pymodbus",),  # it logs every exception PDU and lost connection
    )
)
