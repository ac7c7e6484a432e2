"""Modbus input, TCP or serial RTU: see README.md in this folder and sample.toml."""

from collectors.modbus.decode import decode, number_decoder, width
from collectors.modbus.driver import ModbusDriver, Read, modbus_drivers, plan_reads
from collectors.modbus.link import Link, links_for

__all__ = [
    "Link",
    "ModbusDriver",
    "Read",
    "decode",
    "links_for",
    "modbus_drivers",
    "number_decoder",
    "plan_reads",
    "width",
]
