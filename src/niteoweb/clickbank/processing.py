"""What one authentic notification does to the site, straight down.

The ``@@clickbank`` view calls :func:`handle` inside the request's transaction:
the order is looked up once and handed to the log, the entitlements, the
members, the events and the welcome mail.
"""

from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from typing import NamedTuple

from zope.event import notify

from niteoweb.clickbank import logger
from niteoweb.clickbank import members
from niteoweb.clickbank.errors import MemberCreationFailedError
from niteoweb.clickbank.events import MemberCreatedEvent
from niteoweb.clickbank.events import MemberDisabledEvent
from niteoweb.clickbank.events import MemberEnabledEvent
from niteoweb.clickbank.events import NotificationReceivedEvent
from niteoweb.clickbank.ins.model import TEST_RECEIPT
from niteoweb.clickbank.lifecycle import PAYMENTS
from niteoweb.clickbank.lifecycle import Action
from niteoweb.clickbank.lifecycle import action_for
from niteoweb.clickbank.mail import send
from niteoweb.clickbank.settings import Settings
from niteoweb.clickbank.storage import log
from niteoweb.clickbank.storage import orders
from niteoweb.clickbank.storage.root import get_storage


@dataclass(frozen=True)
class Result:
    """What became of a notification."""

    outcome: str
    record_id: int | None = None
    duplicate: bool = False
    detail: str = ""


class _Applied(NamedTuple):
    """What a notification did, in the words of the log, and to whom."""

    outcome: str
    detail: str = ""
    member: object = None
    email: str = ""  # the buyer it was applied to, or the email it came with


def handle(notification, settings: Settings, now: datetime | None = None) -> Result:
    """Apply ``notification`` once; a repeat is answered as a duplicate.

    :param notification: a decoded :class:`~niteoweb.clickbank.ins.Notification`.
    :param settings: the site's :class:`~niteoweb.clickbank.settings.Settings`.
    :param now: when the entitlements are derived (default: now).
    """
    now = now or datetime.now(UTC)
    storage = get_storage()
    order = orders.get_order(storage, notification.original_receipt, create=True)
    key = log.idempotency_key(notification)
    seen = log.find(storage, order, key)
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
    ignored = _ignored(notification, settings, action)
    buyer = "" if ignored else _buyer(order, email)
    touched = []
    if ignored is not None:
        applied = _Applied(*ignored, email=email)
    elif not buyer and action is Action.PURCHASE:
        detail = "the notification has no valid buyer email"
        applied = _Applied("rejected", detail, email=email)
    else:
        touched = orders.add_event(storage, order, notification, action, buyer)
        for entitlement in touched:
            orders.refresh(storage, order, entitlement, settings, now)
        # An order whose email is not a valid one: its entitlements may know.
        buyer = buyer or next((e.email for e in touched if e.email), "")
        applied = _apply(storage, order, notification, settings, action, buyer, touched)
    outcome, detail, member, email = applied
    entry = log.record(storage, order, key, notification, outcome, detail, email)
    logger.info(
        "ClickBank %s %s: %s",
        notification.transaction_type,
        notification.receipt,
        outcome,
    )
    first = touched[0] if touched else None
    notify(NotificationReceivedEvent(member, notification, first, outcome))
    return Result(outcome, entry.id, detail=detail)


def _ignored(notification, settings: Settings, action) -> tuple[str, str] | None:
    """``(outcome, detail)`` if the notification must not touch members."""
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


def _buyer(order, email: str) -> str:
    """The email of the buyer a notification is applied to, or "".

    The order's valid email, whatever a later customer block says; else the
    notification's own ``email``, if valid (a rebill without customer data
    that arrived before its sale has none).
    """
    if order.email and members.is_valid_email(order.email):
        return order.email
    return email if members.is_valid_email(email) else ""


def _apply(storage, order, notification, settings, action, email, touched) -> _Applied:
    """Give the buyer ``email`` the access their orders grant, as a member."""
    first = touched[0] if touched else None
    if not email:
        # Kept with its order: counts as soon as a notification names the buyer.
        return _Applied("recorded", "no buyer known for this order yet")
    member = members.find(email)
    # Roles and groups read once, for the safety check and for the sync.
    held = members.standing(member) if member is not None else None
    if member is None and action not in PAYMENTS:
        return _Applied("recorded", "no member for this buyer yet", email=email)
    if member is not None and members.is_protected(member, settings, held):
        logger.warning(
            "ClickBank %s %s: the buyer's account holds roles that manage the "
            "site; it was left unchanged.",
            notification.transaction_type,
            notification.receipt,
        )
        detail = "account with site roles left unchanged"
        return _Applied("protected", detail, member, email)

    owned = orders.buyer_orders(storage, email, order, hold=True)
    # Payments kept while the order had no buyer or no account count now too.
    payment = orders.newest_payment(owned)
    created = member is None
    if created:
        properties = {members.AFFILIATE: notification.affiliate or ""}
        if payment is not None:
            properties.update(members.purchase_properties(payment))
        try:
            # The purchase goes in with the account: one write of its data.
            member = members.create(email, notification.customer.full_name, properties)
        except MemberCreationFailedError as error:
            # Deterministic (Plone refuses the data): a retry would fail again.
            return _Applied("rejected", str(error), email=email)
        notify(MemberCreatedEvent(member, notification, first))
    elif payment is not None:
        members.update_purchase(member, payment)
    access, groups = buyer_access(owned, settings)
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
    elif removed and not (access and added):
        outcome = "revoked"
    else:
        outcome = "granted" if added else "updated"
    detail = ", ".join(
        sorted(f"+{a}" for a in added) + sorted(f"-{r}" for r in removed)
    )
    return _Applied(outcome, detail, member, email)


def buyer_access(owned: list, settings: Settings) -> tuple[bool, set[str]]:
    """Whether a buyer has access, and the mapped groups their products give.

    :param owned: all of the buyer's orders, held (see
        :func:`niteoweb.clickbank.storage.orders.buyer_orders`): a notification
        writes only its own order, so two concurrent notifications of one buyer
        would otherwise each decide without the other's change.
    """
    granting = [e for order in owned for e in order.items.values() if e.grants_access]
    groups = {g for e in granting for g in settings.product(e.item_no).groups}
    return bool(granting), groups
