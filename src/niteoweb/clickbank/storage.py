"""The persistent root of the add-on's data: the notification log and entitlements.

One object in the site's annotations holds BTrees only, so that every lookup and
every insert is O(log n) and concurrent notifications for different buyers touch
different buckets (BTrees resolve those conflicts by themselves).
"""

from BTrees.Length import Length
from BTrees.LOBTree import LOBTree
from BTrees.OOBTree import OOBTree
from BTrees.OOBTree import OOTreeSet
from persistent import Persistent
from plone import api
from zope.annotation.interfaces import IAnnotations

ANNOTATION_KEY = "niteoweb.clickbank.storage"


class ClickBankStorage(Persistent):
    """Indexes of the notification log and of the entitlements."""

    def __init__(self):
        # record id (microseconds since the epoch, unique) → NotificationRecord
        self.records = LOBTree()
        self.record_count = Length()
        # idempotency key → record id: a repeat of a notification finds itself here
        self.by_key = OOBTree()
        # buyer email → LLTreeSet of record ids (a member's history)
        self.by_email = OOBTree()
        # original receipt → LLTreeSet of record ids
        self.by_receipt = OOBTree()
        # (original receipt, itemNo) → Entitlement
        self.entitlements = OOBTree()
        # buyer email → OOTreeSet of entitlement keys
        self.entitlements_by_email = OOBTree()
        # original receipt → tuple of events that concern every item of the receipt
        self.receipt_events = OOBTree()
        # (valid_until as epoch seconds, receipt, itemNo): what the expiry sweep reads
        self.expiry = OOTreeSet()
        # buyer email → BuyerMark, written whenever the buyer's access is decided
        self.buyers = OOBTree()
        # "<expiry epoch>-<random>" → (userid, Plone reset key): welcome mail links
        self.password_tokens = OOBTree()


class BuyerMark(Persistent):
    """A per-buyer object every transaction deciding that buyer's access writes.

    Access is decided from all of a buyer's entitlements, but two notifications
    of one buyer (two refunds of two orders, say) may change *different*
    entitlements, which ZODB would merge without complaint: each transaction
    would decide on a state without the other's change. Both writing this
    object turns that into a conflict, and Zope retries the later one.
    """

    def __init__(self):
        self.decisions = 0


def mark_buyer(storage: ClickBankStorage, email: str) -> None:
    """Write the buyer's mark: concurrent decisions for one buyer now conflict."""
    if not email:
        return
    buyers = getattr(storage, "buyers", None)
    if buyers is None:  # a storage created by an earlier development version
        buyers = storage.buyers = OOBTree()
    mark = buyers.get(email)
    if mark is None:
        mark = buyers[email] = BuyerMark()
    mark.decisions += 1


def get_storage(portal=None, create: bool = True) -> ClickBankStorage | None:
    """Return the site's storage, creating it when ``create`` is true."""
    portal = portal if portal is not None else api.portal.get()
    annotations = IAnnotations(portal)
    storage = annotations.get(ANNOTATION_KEY)
    if storage is None and create:
        storage = annotations[ANNOTATION_KEY] = ClickBankStorage()
    return storage
