"""Modbus TCP input: see README.md in this folder and sample.toml."""

from collectors.modbus.decode import decode, number_decoder, width
from collectors.modbus.driver import ModbusDriver, Read, plan_reads

__all__ = ["ModbusDriver", "Read", "decode", "number_decoder", "plan_reads", "width"]
