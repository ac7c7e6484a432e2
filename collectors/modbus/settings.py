"""The settings of a Modbus device: `[[sources.modbus]]` and its registers, TCP or RTU."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import Field, model_validator

from collectors.settings import Settings
from telemetry.modbus import WIDTH, ByteOrder, Table, ValueType


class ModbusRegister(Settings):
    element: str
    point: str
    table: Table = "holding"
    address: int = Field(ge=0, le=65535, description="as documented by the device (see base)")
    type: ValueType = "uint16"
    order: ByteOrder = "ABCD"
    scale: float = 1.0
    offset: float = 0.0
    length: int | None = Field(default=None, ge=1, le=123, description="registers, for strings")

    @model_validator(mode="after")
    def _shape(self) -> ModbusRegister:
        if self.length is not None and self.type != "string":
            raise ValueError(
                f"{self.element}.{self.point}: length = {self.length} only applies to "
                f"type = 'string' (this is {self.type}); remove it"
            )
        if (
            self.table in ("coil", "discrete")
            and "type" in self.model_fields_set
            and (self.type not in ("bool", "uint16"))
        ):
            raise ValueError(
                f"{self.element}.{self.point}: a {self.table} is one bit; use type = 'bool' "
                f"(not {self.type!r}) or a register table"
            )
        return self

    @property
    def width(self) -> int:
        """Registers (or bits) the value occupies."""
        if self.table in ("coil", "discrete"):
            return 1
        if self.type == "string":
            return self.length or 8
        return WIDTH[self.type]


class ModbusDevice(Settings):
    name: str
    host: str | None = Field(default=None, description="Modbus TCP: the device or gateway")
    port: int = Field(default=502, ge=1, le=65535, description="Modbus TCP port")
    serial_port: str | None = Field(
        default=None,
        description="Modbus RTU: the serial device (e.g. /dev/ttyUSB0), instead of host; "
        "devices on one port share the bus, one request at a time",
    )
    baudrate: int = Field(default=9600, ge=300, le=921600, description="RTU line speed")
    parity: Literal["N", "E", "O"] = Field(default="N", description="RTU: none, even, odd")
    bytesize: Literal[7, 8] = 8
    stopbits: Literal[1, 2] = 1
    unit: int = Field(default=1, ge=0, le=255, description="device (unit) id")
    address_base: Literal[0, 1] = Field(
        description="0: addresses are protocol offsets; 1: they count from 1 (as in manuals)"
    )
    interval_s: float = Field(
        default=1.0, ge=0, le=86400,
        description="seconds between polls, at clock-aligned instants; 0 polls back to back",
    )  # fmt: skip
    timeout_s: float = Field(default=2.0, gt=0, le=600)
    retries: int = Field(default=1, ge=0)
    pause_ms: int = Field(default=0, ge=0, description="pause between requests")
    status_elements: tuple[str, ...] = Field(
        default=(), description="elements whose reachability is this device's"
    )
    registers: tuple[ModbusRegister, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _transport(self) -> ModbusDevice:
        if (self.host is None) == (self.serial_port is None):
            raise ValueError(
                "set host (Modbus TCP) or serial_port (Modbus RTU), exactly one of them"
            )
        # a setting that would be ignored is refused; compared with its default (not "was
        # it given") so that a dumped config validates again
        fields = type(self).model_fields
        if self.host is not None:
            ignored = [f for f in SERIAL_LINE if getattr(self, f) != fields[f].default]
            if ignored:
                raise ValueError(
                    f"{', '.join(ignored)} only apply to serial_port (Modbus RTU); this device "
                    f"is Modbus TCP at {self.host}: remove them"
                )
        else:
            if self.port != fields["port"].default:
                raise ValueError(
                    f"port = {self.port} is a TCP port; this device is on serial_port "
                    f"{self.serial_port}: remove it"
                )
            if not 1 <= self.unit <= 247:
                raise ValueError(
                    f"unit = {self.unit}: on a serial bus a device answers only as unit 1 to "
                    "247 (0 is broadcast)"
                )
        return self

    @model_validator(mode="after")
    def _addresses(self) -> ModbusDevice:
        for r in self.registers:
            where = f"register {r.element}.{r.point} ({r.table} {r.address}, {r.type})"
            offset = r.address - self.address_base
            if offset < 0:
                raise ValueError(
                    f"{where}: address {r.address} is below address_base = "
                    f"{self.address_base}; with address_base = 1 the first register is 1"
                )
            if offset + r.width > 65536:
                raise ValueError(
                    f"{where}: spans {r.width} registers from offset {offset}, past the last "
                    "Modbus address 65535; check the address and address_base"
                )
        return self

    @property
    def line(self) -> tuple[int, str, int, int]:
        """The serial line settings every device on the same port must share."""
        return (self.baudrate, self.parity, self.bytesize, self.stopbits)


SERIAL_LINE = ("baudrate", "parity", "bytesize", "stopbits")


def check_shared_buses(devices: Sequence[ModbusDevice]) -> None:
    """Devices on one serial port share its line settings and have distinct unit ids."""
    first: dict[str, ModbusDevice] = {}
    units: dict[tuple[str, int], ModbusDevice] = {}
    for d in devices:
        if d.serial_port is None:
            continue
        other = first.setdefault(d.serial_port, d)
        if other.line != d.line:
            raise ValueError(
                f"modbus devices {other.name!r} and {d.name!r} share serial_port "
                f"{d.serial_port} but not its settings (baudrate, parity, bytesize, "
                f"stopbits: {other.line} vs {d.line}); one bus has one line setting"
            )
        other = units.setdefault((d.serial_port, d.unit), d)
        if other is not d:
            raise ValueError(
                f"modbus devices {other.name!r} and {d.name!r} are both unit {d.unit} on "
                f"serial_port {d.serial_port}; each device on a bus needs its own unit id"
            )
