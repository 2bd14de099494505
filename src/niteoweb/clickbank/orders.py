"""What the add-on stores per order and per buyer: plain data, no Plone.

An :class:`Order` (one per original receipt) holds its :class:`Entitlement`
objects as part of its own state; a :class:`Buyer` (one per email) lists the
buyer's orders. :mod:`niteoweb.clickbank.storage` keeps them in BTrees,
:mod:`niteoweb.clickbank.entitlements` derives the entitlements' state.
"""

from datetime import UTC
from datetime import datetime
from datetime import timedelta

from persistent import Persistent

from niteoweb.clickbank.lifecycle import Action
from niteoweb.clickbank.lifecycle import Event
from niteoweb.clickbank.lifecycle import State
from niteoweb.clickbank.lifecycle import grants_access

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def epoch_micros(moment: datetime | None) -> int | None:
    """Microseconds since the epoch of an aware ``moment``; None for None.

    How the add-on stores times: in events, and in log record ids.
    """
    return None if moment is None else (moment - _EPOCH) // _MICROSECOND


def from_epoch_micros(micros: int) -> datetime:
    """The moment (in UTC) ``micros`` microseconds after the epoch."""
    return _EPOCH + micros * _MICROSECOND


def _moment(value) -> datetime | None:
    # Events of the first storage layout hold datetimes.
    if value is None or isinstance(value, datetime):
        return value
    return from_epoch_micros(value)


def pack_event(event: Event) -> tuple:
    """An event as stored: a plain tuple, times as microseconds since the epoch.

    Event instances would carry their class, and aware datetimes their time
    zone, in every pickle: this is a third of the size. Times come back in UTC
    (the same moments).
    """
    return (
        epoch_micros(event.time),
        event.action.value,
        event.receipt,
        epoch_micros(event.next_payment_date),
    )


def unpack_event(data: tuple) -> Event:
    """The :class:`~niteoweb.clickbank.lifecycle.Event` of a stored tuple."""
    time, action, receipt, next_payment_date = data
    return Event(_moment(time), Action(action), receipt, _moment(next_payment_date))


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
        self.valid_until = None

    @property
    def valid_until(self) -> datetime | None:
        """Until when it gives access, as last derived (in UTC); None: no end.

        Stored as microseconds since the epoch, like the events' times: an
        aware datetime would carry its time zone in every pickle of the order
        (about 85 bytes more). Entitlements of earlier versions hold a datetime.
        """
        state = self.__dict__
        if "_valid_until" in state:
            return _moment(state["_valid_until"])
        return state.get("valid_until")

    @valid_until.setter
    def valid_until(self, value: datetime | None) -> None:
        self.__dict__.pop("valid_until", None)
        self._valid_until = epoch_micros(value)

    @property
    def key(self) -> tuple[str, str]:
        """``(original receipt, itemNo)``."""
        return (self.original_receipt, self.item_no)

    @property
    def events(self) -> tuple[Event, ...]:
        """The events of this entitlement, oldest first."""
        return tuple(sorted(unpack_event(e) for e in self._events))

    @property
    def grants_access(self) -> bool:
        """Whether this entitlement gives access right now (as last derived)."""
        return grants_access(State(self.state))

    def add_event(self, event: Event) -> bool:
        """Add an event; returns False if it was known already."""
        if event in self.events:
            return False
        self._events = self._events + (pack_event(event),)
        return True

    def __repr__(self):
        return f"<Entitlement {self.original_receipt}/{self.item_no} {self.state}>"


class Order(Persistent):
    """What the add-on knows of one ClickBank order (an original receipt).

    ``items`` maps itemNo to the :class:`Entitlement` of that item; they are part of
    this object's state (whoever changes one sets ``_p_changed``). ``events`` holds the
    packed events of notifications without line items (a refund of the whole order):
    they count for every item, even one whose sale arrives later. ``seen`` maps the
    digest of each recorded notification's idempotency key to its record id.
    ``buyer_receipts`` is a copy of the receipts of the buyer ``email`` (this one
    included), kept by :func:`niteoweb.clickbank.storage.add_receipt`, so that a
    notification finds the buyer's other orders without reading the buyer; None
    for orders stored before it was kept (their buyer is read instead).
    """

    buyer_receipts = None

    def __init__(self, receipt: str):
        self.receipt = receipt
        self.email = ""
        self.items = {}
        self.events = ()
        self.seen = {}

    def __repr__(self):
        return f"<Order {self.receipt} {sorted(self.items)}>"


class Buyer(Persistent):
    """One buyer (an email): the receipts of their orders.

    Every transaction that decides the buyer's access asks ZODB to check at commit
    that this object and the buyer's orders are unchanged
    (:func:`niteoweb.clickbank.processing.buyer_access`). Buyers of earlier
    versions carry a ``decisions`` counter, no longer used.
    """

    def __init__(self):
        self.receipts = ()

    def __repr__(self):
        return f"<Buyer {len(self.receipts)} order(s)>"
