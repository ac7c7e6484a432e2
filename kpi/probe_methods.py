"""The method of the interconnection and availability clauses: probes of a service (an
identifier node's registration or resolution, the national top-level node, a public
service platform) that a prober on the plant network sends to the agent as
`service_probe`. Semantics: docs/kpis.md."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from kpi.methods import Context, every, method
from kpi.results import Measured
from telemetry import Aggregate


@method
async def probe_availability(ctx: Context, params: dict[str, Any]) -> Measured:
    """Whether every service of `services` was probed in the window and answered at least
    `min_availability` (default 99 %) of its probes; the counts are all probes answered ÷
    all probes sent."""
    services = [str(x) for x in params["services"]]
    need = Fraction(str(params.get("min_availability", "0.99")))
    sent: dict[str, int] = {}
    answered: dict[str, int] = {}
    for counts, equals in ((sent, None), (answered, True)):
        df = await ctx.log.aggregate(
            Aggregate.over(
                ctx.window,
                "service_probe",
                "ok",
                "count",
                group_by=("service",),
                where={"service": tuple(services)},
                field_equals=equals,
            )
        )
        for service, n in df.itertuples(index=False):
            counts[str(service)] = int(n)
    rows: list[dict[str, Any]] = []
    for svc in services:
        n, ok = sent.get(svc, 0), answered.get(svc, 0)
        rows.append(
            {
                "service": svc,
                "probes": n,
                "answered": ok,
                "available": bool(n) and Fraction(ok, n) >= need,
            }
        )
    notes = [f"a service is available when it answered {need} of its probes"]
    silent = [str(r["service"]) for r in rows if not r["probes"]]
    if silent:
        notes.append(
            f"no probe of {', '.join(silent)} in the window: send service_probe rows "
            "(service=…, target=…, ok=true|false) to the agent"
        )
    short = [f"{r['service']} {r['answered']}/{r['probes']}" for r in rows
             if r["probes"] and not r["available"]]  # fmt: skip
    if short:
        notes.append(f"below {need}: {', '.join(short)}")
    total, good = sum(sent.get(s, 0) for s in services), sum(answered.get(s, 0) for s in services)
    m = every(rows, "available", by="service", nothing="no service is listed", notes=notes)
    return m.model_copy(update={"numerator": good, "denominator": total})
