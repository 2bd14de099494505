"""The final state of a buyer does not depend on delivery order or repeats."""

import itertools
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from plone import api

from helpers import T0
from helpers import notification
from helpers import payload
from niteoweb.clickbank import members
from niteoweb.clickbank import processing
from niteoweb.clickbank import sweep
from niteoweb.clickbank.ins.parse import parse
from niteoweb.clickbank.settings import get_settings
from niteoweb.clickbank.storage.expiry import expiry_key
from niteoweb.clickbank.storage.orders import for_buyer
from niteoweb.clickbank.storage.root import get_storage

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


def without_customer(kind, receipt, days, email):
    """Like :func:`history`'s notifications, with an empty ``customer`` block."""
    data = payload(kind, receipt, days, email=email, recurring=True)
    data["customer"] = {}
    return parse(data)


def history_without_customers(steps, blank, email, receipt):
    """:func:`history`, the later notifications in ``blank`` without customer data."""
    result = history(steps, email, receipt)
    for index in blank:
        if index < len(steps):
            later = result[index + 1]
            days = (later.transaction_time - T0).days
            result[index + 1] = without_customer(
                steps[index], later.receipt, days, email
            )
    return result


def filed(storage, entitlement) -> bool:
    """Whether the expiry index has a key of ``entitlement`` no later than its end.

    Without one the sweep would never take the access away.
    """
    end = expiry_key(entitlement)
    return end is None or any(
        key[1:] == entitlement.key for key in storage.expiry.keys(max=end)
    )


def final_state(email):
    """Everything a buyer's access consists of."""
    storage = get_storage()
    member = members.find(email)
    owned = sorted(
        (e.item_no, e.state, e.valid_until, filed(storage, e))
        for e in for_buyer(storage, email)
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


def deliver(in_order, shuffled, data):
    """Handle ``in_order`` in order, then ``shuffled`` shuffled, with repeats."""
    delivery = data.draw(st.permutations(shuffled))
    delivery += data.draw(st.lists(st.sampled_from(shuffled), max_size=3))
    settings_ = get_settings()
    for item in [*in_order, *delivery]:
        processing.handle(item, settings_, now=NOW)


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
    deliver(in_order, shuffled, data)
    assert final_state(f"b{n}@example.com") == final_state(f"a{n}@example.com")


def test_rebills_without_customer_before_their_sale_give_in_order_state(portal):
    """Sold 65 days ago, rebilled 35 and 5 days ago without customer data.

    In order, each handled when it happened; or the rebills first (newest
    first) and the sale last, all now. After the expiry sweep both buyers are
    paid up, have access and the same entitlements and member data.
    """
    now = T0 + timedelta(days=65)
    settings_ = get_settings()

    def subscription(email, receipt):
        sale = notification("SALE", receipt, 0, email=email, recurring=True)
        rebills = [
            without_customer("BILL", f"{receipt}-B{n:03d}", days, "")
            for n, days in ((1, 30), (2, 60))
        ]
        return [sale, *rebills]

    in_order = subscription("early@example.com", "XREBILL1")
    sale, *rebills = subscription("late@example.com", "YREBILL1")
    for item in in_order:
        processing.handle(item, settings_, now=item.transaction_time)
    late = [processing.handle(item, settings_, now=now) for item in rebills[::-1]]
    assert [result.outcome for result in late] == ["recorded", "recorded"]
    assert processing.handle(sale, settings_, now=now).outcome == "created"
    assert sweep.expire(settings_, now=now).revoked == 0
    expected = final_state("early@example.com")
    last_rebill = in_order[-1]
    paid_until = last_rebill.line_items[0].payment_plan.next_payment_date
    assert expected == (
        (True, "REBILL1-B002", last_rebill.transaction_time.isoformat()),
        [("1", "active", paid_until + timedelta(days=3), True)],  # 3: grace
    )
    assert final_state("late@example.com") == expected


@pytest.mark.property
@given(
    steps=st.lists(st.sampled_from(STEPS), max_size=6),
    blank=st.sets(st.integers(min_value=0, max_value=5)),
    data=st.data(),
)
def test_later_notifications_without_customer_in_any_order(portal, steps, blank, data):
    """Later notifications without customer data: any order, the in-order state."""
    n = next(_buyers)
    in_order = history_without_customers(steps, blank, f"c{n}@example.com", f"C{n:07d}")
    shuffled = history_without_customers(steps, blank, f"d{n}@example.com", f"D{n:07d}")
    deliver(in_order, shuffled, data)
    assert final_state(f"d{n}@example.com") == final_state(f"c{n}@example.com")
