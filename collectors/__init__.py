"""collectors — the edge agent: site config, drivers (MQTT, Modbus TCP, OPC UA), the
pipeline (durable buffer → sealed batches → forwarder) and its runtime. Depends on
`telemetry` only.

* `load_site_config(path)` / `SiteConfig`: the site config (TOML or YAML).
* `Agent(config).run(stop)`: drivers → buffer → seal → store, until `stop` is set.
* `Driver` / `Sink`: the contract between a driver and the agent (collectors/driver.py);
  every driver runs under the supervisor (collectors/supervisor.py).
* `Pipeline`: what drivers hand Points or `Samples` (their own encoded lines) to.
* `Buffer`: the durable store-and-forward buffer; `Metrics`: self-metrics.
"""

from collectors.agent import Agent, AgentStartError, build_drivers
from collectors.buffer import Buffer, BufferFullError, BufferOpenError, SealedBatch
from collectors.config import SiteConfig, SiteConfigError, load_site_config
from collectors.continuity import ChainConflictError, check_continuity
from collectors.driver import Driver, Sink
from collectors.forwarder import Forwarder
from collectors.metrics import Metrics, serve_metrics
from collectors.pipeline import Pipeline
from collectors.samples import Samples

__all__ = [
    "Agent",
    "AgentStartError",
    "Buffer",
    "BufferFullError",
    "BufferOpenError",
    "ChainConflictError",
    "Driver",
    "Forwarder",
    "Metrics",
    "Pipeline",
    "Samples",
    "SealedBatch",
    "Sink",
    "SiteConfig",
    "SiteConfigError",
    "build_drivers",
    "check_continuity",
    "load_site_config",
    "serve_metrics",
]
