"""Modbus input, TCP or serial RTU: see README.md in this folder and sample.toml.

Importing this package loads the settings only; the driver, the decoder and the links
load pymodbus when first used (`pilotproof agent check` never does).
"""

from typing import TYPE_CHECKING

from collectors.modbus.plugin import MODBUS
from collectors.modbus.settings import ModbusDevice, ModbusRegister
from telemetry.lazy import lazy_exports

if TYPE_CHECKING:
    from collectors.modbus.codec import BlockDecoder, decode, is_number, width
    from collectors.modbus.driver import ModbusDriver, Read, modbus_drivers, plan_reads
    from collectors.modbus.link import Link, links_for

__getattr__ = lazy_exports(
    __name__,
    codec="BlockDecoder decode is_number width",
    driver="ModbusDriver Read modbus_drivers plan_reads",
    link="Link links_for",
)


__all__ = [
    "MODBUS",
    "BlockDecoder",
    "Link",
    "ModbusDevice",
    "ModbusDriver",
    "ModbusRegister",
    "Read",
    "decode",
    "is_number",
    "links_for",
    "modbus_drivers",
    "plan_reads",
    "width",
]
