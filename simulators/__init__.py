"""simulators — whole factories over OPC UA, Modbus TCP and MQTT with known true KPIs, and
fast backfill of history into a store. Depends on `telemetry` only.

Not built yet (issue "Simulators"); its public API will be exported here.
"""

__all__: list[str] = []
