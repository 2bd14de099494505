"""Entitlements: one per (original receipt, itemNo), kept up to date from events.

An :class:`~niteoweb.clickbank.orders.Entitlement` stores the events that
concern it; its state is derived from them by
:func:`niteoweb.clickbank.lifecycle.derive`, so the order of arrival does not
matter. Events of a notification without line items (a refund of a whole
order, say) are kept per order and count for every item of that order, even for
items whose sale arrives later.

Entitlements live inside their :class:`~niteoweb.clickbank.orders.Order` (one
object written per notification, not one per item plus index entries); the
functions here that change one mark its order as changed.

This module must not bind the name ``Entitlement``: the first storage layout
pickled its entitlements as ``niteoweb.clickbank.entitlements.Entitlement``, and
the upgrade to layout 2 reads them as broken objects (see
:mod:`niteoweb.clickbank.migration`).
"""

from datetime import datetime

from niteoweb.clickbank import orders
from niteoweb.clickbank.lifecycle import Action
from niteoweb.clickbank.lifecycle import Event
from niteoweb.clickbank.lifecycle import Terms
from niteoweb.clickbank.lifecycle import derive
from niteoweb.clickbank.lifecycle import grants_access
from niteoweb.clickbank.storage import ClickBankStorage
from niteoweb.clickbank.storage import add_receipt
from niteoweb.clickbank.storage import buyer_orders
from niteoweb.clickbank.storage import get_order
from niteoweb.clickbank.storage import hold as storage_hold


def get(storage: ClickBankStorage, receipt: str, item_no: str):
    """The entitlement of an item of an order, or None."""
    order = get_order(storage, receipt)
    return order.items.get(item_no) if order is not None else None


def for_buyer(
    storage: ClickBankStorage, email: str, hold: bool = False, receipt: str = ""
) -> list[orders.Entitlement]:
    """All entitlements of the buyer ``email``, by receipt and itemNo.

    ``hold``: this transaction decides from them; it may commit only if the
    buyer's orders (and the buyer, if read) are unchanged (:func:`storage.hold`).
    ``receipt``: one of the buyer's orders, if known (see :func:`buyer_orders`).
    """
    email = (email or "").strip().lower()
    if not email:
        return []
    owned_orders, buyer = buyer_orders(storage, email, receipt)
    if hold:
        storage_hold(buyer, *owned_orders)
    return [order.items[i] for order in owned_orders for i in sorted(order.items)]


def for_receipt(storage: ClickBankStorage, receipt: str) -> list[orders.Entitlement]:
    """All entitlements of one original receipt, by itemNo."""
    order = get_order(storage, receipt)
    if order is None:
        return []
    return [order.items[item_no] for item_no in sorted(order.items)]


def _ensure(order, item_no, email) -> orders.Entitlement:
    entitlement = order.items.get(item_no)
    if entitlement is None:
        entitlement = orders.Entitlement(order.receipt, item_no, email)
        order.items[item_no] = entitlement
    if email and not entitlement.email:
        entitlement.email = email
    return entitlement


def add_event(storage, notification, action: Action, email: str) -> list:
    """Record the effect of ``notification`` and return the entitlements concerned.

    The caller re-derives their state with :func:`refresh`.
    """
    receipt = notification.original_receipt
    order = get_order(storage, receipt, create=True)
    order._p_changed = True
    if email:
        order.email = order.email or email
        add_receipt(storage, email, receipt)
    items = notification.line_items
    if not items:
        event = Event(notification.transaction_time, action, notification.receipt)
        order.events = tuple(set(order.events) | {orders.pack_event(event)})
        touched = for_receipt(storage, receipt)
        for entitlement in touched:
            _ensure(order, entitlement.item_no, email)
        return touched
    touched = []
    for item in items:
        entitlement = _ensure(order, item.item_no, email)
        entitlement.product_title = item.product_title or entitlement.product_title
        entitlement.recurring = entitlement.recurring or bool(item.recurring)
        plan = item.payment_plan
        entitlement.add_event(
            Event(
                notification.transaction_time,
                action,
                notification.receipt,
                plan.next_payment_date if plan is not None else None,
            )
        )
        touched.append(entitlement)
    return touched


def refresh(storage, entitlement: orders.Entitlement, settings, now: datetime) -> bool:
    """Re-derive state and ``valid_until``; returns whether access changed."""
    rule = settings.product(entitlement.item_no)
    terms = Terms(
        recurring=entitlement.recurring,
        access_days=rule.access_days,
        billing_days=rule.billing_days,
        grace_days=settings.grace_days,
    )
    order = get_order(storage, entitlement.original_receipt)
    events = list(entitlement.events) + [orders.unpack_event(e) for e in order.events]
    before = entitlement.grants_access
    state, valid_until = derive(events, terms, now)
    if grants_access(state) and valid_until is not None:
        _file(storage, entitlement, (int(valid_until.timestamp()),) + entitlement.key)
    if (state.value, valid_until) != (entitlement.state, entitlement.valid_until):
        order._p_changed = True
        entitlement.state = state.value
        entitlement.valid_until = valid_until
    return before != entitlement.grants_access


def expiry_key(entitlement: orders.Entitlement):
    """``(valid_until in epoch seconds, receipt, itemNo)``; None if access never ends.

    Also None when the entitlement grants no access (any more).
    """
    if entitlement.valid_until is None or not entitlement.grants_access:
        return None
    return (int(entitlement.valid_until.timestamp()),) + entitlement.key


def _file(storage, entitlement, new_key) -> None:
    """See that the expiry index has a key of the entitlement no later than its end.

    That is all the sweep needs: it reads the keys up to its ``now`` and looks at
    each entitlement found. So a rebill, which moves the end on, writes nothing
    here: the key filed for the old end comes first, and when the sweep reaches
    it, it files the entitlement again at its current end (see :func:`due`). Only
    an end that comes earlier than the filed one (a new sale, a cancellation, a
    renewal after access ended) is inserted now. Keys are never removed here;
    keys of entitlements that ended (a refund) are dropped when the sweep reaches
    them.
    """
    filed = expiry_key(entitlement)  # before this refresh: a key up to it is filed
    if filed is None or filed[0] > new_key[0]:
        storage.expiry.insert(new_key)


def due(storage: ClickBankStorage, now: datetime) -> tuple[list, dict]:
    """Entitlements still granting access whose ``valid_until`` has passed.

    Returns ``(due, reached)``: the due entitlements, and every key of the expiry
    index up to ``now`` with its entitlement (None if there is none). The sweep
    removes the reached keys and files the entitlements that still grant access
    at their current end (see :func:`_file`). Reads the index up to ``now`` only:
    the cost grows with the keys reached, not with the number of entitlements.
    """
    limit = (int(now.timestamp()), "\uffff", "\uffff")
    reached, found = {}, {}
    for key in storage.expiry.keys(max=limit):
        entitlement = reached[key] = get(storage, *key[1:])
        current = expiry_key(entitlement) if entitlement is not None else None
        if current is not None and current <= limit:
            found.setdefault(entitlement.key, entitlement)
    return list(found.values()), reached


def refile(storage: ClickBankStorage, reached: dict) -> None:
    """Remove the ``reached`` keys; file their entitlements that still grant access.

    Called by the sweep after it re-derived the due entitlements.
    """
    for key in reached:
        storage.expiry.remove(key)
    for entitlement in reached.values():
        current = expiry_key(entitlement) if entitlement is not None else None
        if current is not None:
            storage.expiry.insert(current)
