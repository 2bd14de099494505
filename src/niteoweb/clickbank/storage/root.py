"""The persistent root of the add-on's data, in the site's annotations.

One object holds four BTrees, so that every lookup and every insert is
O(log n), and concurrent notifications for different buyers touch different
buckets (BTrees resolve those conflicts by themselves):

``records``
    record id → :class:`~niteoweb.clickbank.storage.log.NotificationRecord`.
``orders``
    original receipt → :class:`~niteoweb.clickbank.storage.orders.Order`.
``buyers``
    buyer email → :class:`~niteoweb.clickbank.storage.orders.Buyer`.
``expiry``
    ``(epoch seconds, receipt, itemNo)`` keys, what the expiry sweep reads
    (see :func:`niteoweb.clickbank.storage.expiry.due`).

Every bucket a transaction changes is written whole, so the trees use small
buckets (:data:`LEAF_SIZE`): the add-on's part of a SALE adds about 3.5 KB to
``Data.fs`` instead of 17 KB (see ``docs/performance.rst``).
"""

from BTrees.Length import Length
from BTrees.LOBTree import LOBTree
from BTrees.OOBTree import OOBTree
from BTrees.OOBTree import OOTreeSet
from persistent import Persistent
from plone import api
from zope.annotation.interfaces import IAnnotations

ANNOTATION_KEY = "niteoweb.clickbank.storage"
#: Items per bucket and children per inner node of the add-on's BTrees: a
#: bucket is rewritten whole on every insert, and BTrees' defaults (30 or 60)
#: cost 1-2 KB per tree and notification, these 0.3-0.6 KB.
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

    def __init__(self):
        # record id (microseconds since the epoch × 1000 + random) → record
        self.records = RecordTree()
        self.record_count = Length()
        self.orders = IndexTree()
        self.buyers = IndexTree()
        self.expiry = ExpiryIndex()
        # The retention sweep's position in ``records`` (a record id).
        self.retention_cursor = 0


def get_storage(portal=None, create: bool = True) -> ClickBankStorage | None:
    """The site's storage; created when ``create`` is true, else maybe None.

    :param portal: the Plone site; default: the current one.
    """
    annotations = IAnnotations(portal if portal is not None else api.portal.get())
    storage = annotations.get(ANNOTATION_KEY)
    if storage is None and create:
        storage = annotations[ANNOTATION_KEY] = ClickBankStorage()
    return storage


def read_storage() -> ClickBankStorage:
    """The site's storage, or an empty one (never saved) if nothing was received.

    For reading only: creating the storage would write to the database on a GET.
    """
    return get_storage(create=False) or ClickBankStorage()


def hold(*objects) -> None:
    """Let this transaction commit only if nobody else changed ``objects`` meanwhile.

    ZODB checks at commit that the persistent ``objects`` still have the serial
    they were read with (``readCurrent``), and raises a ConflictError (Zope
    retries) if not: cheaper than writing them to get the same conflict.
    Objects new in this transaction need no check.
    """
    for ob in objects:
        jar = getattr(ob, "_p_jar", None)
        if jar is not None and ob._p_oid is not None:
            ob._p_activate()  # a ghost has no serial to check
            jar.readCurrent(ob)
