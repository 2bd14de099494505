"""Orders, their entitlements and buyers: the one module that writes them.

An :class:`Order` (one per original receipt) holds one :class:`Entitlement` per
item in its own state: one object written per notification. Events without line
items (a refund of the whole order) count for every item, even a later one.
"""

from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import NamedTuple

from persistent import Persistent

from niteoweb.clickbank.lifecycle import PAYMENTS
from niteoweb.clickbank.lifecycle import Action
from niteoweb.clickbank.lifecycle import Event
from niteoweb.clickbank.lifecycle import State
from niteoweb.clickbank.lifecycle import Terms
from niteoweb.clickbank.lifecycle import derive
from niteoweb.clickbank.lifecycle import grants_access
from niteoweb.clickbank.members import normalize_email
from niteoweb.clickbank.storage import expiry
from niteoweb.clickbank.storage.root import ClickBankStorage
from niteoweb.clickbank.storage.root import hold as hold_objects

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def epoch_micros(moment: datetime | None) -> int | None:
    """Microseconds since the epoch of an aware ``moment`` (None for None): how
    times are stored, since a datetime brings its time zone into every pickle."""
    return None if moment is None else (moment - _EPOCH) // _MICROSECOND


def from_epoch_micros(micros: int | None) -> datetime | None:
    """The moment (in UTC) ``micros`` microseconds after the epoch; None for None."""
    return None if micros is None else _EPOCH + micros * _MICROSECOND


def _pack(event: Event) -> tuple:
    # A plain tuple is a third of the size of a pickled Event.
    return (
        epoch_micros(event.time),
        event.action.value,
        event.receipt,
        epoch_micros(event.next_payment_date),
    )


def _unpack(data: tuple) -> Event:
    time, action, receipt, next_payment_date = data
    return Event(
        from_epoch_micros(time),
        Action(action),
        receipt,
        from_epoch_micros(next_payment_date),
    )


class Payment(NamedTuple):
    """An order's newest payment, as the member data mirrors it."""

    time: str  # the notification's transactionTime, ISO 8601 with its offset
    receipt: str
    item_no: str  # of the first line item
    affiliate: str

    @property
    def moment(self) -> datetime:
        """``time`` as an aware datetime."""
        return datetime.fromisoformat(self.time)


class Entitlement:
    """What one buyer has from one item of one order (part of the order's state)."""

    def __init__(self, original_receipt: str, item_no: str, email: str):
        self.original_receipt = original_receipt
        self.item_no = item_no
        self.email = email
        self.product_title = ""
        self.recurring = False
        self._events = ()
        self.state = State.PENDING.value
        self._valid_until = None  # microseconds since the epoch

    @property
    def valid_until(self) -> datetime | None:
        """Until when it gives access, as last derived (in UTC); None: no end."""
        return from_epoch_micros(self._valid_until)

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

    def add_event(self, event: Event) -> None:
        """Add ``event`` unless it is known already."""
        if event not in self.events:
            self._events = self._events + (_pack(event),)

    def __repr__(self):
        return f"<Entitlement {self.original_receipt}/{self.item_no} {self.state}>"


class Order(Persistent):
    """What the add-on knows of one ClickBank order (an original receipt).

    ``items``: itemNo → :class:`Entitlement`. ``events``: the packed events of
    notifications without line items. ``seen``: digest of each recorded
    notification's idempotency key → record id. ``buyer_receipts``: a copy of
    the receipts of the buyer ``email`` (this one included), so that a
    notification finds the buyer's other orders without reading the buyer.
    ``last_payment``: the newest :class:`Payment`, as a plain tuple.
    """

    def __init__(self, receipt: str):
        self.receipt = receipt
        self.email = ""
        self.items = {}
        self.events = ()
        self.seen = {}
        self.buyer_receipts = ()
        self.last_payment = None


class Buyer(Persistent):
    """One buyer (an email): the receipts of their orders."""

    def __init__(self):
        self.receipts = ()


def get_order(storage: ClickBankStorage, receipt: str, create: bool = False):
    """The order of an original receipt; created if ``create``, else None."""
    order = storage.orders.get(receipt) if receipt else None
    if order is None and create and receipt:
        order = storage.orders[receipt] = Order(receipt)
    return order


def get_entitlement(storage: ClickBankStorage, receipt: str, item_no: str):
    """The entitlement of an item of an order, or None."""
    order = get_order(storage, receipt)
    return order.items.get(item_no) if order is not None else None


