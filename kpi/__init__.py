"""kpi — the catalog of indicators from the source documents, profiles, and evaluation
against a store. Depends on `telemetry` only.

Not built yet (issue "KPI engine"); its public API will be exported here.
"""

__all__: list[str] = []
