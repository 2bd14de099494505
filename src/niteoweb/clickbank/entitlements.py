"""Entitlements: one per (original receipt, itemNo), kept up to date from events.

An :class:`Entitlement` stores the events that concern it; its state is derived
from them by :func:`niteoweb.clickbank.lifecycle.derive`, so the order of arrival
does not matter. Events of a notification without line items (a refund of a whole
order, say) are kept per receipt and count for every item of that receipt, even
for items whose sale arrives later.
"""

from datetime import UTC
from datetime import datetime

from BTrees.OOBTree import OOTreeSet
from persistent import Persistent

from niteoweb.clickbank.lifecycle import Action
from niteoweb.clickbank.lifecycle import Event
from niteoweb.clickbank.lifecycle import State
from niteoweb.clickbank.lifecycle import Terms
from niteoweb.clickbank.lifecycle import derive
from niteoweb.clickbank.lifecycle import grants_access
from niteoweb.clickbank.storage import ClickBankStorage


def _pack(event: Event) -> tuple:
    # Plain tuples pickle small; Event instances would carry their class each time.
    return (event.time, event.action.value, event.receipt, event.next_payment_date)


def _unpack(data: tuple) -> Event:
    time, action, receipt, next_payment_date = data
    return Event(time, Action(action), receipt, next_payment_date)


class Entitlement(Persistent):
    """What one buyer has from one item of one order."""

    def __init__(self, original_receipt: str, item_no: str, email: str):
        self.original_receipt = original_receipt
        self.item_no = item_no
        self.email = email
        self.product_title = ""
        self.recurring = False
        self._events = ()
        self.state = State.PENDING.value
        self.valid_until = None
        self.created = self.updated = datetime.now(UTC)

    @property
    def key(self) -> tuple[str, str]:
        """``(original receipt, itemNo)``."""
        return (self.original_receipt, self.item_no)

    @property
    def events(self) -> tuple[Event, ...]:
        """The events of this entitlement, oldest first."""
        return tuple(sorted(_unpack(e) for e in self._events))

    @property
    def grants_access(self) -> bool:
        """Whether this entitlement gives access right now (as last derived)."""
        return grants_access(State(self.state))

    def add_event(self, event: Event) -> bool:
        """Add an event; returns False if it was known already."""
        if event in self.events:
            return False
        self._events = self._events + (_pack(event),)
        return True

    def __repr__(self):
        return f"<Entitlement {self.original_receipt}/{self.item_no} {self.state}>"


def get(storage: ClickBankStorage, receipt: str, item_no: str) -> Entitlement | None:
    """The entitlement of an item of an order, or None."""
    return storage.entitlements.get((receipt, item_no))


def for_buyer(storage: ClickBankStorage, email: str) -> list[Entitlement]:
    """All entitlements of the buyer ``email``."""
    keys = storage.entitlements_by_email.get((email or "").strip().lower(), ())
    return [storage.entitlements[key] for key in keys]


def for_receipt(storage: ClickBankStorage, receipt: str) -> list[Entitlement]:
    """All entitlements of one original receipt."""
    return list(storage.entitlements.values(min=(receipt, ""), max=(receipt, "\uffff")))


def _ensure(storage, receipt, item_no, email) -> Entitlement:
    entitlement = storage.entitlements.get((receipt, item_no))
    if entitlement is None:
        entitlement = storage.entitlements[(receipt, item_no)] = Entitlement(
            receipt, item_no, email
        )
    if email:
        if not entitlement.email:
            entitlement.email = email
        keys = storage.entitlements_by_email.get(email)
        if keys is None:
            keys = storage.entitlements_by_email[email] = OOTreeSet()
        keys.insert(entitlement.key)
    return entitlement


def add_event(storage, notification, action: Action, email: str) -> list[Entitlement]:
    """Record the effect of ``notification`` and return the entitlements concerned.

    The caller re-derives their state with :func:`refresh`.
    """
    receipt = notification.original_receipt
    items = notification.line_items
    next_payment_dates = {
        item.item_no: item.payment_plan.next_payment_date
        for item in items
        if item.payment_plan is not None
    }
    if not items:
        event = Event(notification.transaction_time, action, notification.receipt)
        storage.receipt_events[receipt] = tuple(
            set(storage.receipt_events.get(receipt, ())) | {_pack(event)}
        )
        touched = for_receipt(storage, receipt)
        for entitlement in touched:
            _ensure(storage, receipt, entitlement.item_no, email)
        return touched
    touched = []
    for item in items:
        entitlement = _ensure(storage, receipt, item.item_no, email)
        entitlement.product_title = item.product_title or entitlement.product_title
        entitlement.recurring = entitlement.recurring or bool(item.recurring)
        entitlement.add_event(
            Event(
                notification.transaction_time,
                action,
                notification.receipt,
                next_payment_dates.get(item.item_no),
            )
        )
        touched.append(entitlement)
    return touched


def refresh(storage, entitlement: Entitlement, settings, now: datetime) -> bool:
    """Re-derive state and ``valid_until``; returns whether access changed."""
    rule = settings.product(entitlement.item_no)
    terms = Terms(
        recurring=entitlement.recurring,
        access_days=rule.access_days,
        billing_days=rule.billing_days,
        grace_days=settings.grace_days,
    )
    receipt_events = storage.receipt_events.get(entitlement.original_receipt, ())
    events = list(entitlement.events) + [_unpack(e) for e in receipt_events]
    before = entitlement.grants_access
    state, valid_until = derive(events, terms, now)
    _reindex_expiry(storage, entitlement, state, valid_until)
    if (state.value, valid_until) != (entitlement.state, entitlement.valid_until):
        entitlement.state = state.value
        entitlement.valid_until = valid_until
        entitlement.updated = now
    return before != entitlement.grants_access


def _expiry_key(entitlement: Entitlement):
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


def due(storage: ClickBankStorage, now: datetime) -> list[Entitlement]:
    """Entitlements still granting access whose ``valid_until`` has passed.

    Reads the expiry index up to ``now``: the cost grows with the number due,
    not with the number of entitlements.
    """
    limit = (int(now.timestamp()), "\uffff", "\uffff")
    return [storage.entitlements[key[1:]] for key in storage.expiry.keys(max=limit)]
