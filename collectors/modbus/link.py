"""How a device's requests reach it: its own TCP connection, or a serial bus it shares.

Modbus RTU puts several devices (unit ids) on one RS-485 pair, and a bus carries one
request at a time: every device on a serial port shares one `Link`, and a poll holds the
link's lock from its first request to its last. A device that stays silent costs the
others its timeout and nothing more: the port stays open for them. A TCP device has a
link of its own, closed and reopened after a failure.

The pymodbus client is made on the first `open()`, inside the running event loop:
pymodbus 3.16 takes the running loop when a client is constructed, so a client made
before `asyncio.run` (when the agent is built) fails with "no running event loop".
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from pymodbus import FramerType
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient

from collectors.modbus.settings import ModbusDevice

Client = AsyncModbusTcpClient | AsyncModbusSerialClient


class Link:
    def __init__(self, make: Callable[[], Client], label: str, *, shared: bool) -> None:
        self._make = make
        self.client: Client | None = None
        self.label = label
        self.shared = shared
        self.lock = asyncio.Lock()
        self.users = 0

    async def open(self) -> Client:
        if self.client is None:
            self.client = self._make()
        if not self.client.connected:
            await self.client.connect()
            if not self.client.connected:
                raise ConnectionError(f"cannot open {self.label}")
        return self.client

    def failed(self, error: BaseException) -> None:
        """After a failed poll. A silent device on a bus (a timeout, an unanswered
        request) leaves the port open for the others; a port error closes it."""
        port_error = isinstance(error, OSError) and not isinstance(error, TimeoutError)
        if not self.shared or port_error:
            self.close()

    def acquire(self) -> None:
        self.users += 1

    def release(self) -> None:
        self.users -= 1
        if self.users <= 0:
            self.close()

    def close(self) -> None:
        if self.client is not None:
            self.client.close()


def tcp_link(device: ModbusDevice) -> Link:
    host = device.host
    assert host is not None

    def make() -> Client:
        return AsyncModbusTcpClient(
            host, port=device.port, timeout=device.timeout_s, retries=device.retries
        )

    return Link(make, f"{host}:{device.port}", shared=False)


def serial_link(devices: Sequence[ModbusDevice]) -> Link:
    """One bus for `devices`, which share a serial port and its line settings (the config
    checks that). A request waits as long as the most patient device allows."""
    d = devices[0]
    port = d.serial_port
    assert port is not None

    def make() -> Client:
        return AsyncModbusSerialClient(
            port,
            framer=FramerType.RTU,
            baudrate=d.baudrate,
            parity=d.parity,
            bytesize=d.bytesize,
            stopbits=d.stopbits,
            timeout=max(x.timeout_s for x in devices),
            retries=max(x.retries for x in devices),
        )

    return Link(make, f"{port} ({d.baudrate} {d.bytesize}{d.parity}{d.stopbits})",
                shared=True)  # fmt: skip


def links_for(devices: Sequence[ModbusDevice]) -> list[Link]:
    """Each device's link, in order: its own for TCP, one per serial port for RTU."""
    by_port: dict[str, list[ModbusDevice]] = {}
    for d in devices:
        if d.serial_port is not None:
            by_port.setdefault(d.serial_port, []).append(d)
    buses = {port: serial_link(devs) for port, devs in by_port.items()}
    return [buses[d.serial_port] if d.serial_port is not None else tcp_link(d) for d in devices]
