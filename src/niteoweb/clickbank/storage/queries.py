"""Read the notification log: pages, one buyer's or order's records, JSON values.

A page walks record ids newest first and stops when it is full; the log is
never loaded as a whole. An email or receipt filter walks the ids of that
buyer's orders or of that order instead, a date range is a range of ids.
"""

from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from itertools import islice

from BTrees.LLBTree import LLTreeSet

from niteoweb.clickbank.storage.filters import DEFAULT_PAGE_SIZE
from niteoweb.clickbank.storage.filters import HIGHEST_ID
from niteoweb.clickbank.storage.filters import LogQuery
from niteoweb.clickbank.storage.log import NotificationRecord
from niteoweb.clickbank.storage.orders import Entitlement
from niteoweb.clickbank.storage.orders import buyer_orders
from niteoweb.clickbank.storage.orders import get_order
from niteoweb.clickbank.storage.root import ClickBankStorage

#: The fields of a listed record, in order: the REST items and the CSV columns.
SUMMARY_FIELDS = (
    "id",
    "received",
    "transaction_time",
    "transaction_type",
    "receipt",
    "original_receipt",
    "email",
    "item_numbers",
    "outcome",
    "detail",
)


@dataclass(frozen=True)
class Page:
    """One page of the log, newest first.

    ``total`` is the number of matching records, or None when counting them
    would mean reading the whole log (a type or outcome filter on its own).
    """

    records: list[NotificationRecord]
    b_start: int
    b_size: int
    total: int | None
    has_next: bool

    @property
    def previous_start(self) -> int | None:
        """``b_start`` of the page of newer records; None on the first page."""
        return max(self.b_start - self.b_size, 0) if self.b_start else None

    @property
    def next_start(self) -> int | None:
        """``b_start`` of the page of older records; None on the last page."""
        return self.b_start + self.b_size if self.has_next else None


def record_ids(storage: ClickBankStorage, email="", receipt="") -> LLTreeSet:
    """Ids of the records of a buyer and/or an original receipt.

    Built in memory (never stored): an order has a few dozen records, a buyer
    a few orders.
    """
    if email:
        owned = [o for o in buyer_orders(storage, email) if receipt in ("", o.receipt)]
    else:
        owned = [get_order(storage, receipt)]
    ids = LLTreeSet()
    for order in owned:
        if order is not None:
            ids.update(order.seen.values())
    return ids


def _records(storage: ClickBankStorage, ids) -> list[NotificationRecord]:
    return [storage.records[i] for i in reversed(list(ids))]


def history(storage: ClickBankStorage, email: str) -> list[NotificationRecord]:
    """Every recorded notification of the buyer ``email``, newest first."""
    return _records(storage, record_ids(storage, email=email))


def for_receipt(storage: ClickBankStorage, receipt: str) -> list[NotificationRecord]:
    """Every recorded notification of an original receipt, newest first."""
    return _records(storage, record_ids(storage, receipt=receipt))


def newest(storage: ClickBankStorage, limit: int = 50) -> list[NotificationRecord]:
    """The ``limit`` most recent records, newest first."""
    return list(islice(iter_records(storage, LogQuery()), limit))


def _newest_first(ids, low: int, high: int) -> Iterator[int]:
    """Keys of a BTree or TreeSet within ``[low, high]``, newest first, lazily."""
    with suppress(ValueError):  # no key is left at or below ``key``
        key = ids.maxKey(high)
        while key >= low:
            yield key
            key = ids.maxKey(key - 1)


def _candidates(storage: ClickBankStorage, query: LogQuery):
    """The ids to walk: the whole log, or those of a buyer or an order."""
    if not (query.email or query.receipt):
        return storage.records
    receipt = query.original_receipt if query.receipt else ""
    return record_ids(storage, email=query.email, receipt=receipt)


def _scans(query: LogQuery) -> bool:
    """Whether ``query`` has filters no index answers: records must be read."""
    rebill = query.receipt != query.original_receipt
    return bool(rebill or query.transaction_type or query.outcome)


def _matches(query: LogQuery, record: NotificationRecord) -> bool:
    return (
        query.receipt in ("", query.original_receipt, record.receipt)
        and query.transaction_type in ("", record.transaction_type)
        and query.outcome in ("", record.outcome)
    )


def _matching_ids(storage: ClickBankStorage, query: LogQuery) -> Iterator[int]:
    matching = _newest_first(_candidates(storage, query), *query.id_range)
    if _scans(query):
        matching = (i for i in matching if _matches(query, storage.records[i]))
    return matching


def count(storage: ClickBankStorage, query: LogQuery) -> int | None:
    """The number of records matching ``query``; None if only a scan could tell.

    Without a type, outcome or rebill filter only ids are counted, no record is read.
    """
    ids = _candidates(storage, query)
    if _scans(query):
        if ids is storage.records:
            return None
        return sum(1 for _ in _matching_ids(storage, query))
    if ids is storage.records and query.id_range == (0, HIGHEST_ID):
        return storage.record_count()
    return len(ids.keys(*query.id_range))


def search(
    storage: ClickBankStorage,
    query: LogQuery,
    b_start: int = 0,
    b_size: int = DEFAULT_PAGE_SIZE,
) -> Page:
    """The page of records matching ``query`` that starts at ``b_start``."""
    ids = list(islice(_matching_ids(storage, query), b_start, b_start + b_size + 1))
    records = [storage.records[i] for i in ids[:b_size]]
    has_next = len(ids) > b_size
    total = count(storage, query)
    if total is None and not has_next and (records or not b_start):
        total = b_start + len(records)  # the last page tells the total
    return Page(records, b_start, b_size, total, has_next)


def iter_records(
    storage: ClickBankStorage, query: LogQuery
) -> Iterator[NotificationRecord]:
    """Every record matching ``query``, newest first, one at a time."""
    return (storage.records[i] for i in _matching_ids(storage, query))


def get_record(storage: ClickBankStorage, record_id) -> NotificationRecord | None:
    """The record with id ``record_id`` (an int or its digits), or None."""
    text = str(record_id).strip()
    if not text.isdigit() or len(text) > 19:
        return None
    return storage.records.get(int(text))


def summary(record: NotificationRecord) -> dict:
    """A record as JSON-ready values (:data:`SUMMARY_FIELDS`), without the payload."""
    values = {name: getattr(record, name) for name in SUMMARY_FIELDS}
    values["received"] = record.received.isoformat()
    values["transaction_time"] = record.transaction_time.isoformat()
    values["item_numbers"] = list(record.item_numbers)
    return values


def entitlement_summary(entitlement: Entitlement) -> dict:
    """An entitlement as JSON-ready values."""
    valid_until = entitlement.valid_until
    return {
        "receipt": entitlement.original_receipt,
        "item_no": entitlement.item_no,
        "product_title": entitlement.product_title,
        "state": entitlement.state,
        "valid_until": valid_until and valid_until.isoformat(),
        "recurring": bool(entitlement.recurring),
        "grants_access": entitlement.grants_access,
    }
