"""collectors — the edge agent: site config, drivers (MQTT, Modbus TCP/RTU, OPC UA), the
pipeline (durable buffer → sealed batches → forwarder) and its runtime. Depends on
`telemetry` only.

* `load_site_config(path)` / `SiteConfig` and its tables (`AgentSection` …): the site
  config (TOML or YAML). Each driver's own tables are in its package,
  `collectors.<driver>` (its `settings.py`).
* `Agent(config).run(stop)`: drivers → buffer → seal → store, until `stop` is set.
* `Driver` / `Sink`: the contract between a driver and the agent; `DriverPlugin` /
  `register` / `PLUGINS`: the driver registry (collectors/plugin.py). Every driver runs
  under the supervisor (collectors/supervisor.py).
* `Buffer`: the durable store-and-forward buffer; `Metrics`: self-metrics.

Every name loads its module on first use, so that `pilotproof agent check` loads the
config and the registry but not the agent's runtime.
"""

from typing import TYPE_CHECKING

from telemetry.lazy import lazy_exports

if TYPE_CHECKING:
    from collectors.agent import Agent, AgentStartError, build_drivers
    from collectors.buffer import Buffer, BufferFullError, BufferOpenError, SealedBatch
    from collectors.config import (
        AgentSection,
        BufferSection,
        MetricsSection,
        SiteConfig,
        SiteConfigError,
        Sources,
        StoreSection,
        load_site_config,
    )
    from collectors.continuity import ChainConflictError, check_continuity
    from collectors.driver import Driver, Sink
    from collectors.forwarder import Forwarder
    from collectors.metrics import Metrics, serve_metrics
    from collectors.pipeline import Pipeline
    from collectors.plugin import PLUGINS, DriverContext, DriverPlugin, register
    from collectors.roles import PointRole
    from collectors.samples import Samples
    from collectors.settings import Settings

# Every name loads its module on first use. Besides a fast start, this lets a driver
# plugin import `from collectors import DriverPlugin, register, Settings, Sink` at its top:
# importing `collectors` loads nothing, and the site-config model, which loads every
# installed plugin, is only built when a config name is first asked for.
__getattr__ = lazy_exports(
    __name__,
    agent="Agent AgentStartError build_drivers",
    buffer="Buffer BufferFullError BufferOpenError SealedBatch",
    config="AgentSection BufferSection MetricsSection SiteConfig SiteConfigError Sources "
    "StoreSection load_site_config",
    continuity="ChainConflictError check_continuity",
    driver="Driver Sink",
    forwarder="Forwarder",
    metrics="Metrics serve_metrics",
    pipeline="Pipeline",
    plugin="PLUGINS DriverContext DriverPlugin register",
    roles="PointRole",
    samples="Samples",
    settings="Settings",
)

__all__ = [
    "PLUGINS",
    "Agent",
    "AgentSection",
    "AgentStartError",
    "Buffer",
    "BufferFullError",
    "BufferOpenError",
    "BufferSection",
    "ChainConflictError",
    "Driver",
    "DriverContext",
    "DriverPlugin",
    "Forwarder",
    "Metrics",
    "MetricsSection",
    "Pipeline",
    "PointRole",
    "Samples",
    "SealedBatch",
    "Settings",
    "Sink",
    "SiteConfig",
    "SiteConfigError",
    "Sources",
    "StoreSection",
    "build_drivers",
    "check_continuity",
    "load_site_config",
    "register",
    "serve_metrics",
]
