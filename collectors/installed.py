"""The drivers this agent has: one line per driver (see `collectors.plugin`), then any
driver another distribution installs under the entry-point group `pilotproof.drivers`
(its value: the module that calls `register`)."""

from importlib.metadata import entry_points

import collectors.modbus.plugin
import collectors.mqtt.plugin
import collectors.opcua.plugin  # noqa: F401
from telemetry.errors import PilotproofError

ENTRY_POINTS = "pilotproof.drivers"


class DriverLoadError(PilotproofError, ImportError):
    """An installed driver plugin failed to load: the message names it and its package."""

    code = "E_DRIVER_LOAD"


for _ep in entry_points(group=ENTRY_POINTS):
    try:
        _ep.load()
    except Exception as e:
        dist = f" (from {_ep.dist.name} {_ep.dist.version})" if _ep.dist else ""
        raise DriverLoadError(
            f"the driver plugin {_ep.name!r}{dist}, {_ep.value}, failed to load: "
            f"{type(e).__name__}: {e}; fix or uninstall it"
        ) from e
