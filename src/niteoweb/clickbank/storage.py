"""The persistent root of the add-on's data: the notification log and the orders.

One object in the site's annotations holds four BTrees, so that every lookup and
every insert is O(log n), and concurrent notifications for different buyers
touch different buckets (BTrees resolve those conflicts by themselves):

``records``
    record id → :class:`~niteoweb.clickbank.ledger.NotificationRecord`, the log.
``orders``
    original receipt → :class:`~niteoweb.clickbank.orders.Order`: the order's
    entitlements (one per item), the events that concern all of its items, and the
    notifications seen for it (which is how a repeated notification is recognized).
``buyers``
    buyer email → :class:`~niteoweb.clickbank.orders.Buyer`: the receipts of the
    buyer's orders (each order keeps a copy, see :func:`add_receipt`).
``expiry``
    ``(epoch seconds, receipt, itemNo)``: for every entitlement that grants
    access until some time, a key no later than that time (see
    :func:`niteoweb.clickbank.entitlements.due`); what the expiry sweep reads.

A SALE of a new buyer writes one bucket of each tree and three small objects.
Every bucket a transaction changes is written whole, so the trees use small
buckets (:data:`LEAF_SIZE`): the add-on's part of a SALE adds about 3.5 KB to
``Data.fs``, where the first layout, with eight indexes and BTrees' default
buckets, added 17 KB (see ``docs/performance.rst``).
"""

from Acquisition import aq_base
from BTrees.Length import Length
from BTrees.LOBTree import LOBTree
from BTrees.OOBTree import OOBTree
from BTrees.OOBTree import OOTreeSet
from persistent import Persistent
from plone import api
from zope.annotation.interfaces import IAnnotations

from niteoweb.clickbank.orders import Buyer
from niteoweb.clickbank.orders import Order

ANNOTATION_KEY = "niteoweb.clickbank.storage"
#: Layout of :class:`ClickBankStorage`; 1 was the first development layout.
LAYOUT = 2
#: Items per bucket and children per inner node of the add-on's BTrees. A bucket
#: is rewritten whole on every insert: BTrees' defaults (30 or 60 items per
#: bucket) cost 1-2 KB per tree and notification, these 0.3-0.6 KB (measured
#: with 3 000 keys like the add-on's; 16 and 32 cost 0.4-0.9 KB). Deeper trees
#: are the price: a million log records are six levels deep instead of four.
LEAF_SIZE = 8
NODE_SIZE = 16


class RecordTree(LOBTree):
    """Record id → record, with small buckets."""

    max_leaf_size = LEAF_SIZE
    max_internal_size = NODE_SIZE


class IndexTree(OOBTree):
    """Text key → persistent object, with small buckets."""

    max_leaf_size = LEAF_SIZE
    max_internal_size = NODE_SIZE


class ExpiryIndex(OOTreeSet):
    """Sorted ``(epoch seconds, receipt, itemNo)`` keys, with small buckets."""

    max_leaf_size = LEAF_SIZE
    max_internal_size = NODE_SIZE


class ClickBankStorage(Persistent):
    """The notification log, the orders and the buyers of a site."""

    #: Storages of the first layout have no ``layout`` attribute of their own.
    layout = 1

    def __init__(self):
        self.layout = LAYOUT
        # record id (microseconds since the epoch × 1000 + random) → record
        self.records = RecordTree()
        self.record_count = Length()
        self.orders = IndexTree()
        self.buyers = IndexTree()
        self.expiry = ExpiryIndex()
        # The retention sweep's position in ``records`` (a record id).
        self.retention_cursor = 0


def add_receipt(storage: ClickBankStorage, email: str, receipt: str) -> None:
    """Note that the buyer ``email`` has the order ``receipt``.

    Every order of the buyer whose email is ``email`` gets the new list of
    receipts (``Order.buyer_receipts``): a notification of one of them then
    finds the buyer's other orders without reading the buyer. A buyer's new
    order so writes the buyer's other orders too, which is also what makes a
    concurrent notification of one of them conflict (and be retried) rather
    than decide without the new order.
    """
    if not email or not receipt:
        return
    order = storage.orders.get(receipt)
    if order is not None and order.email == email:
        known = order.buyer_receipts
        if known is not None and receipt in known:
            return  # the usual case: a later notification of a known order
    buyer = storage.buyers.get(email)
    if buyer is None:
        buyer = storage.buyers[email] = Buyer()
    if receipt not in buyer.receipts:
        buyer.receipts = buyer.receipts + (receipt,)
    for each in buyer.receipts:
        sibling = storage.orders.get(each)
        stale = sibling is not None and sibling.buyer_receipts != buyer.receipts
        if stale and sibling.email == email:
            sibling.buyer_receipts = buyer.receipts


def buyer_orders(
    storage: ClickBankStorage, email: str, receipt: str = ""
) -> tuple[list, object]:
    """The orders of the buyer ``email``, and the buyer object if it was read.

    ``receipt``: an order of the buyer, if the caller has one; its copy of the
    buyer's receipts spares reading the buyer.
    """
    order = storage.orders.get(receipt) if receipt else None
    buyer = None
    if order is not None and order.email == email and order.buyer_receipts:
        receipts = order.buyer_receipts
    else:
        buyer = storage.buyers.get(email) if email else None
        receipts = buyer.receipts if buyer is not None else ()
    found = (
        order if each == receipt else storage.orders.get(each)
        for each in sorted(receipts)
    )
    return [each for each in found if each is not None], buyer


def hold(*objects) -> None:
    """Let this transaction commit only if nobody else changed ``objects`` meanwhile.

    ZODB checks at commit that the persistent ``objects`` (read by this
    transaction) still have the serial they were read with (``readCurrent``); if
    one changed, the commit raises a ConflictError and Zope retries the request.
    A serial check costs less than writing the object to get the same conflict.
    Objects new in this transaction, and objects it writes, need no check.
    """
    for ob in objects:
        jar = getattr(ob, "_p_jar", None)
        if jar is not None and ob._p_oid is not None:
            ob._p_activate()  # a ghost has no serial to check
            jar.readCurrent(ob)


def receipts_of(storage: ClickBankStorage, email: str) -> tuple[str, ...]:
    """The original receipts of the buyer ``email`` (normalized by the caller)."""
    buyer = storage.buyers.get(email) if email else None
    return buyer.receipts if buyer is not None else ()


def get_order(storage: ClickBankStorage, receipt: str, create: bool = False):
    """The order of an original receipt; created if ``create``, else None."""
    order = storage.orders.get(receipt) if receipt else None
    if order is None and create and receipt:
        order = storage.orders[receipt] = Order(receipt)
    return order


def get_storage(portal=None, create: bool = True) -> ClickBankStorage | None:
    """Return the site's storage, creating it when ``create`` is true."""
    if portal is None:
        portal = api.portal.get()
    # Where zope.annotation's attribute annotations keep it: read it directly,
    # without the adapter lookup, on every notification.
    stored = getattr(aq_base(portal), "__annotations__", None)
    storage = stored.get(ANNOTATION_KEY) if stored is not None else None
    if storage is not None:
        return storage
    annotations = IAnnotations(portal)
    storage = annotations.get(ANNOTATION_KEY)
    if storage is None and create:
        storage = annotations[ANNOTATION_KEY] = ClickBankStorage()
    return storage
