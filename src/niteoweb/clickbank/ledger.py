"""The notification log: every authentic notification, once, with its outcome.

The idempotency key of a notification (see
:func:`niteoweb.clickbank.ins.idempotency_key`) is stored in a BTree; a
notification whose key is there already is a repeat and must change nothing.
Two concurrent copies of one notification insert the same key into the same
bucket, which ZODB refuses as a conflict: one of the two requests is retried,
finds the key, and is answered as a duplicate.
"""

import random
import time
from datetime import UTC
from datetime import datetime

from BTrees.LLBTree import LLTreeSet
from persistent import Persistent

from niteoweb.clickbank.storage import ClickBankStorage

#: Outcomes a record can have.
OUTCOMES = (
    "created",  # a new member was created and given access
    "granted",  # an existing member was given access
    "revoked",  # a member lost access
    "updated",  # entitlement or member data changed, access unchanged
    "recorded",  # recorded only (no member yet, e.g. a refund before its sale)
    "protected",  # the account holds roles that manage the site: left untouched
    "ignored-test",
    "ignored-role",
    "ignored-vendor",
    "ignored-type",
    "rejected",  # authentic, but unusable (e.g. no valid email for a sale)
)


class NotificationRecord(Persistent):
    """One received notification, as shown in the log."""

    def __init__(self, record_id, key, notification, outcome, detail="", email=""):
        self.id = record_id
        self.key = key
        self.received = datetime.now(UTC)
        self.receipt = notification.receipt
        self.original_receipt = notification.original_receipt
        self.transaction_type = notification.transaction_type
        self.transaction_time = notification.transaction_time
        self.role = notification.role
        self.vendor = notification.vendor
        self.item_numbers = tuple(notification.item_numbers)
        self.attempt_count = notification.attempt_count
        self.email = email
        self.outcome = outcome
        self.detail = detail
        # The decrypted notification: customer data, shown only in the admin views
        # and blanked by the retention sweep.
        self.payload = notification.payload

    def __repr__(self):
        return (
            f"<NotificationRecord {self.id} {self.transaction_type} {self.receipt} "
            f"{self.outcome}>"
        )


def _new_record_id(storage: ClickBankStorage) -> int:
    # Time-ordered and random in the low bits, so concurrent requests rarely pick
    # the same id (and ZODB turns the rare clash into a retry).
    record_id = time.time_ns() // 1000 * 1000 + random.randrange(1000)
    while record_id in storage.records:
        record_id += 1
    return record_id


def find(storage: ClickBankStorage, key: str) -> NotificationRecord | None:
    """Return the record of the notification with idempotency ``key``, if any."""
    record_id = storage.by_key.get(key)
    return None if record_id is None else storage.records[record_id]


def record(
    storage: ClickBankStorage,
    key: str,
    notification,
    outcome: str,
    detail: str = "",
    email: str = "",
) -> NotificationRecord:
    """Store a notification with its outcome; returns the new record.

    Raises ``KeyError`` if ``key`` is recorded already (callers check with
    :func:`find` first) and ``ValueError`` for an unknown outcome.
    """
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}; one of {OUTCOMES}")
    if key in storage.by_key:
        raise KeyError(f"notification {key} is recorded already")
    record_id = _new_record_id(storage)
    entry = NotificationRecord(record_id, key, notification, outcome, detail, email)
    storage.records[record_id] = entry
    storage.record_count.change(1)
    storage.by_key[key] = record_id
    _index(storage.by_email, email, record_id)
    _index(storage.by_receipt, notification.original_receipt, record_id)
    return entry


def _index(tree, value: str, record_id: int) -> None:
    if not value:
        return
    ids = tree.get(value)
    if ids is None:
        ids = tree[value] = LLTreeSet()
    ids.add(record_id)


def history(storage: ClickBankStorage, email: str) -> list[NotificationRecord]:
    """Every recorded notification of the buyer ``email``, newest first."""
    ids = storage.by_email.get((email or "").strip().lower(), ())
    return [storage.records[i] for i in reversed(list(ids))]


def for_receipt(storage: ClickBankStorage, receipt: str) -> list[NotificationRecord]:
    """Every recorded notification of an original receipt, newest first."""
    ids = storage.by_receipt.get(receipt, ())
    return [storage.records[i] for i in reversed(list(ids))]


def newest(storage: ClickBankStorage, limit: int = 50) -> list[NotificationRecord]:
    """The ``limit`` most recent records, newest first."""
    result = []
    for record_id in reversed(storage.records.keys()):
        if len(result) >= limit:
            break
        result.append(storage.records[record_id])
    return result
