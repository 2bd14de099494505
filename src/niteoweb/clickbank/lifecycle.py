"""The entitlement state machine: what a buyer's payments give them, and until when.

Pure functions, no Plone. The state is *derived* from all the notifications seen
for an entitlement, so the order of delivery does not matter: a refund that
arrives before its sale still wins.
"""

from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from datetime import timedelta
from enum import StrEnum


class Action(StrEnum):
    """What a transaction type does to an entitlement."""

    PURCHASE = "purchase"
    RENEW = "renew"
    REFUND = "refund"
    CHARGEBACK = "chargeback"
    UNPAID = "unpaid"
    CANCEL = "cancel"
    UNCANCEL = "uncancel"
    TEST = "test"


class State(StrEnum):
    """States of an entitlement; ACTIVE and CANCELLED grant access."""

    PENDING = "pending"  # known (e.g. a refund arrived first), no payment seen yet
    ACTIVE = "active"
    CANCELLED = "cancelled"  # no further rebills; access to the end of the paid period
    EXPIRED = "expired"  # paid period (plus grace) is over, or a payment bounced
    REFUNDED = "refunded"
    CHARGEBACK = "chargeback"


#: The one table of transaction types: type → (action, is a test-card variant).
#: Types not listed are recorded and otherwise ignored.
TRANSACTION_TYPES: dict[str, tuple[Action, bool]] = {
    "SALE": (Action.PURCHASE, False),
    "BILL": (Action.RENEW, False),
    "RFND": (Action.REFUND, False),
    "CGBK": (Action.CHARGEBACK, False),
    "INSF": (Action.UNPAID, False),
    "CANCEL-REBILL": (Action.CANCEL, False),
    "UNCANCEL-REBILL": (Action.UNCANCEL, False),
    "TEST": (Action.TEST, True),
    "TEST_SALE": (Action.PURCHASE, True),
    "TEST_BILL": (Action.RENEW, True),
    "TEST_RFND": (Action.REFUND, True),
    "TEST_CGBK": (Action.CHARGEBACK, True),
    "TEST_INSF": (Action.UNPAID, True),
    "CANCEL-TEST-REBILL": (Action.CANCEL, True),
    "UNCANCEL-TEST-REBILL": (Action.UNCANCEL, True),
    "TEST_CANCEL-REBILL": (Action.CANCEL, True),
    "TEST_UNCANCEL-REBILL": (Action.UNCANCEL, True),
}

PAYMENTS = frozenset({Action.PURCHASE, Action.RENEW})
# At the same instant an un-cancel outranks a cancel, a payment outranks both.
_RANK = {Action.CANCEL: 0, Action.UNCANCEL: 1}


@dataclass(frozen=True, order=True)
class Event:
    """One notification's effect on an entitlement, as stored with it."""

    time: datetime
    action: Action
    receipt: str
    next_payment_date: datetime | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Terms:
    """What the site's product settings say about one item."""

    recurring: bool = False
    access_days: int | None = None  # one-off products: days of access, None = lifetime
    billing_days: int | None = None  # recurring products: days one payment covers
    grace_days: int = 0


def action_for(transaction_type: str) -> tuple[Action | None, bool]:
    """Return ``(action, is_test_variant)`` for a type; ``(None, False)`` if unknown."""
    return TRANSACTION_TYPES.get(transaction_type, (None, False))


def grants_access(state: State) -> bool:
    """Whether an entitlement in ``state`` gives its holder access."""
    return state in (State.ACTIVE, State.CANCELLED)


def _paid_until(payments: list[Event], terms: Terms) -> datetime | None:
    """End of the paid period, or None when it does not end by itself."""
    if terms.recurring or terms.billing_days:
        last = max(payments)
        if last.next_payment_date is not None:
            return last.next_payment_date
        if terms.billing_days:
            return last.time + timedelta(days=terms.billing_days)
        return None  # a subscription with no known period runs until cancelled
    if terms.access_days:
        return min(payments).time + timedelta(days=terms.access_days)
    return None  # one-off product, lifetime access


def derive(events, terms: Terms, now: datetime) -> tuple[State, datetime | None]:
    """Compute ``(state, valid_until)`` from all events of one entitlement.

    ``valid_until`` is when access ends (None: it does not end by itself); for
    revoked states it is when access was taken away.
    """
    events = sorted(set(events))

    def times(action: Action) -> list[datetime]:
        return [e.time for e in events if e.action is action]

    if chargebacks := times(Action.CHARGEBACK):
        return State.CHARGEBACK, chargebacks[0]
    if refunds := times(Action.REFUND):
        return State.REFUNDED, refunds[0]
    payments = [e for e in events if e.action in PAYMENTS]
    if not payments:
        return State.PENDING, None
    last_payment = max(payments).time
    if bounced := [time for time in times(Action.UNPAID) if time > last_payment]:
        return State.EXPIRED, min(bounced)

    paid_until = _paid_until(payments, terms)
    switches = [e for e in events if e.action in _RANK]
    latest = max(switches, key=lambda e: (e.time, _RANK[e.action]), default=None)
    cancelled = latest is not None and latest.action is Action.CANCEL
    if cancelled and latest.time >= last_payment:
        # Cancelled: the paid period is honoured, without grace; with no known
        # period the access ends at the cancellation.
        valid_until = paid_until if paid_until is not None else latest.time
        state = State.CANCELLED
    else:
        valid_until = paid_until
        if valid_until is not None and (terms.recurring or terms.billing_days):
            valid_until += timedelta(days=terms.grace_days)
        state = State.ACTIVE
    if valid_until is not None and now >= valid_until:
        state = State.EXPIRED
    return state, valid_until
