"""The persistent root of the add-on's data, in the site's annotations.

Concurrent notifications for different buyers touch different buckets of its
BTrees, whose conflicts BTrees resolve by themselves.
"""

from BTrees.Length import Length
from BTrees.LOBTree import LOBTree
from BTrees.OOBTree import OOBTree
from BTrees.OOBTree import OOTreeSet
from persistent import Persistent
from plone import api
from zope.annotation.interfaces import IAnnotations

ANNOTATION_KEY = "niteoweb.clickbank.storage"
#: Items per bucket and children per inner node: a bucket is written whole on
#: every insert, and BTrees' defaults (30 or 60) cost 1-2 KB per tree and
#: notification, these 0.3-0.6 KB (see ``docs/performance.rst``).
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
    """The storage of ``portal`` (default: the current site); None if there is
    none and not ``create``."""
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

    ZODB checks their serials at commit (``readCurrent``) and raises a
    ConflictError, which Zope retries: cheaper than writing them for the same.
    """
    for ob in objects:
        jar = getattr(ob, "_p_jar", None)
        if jar is not None and ob._p_oid is not None:
            ob._p_activate()  # a ghost has no serial to check
            jar.readCurrent(ob)
