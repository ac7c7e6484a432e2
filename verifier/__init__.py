"""verifier — keys, signed evidence bundles, offline verification, reports and the web
service. Depends on `telemetry` and `kpi`.

Not built yet (issue "Evidence"); its public API will be exported here.
"""

__all__: list[str] = []
