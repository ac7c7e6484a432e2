"""Modbus input, TCP or serial RTU: see README.md in this folder and sample.toml."""

from collectors.modbus.decode import BlockDecoder, decode, is_number, width
from collectors.modbus.driver import ModbusDriver, Read, modbus_drivers, plan_reads
from collectors.modbus.link import Link, links_for

__all__ = [
    "BlockDecoder",
    "Link",
    "ModbusDriver",
    "Read",
    "decode",
    "is_number",
    "links_for",
    "modbus_drivers",
    "plan_reads",
    "width",
]
