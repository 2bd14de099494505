"""What one authentic notification does to the site.

``handle`` wires the steps of the design together: ledger (seen before?),
lifecycle (entitlements), members (role and groups), events and mail. The
``@@clickbank`` view calls it inside the request's transaction. The expiry
sweep lives in :mod:`niteoweb.clickbank.sweep`.
"""

from dataclasses import dataclass
from datetime import UTC
from datetime import datetime

from zope.event import notify

from niteoweb.clickbank import entitlements
from niteoweb.clickbank import ledger
from niteoweb.clickbank import logger
from niteoweb.clickbank import mail
from niteoweb.clickbank import members
from niteoweb.clickbank.errors import MemberCreationFailedError
from niteoweb.clickbank.ins import idempotency_key
from niteoweb.clickbank.interfaces import MemberCreatedEvent
from niteoweb.clickbank.interfaces import MemberDisabledEvent
from niteoweb.clickbank.interfaces import MemberEnabledEvent
from niteoweb.clickbank.interfaces import NotificationReceivedEvent
from niteoweb.clickbank.lifecycle import PAYMENTS
from niteoweb.clickbank.lifecycle import Action
from niteoweb.clickbank.lifecycle import action_for
from niteoweb.clickbank.settings import Settings
from niteoweb.clickbank.storage import get_storage

TEST_RECEIPT = "********"


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
    if ignored is not None:
        outcome, detail = ignored
    elif action in PAYMENTS and not members.is_valid_email(email):
        outcome, detail = "rejected", "the notification has no valid buyer email"
    else:
        outcome, detail, member, touched, email = _apply(
            storage, notification, settings, action, email, now
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


def _apply(storage, notification, settings, action, email, now):
    touched = entitlements.add_event(storage, notification, action, email)
    # Later notifications of an order may lack the customer: the order knows.
    email = next((e.email for e in touched if e.email), email)
    for entitlement in touched:
        entitlements.refresh(storage, entitlement, settings, now)
    first = touched[0] if touched else None

    member = members.find(email) if email else None
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
    access, groups = buyer_access(storage, email, settings, receipt)
    added, removed = members.sync(member, settings, access, groups, held)
    role = f"role:{settings.member_role}"
    if role in added:
        notify(MemberEnabledEvent(member, notification, first))
    if role in removed:
        notify(MemberDisabledEvent(member, notification, first))
    if created and access:
        mail.send_welcome(member, notification.order_language)

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
