"""How a device's requests reach it: its own TCP connection, or a serial bus it shares.

Modbus RTU puts several devices (unit ids) on one RS-485 pair, and a bus carries one
request at a time: every device on a serial port shares one `Link`, and a poll holds the
link's lock from its first request to its last. A device that stays silent costs the
others its timeout and nothing more: the port stays open for them. A TCP device has a
link of its own, closed and reopened after a failure.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from pymodbus import FramerType
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient

from collectors.config import ModbusDevice

Client = AsyncModbusTcpClient | AsyncModbusSerialClient


class Link:
    def __init__(self, client: Client, label: str, *, shared: bool) -> None:
        self.client = client
        self.label = label
        self.shared = shared
        self.lock = asyncio.Lock()
        self.users = 0

    async def open(self) -> Client:
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
            self.client.close()

    def release(self) -> None:
        self.users -= 1
        if self.users <= 0:
            self.client.close()


def tcp_link(device: ModbusDevice) -> Link:
    assert device.host is not None
    client = AsyncModbusTcpClient(
        device.host, port=device.port, timeout=device.timeout_s, retries=device.retries
    )
    return Link(client, f"{device.host}:{device.port}", shared=False)


def serial_link(devices: Sequence[ModbusDevice]) -> Link:
    """One bus for `devices`, which share a serial port and its line settings (the config
    checks that). A request waits as long as the most patient device allows."""
    d = devices[0]
    assert d.serial_port is not None
    client = AsyncModbusSerialClient(
        d.serial_port,
        framer=FramerType.RTU,
        baudrate=d.baudrate,
        parity=d.parity,
        bytesize=d.bytesize,
        stopbits=d.stopbits,
        timeout=max(x.timeout_s for x in devices),
        retries=max(x.retries for x in devices),
    )
    return Link(client, f"{d.serial_port} ({d.baudrate} {d.bytesize}{d.parity}{d.stopbits})",
                shared=True)  # fmt: skip


def links_for(devices: Sequence[ModbusDevice]) -> list[Link]:
    """Each device's link, in order: its own for TCP, one per serial port for RTU."""
    by_port: dict[str, list[ModbusDevice]] = {}
    for d in devices:
        if d.serial_port is not None:
            by_port.setdefault(d.serial_port, []).append(d)
    buses = {port: serial_link(devs) for port, devs in by_port.items()}
    return [buses[d.serial_port] if d.serial_port is not None else tcp_link(d) for d in devices]
