"""The agent's own metrics: a Prometheus text endpoint and `pp_agent` points.

Counters are plain integers updated from the event loop and the MQTT thread (a lost
increment under a race would only blur a metric, never data). The endpoint is a tiny
asyncio HTTP server so the agent needs no web framework.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from telemetry import Point
from telemetry.prometheus import Family, Kind, exposition
from telemetry.timegrid import NS


@dataclass
class Metrics:
    agent: str
    points_in: int = 0
    points_out: int = 0
    parse_errors: int = 0
    buffer_full: int = 0
    store_rejected: int = 0
    retries: int = 0
    batches_sealed: int = 0
    store_up: int = 1
    sealer_up: int = 0
    buffer_pending: int = 0
    buffer_sealed: int = 0
    buffer_bytes: int = 0
    buffer_file_bytes: int = 0
    #: the buffer's size cap (`[buffer] max_bytes`): what `buffer_bytes` fills up
    buffer_max_bytes: int = 0
    #: MQTT messages refused by a full buffer, waiting in memory for room
    parked: int = 0
    commit_errors: int = 0
    #: seconds the forwarder waits before its next attempt (0 while the store answers)
    store_backoff_s: float = 0.0
    #: per stage (`seal`, `forward`): since when (ns) its oldest waiting line has waited,
    #: as of the last status instant; None when nothing waits
    stage_since: dict[str, int | None] = field(default_factory=dict)
    #: per driver instance: 1 connected, 0 not
    connected: dict[str, int] = field(default_factory=dict)
    #: parse errors per reason (MQTT), so a flood of one kind is visible
    errors_by_reason: dict[str, int] = field(default_factory=dict)
    #: faults drivers survived, per (driver, kind); "crash" is the supervisor's restart
    driver_errors: dict[tuple[str, str], int] = field(default_factory=dict)
    driver_restarts: dict[str, int] = field(default_factory=dict)
    #: MQTT messages received per (driver, outcome): accepted or rejected
    messages: dict[tuple[str, str], int] = field(default_factory=dict)
    #: samples each driver handed to the buffer, and when it last did (ns since 1970)
    driver_points: dict[str, int] = field(default_factory=dict)
    driver_last_ns: dict[str, int] = field(default_factory=dict)
    #: per element: (1 reachable / 0 not, ns of its latest sampled slot or None); the
    #: agent hands the health tracker's view (`HealthTracker.elements_now`)
    elements: Callable[[], dict[str, tuple[int, int | None]]] | None = field(
        default=None, repr=False
    )
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def reject(self, reason: str) -> None:
        with self._lock:
            self.parse_errors += 1
            self.errors_by_reason[reason] = self.errors_by_reason.get(reason, 0) + 1

    def message(self, driver: str, outcome: str) -> None:
        with self._lock:
            key = (driver, outcome)
            self.messages[key] = self.messages.get(key, 0) + 1

    def driver_error(self, driver: str, kind: str) -> None:
        with self._lock:
            key = (driver, kind)
            self.driver_errors[key] = self.driver_errors.get(key, 0) + 1

    def prometheus(self) -> str:
        now = time.time_ns()
        els = self.elements() if self.elements is not None else {}
        a = {"agent": self.agent}
        scalars: tuple[tuple[str, Kind, str, float], ...] = (
                ("points_in_total", "counter", "points accepted into the buffer", self.points_in),
                ("points_out_total", "counter", "points written to the store", self.points_out),
                ("parse_errors_total", "counter", "payloads rejected", self.parse_errors),
                ("buffer_full_total", "counter", "points refused at the cap", self.buffer_full),
                ("store_rejected_total", "counter", "lines the store refused",
                 self.store_rejected),
                ("store_retries_total", "counter", "failed forwarding attempts", self.retries),
                ("batches_sealed_total", "counter", "batches sealed", self.batches_sealed),
                ("commit_errors_total", "counter", "buffer commits that failed",
                 self.commit_errors),
                ("store_up", "gauge", "1 when the last forward succeeded", self.store_up),
                ("store_backoff_seconds", "gauge", "wait before the next forwarding attempt",
                 self.store_backoff_s),
                ("sealer_up", "gauge", "1 while sealing and forwarding run", self.sealer_up),
                ("buffer_pending_lines", "gauge", "lines not yet sealed", self.buffer_pending),
                ("buffer_sealed_lines", "gauge", "sealed lines not yet stored",
                 self.buffer_sealed),
                ("buffer_bytes", "gauge", "bytes of lines the buffer holds (what the cap counts)",
                 self.buffer_bytes),
                ("buffer_max_bytes", "gauge", "the buffer's size cap ([buffer] max_bytes)",
                 self.buffer_max_bytes),
                ("buffer_file_bytes", "gauge", "size of the buffer file and its WAL on disk",
                 self.buffer_file_bytes),
                ("buffer_parked_messages", "gauge", "MQTT messages waiting for room in the buffer",
                 self.parked),
        )  # fmt: skip
        families = [Family(f"pilotproof_{n}", k, h, [(a, v)]) for n, k, h, v in scalars]
        families += [
            Family("pilotproof_driver_connected", "gauge", "1 when the driver is connected",
                   [({**a, "driver": d}, up) for d, up in sorted(self.connected.items())]),
            Family("pilotproof_parse_errors_by_reason_total", "counter",
                   "payloads rejected, by reason",
                   [({**a, "reason": r}, n) for r, n in sorted(self.errors_by_reason.items())]),
            Family("pilotproof_driver_errors_total", "counter",
                   "faults a driver survived, by kind",
                   [({**a, "driver": d, "kind": k}, n)
                    for (d, k), n in sorted(self.driver_errors.items())]),
            Family("pilotproof_messages_total", "counter", "MQTT messages received, by outcome",
                   [({**a, "driver": d, "outcome": o}, n)
                    for (d, o), n in sorted(self.messages.items())]),
            Family("pilotproof_driver_points_total", "counter",
                   "samples a driver handed to the buffer",
                   [({**a, "driver": d}, n) for d, n in sorted(self.driver_points.items())]),
            Family("pilotproof_driver_last_sample_age_seconds", "gauge",
                   "seconds since a driver last handed over a sample",
                   [({**a, "driver": d}, round((now - t) / NS, 3))
                    for d, t in sorted(self.driver_last_ns.items())]),
            Family("pilotproof_element_up", "gauge",
                   "1 while a driver reaches the element",
                   [({**a, "element": e}, up) for e, (up, _) in els.items()]),
            Family("pilotproof_element_last_sample_age_seconds", "gauge",
                   "seconds since the start of the latest slot one of the element's polled "
                   "points was sampled in",
                   [({**a, "element": e}, round((now - t) / NS, 3))
                    for e, (_, t) in els.items() if t is not None]),
            Family("pilotproof_stage_lag_seconds", "gauge",
                   "how long the oldest line waiting for the stage has waited — seal: since "
                   "it was accepted; forward: since it was sealed (0: none waits; as of the "
                   "last status instant)",
                   [({**a, "stage": st}, round(max(0, now - t) / NS, 3) if t else 0.0)
                    for st, t in sorted(self.stage_since.items())]),
            Family("pilotproof_driver_restarts_total", "counter",
                   "driver restarts by the supervisor",
                   [({**a, "driver": d}, n) for d, n in sorted(self.driver_restarts.items())]),
        ]  # fmt: skip
        return exposition(families)

    def point(self, site: str, time_ns: int) -> Point:
        """The `pp_agent` row: the same figures, kept with the data."""
        return Point(
            "pp_agent",
            {"site": site, "agent": self.agent},
            {
                "points_in": self.points_in,
                "points_out": self.points_out,
                "parse_errors": self.parse_errors,
                "buffer_full": self.buffer_full,
                "store_rejected": self.store_rejected,
                "retries": self.retries,
                "buffer_pending": self.buffer_pending,
                "buffer_sealed": self.buffer_sealed,
                "buffer_bytes": self.buffer_bytes,
                "buffer_max_bytes": self.buffer_max_bytes,
                "batches_sealed": self.batches_sealed,
                "sealer_up": self.sealer_up,
                "store_up": self.store_up,
                "drivers": len(self.connected),
                "connected": sum(self.connected.values()),
                "driver_errors": sum(self.driver_errors.values()),
            },
            time_ns,
        )


#: connections served at once; more are closed at once (a scraper needs one)
METRICS_CONNECTIONS = 16
#: the whole request — line and headers — must arrive within this
METRICS_REQUEST_S = 5.0


async def serve_metrics(metrics: Metrics, host: str, port: int) -> asyncio.Server:
    """GET /metrics in Prometheus text format; anything else is 404.

    Bounded so that nobody on the network can starve the agent through it: at most
    `METRICS_CONNECTIONS` at once, each request whole within `METRICS_REQUEST_S`, lines
    within asyncio's 64 KiB; whatever a client sends ends its connection, never the agent.
    """
    active = 0

    async def read_request(reader: asyncio.StreamReader) -> bytes:
        request = await reader.readline()
        for _ in range(100):  # headers, up to a blank line
            if (await reader.readline()) in (b"\r\n", b"\n", b""):
                break
        return request

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal active
        if active >= METRICS_CONNECTIONS:
            writer.close()
            return
        active += 1
        try:
            request = await asyncio.wait_for(read_request(reader), METRICS_REQUEST_S)
            ok = request.split(b" ")[1:2] == [b"/metrics"]
            body = metrics.prometheus().encode() if ok else b"not found\n"
            status = b"200 OK" if ok else b"404 Not Found"
            writer.write(
                b"HTTP/1.1 " + status + b"\r\nContent-Type: text/plain; version=0.0.4\r\n"
                b"Content-Length: "
                + str(len(body)).encode()
                + b"\r\nConnection: close\r\n\r\n"
                + body
            )
            await asyncio.wait_for(writer.drain(), METRICS_REQUEST_S)
        except Exception:  # a slow, broken or hostile client: its connection ends
            pass
        finally:
            active -= 1
            writer.close()

    return await asyncio.start_server(handle, host, port, backlog=64)
