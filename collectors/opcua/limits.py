"""Subscriptions sized from what the server says it allows (OPC UA Part 5, ServerCapabilities).

A server caps subscriptions per session, monitored items per subscription and items per
CreateMonitoredItems call. node-opcua allows 10 subscriptions a session by default, so a
fixed `nodes_per_subscription = 500` cannot monitor more than 5,000 tags there: the 11th
subscription is refused (BadTooManySubscriptions) and, before this module, the whole
session with it, over and over.

`read_limits` reads the three capabilities (a server that does not expose one, or says 0,
has no such limit); `plan` splits a session's nodes into subscriptions that fit them —
`nodes_per_subscription` at most, unless that would need more subscriptions than the
server allows — and each subscription's items into calls that fit. Nodes beyond what one
session may hold are returned as left over, for the driver to refuse by name (more
`sessions` is the fix).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from asyncua import Client, ua

#: a request of this many items at most, whatever the server allows: a CreateMonitoredItems
#: of 10,000 items is one 1 MB message that the server must answer within `timeout_s`
CALL_MAX = 1000
_CAPS = "Server_ServerCapabilities_"
_IDS = {
    "subscriptions_per_session": getattr(ua.ObjectIds, _CAPS + "MaxSubscriptionsPerSession"),
    "items_per_subscription": getattr(ua.ObjectIds, _CAPS + "MaxMonitoredItemsPerSubscription"),
    "items_per_call": getattr(ua.ObjectIds, _CAPS + "OperationLimits_MaxMonitoredItemsPerCall"),
}


@dataclass(frozen=True)
class ServerLimits:
    """What the server allows (None: no limit said)."""

    subscriptions_per_session: int | None = None
    items_per_subscription: int | None = None
    items_per_call: int | None = None


@dataclass(frozen=True)
class SubscriptionPlan:
    """Nodes per subscription (`groups`, each in calls of at most `per_call`) and the
    nodes that do not fit in one session (`left_over`)."""

    groups: list[list[Any]]
    per_call: int
    left_over: list[Any]


def _limit(dv: Any) -> int | None:
    try:
        good = dv.StatusCode is None or dv.StatusCode.is_good()
        value = dv.Value.Value if dv.Value is not None else None
    except Exception:
        return None
    if not good or isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        return None  # absent, unreadable, or 0: "no limit" in Part 5
    return value


async def read_limits(client: Client) -> ServerLimits:
    """The server's limits; a server that cannot say (an old one) gets none."""
    nodes = [client.get_node(ua.NodeId(i, 0)) for i in _IDS.values()]
    try:
        values = await client.read_attributes(nodes)
    except Exception:
        return ServerLimits()
    return ServerLimits(**{k: _limit(v) for k, v in zip(_IDS, values, strict=True)})


def plan(items: list[Any], per_subscription: int, limits: ServerLimits) -> SubscriptionPlan:
    """Split `items` into subscriptions that fit `limits` (see the module doc)."""
    size = per_subscription
    if limits.subscriptions_per_session:
        size = max(size, math.ceil(len(items) / limits.subscriptions_per_session))
    if limits.items_per_subscription:
        size = min(size, limits.items_per_subscription)
    size = max(1, size)
    groups = [items[i : i + size] for i in range(0, len(items), size)]
    left: list[Any] = []
    if limits.subscriptions_per_session and len(groups) > limits.subscriptions_per_session:
        kept = groups[: limits.subscriptions_per_session]
        left = [x for g in groups[limits.subscriptions_per_session :] for x in g]
        groups = kept
    per_call = min(CALL_MAX, limits.items_per_call or CALL_MAX)
    return SubscriptionPlan(groups=groups, per_call=per_call, left_over=left)
