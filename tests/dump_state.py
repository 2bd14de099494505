"""Print a site's ClickBank state as one JSON line; run with zconsole.

    zconsole run etc/zope.conf tests/dump_state.py

Members (direct roles, groups, purchase properties), entitlements, the ledger
and its indexes, read-only. Environment: SITE_ID. The line starts with
``CLICKBANK-STATE `` (other output of Zope's start-up may come before it).
"""

import json
import os

import transaction
from plone import api
from zope.component.hooks import setSite

from niteoweb.clickbank import members
from niteoweb.clickbank.storage.expiry import expiry_key
from niteoweb.clickbank.storage.root import get_storage


def _time(value) -> str | None:
    return None if value is None else value.isoformat()


def member_state(acl_users, user_id: str) -> dict:
    """Roles, groups and purchase properties of one member."""
    member = api.user.get(userid=user_id)
    roles = acl_users.portal_role_manager.getRolesForPrincipal(member.getUser())
    groups = acl_users.source_groups.getGroupsForPrincipal(member.getUser())
    return {
        "login": acl_users.source_users.getLoginForUserId(user_id),
        "roles": sorted(roles),
        "groups": sorted(groups),
        "email": member.getProperty("email"),
        "fullname": member.getProperty("fullname"),
        members.LAST_PURCHASE_ID: member.getProperty(members.LAST_PURCHASE_ID),
        members.LAST_PURCHASE_TIMESTAMP: member.getProperty(
            members.LAST_PURCHASE_TIMESTAMP
        ),
        members.PRODUCT_ID: member.getProperty(members.PRODUCT_ID),
    }


def ledger_state(storage) -> dict:
    """The records (oldest first) and the sizes of the ledger's indexes."""
    records = [
        {
            "key": record.key,
            "receipt": record.receipt,
            "type": record.transaction_type,
            "time": _time(record.transaction_time),
            "email": record.email,
            "outcome": record.outcome,
            "detail": record.detail,
        }
        for record in storage.records.values()
    ]
    orders = list(storage.orders.values())
    return {
        "records": records,
        "record_count": storage.record_count(),
        # every record once in its order's ``seen``, pointing at an existing record
        "keys": sum(len(order.seen) for order in orders),
        "seen_records": len(
            {i for order in orders for i in order.seen.values()} & set(storage.records)
        ),
    }


def _coverage(storage) -> dict:
    """``receipt/item`` of each entitlement with an end → whether a key covers it."""
    earliest = {}
    for time, receipt, item in storage.expiry:
        earliest.setdefault(f"{receipt}/{item}", time)
    return {
        f"{receipt}/{item}": earliest.get(f"{receipt}/{item}", key[0] + 1) <= key[0]
        for receipt, order in storage.orders.items()
        for item, entitlement in order.items.items()
        if (key := expiry_key(entitlement)) is not None
    }


def entitlement_state(storage) -> dict:
    """Every entitlement by ``receipt/item``, and what the expiry index covers.

    The index must hold a key of every entitlement that grants access until some
    time, no later than that time; which keys it holds beyond that (a rebill
    writes none, a refund removes none) depends on the order of delivery.
    ``expiry`` lists the entitlements covered, ``expiry_missing`` those not.
    """
    found = {
        f"{receipt}/{item}": {
            "email": entitlement.email,
            "state": entitlement.state,
            "valid_until": _time(entitlement.valid_until),
            "events": len(entitlement.events),
        }
        for receipt, order in storage.orders.items()
        for item, entitlement in order.items.items()
    }
    return {
        "entitlements": found,
        "by_email": {
            email: sorted(buyer.receipts) for email, buyer in storage.buyers.items()
        },
        "buyer_receipts_stale": sorted(
            receipt
            for receipt, order in storage.orders.items()
            if order.buyer_receipts is not None
            and order.buyer_receipts != storage.buyers[order.email].receipts
        ),
        "expiry": sorted(name for name, ok in _coverage(storage).items() if ok),
        "expiry_missing": sorted(
            name for name, ok in _coverage(storage).items() if not ok
        ),
    }


def main(app) -> None:
    """Print the state of the site SITE_ID."""
    site = app[os.environ.get("SITE_ID", "Plone")]
    setSite(site)
    acl_users = site.acl_users
    storage = get_storage(site, create=False)
    state = {
        "members": {
            user_id: member_state(acl_users, user_id)
            for user_id in acl_users.source_users.getUserIds()
        },
        "ledger": ledger_state(storage) if storage is not None else None,
        **(entitlement_state(storage) if storage is not None else {}),
    }
    transaction.abort()
    print("CLICKBANK-STATE " + json.dumps(state, sort_keys=True))


main(app)  # noqa: F821 - zconsole provides ``app``
