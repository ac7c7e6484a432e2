"""OPC UA input: see README.md in this folder and sample.toml."""

from collectors.opcua.discover import Found, discover, toml_snippet
from collectors.opcua.driver import OpcUaDriver, quality, resolve

__all__ = ["Found", "OpcUaDriver", "discover", "quality", "resolve", "toml_snippet"]
