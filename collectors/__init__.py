"""collectors — the edge agent: site config, OPC UA / Modbus / MQTT drivers, the sealing
and store-and-forward pipeline, self-metrics. Depends on `telemetry` only.

Not built yet (issue "Edge agent"); its public API will be exported here.
"""

__all__: list[str] = []
