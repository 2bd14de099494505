"""The expiry index: when entitlements that grant access end.

For every entitlement that grants access until some time, ``storage.expiry``
holds a key no later than that time: the sweep reads the keys up to its ``now``,
so its cost grows with what is due, not with the number of entitlements.
"""

from datetime import datetime

from niteoweb.clickbank.storage.root import ClickBankStorage


def expiry_key(entitlement) -> tuple | None:
    """``(valid_until in epoch seconds, receipt, itemNo)``; None for no entitlement,
    one whose access never ends or one that grants no access (any more)."""
    if not (entitlement and entitlement.grants_access and entitlement.valid_until):
        return None
    return (int(entitlement.valid_until.timestamp()),) + entitlement.key


def file(storage: ClickBankStorage, entitlement, valid_until: datetime) -> None:
    """See that the expiry index has a key of the entitlement no later than its end.

    A rebill, which moves the end on, writes nothing here: the sweep reaches the
    old key first and files the entitlement at its current end (:func:`refile`).
    """
    filed = expiry_key(entitlement)  # before this refresh: a key up to it is filed
    new_key = (int(valid_until.timestamp()),) + entitlement.key
    if filed is None or filed[0] > new_key[0]:
        storage.expiry.insert(new_key)


def due(storage: ClickBankStorage, now: datetime) -> tuple[list, dict]:
    """The entitlements still granting access whose ``valid_until`` has passed.

    Returns ``(due, reached)``: ``(order, entitlement)`` pairs, and every key of
    the expiry index up to ``now`` with its entitlement (or None), for
    :func:`refile`.
    """
    limit = (int(now.timestamp()), "\uffff", "\uffff")
    reached, found = {}, {}
    for key in storage.expiry.keys(max=limit):
        order = storage.orders.get(key[1])
        entitlement = order.items.get(key[2]) if order is not None else None
        reached[key] = entitlement
        current = expiry_key(entitlement)
        if current is not None and current <= limit:
            found.setdefault(entitlement.key, (order, entitlement))
    return list(found.values()), reached


def refile(storage: ClickBankStorage, reached: dict) -> None:
    """Remove the ``reached`` keys; file their entitlements that still grant
    access, at their current end. Called by the sweep after :func:`refresh`."""
    for key in reached:
        storage.expiry.remove(key)
    for entitlement in reached.values():
        if (current := expiry_key(entitlement)) is not None:
            storage.expiry.insert(current)
