"""Bring a storage of the first layout (development versions) to layout 2.

The first layout kept eight BTree indexes (``by_key``, ``by_email``,
``by_receipt``, ``entitlements``, ``entitlements_by_email``, ``receipt_events``,
``buyers``, ``password_tokens``) and one persistent object per entitlement;
layout 2 keeps orders and buyers (see :mod:`niteoweb.clickbank.storage`). The
upgrade builds a new storage from the old one and puts it in its place:

- log records are moved, not copied (same objects, same ids), their payload
  compressed;
- each record's idempotency key goes to its order's ``seen``: a notification
  received before the upgrade is still recognized as a repeat after it;
- entitlements become part of their order. Their class no longer exists under
  its old name, so ZODB hands them over as broken objects whose state is read;
- whole-order events, the expiry index and the retention cursor are kept;
- the ``password_tokens`` tree is kept, so links mailed before the upgrade work
  until they expire.
"""

from zope.annotation.interfaces import IAnnotations

from niteoweb.clickbank import logger
from niteoweb.clickbank.ledger import digest
from niteoweb.clickbank.orders import Entitlement
from niteoweb.clickbank.storage import ANNOTATION_KEY
from niteoweb.clickbank.storage import LAYOUT
from niteoweb.clickbank.storage import ClickBankStorage
from niteoweb.clickbank.storage import add_receipt
from niteoweb.clickbank.storage import get_order


def _state(old) -> dict:
    """The attributes of an entitlement of the first layout (maybe broken)."""
    old._p_activate()
    state = getattr(old, "__Broken_state__", None)
    return dict(state if state is not None else old.__dict__)


def _entitlement(old) -> Entitlement:
    entitlement = Entitlement.__new__(Entitlement)
    entitlement.__dict__.update(_state(old))
    return entitlement


def _copy_log(old, new: ClickBankStorage) -> None:
    for record_id, record in old.records.items():
        payload = record.payload
        record.payload = payload  # stored compressed from now on
        new.records[record_id] = record
        order = get_order(new, record.original_receipt, create=True)
        order.seen[digest(record.key)] = record_id
        if record.email:
            order.email = order.email or record.email
            add_receipt(new, record.email, order.receipt)
    new.record_count.set(len(new.records))


def _copy_entitlements(old, new: ClickBankStorage) -> None:
    for (receipt, item_no), old_entitlement in old.entitlements.items():
        entitlement = _entitlement(old_entitlement)
        order = get_order(new, receipt, create=True)
        order.items[item_no] = entitlement
        if entitlement.email:
            order.email = order.email or entitlement.email
            add_receipt(new, entitlement.email, receipt)
    for email, keys in old.entitlements_by_email.items():
        for receipt, _ in keys:
            add_receipt(new, email, receipt)
    for receipt, events in old.receipt_events.items():
        get_order(new, receipt, create=True).events = tuple(events)
    for key in old.expiry:
        new.expiry.insert(key)


def migrate(portal) -> ClickBankStorage | None:
    """Replace a first-layout storage of ``portal``; returns the new one or None.

    None means there was nothing to do (no storage, or already layout 2).
    """
    annotations = IAnnotations(portal)
    old = annotations.get(ANNOTATION_KEY)
    if old is None or old.layout >= LAYOUT:
        return None
    new = ClickBankStorage()
    _copy_log(old, new)
    _copy_entitlements(old, new)
    new.retention_cursor = getattr(old, "retention_cursor", 0)
    tokens = getattr(old, "password_tokens", None)
    if tokens is not None and len(tokens):
        new.password_tokens = tokens
    annotations[ANNOTATION_KEY] = new
    logger.info(
        "ClickBank storage upgraded to layout %d: %d log records, %d orders, %d buyers",
        LAYOUT,
        len(new.records),
        len(new.orders),
        len(new.buyers),
    )
    return new
