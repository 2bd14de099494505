"""Read the notification log: filters, newest-first pages, one buyer's records.

A page is found by walking record ids newest first and stopping when it is full;
the log is never loaded as a whole. An email or receipt filter walks the record
ids of that buyer's orders or of that order (:func:`ledger.record_ids`) instead
of the log. A date range is a range of record ids: an id is the time of receipt in
microseconds since the epoch, times 1000, plus a random number below 1000 (see
``ledger._new_record_id``).

The JSON-ready values of a record or an entitlement are made in
:mod:`niteoweb.clickbank.logsummary` (and importable from here too).
"""

import re
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta
from itertools import islice

from niteoweb.clickbank.ins.model import original_receipt
from niteoweb.clickbank.ledger import OUTCOMES
from niteoweb.clickbank.ledger import NotificationRecord
from niteoweb.clickbank.ledger import record_ids
from niteoweb.clickbank.logsummary import entitlement_summary  # noqa: F401
from niteoweb.clickbank.logsummary import payload_json  # noqa: F401
from niteoweb.clickbank.logsummary import summary  # noqa: F401
from niteoweb.clickbank.storage import ClickBankStorage
from niteoweb.clickbank.storage import get_storage

#: Records on one page unless the request asks for another size.
DEFAULT_PAGE_SIZE = 50
#: The largest page a request may ask for.
MAX_PAGE_SIZE = 500
#: The outcome filter value that matches every outcome.
ALL_OUTCOMES = "all"

#: Record ids per second of receipt time.
_IDS_PER_SECOND = 1_000_000 * 1000
_HIGHEST_ID = 2**63 - 1
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TRANSACTION_TYPE = re.compile(r"[A-Z0-9_-]{1,40}")


class InvalidLogQuery(ValueError):
    """A filter or paging parameter the admin must correct; the message says how."""


@dataclass(frozen=True)
class LogQuery:
    """Filters of the log; an empty filter matches every record.

    ``start`` and ``end`` are days (UTC) on which a notification was received,
    both inclusive. ``receipt`` may be an original receipt (the whole order) or
    a rebill receipt (that rebill only).
    """

    email: str = ""
    receipt: str = ""
    transaction_type: str = ""
    outcome: str = ""
    start: date | None = None
    end: date | None = None

    @property
    def id_range(self) -> tuple[int, int]:
        """The lowest and highest record id received within the date range."""
        low = _first_id(self.start) if self.start else 0
        high = _first_id(self.end + timedelta(days=1)) - 1 if self.end else _HIGHEST_ID
        return low, high

    @property
    def original_receipt(self) -> str:
        """The original receipt of the ``receipt`` filter."""
        return original_receipt(self.receipt)

    def params(self) -> dict[str, str]:
        """The filters as request parameters, for links; empty ones are left out."""
        params = {
            "email": self.email,
            "receipt": self.receipt,
            "type": self.transaction_type,
            "outcome": self.outcome,
            "from": self.start.isoformat() if self.start else "",
            "to": self.end.isoformat() if self.end else "",
        }
        return {name: value for name, value in params.items() if value}


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
    def has_previous(self) -> bool:
        """Whether there are newer records before this page."""
        return self.b_start > 0


def read_storage() -> ClickBankStorage:
    """The site's storage, or an empty one (never saved) if nothing was received."""
    # Creating the storage here would write to the database on a GET.
    return get_storage(create=False) or ClickBankStorage()


def _first_id(day: date) -> int:
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return int(midnight.timestamp()) * _IDS_PER_SECOND


def _value(form: Mapping, name: str) -> str:
    value = form.get(name, "")
    if isinstance(value, list | tuple):
        raise InvalidLogQuery(f"Give '{name}' only once.")
    if not isinstance(value, str):
        raise InvalidLogQuery(f"'{name}' must be text.")
    return value.strip()


