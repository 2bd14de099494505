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
from niteoweb.clickbank.storage import get_order
from niteoweb.clickbank.storage import receipts_of


def get(storage: ClickBankStorage, receipt: str, item_no: str):
    """The entitlement of an item of an order, or None."""
    order = get_order(storage, receipt)
    return order.items.get(item_no) if order is not None else None


def for_buyer(storage: ClickBankStorage, email: str) -> list[orders.Entitlement]:
    """All entitlements of the buyer ``email``, by receipt and itemNo."""
    owned = []
    for receipt in sorted(receipts_of(storage, (email or "").strip().lower())):
        owned.extend(for_receipt(storage, receipt))
    return owned


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
    _reindex_expiry(storage, entitlement, state, valid_until)
    if (state.value, valid_until) != (entitlement.state, entitlement.valid_until):
        order._p_changed = True
        entitlement.state = state.value
        entitlement.valid_until = valid_until
    return before != entitlement.grants_access


def _expiry_key(entitlement: orders.Entitlement):
    if entitlement.valid_until is None or not entitlement.grants_access:
        return None
    return (int(entitlement.valid_until.timestamp()),) + entitlement.key


def _reindex_expiry(storage, entitlement, state, valid_until) -> None:
    old = _expiry_key(entitlement)
    new = None
    if valid_until is not None and grants_access(state):
        new = (int(valid_until.timestamp()),) + entitlement.key
    if old != new:
        if old is not None and old in storage.expiry:
            storage.expiry.remove(old)
        if new is not None:
            storage.expiry.insert(new)


def due(storage: ClickBankStorage, now: datetime) -> list[orders.Entitlement]:
    """Entitlements still granting access whose ``valid_until`` has passed.

    Reads the expiry index up to ``now``: the cost grows with the number due,
    not with the number of entitlements.
    """
    limit = (int(now.timestamp()), "\uffff", "\uffff")
    return [get(storage, *key[1:]) for key in storage.expiry.keys(max=limit)]
