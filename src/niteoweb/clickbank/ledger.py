"""The notification log: every authentic notification, once, with its outcome.

The idempotency key of a notification (see
:func:`niteoweb.clickbank.ins.idempotency_key`) is kept, as a 16-byte digest,
in the ``seen`` mapping of its order; a notification whose key is there already
is a repeat and must change nothing. Two concurrent copies of one notification
both change that order, which ZODB refuses as a conflict: one of the two
requests is retried, finds the key, and is answered as a duplicate.

A record keeps the decrypted notification (customer data, shown only in the
admin views and blanked by the retention sweep) as compact JSON compressed with
zlib and a preset dictionary of INS field names (:data:`PAYLOAD_DICTIONARY`):
about a quarter of the bytes of the pickled dict. The time of receipt is not
stored: it is part of the record id.
"""

import json
import random
import time
import zlib
from datetime import datetime

from BTrees.LLBTree import LLTreeSet
from persistent import Persistent

from niteoweb.clickbank.orders import from_epoch_micros
from niteoweb.clickbank.storage import ClickBankStorage
from niteoweb.clickbank.storage import add_receipt
from niteoweb.clickbank.storage import get_order
from niteoweb.clickbank.storage import receipts_of

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


#: zlib's preset dictionary for stored payloads: the field names and common
#: values of an INS v6+ notification. Records written with it start with
#: :data:`_DICTIONARY_V1`; never change this text, add a new version instead.
PAYLOAD_DICTIONARY = (
    b'"shippable":false,"recurring":false,"vendorVariables":{},"upsell":{},'
    b'"hopfeed":{},"trackingCodes":[],"downloadUrl":"https://","lineItemType":'
    b'"ORIGINAL","paymentPlan":{"rebillStatus":"ACTIVE","rebillFrequency":'
    b'"MONTHLY","rebillAmount":,"paymentsProcessed":,"paymentsRemaining":,'
    b'"nextPaymentDate":"T00:00:00-07:00"}}],"totalAccountAmount":'
    b'"paymentMethod":"VISA","totalOrderAmount":,"totalTaxAmount":0.0,'
    b'"totalShippingAmount":0.0,"currency":"USD","orderLanguage":"EN",'
    b'"version":6.0,"attemptCount":1,"customer":{"shipping":{"firstName":"",'
    b'"lastName":"","fullName":"","phoneNumber":"","email":"@gmail.com",'
    b'"address":{"address1":"","address2":"","city":"","county":"","state":"",'
    b'"postalCode":"","country":"US"}},"billing":{"firstName":"","lastName":"",'
    b'"fullName":"","phoneNumber":"","email":"","address":{"state":"",'
    b'"postalCode":"","country":"US"}}},"lineItems":[{"itemNo":"",'
    b'"productTitle":"","shippable":false,"recurring":true,"accountAmount":,'
    b'"quantity":1,{"transactionTime":"T00:00:00-07:00","receipt":"",'
    b'"transactionType":"SALE","vendor":"","affiliate":"","role":"VENDOR",'
)
_DICTIONARY_V1 = b"\x01"


def pack_payload(payload: dict) -> bytes:
    """``payload`` as stored: compact JSON, compressed with the dictionary."""
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    packer = zlib.compressobj(9, zdict=PAYLOAD_DICTIONARY)
    return _DICTIONARY_V1 + packer.compress(text.encode("utf-8")) + packer.flush()


def unpack_payload(data: bytes) -> dict:
    """The payload :func:`pack_payload` stored (or a plain zlib stream)."""
    if data[:1] == _DICTIONARY_V1:
        unpacker = zlib.decompressobj(zdict=PAYLOAD_DICTIONARY)
        return json.loads(unpacker.decompress(data[1:]) + unpacker.flush())
    return json.loads(zlib.decompress(data))


