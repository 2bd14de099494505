"""What one authentic notification does to the site.

``handle`` wires the steps of the design together: ledger (seen before?),
lifecycle (entitlements), members (role and groups), events and mail. The
``@@clickbank`` view calls it inside the request's transaction. The expiry
sweep lives in :mod:`niteoweb.clickbank.sweep`.
"""

import contextlib
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime

from zope.event import notify

from niteoweb.clickbank import entitlements
from niteoweb.clickbank import ledger
from niteoweb.clickbank import logger
from niteoweb.clickbank import members
from niteoweb.clickbank.errors import MemberCreationFailedError
from niteoweb.clickbank.errors import POSTVerificationFailedError
from niteoweb.clickbank.ins import LineItem
from niteoweb.clickbank.ins import Notification
from niteoweb.clickbank.ins import idempotency_key
from niteoweb.clickbank.ins import parse
from niteoweb.clickbank.interfaces import MemberCreatedEvent
from niteoweb.clickbank.interfaces import MemberDisabledEvent
from niteoweb.clickbank.interfaces import MemberEnabledEvent
from niteoweb.clickbank.interfaces import NotificationReceivedEvent
from niteoweb.clickbank.lifecycle import PAYMENTS
from niteoweb.clickbank.lifecycle import Action
from niteoweb.clickbank.lifecycle import action_for
from niteoweb.clickbank.mail import send
from niteoweb.clickbank.settings import Settings
from niteoweb.clickbank.storage import buyer_orders
from niteoweb.clickbank.storage import get_order
from niteoweb.clickbank.storage import get_storage

TEST_RECEIPT = "********"
#: Outcomes of notifications that were applied to their order's entitlements
#: and, had the buyer had an account, to the member data.
_APPLIED = frozenset({"created", "granted", "revoked", "updated", "recorded"})


@dataclass(frozen=True)
class Result:
    """What became of a notification."""

    outcome: str
    record_id: int | None = None
    duplicate: bool = False
    detail: str = ""


def _ignored(notification, settings: Settings, action) -> tuple[str, str] | None:
    """Return ``(outcome, detail)`` if the notification must not touch members."""
    if action is Action.TEST or notification.receipt == TEST_RECEIPT:
        return "ignored-test", "ClickBank test notification"
    if notification.is_test and not settings.process_test_transactions:
        return "ignored-test", "test transactions are not processed on this site"
    if notification.role != "VENDOR":
        return "ignored-role", f"role {notification.role or '(none)'} is not VENDOR"
    if settings.vendors and notification.vendor.strip().lower() not in settings.vendors:
        return "ignored-vendor", "notification for another vendor"
    if action is None:
        return "ignored-type", f"type {notification.transaction_type} is not handled"
    return None


def handle(notification, settings: Settings, now: datetime | None = None) -> Result:
    """Apply ``notification`` once; a repeat is answered as a duplicate."""
    now = now or datetime.now(UTC)
    storage = get_storage()
    key = idempotency_key(notification)
    seen = ledger.find(storage, key, notification.original_receipt)
    if seen is not None:
        logger.info(
            "ClickBank %s %s is a duplicate of record %s",
            notification.transaction_type,
            notification.receipt,
            seen.id,
        )
        return Result(seen.outcome, seen.id, duplicate=True, detail="duplicate")

    action, _ = action_for(notification.transaction_type)
    email = members.normalize_email(notification.customer.email)
    member, touched = None, []
    ignored = _ignored(notification, settings, action)
    buyer, new_buyer = ("", False) if ignored else _buyer(storage, notification)
    if ignored is not None:
        outcome, detail = ignored
    elif not buyer and action is Action.PURCHASE:
        outcome, detail = "rejected", "the notification has no valid buyer email"
    else:
        outcome, detail, member, touched, email = _apply(
            storage, notification, settings, action, buyer, now, new_buyer
        )
    entry = ledger.record(storage, key, notification, outcome, detail, email)
    logger.info(
        "ClickBank %s %s: %s",
        notification.transaction_type,
        notification.receipt,
        outcome,
    )
    notify(
        NotificationReceivedEvent(
            member, notification, touched[0] if touched else None, outcome
        )
    )
    return Result(outcome, entry.id, detail=detail)


def _buyer(storage, notification) -> tuple[str, bool]:
    """The email of the buyer ``notification`` is applied to, and whether it is
    new to the notification's order.

    The order knows its buyer: once an order has a valid email, every later
    notification of it goes to that buyer, whatever its customer block says
    (nothing, an invalid address or another buyer's). Otherwise the
    notification's own email, if valid; else "": no buyer is known yet (a
    rebill without customer data that arrived before its sale, say).
    """
    order = get_order(storage, notification.original_receipt)
    known = order.email if order is not None else ""
    if known and members.is_valid_email(known):
        return known, False
    email = members.normalize_email(notification.customer.email)
    if not members.is_valid_email(email):
        return "", False
    return email, order is not None


