"""An MQTT broker inside the process, for the demo and `simulate serve` on a machine
that has none."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from telemetry.localserver import free_port


@contextlib.asynccontextmanager
async def embedded_broker() -> AsyncIterator[str]:
    """An amqtt broker in this process on a free loopback port; yields its URL."""
    from amqtt.broker import Broker

    port = free_port()
    broker = Broker(
        {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}
            },
        }
    )
    await broker.start()
    try:
        yield f"mqtt://127.0.0.1:{port}"
    finally:
        await broker.shutdown()
