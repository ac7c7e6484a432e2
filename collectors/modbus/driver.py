"""The Modbus input (pymodbus 3.10+), TCP or serial RTU: coalesced polls, typed decoding,
reachability.

Each device is polled every `interval_s`, at instants aligned to the interval. Registers
of one table are coalesced into reads of at most 125 registers (2000 bits); a read
answered with an exception marks its points bad (quality 2) and keeps the others. A
device that does not answer (timeout, refused, reset) after `retries` becomes
`online=false` for its elements and is retried with backoff. Devices on one serial port
share its bus (`collectors.modbus.link`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pymodbus.exceptions import ModbusException

from collectors.driver import Sink
from collectors.modbus.codec import BlockDecoder, decode, is_number, width
from collectors.modbus.link import Client, Link, links_for, serial_link, tcp_link
from collectors.modbus.settings import ModbusDevice, ModbusRegister
from collectors.plugin import DriverContext
from collectors.samples import Samples
from telemetry import (
    Point,
    encode_line,
)
from telemetry.line_protocol import (
    telemetry_head,
    telemetry_line,
    telemetry_prefix,
    telemetry_stamp,
)
from telemetry.timegrid import NS

log = logging.getLogger("pilotproof.modbus")

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
        by_table.setdefault(r.table, []).append((addr, r))  # (the config checked addr >= 0)
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


@dataclass(frozen=True)
class _Slot:
    """One register of a read, prepared once: where it sits, its key and line parts."""

    reg: ModbusRegister
    offset: int  # in the read's registers
    width: int
    key: tuple[str, str]
    tags: dict[str, str]
    prefix: str
    head: str  # the line up to a good value (telemetry_head)


@dataclass(frozen=True)
class _Plan:
    """A read's registers: the numeric ones decoded as a block, the rest one by one."""

    slots: tuple[_Slot, ...]
    numeric: tuple[_Slot, ...]
    decoder: BlockDecoder | None
    other: tuple[_Slot, ...]  # bools, bits and strings, through `decode`
    # the numeric slots' parts as lists, for extending a poll's samples all at once
    heads: tuple[str, ...]
    keys: list[tuple[str, str]]
    zeros: list[int]
    tags: list[dict[str, str]]


def modbus_drivers(devices: Sequence[ModbusDevice], context: DriverContext) -> list[ModbusDriver]:
    """A driver per configured device; devices on one serial port share its link."""
    links = links_for(devices)
    return [ModbusDriver(d, context, link) for d, link in zip(devices, links, strict=True)]