def _day(form: Mapping, name: str) -> date | None:
    text = _value(form, name)
    if not text:
        return None
    try:
        if not _DATE.fullmatch(text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidLogQuery(f"'{name}' must be a date written as YYYY-MM-DD.")


def parse_query(form: Mapping) -> LogQuery:
    """The filters of a request form; raises :class:`InvalidLogQuery` if one is bad.

    Reads ``email``, ``receipt``, ``type``, ``outcome`` (or ``all``), ``from``
    and ``to`` (YYYY-MM-DD).
    """
    transaction_type = _value(form, "type").upper()
    if transaction_type and not _TRANSACTION_TYPE.fullmatch(transaction_type):
        raise InvalidLogQuery("'type' must be a ClickBank transaction type.")
    outcome = _value(form, "outcome").lower()
    if outcome == ALL_OUTCOMES:
        outcome = ""
    if outcome and outcome not in OUTCOMES:
        choices = ", ".join((ALL_OUTCOMES,) + OUTCOMES)
        raise InvalidLogQuery(f"'outcome' must be one of: {choices}.")
    email, receipt = _value(form, "email").lower(), _value(form, "receipt").upper()
    if len(email) > 254 or len(receipt) > 64:
        raise InvalidLogQuery("The email or receipt is too long.")
    query = LogQuery(
        email=email,
        receipt=receipt,
        transaction_type=transaction_type,
        outcome=outcome,
        start=_day(form, "from"),
        end=_day(form, "to"),
    )
    if query.start and query.end and query.start > query.end:
        raise InvalidLogQuery("'from' must not be after 'to'.")
    return query


def _number(form: Mapping, name: str, default: int, low: int, high: int) -> int:
    text = _value(form, name)
    if not text:
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        raise InvalidLogQuery(f"'{name}' must be a whole number from {low} to {high}.")
    return int(text)


def parse_batch(
    form: Mapping, default_size: int = DEFAULT_PAGE_SIZE
) -> tuple[int, int]:
    """``(b_start, b_size)`` of a request form; ``page`` (from 1) sets ``b_start``.

    Raises :class:`InvalidLogQuery` for a bad value.
    """
    b_size = _number(form, "b_size", default_size, 1, MAX_PAGE_SIZE)
    page = _number(form, "page", 0, 1, 10**6)
    b_start = _number(form, "b_start", (page - 1) * b_size if page else 0, 0, 10**9)
    return b_start, b_size


def _newest_first(ids, low: int, high: int) -> Iterator[int]:
    """Keys of a BTree or TreeSet within ``[low, high]``, newest first, lazily."""
    key = high
    while key >= low:
        try:
            key = ids.maxKey(key)
        except ValueError:  # no key at or below ``key``
            return
        if key < low:
            return
        yield key
        key -= 1


def _candidates(storage: ClickBankStorage, query: LogQuery):
    """The ids to walk: the whole log, or those of a buyer or an order; or None."""
    if not (query.email or query.receipt):
        return storage.records
    receipt = query.original_receipt if query.receipt else ""
    return record_ids(storage, email=query.email, receipt=receipt)


def _record_test(query: LogQuery) -> Callable[[NotificationRecord], bool] | None:
    """A test of the filters no index answers, or None if there are none."""
    tests = []
    if query.receipt and query.receipt != query.original_receipt:
        tests.append(lambda record: record.receipt == query.receipt)
    if query.transaction_type:
        tests.append(lambda record: record.transaction_type == query.transaction_type)
    if query.outcome:
        tests.append(lambda record: record.outcome == query.outcome)
    if not tests:
        return None
    return lambda record: all(test(record) for test in tests)


def _matching_ids(storage: ClickBankStorage, query: LogQuery) -> Iterator[int]:
    ids = _candidates(storage, query)
    if ids is None:
        return iter(())
    matching = _newest_first(ids, *query.id_range)
    record_test = _record_test(query)
    if record_test is not None:
        matching = (i for i in matching if record_test(storage.records[i]))
    return matching


def count(storage: ClickBankStorage, query: LogQuery) -> int | None:
    """The number of records matching ``query``; None if only a scan could tell.

    That is a type, outcome or rebill filter without an email or receipt filter.
    Without such filters only ids are counted, no record is read.
    """
    ids = _candidates(storage, query)
    if ids is None:
        return 0
    if _record_test(query) is not None and ids is storage.records:
        return None
    if _record_test(query) is None:
        if ids is storage.records and query.id_range == (0, _HIGHEST_ID):
            return storage.record_count()
        return len(ids.keys(*query.id_range))
    return sum(1 for _ in _matching_ids(storage, query))


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
    for record_id in _matching_ids(storage, query):
        yield storage.records[record_id]


def get_record(storage: ClickBankStorage, record_id) -> NotificationRecord | None:
    """The record with id ``record_id`` (an int or its digits), or None."""
    text = str(record_id).strip()
    if not text.isdigit() or len(text) > 19:
        return None
    return storage.records.get(int(text))
