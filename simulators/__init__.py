"""simulators — whole factories over OPC UA, Modbus TCP and MQTT with known true KPIs, and
fast backfill of history into a store. Depends on `telemetry` only.

* `load_scenario` / `Scenario`: the YAML model (docs/scenarios.md); `example_scenarios()`.
* `compute_truth`: every covered KPI's true value, from the scenario alone.
* `FactoryModel`: what the factory does at any instant (shared by servers and backfill).
* `OpcUaSimServer`, `ModbusSimServer` (+ `register_map`), `MqttSimPublisher`, and
  `SimulatedFactory` that runs them all on a `SimClock`.
* `backfill`: N days of history straight into a `Store`.
"""

from typing import TYPE_CHECKING

from simulators.backfill import Backfill, BackfillReport, backfill
from simulators.behaviour import FactoryModel
from simulators.registers import decode as decode_registers, encode as encode_registers
from simulators.scenario import (
    EXAMPLES_DIR,
    Period,
    Scenario,
    ScenarioError,
    example_scenarios,
    load_scenario,
    parse_scenario,
)
from simulators.truth import LABELS, Truth, TruthParams, TruthValue, compute_truth
from telemetry.lazy import lazy_exports
from telemetry.pki import make_certificate

if TYPE_CHECKING:
    from simulators.factory import SimClock, SimulatedFactory
    from simulators.modbus_server import LINK_CODES, ModbusSimServer, RegisterMap, register_map
    from simulators.mqtt_publisher import MqttSimPublisher
    from simulators.opcua_server import OpcUaSimServer, namespace_uri

# the servers load their protocol libraries (asyncua, pymodbus, paho): only when used
__getattr__ = lazy_exports(
    __name__,
    factory="SimClock SimulatedFactory",
    modbus_server="LINK_CODES ModbusSimServer RegisterMap register_map",
    mqtt_publisher="MqttSimPublisher",
    opcua_server="OpcUaSimServer namespace_uri",
)

__all__ = [
    "EXAMPLES_DIR",
    "LABELS",
    "LINK_CODES",
    "Backfill",
    "BackfillReport",
    "FactoryModel",
    "ModbusSimServer",
    "MqttSimPublisher",
    "OpcUaSimServer",
    "Period",
    "RegisterMap",
    "Scenario",
    "ScenarioError",
    "SimClock",
    "SimulatedFactory",
    "Truth",
    "TruthParams",
    "TruthValue",
    "backfill",
    "compute_truth",
    "decode_registers",
    "encode_registers",
    "example_scenarios",
    "load_scenario",
    "make_certificate",
    "namespace_uri",
    "parse_scenario",
    "register_map",
]