def _apply(storage, notification, settings, action, email, now, new_buyer=False):
    touched = entitlements.add_event(storage, notification, action, email)
    # An order whose email is not a valid one: its entitlements may know.
    email = email or next((e.email for e in touched if e.email), "")
    for entitlement in touched:
        entitlements.refresh(storage, entitlement, settings, now)
    first = touched[0] if touched else None
    if not email:
        # Kept with its order: counts as soon as a notification names the buyer.
        return "recorded", "no buyer known for this order yet", None, touched, email

    member = members.find(email)
    created = False
    # Roles and groups read once, for the safety check and for the sync.
    held = members.standing(member) if member is not None else None
    if member is None:
        if action not in PAYMENTS:
            return "recorded", "no member for this buyer yet", None, touched, email
        try:
            member = members.create(
                email,
                notification.customer.full_name,
                {members.AFFILIATE: notification.affiliate or ""},
            )
        except MemberCreationFailedError as error:
            # Deterministic (Plone refuses the data): a retry would fail again.
            return "rejected", str(error), None, touched, email
        created = True
        notify(MemberCreatedEvent(member, notification, first))
    elif members.is_protected(member, settings, held):
        logger.warning(
            "ClickBank %s %s: the buyer's account holds roles that manage the "
            "site; it was left unchanged.",
            notification.transaction_type,
            notification.receipt,
        )
        return (
            "protected",
            "account with site roles left unchanged",
            member,
            touched,
            email,
        )

    if action in PAYMENTS:
        members.update_purchase(member, notification)
    receipt = notification.original_receipt
    if created or new_buyer:
        _mirror_newest_payment(storage, member, email, receipt)
    access, groups = buyer_access(storage, email, settings, receipt)
    added, removed = members.sync(member, settings, access, groups, held)
    role = f"role:{settings.member_role}"
    if role in added:
        notify(MemberEnabledEvent(member, notification, first))
    if role in removed:
        notify(MemberDisabledEvent(member, notification, first))
    if created and access:
        send.welcome(member, notification.order_language)

    if created:
        outcome = "created"
    elif removed and not access:
        outcome = "revoked"
    elif added:
        outcome = "granted"
    elif removed:
        outcome = "revoked"
    else:
        outcome = "updated"
    detail = ", ".join(
        sorted(f"+{a}" for a in added) + sorted(f"-{r}" for r in removed)
    )
    return outcome, detail, member, touched, email


def _mirror_newest_payment(storage, member, email: str, receipt: str) -> None:
    """Mirror the newest logged payment of the buyer's orders into member data.

    Payments applied while their order had no known buyer (a rebill without
    customer data before its sale) or no account were mirrored on no member;
    called when the account is created or an order learns its buyer, so that
    the member data ends as if the notifications had arrived in order.
    """
    newest = None
    for order in buyer_orders(storage, email, receipt)[0]:
        for record_id in order.seen.values():
            entry = storage.records[record_id]
            if entry.outcome not in _APPLIED:
                continue
            if action_for(entry.transaction_type)[0] not in PAYMENTS:
                continue
            if newest is None or entry.transaction_time > newest.transaction_time:
                newest = entry
    if newest is not None:
        members.update_purchase(member, _logged_payment(newest))


def _logged_payment(entry) -> Notification:
    """The notification of a log record (its fields only once it was blanked)."""
    if entry.payload is not None:
        with contextlib.suppress(POSTVerificationFailedError):
            return parse(entry.payload)
    return Notification(
        transaction_time=entry.transaction_time,
        receipt=entry.receipt,
        transaction_type=entry.transaction_type,
        line_items=tuple(LineItem(item_no=item) for item in entry.item_numbers),
    )


def buyer_access(
    storage, email: str, settings: Settings, receipt: str = ""
) -> tuple[bool, set[str]]:
    """Whether the buyer has access, and the mapped groups their products give.

    Decided from all of the buyer's orders, which are *held* (see
    :func:`niteoweb.clickbank.storage.hold`): a notification writes only its own
    order, so two concurrent notifications of one buyer (refunds of two orders,
    say) would otherwise each decide without the other's change, and ZODB would
    merge both without complaint. Held, the later one conflicts and is retried.
    ``receipt``: one of the buyer's orders, if the caller has one.
    """
    owned = entitlements.for_buyer(storage, email, hold=True, receipt=receipt)
    granting = [e for e in owned if e.grants_access]
    groups = {g for e in granting for g in settings.product(e.item_no).groups}
    return bool(granting), groups