def _add_buyer(storage: ClickBankStorage, order: Order, email: str) -> None:
    """Note that ``order`` is the buyer ``email``'s (the first email it got).

    Every order of the buyer gets the new list of receipts, so that a concurrent
    notification of one of them conflicts (and is retried) instead of deciding
    without the new order.
    """
    order.email = order.email or email
    if order.email == email and order.receipt in order.buyer_receipts:
        return  # the usual case: a later notification of a known order
    buyer = storage.buyers.setdefault(email, Buyer())
    if order.receipt not in buyer.receipts:
        buyer.receipts = buyer.receipts + (order.receipt,)
    for receipt in buyer.receipts:
        sibling = storage.orders.get(receipt)
        stale = sibling is not None and sibling.buyer_receipts != buyer.receipts
        if stale and sibling.email == email:
            sibling.buyer_receipts = buyer.receipts


def note_record(storage, order: Order, key: bytes, record_id: int, email: str) -> None:
    """Note a notification recorded in the log: seen, and its buyer's order."""
    order.seen[key] = record_id
    order._p_changed = True
    if email:
        _add_buyer(storage, order, email)


def buyer_orders(
    storage: ClickBankStorage, email: str, order: Order | None = None, hold=False
) -> list[Order]:
    """The orders of the buyer ``email``, by receipt.

    :param order: an order of the buyer, if the caller has one: its copy of the
        buyer's receipts spares reading the buyer.
    :param hold: the caller decides from them: the transaction may commit only
        if they (and the buyer, if read) are unchanged (see ``root.hold``).
    """
    email, buyer = normalize_email(email), None
    if order is not None and order.email == email and order.buyer_receipts:
        receipts = order.buyer_receipts
    else:
        buyer = storage.buyers.get(email) if email else None
        receipts = buyer.receipts if buyer is not None else ()
    found = [
        order if order is not None and r == order.receipt else storage.orders.get(r)
        for r in sorted(receipts)
    ]
    owned = [each for each in found if each is not None]
    if hold:
        hold_objects(buyer, *owned)
    return owned


def for_buyer(storage: ClickBankStorage, email: str) -> list[Entitlement]:
    """All entitlements of the buyer ``email``, by receipt and itemNo."""
    return [o.items[i] for o in buyer_orders(storage, email) for i in sorted(o.items)]


def newest_payment(owned: list[Order]) -> Payment | None:
    """The newest payment of the orders ``owned``, or None."""
    payments = [Payment(*o.last_payment) for o in owned if o.last_payment]
    return max(payments, key=lambda payment: payment.moment, default=None)


def _entitlement(order: Order, item_no: str, email: str) -> Entitlement:
    entitlement = order.items.get(item_no)
    if entitlement is None:
        entitlement = order.items[item_no] = Entitlement(order.receipt, item_no, email)
    if email and not entitlement.email:
        entitlement.email = email
    return entitlement


def add_event(storage, order: Order, notification, action: Action, email: str):
    """Add the effect of ``notification`` to ``order``; returns the entitlements
    concerned, whose state the caller re-derives with :func:`refresh`.

    :param email: the buyer the notification is applied to ("" if none is known).
    """
    order._p_changed = True
    if email:
        _add_buyer(storage, order, email)
    if action in PAYMENTS:
        _note_payment(order, notification)
    time, receipt = notification.transaction_time, notification.receipt
    if not notification.line_items:
        order.events = tuple(set(order.events) | {_pack(Event(time, action, receipt))})
        return [_entitlement(order, i, email) for i in sorted(order.items)]
    touched = []
    for item in notification.line_items:
        entitlement = _entitlement(order, item.item_no, email)
        entitlement.product_title = item.product_title or entitlement.product_title
        entitlement.recurring = entitlement.recurring or bool(item.recurring)
        plan = item.payment_plan
        next_payment = plan.next_payment_date if plan is not None else None
        entitlement.add_event(Event(time, action, receipt, next_payment))
        touched.append(entitlement)
    return touched


def _note_payment(order: Order, notification) -> None:
    payment = Payment(
        notification.transaction_time.isoformat(),
        notification.receipt,
        notification.line_items[0].item_no if notification.line_items else "",
        notification.affiliate or "",
    )
    newest = order.last_payment
    if newest is None or Payment(*newest).moment < payment.moment:
        order.last_payment = tuple(payment)


def refresh(storage, order: Order, entitlement: Entitlement, settings, now) -> bool:
    """Re-derive an entitlement's state and end; returns whether access changed."""
    rule = settings.product(entitlement.item_no)
    terms = Terms(
        recurring=entitlement.recurring,
        access_days=rule.access_days,
        billing_days=rule.billing_days,
        grace_days=settings.grace_days,
    )
    events = list(entitlement.events) + [_unpack(e) for e in order.events]
    before = entitlement.grants_access
    state, valid_until = derive(events, terms, now)
    if grants_access(state) and valid_until is not None:
        expiry.file(storage, entitlement, valid_until)
    if (state.value, valid_until) != (entitlement.state, entitlement.valid_until):
        order._p_changed = True
        entitlement.state = state.value
        entitlement._valid_until = epoch_micros(valid_until)
    return before != entitlement.grants_access
