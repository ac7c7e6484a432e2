"""The aggregates a KPI runs, recorded as InfluxQL, cached, and counted.

Every read of the KPI engine goes through `QueryLog.aggregate`: the aggregation runs in
the store (InfluxQL on InfluxDB, SQL on SQLite, the same semantics), the statement is kept
for the auditor, and the rows brought into Python are counted (bench/kpi_scale.py shows
their ratio to the rows stored). Two KPIs needing the same aggregate share one run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kpi.results import QueryRecord
from telemetry import Aggregate, Store, aggregate_statement

if TYPE_CHECKING:
    import pandas as pd


class QueryLog:
    def __init__(self, store: Store, site: str) -> None:
        self.store = store
        self.site = site
        self.rows_read = 0
        self._cache: dict[str, pd.DataFrame] = {}
        self._used: list[QueryRecord] = []

    async def aggregate(self, query: Aggregate) -> pd.DataFrame:
        """Run `query` restricted to this site (cached by its statement)."""
        if "site" not in query.where:
            query = query.model_copy(update={"where": {**query.where, "site": self.site}})
        statement = aggregate_statement(query)
        df = self._cache.get(statement)
        if df is None:
            df = await self.store.aggregate(query)
            self._cache[statement] = df
            self.rows_read += len(df)
        self._used.append(QueryRecord(statement=statement, rows=len(df)))
        return df

    def take(self) -> list[QueryRecord]:
        """The queries used since the last call (by one KPI), without repeats."""
        seen: dict[str, QueryRecord] = {}
        for q in self._used:
            seen.setdefault(q.statement, q)
        self._used = []
        return list(seen.values())
