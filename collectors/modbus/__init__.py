"""Modbus TCP input: see README.md in this folder and sample.toml."""

from collectors.modbus.decode import decode, width
from collectors.modbus.driver import ModbusDriver, Read, plan_reads

__all__ = ["ModbusDriver", "Read", "decode", "plan_reads", "width"]