class ModbusDriver:
    """Polls one Modbus device (TCP or RTU) at clock-aligned instants: its registers in as
    few coalesced reads as the protocol allows, decoded per type and byte order.

    Args:
        device: the `[[sources.modbus]]` table.
        context: the site id (the `site` tag of every point).
        link: the connection it polls through; devices on one serial port share one
            (`modbus_drivers` pairs them). Default: a link of its own.
    """

    def __init__(
        self, device: ModbusDevice, context: DriverContext, link: Link | None = None
    ) -> None:
        self.device = device
        if link is None:
            link = serial_link([device]) if device.serial_port else tcp_link(device)
        self.link = link
        self.site = context.site
        self.name = f"modbus:{device.name}"
        self.reads = plan_reads(device)
        self.elements = sorted({r.element for r in device.registers} | set(device.status_elements))
        self.polls = 0
        self._plans = [self._plan(read) for read in self.reads]
        self._warned: set[tuple[str, str]] = set()
        self.sink: Sink | None = None

    def _plan(self, read: Read) -> _Plan:
        slots = tuple(self._slot(read, r) for r in read.registers)
        numeric = tuple(s for s in slots if is_number(s.reg))
        decoder = (
            BlockDecoder(read.count, [(s.reg, s.offset) for s in numeric]) if numeric else None
        )
        other = tuple(s for s in slots if not is_number(s.reg))
        return _Plan(slots=slots, numeric=numeric, decoder=decoder, other=other,
                     heads=tuple(s.head for s in numeric), keys=[s.key for s in numeric],
                     zeros=[0] * len(numeric), tags=[s.tags for s in numeric])  # fmt: skip

    def _slot(self, read: Read, r: ModbusRegister) -> _Slot:
        tags = {"site": self.site, "element": r.element, "point": r.point}
        prefix = telemetry_prefix(tags)
        return _Slot(reg=r, offset=r.address - self.device.address_base - read.address,
                     width=width(r), key=(r.element, r.point), tags=tags, prefix=prefix,
                     head=telemetry_head(prefix, 0))  # fmt: skip

    async def _request(self, client: Client, read: Read) -> list[int] | None:
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
            if self.sink is not None:
                self.sink.error("exception_response", f"{read.table} {read.address}+"
                                f"{read.count} answered {rr}")  # fmt: skip
            return None
        got = rr.bits if read.table in ("coil", "discrete") else rr.registers
        if len(got) < read.count:  # a device that answers fewer than asked: not decodable
            if self.sink is not None:
                self.sink.error("short_response", f"{read.table} {read.address}+{read.count} "
                                f"answered {len(got)}")  # fmt: skip
            return None
        if read.table in ("coil", "discrete"):
            return [int(b) for b in got[: read.count]]
        return list(got[: read.count])

    async def poll(self, client: Client, t_ns: int) -> Samples:
        """One round over every read; raises ModbusException/OSError if unreachable."""
        out = Samples(t_ns)
        add = out.add
        stamp = telemetry_stamp(t_ns)
        for i, read in enumerate(self.reads):
            if i and self.device.pause_ms:
                await asyncio.sleep(self.device.pause_ms / 1000)
            regs = await self._request(client, read)
            plan = self._plans[i]
            if regs is None:
                for slot in plan.slots:
                    add(telemetry_line(slot.prefix, 2, None, t_ns), slot.key, 2, None, slot.tags)
                continue
            if plan.decoder is not None:
                values = plan.decoder.numbers(regs)
                total = sum(values)  # finite only when every value is (NaN and ±inf spread)
                if total - total == 0.0:  # all finite: the usual case, at once
                    lines = [f"{h}{v!r}{stamp}" for h, v in zip(plan.heads, values, strict=True)]
                    out.lines += lines
                    out.keys += plan.keys
                    out.qualities += plan.zeros
                    out.values += values
                    out.tags += plan.tags
                else:
                    for slot, value in zip(plan.numeric, values, strict=True):
                        if value - value != 0.0:  # NaN or infinity: InfluxDB stores neither
                            self._bad_value(add, slot, value, t_ns)
                            continue
                        add(f"{slot.head}{value!r}{stamp}", slot.key, 0, value, slot.tags)
            for slot in plan.other:
                decoded = decode(regs[slot.offset : slot.offset + slot.width], slot.reg)
                if isinstance(decoded, str):  # the string field `text` (data contract)
                    point = Point("telemetry", slot.tags, {"quality": 0, "text": decoded}, t_ns)
                    add(encode_line(point), slot.key, 0, decoded, slot.tags)
                    continue
                add(f"{slot.head}{decoded!r}{stamp}", slot.key, 0, decoded, slot.tags)
        return out

    def _bad_value(self, add: Callable[..., None], slot: _Slot, value: float, t_ns: int) -> None:
        self._not_finite(slot, value)
        add(telemetry_line(slot.prefix, 2, None, t_ns), slot.key, 2, None, slot.tags)

    def _not_finite(self, slot: _Slot, value: float) -> None:
        if slot.key not in self._warned:  # once per register: a NaN device stays NaN
            self._warned.add(slot.key)
            r = slot.reg
            log.warning("%s: %s.%s (%s %d, %s %s) reads %r; stored as quality 2 without a "
                        "value — check type and byte order", self.name, r.element, r.point,
                        r.table, r.address, r.type, r.order, value)  # fmt: skip

    def _reachable(self, sink: Sink, up: bool) -> None:
        for e in self.elements:
            sink.reachable(e, up)
        sink.connected(up)

    async def _next_instant(self, stop: asyncio.Event, last: int) -> int | None:
        """The next poll's instant (waited for); None once `stop` is set."""
        step = int(self.device.interval_s * NS)
        now = time.time_ns()
        if step == 0:  # back to back, stamped with the poll's start (never twice the same)
            await asyncio.sleep(0)
            return None if stop.is_set() else max(now, last + 1)
        t = now - now % step + step  # the next aligned instant
        try:
            await asyncio.wait_for(stop.wait(), (t - now) / NS)
            return None
        except TimeoutError:
            return t

    async def run(self, sink: Sink, stop: asyncio.Event) -> None:
        d, link = self.device, self.link
        self.sink = sink
        base_backoff = d.interval_s if d.interval_s > 0 else 1.0
        backoff = base_backoff
        for e in self.elements:
            sink.track(e)
        link.acquire()
        up: bool | None = None
        t = 0
        try:
            while True:
                nxt = await self._next_instant(stop, t)
                if nxt is None:
                    return
                step = int(d.interval_s * NS)
                if t and step and nxt - t > step and up:
                    # a poll (or a device that drops the connection after each answer)
                    # took longer than the interval: its instants are missing, and say so
                    sink.error("overrun", f"a poll took longer than interval_s = "
                               f"{d.interval_s} s: {(nxt - t) // step - 1} poll instant(s) "
                               "skipped")  # fmt: skip
                t = nxt
                try:
                    async with link.lock:  # a serial bus: one device's poll at a time
                        samples = await self.poll(await link.open(), t)
                except (TimeoutError, ModbusException, OSError) as e:
                    sink.error("unreachable", e, where=f"unit {d.unit} on {link.label}")
                    if up is not False:
                        self._reachable(sink, False)
                        up = False
                    link.failed(e)
                    try:
                        await asyncio.wait_for(stop.wait(), backoff)
                        return
                    except TimeoutError:
                        backoff = min(backoff * 2, 60.0)
                    continue
                backoff = base_backoff
                if up is not True:
                    self._reachable(sink, True)
                    up = True
                sink.submit(samples)  # committed by the pipeline's committer thread
                self.polls += 1
        finally:
            link.release()
            sink.connected(False)
