"""The filters and paging of the log, as the admin gives them in a request form.

Shared by the log views and the REST services; :mod:`.queries` reads the log.
"""

import re
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta
from urllib.parse import urlencode

from niteoweb.clickbank.ins.model import original_receipt
from niteoweb.clickbank.members import normalize_email
from niteoweb.clickbank.storage.log import OUTCOMES
from niteoweb.clickbank.storage.log import first_record_id

#: Records on one page unless the request asks for another size.
DEFAULT_PAGE_SIZE = 50
#: The largest page a request may ask for.
MAX_PAGE_SIZE = 500
#: The outcome filter value that matches every outcome.
ALL_OUTCOMES = "all"
HIGHEST_ID = 2**63 - 1

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TRANSACTION_TYPE = re.compile(r"[A-Z0-9_-]{1,40}")


class InvalidLogQuery(ValueError):
    """A filter or paging parameter the admin must correct; the message says how."""


def _first_id(day: date) -> int:
    return first_record_id(datetime(day.year, day.month, day.day, tzinfo=UTC))


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
        high = _first_id(self.end + timedelta(days=1)) - 1 if self.end else HIGHEST_ID
        return low, high

    @property
    def original_receipt(self) -> str:
        """The original receipt of the ``receipt`` filter."""
        return original_receipt(self.receipt)

    def url(self, base: str, **params) -> str:
        """``base`` with the filters and ``params`` as query; empty ones left out."""
        params = {
            "email": self.email,
            "receipt": self.receipt,
            "type": self.transaction_type,
            "outcome": self.outcome,
            "from": self.start.isoformat() if self.start else "",
            "to": self.end.isoformat() if self.end else "",
            **params,
        }
        query = urlencode({k: v for k, v in params.items() if v not in ("", None)})
        return f"{base}?{query}" if query else base


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
    if _DATE.fullmatch(text):
        with suppress(ValueError):  # e.g. 2026-02-30
            return date.fromisoformat(text)
    raise InvalidLogQuery(f"'{name}' must be a date written as YYYY-MM-DD.")


def parse_query(form: Mapping) -> LogQuery:
    """The filters of a request form.

    Reads ``email``, ``receipt``, ``type``, ``outcome`` (or ``all``), ``from``
    and ``to`` (YYYY-MM-DD).

    :raises InvalidLogQuery: a bad filter.
    """
    transaction_type = _value(form, "type").upper()
    if transaction_type and not _TRANSACTION_TYPE.fullmatch(transaction_type):
        raise InvalidLogQuery("'type' must be a ClickBank transaction type.")
    outcome = _value(form, "outcome").lower()
    choices = (ALL_OUTCOMES,) + OUTCOMES
    if outcome and outcome not in choices:
        raise InvalidLogQuery(f"'outcome' must be one of: {', '.join(choices)}.")
    email = normalize_email(_value(form, "email"))
    receipt = _value(form, "receipt").upper()
    if len(email) > 254 or len(receipt) > 64:
        raise InvalidLogQuery("The email or receipt is too long.")
    query = LogQuery(
        email=email,
        receipt=receipt,
        transaction_type=transaction_type,
        outcome="" if outcome == ALL_OUTCOMES else outcome,
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


def parse_batch(form: Mapping) -> tuple[int, int]:
    """``(b_start, b_size)`` of a request form; ``page`` (from 1) sets ``b_start``.

    :raises InvalidLogQuery: a bad value.
    """
    b_size = _number(form, "b_size", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
    page = _number(form, "page", 0, 1, 10**6)
    b_start = _number(form, "b_start", (page - 1) * b_size if page else 0, 0, 10**9)
    return b_start, b_size
