"""collectors — the edge agent: site config, drivers (MQTT, Modbus TCP, OPC UA), the
pipeline (durable buffer → sealed batches → forwarder) and its runtime. Depends on
`telemetry` only.

* `load_site_config(path)` / `SiteConfig`: the site config (TOML or YAML).
* `Agent(config).run(stop)`: drivers → buffer → seal → store, until `stop` is set.
* `Pipeline`: what drivers hand Points or `Samples` (their own encoded lines) to.
* `Buffer`: the durable store-and-forward buffer; `Metrics`: self-metrics.
"""

from collectors.agent import Agent, build_drivers
from collectors.buffer import Buffer, BufferFullError, SealedBatch
from collectors.config import SiteConfig, SiteConfigError, load_site_config
from collectors.forwarder import Forwarder
from collectors.metrics import Metrics, serve_metrics
from collectors.pipeline import Pipeline
from collectors.samples import Samples

__all__ = [
    "Agent",
    "Buffer",
    "BufferFullError",
    "Forwarder",
    "Metrics",
    "Pipeline",
    "Samples",
    "SealedBatch",
    "SiteConfig",
    "SiteConfigError",
    "build_drivers",
    "load_site_config",
    "serve_metrics",
]
