"""The notification log: every authentic notification, once, with its outcome.

The idempotency rule: the key of a notification (:func:`idempotency_key`) is
kept, as a 16-byte digest, in the ``seen`` mapping of its order; a repeat
changes nothing. Two concurrent copies of one notification both change that
order, which ZODB refuses as a conflict: the retried request finds the key.

A record keeps the decrypted notification as JSON compressed with zlib and a
preset dictionary (:data:`PAYLOAD_DICTIONARY`): a quarter of the pickled dict.
"""

import hashlib
import json
import random
import time
import zlib
from datetime import UTC
from datetime import datetime

from persistent import Persistent

from niteoweb.clickbank.storage.orders import Order
from niteoweb.clickbank.storage.orders import epoch_micros
from niteoweb.clickbank.storage.orders import from_epoch_micros
from niteoweb.clickbank.storage.orders import note_record
from niteoweb.clickbank.storage.root import ClickBankStorage

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
#: values of an INS v6+ notification. Never change this text: the stored
#: payloads need it to be read.
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


def idempotency_key(notification) -> str:
    """Return a SHA-256 hex digest that is equal for retries of one notification.

    Covers receipt, transaction type, transaction time (as UTC), role, vendor
    (case-insensitive) and the item numbers (in any order); not the attempt count.
    """
    canonical = {
        "receipt": notification.receipt,
        "transactionType": notification.transaction_type,
        "transactionTime": notification.transaction_time.astimezone(UTC).isoformat(),
        "role": notification.role,
        "vendor": notification.vendor.lower(),
        "itemNumbers": sorted(notification.item_numbers),
    }
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class NotificationRecord(Persistent):
    """One received notification, as shown in the log."""

    detail = ""  # stored on the record only when there is one

    def __init__(self, record_id, key, notification, outcome, detail="", email=""):
        self.id = record_id
        self.key = key
        self.receipt = notification.receipt
        self.original_receipt = notification.original_receipt
        self.transaction_type = notification.transaction_type
        # As ISO text: a datetime brings its time zone's classes into the pickle.
        self._transaction_time = notification.transaction_time.isoformat()
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
        return from_epoch_micros(self.id // 1000)

    @property
    def transaction_time(self) -> datetime:
        """The notification's ``transactionTime``, with the offset it came with."""
        return datetime.fromisoformat(self._transaction_time)

    @property
    def payload(self) -> dict | None:
        """The decrypted notification; None once the retention sweep blanked it."""
        if self._payload is None:
            return None
        unpacker = zlib.decompressobj(zdict=PAYLOAD_DICTIONARY)
        return json.loads(unpacker.decompress(self._payload) + unpacker.flush())

    @payload.setter
    def payload(self, value: dict | None) -> None:
        self._payload = None
        if value is not None:
            text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
            packer = zlib.compressobj(9, zdict=PAYLOAD_DICTIONARY)
            self._payload = packer.compress(text.encode("utf-8")) + packer.flush()

    def __repr__(self):
        return (
            f"<NotificationRecord {self.id} {self.transaction_type} {self.receipt} "
            f"{self.outcome}>"
        )


def first_record_id(moment: datetime) -> int:
    """The smallest record id of a notification received at ``moment``."""
    return epoch_micros(moment) * 1000


def _digest(key: str) -> bytes:
    """The 16 bytes of an idempotency key (a SHA-256 hex digest) that are kept."""
    return bytes.fromhex(key)[:16]


def find(storage: ClickBankStorage, order: Order, key: str):
    """The record of ``order``'s notification with idempotency ``key``, or None."""
    record_id = order.seen.get(_digest(key))
    return None if record_id is None else storage.records[record_id]


def record(
    storage: ClickBankStorage,
    order: Order,
    key: str,
    notification,
    outcome: str,
    detail: str = "",
    email: str = "",
) -> NotificationRecord:
    """Store a notification of ``order`` with its outcome; returns the new record.

    :param email: the buyer it was applied to, or the email it came with.
    :raises KeyError: ``key`` is recorded already (check with :func:`find`).
    :raises ValueError: an unknown outcome.
    """
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}; one of {OUTCOMES}")
    if _digest(key) in order.seen:
        raise KeyError(f"notification {key} is recorded already")
    # The time of receipt, random in the low bits: concurrent requests rarely
    # pick the same id (and ZODB turns the rare clash into a retry).
    record_id = time.time_ns() // 1000 * 1000 + random.randrange(1000)
    while record_id in storage.records:
        record_id += 1
    entry = NotificationRecord(record_id, key, notification, outcome, detail, email)
    storage.records[record_id] = entry
    storage.record_count.change(1)
    note_record(storage, order, _digest(key), record_id, email)
    return entry
