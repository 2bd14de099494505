"""The final state of a buyer does not depend on delivery order or repeats."""

import itertools
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from plone import api

from helpers import T0
from helpers import notification
from niteoweb.clickbank import entitlements
from niteoweb.clickbank import members
from niteoweb.clickbank import processing
from niteoweb.clickbank.settings import get_settings
from niteoweb.clickbank.storage import get_storage

NOW = T0 + timedelta(days=45)
STEPS = ["BILL", "BILL", "CANCEL-REBILL", "UNCANCEL-REBILL", "RFND", "CGBK", "INSF"]
_buyers = itertools.count()


def history(steps, email, receipt):
    """SALE plus ``steps``, one day apart, as ClickBank would send them."""
    result = [notification("SALE", receipt, 0, email=email, recurring=True)]
    for day, kind in enumerate(steps, start=1):
        number = f"{receipt}-B{day:03d}" if kind == "BILL" else receipt
        result.append(notification(kind, number, day * 10, email=email, recurring=True))
    return result


def filed(storage, entitlement) -> bool:
    """Whether the expiry index has a key of ``entitlement`` no later than its end.

    Without one the sweep would never take the access away.
    """
    end = entitlements.expiry_key(entitlement)
    return end is None or any(
        key[1:] == entitlement.key for key in storage.expiry.keys(max=end)
    )


def final_state(email):
    """Everything a buyer's access consists of."""
    storage = get_storage()
    member = members.find(email)
    owned = sorted(
        (e.item_no, e.state, e.valid_until, filed(storage, e))
        for e in entitlements.for_buyer(storage, email)
    )
    assert all(is_filed for *_, is_filed in owned)
    for order in storage.orders.values():  # every order's copy of its buyer's
        if order.email == email and order.buyer_receipts is not None:
            assert order.buyer_receipts == storage.buyers[email].receipts
    if member is None:
        return None, owned
    return (
        "Member" in api.user.get_roles(user=member),
        member.getProperty("last_purchase_id")[1:],  # receipts differ in letter 1
        member.getProperty("last_purchase_timestamp"),
    ), owned


@pytest.mark.property
@given(
    steps=st.lists(st.sampled_from(STEPS), max_size=6),
    data=st.data(),
)
def test_any_order_with_repeats_gives_in_order_state(portal, steps, data):
    """Two buyers get the same history, in order and shuffled: same final state."""
    n = next(_buyers)
    in_order = history(steps, f"a{n}@example.com", f"A{n:07d}")
    shuffled = history(steps, f"b{n}@example.com", f"B{n:07d}")
    delivery = data.draw(st.permutations(shuffled))
    delivery += data.draw(st.lists(st.sampled_from(shuffled), max_size=3))
    settings_ = get_settings()
    for item in in_order:
        processing.handle(item, settings_, now=NOW)
    for item in delivery:
        processing.handle(item, settings_, now=NOW)
    expected = final_state(f"a{n}@example.com")
    assert final_state(f"b{n}@example.com") == expected
