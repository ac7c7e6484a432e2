"""A null-modem cable between two pseudo-terminals, for serial protocols without hardware.

`NullModem().ports` are two real tty device paths (`/dev/pts/N`): what is written to one
is read from the other, byte for byte, like two RS-485 adapters on one pair of wires. The
Modbus RTU simulator opens one end and the agent the other, each through pyserial and
termios exactly as with a USB adapter. (socat does the same; this needs nothing installed.)
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
import tty
from types import TracebackType


class NullModem:
    def __init__(self) -> None:
        self._pairs = [os.openpty(), os.openpty()]
        for _, follower in self._pairs:
            tty.setraw(follower)  # no echo, no line editing: bytes pass as they are
        # the follower fds stay open here, so one side closing its port (a reconnect)
        # never hangs up the pseudo-terminal under the other
        self.ports: tuple[str, str] = (
            os.ttyname(self._pairs[0][1]),
            os.ttyname(self._pairs[1][1]),
        )
        self._wake_r, self._wake_w = os.pipe()
        self.bytes_relayed = 0
        self._thread = threading.Thread(target=self._relay, name="null-modem", daemon=True)
        self._thread.start()

    def _relay(self) -> None:
        a, b = self._pairs[0][0], self._pairs[1][0]
        other = {a: b, b: a}
        while True:
            ready, _, _ = select.select([a, b, self._wake_r], [], [])
            if self._wake_r in ready:
                return
            for fd in ready:
                try:
                    data = os.read(fd, 4096)
                except OSError:  # EIO while nothing holds the other end open
                    continue
                os.write(other[fd], data)
                self.bytes_relayed += len(data)

    def close(self) -> None:
        if self._thread.is_alive():
            os.write(self._wake_w, b"x")
            self._thread.join(5)
        for fd in (*self._pairs[0], *self._pairs[1], self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    def __enter__(self) -> NullModem:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
