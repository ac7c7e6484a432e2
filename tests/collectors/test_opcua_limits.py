"""Subscriptions planned from a server's limits: every node placed once, no limit passed."""

from __future__ import annotations

from hypothesis import given, strategies as st

from collectors.opcua.limits import CALL_MAX, ServerLimits, plan

limits = st.builds(
    ServerLimits,
    subscriptions_per_session=st.one_of(st.none(), st.integers(1, 50)),
    items_per_subscription=st.one_of(st.none(), st.integers(1, 5000)),
    items_per_call=st.one_of(st.none(), st.integers(1, 5000)),
)


@given(st.integers(0, 30_000), st.integers(1, 2000), limits)
def test_every_node_is_placed_once_within_every_limit(
    n: int, per_subscription: int, lim: ServerLimits
) -> None:
    items = list(range(n))
    layout = plan(items, per_subscription, lim)
    placed = [x for g in layout.groups for x in g]
    assert sorted(placed + layout.left_over) == items  # each once, in order within groups
    assert all(layout.groups)
    if lim.subscriptions_per_session:
        assert len(layout.groups) <= lim.subscriptions_per_session
    if lim.items_per_subscription:
        assert all(len(g) <= lim.items_per_subscription for g in layout.groups)
    assert 1 <= layout.per_call <= min(CALL_MAX, lim.items_per_call or CALL_MAX)
    if layout.left_over:  # only when one session cannot hold them all
        assert lim.subscriptions_per_session
        assert lim.items_per_subscription
        assert n > lim.subscriptions_per_session * lim.items_per_subscription
    if not lim.subscriptions_per_session:  # no cap on subscriptions: the configured size
        assert all(len(g) <= per_subscription for g in layout.groups)


def test_node_opcua_s_ten_subscriptions_take_ten_thousand_tags() -> None:
    layout = plan(list(range(10_000)), 500, ServerLimits(subscriptions_per_session=10))
    assert [len(g) for g in layout.groups] == [1000] * 10
    assert not layout.left_over
