"""The Modbus TCP input (pymodbus 3.10+): coalesced polls, typed decoding, reachability.

Each device is polled every `interval_s`, at instants aligned to the interval. Registers
of one table are coalesced into reads of at most 125 registers (2000 bits); a read
answered with an exception marks its points bad (quality 2) and keeps the others. A
device that does not answer (timeout, refused, reset) after `retries` becomes
`online=false` for its elements and is retried with backoff.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from collectors.agent import Pipeline
from collectors.config import ModbusDevice, ModbusRegister, SiteConfig
from collectors.modbus.decode import decode, width
from telemetry import Point
from telemetry.timegrid import NS

log = logging.getLogger("pilotproof.modbus")
logging.getLogger("pymodbus").setLevel(logging.CRITICAL)

MAX_REGS = 125
MAX_BITS = 2000


@dataclass(frozen=True)
class Read:
    """One request: a table, a start address (protocol, 0-based) and a count."""

    table: str
    address: int
    count: int
    registers: tuple[ModbusRegister, ...]


def plan_reads(device: ModbusDevice) -> list[Read]:
    """Coalesce the device's registers into as few reads as the limits allow."""
    by_table: dict[str, list[tuple[int, ModbusRegister]]] = {}
    for r in device.registers:
        addr = r.address - device.address_base
        if addr < 0:
            raise ValueError(
                f"device {device.name}: {r.element}.{r.point} address {r.address} is below "
                f"address_base {device.address_base}"
            )
        by_table.setdefault(r.table, []).append((addr, r))
    reads = []
    for table, regs in sorted(by_table.items()):
        limit = MAX_BITS if table in ("coil", "discrete") else MAX_REGS
        regs.sort(key=lambda x: x[0])
        start, end = -1, -1
        members: list[ModbusRegister] = []
        for addr, r in regs:
            w = width(r)
            if members and addr + w - start <= limit:
                end = max(end, addr + w)
                members.append(r)
                continue
            if members:
                reads.append(Read(table, start, end - start, tuple(members)))
            start, end, members = addr, addr + w, [r]
        if members:
            reads.append(Read(table, start, end - start, tuple(members)))
    return reads


class ModbusDriver:
    def __init__(self, device: ModbusDevice, config: SiteConfig) -> None:
        self.device = device
        self.site = config.inventory.site
        self.name = f"modbus:{device.name}"
        self.reads = plan_reads(device)
        self.elements = sorted({r.element for r in device.registers} | set(device.status_elements))
        self.polls = 0

    async def _request(self, client: AsyncModbusTcpClient, read: Read) -> list[int] | None:
        """Registers (or bits as 0/1) of one read; None if the device answered an exception."""
        d = self.device
        fn = {
            "holding": client.read_holding_registers,
            "input": client.read_input_registers,
            "coil": client.read_coils,
            "discrete": client.read_discrete_inputs,
        }[read.table]
        rr = await fn(read.address, count=read.count, device_id=d.unit)
        if rr.isError():
            log.warning("%s: %s at %d+%d answered %s", self.name, read.table, read.address,
                        read.count, rr)  # fmt: skip
            return None
        if read.table in ("coil", "discrete"):
            return [int(b) for b in rr.bits[: read.count]]
        return list(rr.registers)

    async def poll(self, client: AsyncModbusTcpClient, t_ns: int) -> list[Point]:
        """One round over every read; raises ModbusException/OSError if unreachable."""
        out = []
        d = self.device
        for i, read in enumerate(self.reads):
            if i and d.pause_ms:
                await asyncio.sleep(d.pause_ms / 1000)
            regs = await self._request(client, read)
            for r in read.registers:
                tags = {"site": self.site, "element": r.element, "point": r.point}
                if regs is None:
                    out.append(Point("telemetry", tags, {"quality": 2}, t_ns))
                    continue
                off = r.address - d.address_base - read.address
                value = decode(regs[off : off + width(r)], r)
                if isinstance(value, str):
                    continue  # strings are not `telemetry.value` (a float); see README
                out.append(Point("telemetry", tags, {"value": value, "quality": 0}, t_ns))
        return out

    def _reachable(self, pipeline: Pipeline, up: bool) -> None:
        for e in self.elements:
            pipeline.reachable(e, up)
        pipeline.connected(self.name, up)

    async def run(self, pipeline: Pipeline, stop: asyncio.Event) -> None:
        d = self.device
        client = AsyncModbusTcpClient(d.host, port=d.port, timeout=d.timeout_s, retries=d.retries)
        step = int(d.interval_s * NS)
        backoff = d.interval_s
        self._reachable(pipeline, False)
        try:
            while not stop.is_set():
                now = time.time_ns()
                t = now - now % step + step  # the next aligned instant
                try:
                    await asyncio.wait_for(stop.wait(), (t - now) / NS)
                    return
                except TimeoutError:
                    pass
                try:
                    if not client.connected:
                        await client.connect()
                        if not client.connected:
                            raise ConnectionError(f"cannot connect to {d.host}:{d.port}")
                    points = await self.poll(client, t)
                except (TimeoutError, ModbusException, OSError) as e:
                    log.warning("%s unreachable: %s; retrying in %.0f s", self.name, e, backoff)
                    self._reachable(pipeline, False)
                    client.close()
                    try:
                        await asyncio.wait_for(stop.wait(), backoff)
                        return
                    except TimeoutError:
                        backoff = min(backoff * 2, 60.0)
                    continue
                backoff = d.interval_s
                self._reachable(pipeline, True)
                pipeline.submit(points)  # committed by the pipeline's committer thread
                self.polls += 1
        finally:
            client.close()
            pipeline.connected(self.name, False)
