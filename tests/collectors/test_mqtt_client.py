"""`ReadAheadClient` reads any byte stream as paho does, and acknowledges in order.

The client reads a real socket (one end of a socketpair); the test writes MQTT packets
into the other end, cut into arbitrary pieces, as TCP may deliver them.
"""

from __future__ import annotations

import socket
import struct
import threading
import time

import paho.mqtt.client as mqtt
from hypothesis import given, settings, strategies as st
from paho.mqtt.client import _ConnectionState
from paho.mqtt.enums import CallbackAPIVersion

from collectors.mqtt.client import READ_AHEAD, ReadAheadClient


def _length(n: int) -> bytes:
    out = bytearray()
    while True:
        n, byte = divmod(n, 128)
        out.append(byte | (128 if n else 0))
        if not n:
            return bytes(out)


def publish_packet(topic: str, payload: bytes, qos: int, mid: int) -> bytes:
    raw = topic.encode()
    body = struct.pack("!H", len(raw)) + raw + (struct.pack("!H", mid) if qos else b"") + payload
    return bytes([0x30 | qos << 1]) + _length(len(body)) + body


def connected_client() -> tuple[ReadAheadClient, socket.socket, list[mqtt.MQTTMessage]]:
    ours, peer = socket.socketpair()
    ours.setblocking(False)
    client = ReadAheadClient(CallbackAPIVersion.VERSION2, client_id="t", manual_ack=True)
    got: list[mqtt.MQTTMessage] = []
    client.on_message = lambda _c, _u, m: got.append(m)
    client._sock = ours
    return client, peer, got


def read_until(client: ReadAheadClient, got: list[mqtt.MQTTMessage], n: int) -> None:
    deadline = time.monotonic() + 30
    while len(got) < n:
        assert client.loop_read() == mqtt.MQTT_ERR_SUCCESS
        assert time.monotonic() < deadline, f"{len(got)} of {n} messages read"


messages = st.lists(
    st.tuples(
        st.text(st.characters(codec="utf-8", exclude_characters="\x00#+"), min_size=1,
                max_size=40),
        st.one_of(
            st.binary(max_size=300),
            # larger than the read-ahead: made, not drawn (hypothesis refuses such draws)
            st.builds(lambda n, b: bytes([b]) * n, st.integers(READ_AHEAD, READ_AHEAD + 9),
                      st.integers(0, 255)),
        ),
        st.sampled_from([0, 1]),
    ),
    min_size=1,
    max_size=40,
)  # fmt: skip


@settings(max_examples=80, deadline=None)
@given(messages, st.lists(st.integers(1, 70_000), min_size=1, max_size=20))
def test_any_stream_cut_anywhere_is_read_message_by_message_in_order(
    sent: list[tuple[str, bytes, int]], cuts: list[int]
) -> None:
    client, peer, got = connected_client()
    stream = b"".join(publish_packet(t, p, q, i + 1) for i, (t, p, q) in enumerate(sent))

    def write() -> None:  # in pieces, while the client reads: packets arrive cut anywhere
        at, k = 0, 0
        while at < len(stream):
            peer.sendall(stream[at : at + cuts[k % len(cuts)]])
            at, k = at + cuts[k % len(cuts)], k + 1

    writer = threading.Thread(target=write)
    writer.start()
    read_until(client, got, len(sent))
    writer.join()
    assert [(m.topic, m.payload, m.qos) for m in got] == [(t, p, q) for t, p, q in sent]
    assert [m.mid for m in got if m.qos] == [i + 1 for i, (_, _, q) in enumerate(sent) if q]
    assert not client._read_ahead()  # all used: select() may wait again
    peer.close()


def test_a_new_connection_never_reads_what_the_old_one_had_read_ahead() -> None:
    client, peer, got = connected_client()
    peer.sendall(publish_packet("a/1", b"one", 1, 1) + publish_packet("a/2", b"two", 1, 2)[:5])
    read_until(client, got, 1)  # the first five bytes of the second are read ahead
    ours2, peer2 = socket.socketpair()
    ours2.setblocking(False)
    # what paho's reconnect() does: a fresh packet state, then the new socket
    client._in_packet = {"command": 0, "have_remaining": 0, "remaining_count": [],
                         "remaining_mult": 1, "remaining_length": 0, "packet": bytearray(),
                         "to_process": 0, "pos": 0}  # fmt: skip
    client._sock = ours2
    peer2.sendall(publish_packet("b/1", b"fresh", 1, 7))
    read_until(client, got, 2)
    assert [(m.topic, m.payload) for m in got] == [("a/1", b"one"), ("b/1", b"fresh")]


def connect(client: ReadAheadClient) -> None:
    client._state = _ConnectionState.MQTT_CS_CONNECTED  # what paho sets on CONNACK


def test_ack_many_writes_one_puback_per_message_in_the_order_given() -> None:
    client, peer, _ = connected_client()
    connect(client)
    mids = [5, 1, 65535, 300, 2]
    assert client.ack_many(mids, client.connection)
    client.loop_write()
    peer.settimeout(5)
    data = b""
    while len(data) < 4 * len(mids):
        data += peer.recv(1024)
    assert data == b"".join(bytes([0x40, 2]) + struct.pack("!H", m) for m in mids)


def test_acks_of_a_connection_gone_or_not_yet_made_are_not_sent() -> None:
    client, peer, _ = connected_client()
    assert not client.ack_many([1], client.connection)  # before CONNACK: never ahead of CONNECT
    connect(client)
    assert not client.ack_many([2], client.connection - 1)  # an earlier connection's
    assert client.ack_many([3], client.connection)
    client.loop_write()
    peer.settimeout(5)
    assert peer.recv(1024) == bytes([0x40, 2, 0, 3])


def test_the_paho_internals_it_overrides_are_still_there() -> None:
    """A paho upgrade that renames them must fail here, not slow down or misread."""
    for name in (
        "_sock_recv",
        "_handle_on_message",
        "_packet_queue",
        "_packet_write",
        "_easy_log",
        "reconnect",
        "is_connected",
        "loop_misc",
        "want_write",
    ):
        assert callable(getattr(mqtt.Client, name, None)), name
    plain = mqtt.Client(CallbackAPIVersion.VERSION2)
    for attr in (
        "_sock",
        "_in_packet",
        "_in_callback_mutex",
        "_userdata",
        "suppress_exceptions",
        "_state",
    ):
        assert hasattr(plain, attr), attr