class NotificationRecord(Persistent):
    """One received notification, as shown in the log."""

    detail = ""  # set on the record only when there is one

    def __init__(self, record_id, key, notification, outcome, detail="", email=""):
        self.id = record_id
        self.key = key
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
        if detail:
            self.detail = detail
        self.payload = notification.payload

    @property
    def received(self) -> datetime:
        """When the notification was received (from the record id)."""
        self._p_activate()
        stored = self.__dict__.get("received")  # records of the first layout
        if stored is not None:
            return stored
        return from_epoch_micros(self.id // 1000)

    @property
    def transaction_time(self) -> datetime:
        """The notification's ``transactionTime``, with the offset it came with."""
        self._p_activate()
        stored = self.__dict__.get("_transaction_time")
        if stored is None:  # a record of an earlier version: a datetime
            return self.__dict__.get("transaction_time")
        return datetime.fromisoformat(stored)

    @transaction_time.setter
    def transaction_time(self, value: datetime) -> None:
        # Stored as its ISO text: a datetime carries its time zone's classes
        # into the pickle, about 55 bytes more per record.
        self._p_activate()
        self.__dict__.pop("transaction_time", None)
        self._transaction_time = value.isoformat()

    @property
    def payload(self) -> dict | None:
        """The decrypted notification; None once the retention sweep blanked it."""
        self._p_activate()  # ``__dict__`` of a ghost is empty
        data = self.__dict__.get("_payload")
        if data is None:  # a record of the first layout, not migrated (yet)
            return self.__dict__.get("payload")
        return unpack_payload(data)

    @payload.setter
    def payload(self, value: dict | None) -> None:
        self._p_activate()
        self.__dict__.pop("payload", None)
        if value is None:
            self._payload = None
            return
        self._payload = pack_payload(value)

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


def digest(key: str) -> bytes:
    """The 16 bytes of an idempotency key (a SHA-256 hex digest) that are kept."""
    return bytes.fromhex(key)[:16]


def find(storage: ClickBankStorage, key: str, receipt: str):
    """The record of the notification with idempotency ``key``, if any.

    ``receipt`` is the notification's original receipt: the key is looked up
    in that order.
    """
    order = get_order(storage, receipt)
    record_id = order.seen.get(digest(key)) if order is not None else None
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
    order = get_order(storage, notification.original_receipt, create=True)
    if digest(key) in order.seen:
        raise KeyError(f"notification {key} is recorded already")
    record_id = _new_record_id(storage)
    entry = NotificationRecord(record_id, key, notification, outcome, detail, email)
    storage.records[record_id] = entry
    storage.record_count.change(1)
    order.seen[digest(key)] = record_id
    order._p_changed = True
    if email:
        order.email = order.email or email
        add_receipt(storage, email, order.receipt)
    return entry


def record_ids(storage: ClickBankStorage, email="", receipt="") -> LLTreeSet | None:
    """Ids of the records of a buyer and/or an original receipt; None if unknown.

    A buyer's records are those of their orders. The set is built in memory
    (never stored); an order has a few dozen records, a buyer a few orders.
    """
    if email:
        receipts = receipts_of(storage, email)
        if not receipts or (receipt and receipt not in receipts):
            return None
        receipts = (receipt,) if receipt else receipts
    else:
        receipts = (receipt,) if get_order(storage, receipt) is not None else ()
        if not receipts:
            return None
    ids = LLTreeSet()
    for each in receipts:
        ids.update(get_order(storage, each).seen.values())
    return ids


def history(storage: ClickBankStorage, email: str) -> list[NotificationRecord]:
    """Every recorded notification of the buyer ``email``, newest first."""
    ids = record_ids(storage, email=(email or "").strip().lower()) or ()
    return [storage.records[i] for i in reversed(list(ids))]


def for_receipt(storage: ClickBankStorage, receipt: str) -> list[NotificationRecord]:
    """Every recorded notification of an original receipt, newest first."""
    ids = record_ids(storage, receipt=receipt) or ()
    return [storage.records[i] for i in reversed(list(ids))]


def newest(storage: ClickBankStorage, limit: int = 50) -> list[NotificationRecord]:
    """The ``limit`` most recent records, newest first."""
    result = []
    for record_id in reversed(storage.records.keys()):
        if len(result) >= limit:
            break
        result.append(storage.records[record_id])
    return result
