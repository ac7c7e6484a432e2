"""OPC UA input: see README.md in this folder and sample.toml."""

from collectors.opcua.driver import OpcUaDriver, quality, resolve

__all__ = ["OpcUaDriver", "quality", "resolve"]
