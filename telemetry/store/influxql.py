"""InfluxQL text for the `Aggregate` and raw reads: quoting and statement building.

InfluxQL is the one query language InfluxDB 1.x, 2.x (v1 compatibility API) and 3.x all
accept, so every KPI query is InfluxQL. Identifiers are always double-quoted and string
literals single-quoted, with InfluxQL's escapes, so any name a `Point` accepts is safe.
"""

from __future__ import annotations

from decimal import Decimal

from telemetry.point import FieldValue
from telemetry.store.base import Aggregate, FixedBuckets, LocalDays


def quote_ident(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def quote_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def literal(value: FieldValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        # InfluxQL's scanner reads no exponent ("1e-05"), so write the plain decimal.
        return format(Decimal(repr(value)), "f")
    return quote_string(value)


def where_clause(
    start_ns: int,
    end_ns: int,
    where: dict[str, str | tuple[str, ...]] | None,
    field: str | None = None,
    field_equals: FieldValue | None = None,
) -> str:
    conds = [f"time >= {start_ns}", f"time < {end_ns}"]
    for key, accepted in sorted((where or {}).items()):
        values = (accepted,) if isinstance(accepted, str) else accepted
        ors = " OR ".join(f"{quote_ident(key)} = {quote_string(v)}" for v in values)
        conds.append(f"({ors})")
    if field is not None and field_equals is not None:
        # ::field stops InfluxQL from reading a same-named tag instead of the field.
        conds.append(f"{quote_ident(field)}::field = {literal(field_equals)}")
    return " AND ".join(conds)


def aggregate_statement(q: Aggregate) -> str:
    sel = f"SELECT {q.fn}({quote_ident(q.field)}) AS {quote_ident('value')}"
    frm = f" FROM {quote_ident(q.measurement)}"
    wh = " WHERE " + where_clause(q.start_ns, q.end_ns, q.where, q.field, q.field_equals)
    groups: list[str] = []
    tail = ""
    if isinstance(q.buckets, FixedBuckets):
        off = q.buckets.offset_ns % q.buckets.every_ns
        groups.append(
            f"time({q.buckets.every_ns}ns, {off}ns)" if off else f"time({q.buckets.every_ns}ns)"
        )
    elif isinstance(q.buckets, LocalDays):
        groups.append("time(1d)")
        tail = f" tz({quote_string(q.buckets.tz)})"
    groups.extend(quote_ident(g) for g in q.group_by)
    grp = (" GROUP BY " + ", ".join(groups)) if groups else ""
    fill = " fill(none)" if q.buckets is not None else ""
    return sel + frm + wh + grp + fill + tail


def select_statement(
    measurement: str,
    start_ns: int,
    end_ns: int,
    where: dict[str, str | tuple[str, ...]] | None,
    limit: int | None,
) -> str:
    lim = f" LIMIT {int(limit)}" if limit is not None else ""
    return (
        f"SELECT * FROM {quote_ident(measurement)} WHERE {where_clause(start_ns, end_ns, where)}"
        f" GROUP BY *{lim}"
    )
