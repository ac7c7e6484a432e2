"""paho's `Client`, with the three per-message costs it has for a QoS 1 subscriber removed.

At 20,000 one-value messages a second (bench/e2e.py) paho itself, not the agent, was most
of the agent's time, in three places:

* **Reading.** paho reads each packet with a `recv` for its type byte, one per length
  byte and one for the rest, and then goes back to `select` — four system calls a
  message. `ReadAheadClient` reads up to 64 KiB at a time and serves paho's small reads
  from it; `loop_read` goes on until what was read ahead is used up, so `select` never
  waits while bytes are already here. Every `READ_BURST` packets it lets paho write and
  keep alive (`loop_write`, `loop_misc`), so a socket that never runs dry (a backlog
  after a reconnect) cannot starve the PUBACKs and PINGREQs.
* **Dispatch.** For every message paho matches the topic against the callbacks added with
  `message_callback_add`; the agent never adds one, so `on_message` is called directly.
* **Acknowledging.** paho sends each `ack` as a packet of its own: a queue entry, a wake-up
  of its loop and a `send`. A QoS 1 PUBACK is four fixed bytes (MQTT 3.1.1 §3.4), so
  `ack_many` queues the PUBACKs of one buffer commit as one packet, in the order the
  messages arrived (§4.6 asks for that order).

Acknowledgements come from the committer thread while paho's own thread reads and
writes. A lock keeps one writer at a time (paho would otherwise let both threads pop its
output queue, and batches could leave out of order), and `ack_many` sends only on the
connection the messages came through, once it is connected: never ahead of a new
CONNECT, and never for a packet id a broker may have given to a new message since. A
dropped acknowledgement costs a redelivery, which the driver recognises as committed.

Each overrides or calls a method of paho 2.x that is not part of its documented API
(`_sock_recv`, `_handle_on_message`, `_packet_write`, `_packet_queue`);
`tests/collectors/test_mqtt_client.py` checks they are still there, so a paho upgrade
that moves them fails the suite instead of slowing the agent down or, worse, mis-reading
a stream.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode

READ_AHEAD = 1 << 16  # bytes asked of the socket at once
READ_BURST = 1000  # packets handled before paho's loop looks at its timers and writes
_PUBACK = struct.Struct("!BBH")


class ReadAheadClient(mqtt.Client):
    """`paho.mqtt.client.Client` that reads ahead, dispatches directly and acknowledges in
    batches (see the module doc). Takes the same arguments."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._ahead = b""  # bytes read from `_ahead_sock`, served from `_ahead_at` on
        self._ahead_at = 0
        self._ahead_sock: socket.socket | Any = None
        self._writing = threading.RLock()  # one writer at a time (see the module doc)
        self.connection = 0  # counts connections: an Ack names the one it came through

    def reconnect(self) -> MQTTErrorCode:
        with self._writing:  # no PUBACK between clearing the old queue and CONNECT
            self.connection += 1
            return super().reconnect()

    def _packet_write(self) -> MQTTErrorCode:
        with self._writing:
            return super()._packet_write()

    def _sock_recv(self, bufsize: int) -> bytes:
        if self._sock is not self._ahead_sock:  # a new connection: nothing of the old one
            self._ahead, self._ahead_at, self._ahead_sock = b"", 0, self._sock
        at = self._ahead_at
        if at >= len(self._ahead):
            data = super()._sock_recv(READ_AHEAD)  # BlockingIOError when there is none
            if not data:
                return data  # the broker closed the connection
            self._ahead, at = data, 0
        out = self._ahead[at : at + bufsize]
        self._ahead_at = at + len(out)
        return out

    def _read_ahead(self) -> bool:
        return self._sock is self._ahead_sock and self._ahead_at < len(self._ahead)

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        # paho's loop_read reads one packet here whatever max_packets says
        read = 0
        while True:
            rc = super().loop_read(max_packets)
            if rc != mqtt.MQTT_ERR_SUCCESS or not self._read_ahead():
                return rc
            read += 1
            if read % READ_BURST == 0:  # a socket that never runs dry: write, keep alive
                if self.want_write():
                    rc = self.loop_write()
                    if rc != mqtt.MQTT_ERR_SUCCESS:
                        return rc
                rc = self.loop_misc()
                if rc != mqtt.MQTT_ERR_SUCCESS:
                    return rc

    def _handle_on_message(self, message: mqtt.MQTTMessage) -> None:
        on_message = self.on_message
        if on_message is None:
            return
        with self._in_callback_mutex:
            try:
                on_message(self, self._userdata, message)
            except Exception as err:
                self._easy_log(mqtt.MQTT_LOG_ERR, "Caught exception in on_message: %s", err)
                if not self.suppress_exceptions:
                    raise

    def ack_many(self, mids: Sequence[int], connection: int) -> bool:
        """Queue the PUBACKs of the QoS 1 messages `mids`, received on `connection`, as
        one packet, in order; False (nothing sent) when that connection is gone."""
        with self._writing:
            if not mids or connection != self.connection or not self.is_connected():
                return False
            data = b"".join([_PUBACK.pack(mqtt.PUBACK, 2, mid) for mid in mids])
            self._packet_queue(mqtt.PUBACK, data, 0, 0)
            return True


@dataclass(slots=True, eq=False)
class Ack:
    """The acknowledgement of one message, given once its points are durable.

    Args:
        client: the client the message came through.
        mid: its packet id.
        qos: its QoS (0: nothing is sent).
        key: what remembers the message as committed (a redelivery is then recognised).
        together: acknowledges a list of `Ack`s at once; the pipeline groups by it.
        connection: the client's connection count when the message arrived.
    """

    client: mqtt.Client
    mid: int
    qos: int
    key: int
    together: Callable[[list[Ack]], None]
    connection: int = 0

    def __call__(self) -> None:
        self.together([self])
