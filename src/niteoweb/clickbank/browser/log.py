"""The transaction log in Classic UI, for site managers.

Customer data beyond the email is shown only on one record's and one buyer's page.
"""

import csv
import io
import json
from datetime import UTC
from datetime import datetime
from urllib.parse import urlencode

from Products.Five.browser import BrowserView
from Products.Five.browser.pagetemplatefile import ViewPageTemplateFile
from zExceptions import NotFound

from niteoweb.clickbank import _
from niteoweb.clickbank import members
from niteoweb.clickbank.lifecycle import TRANSACTION_TYPES
from niteoweb.clickbank.storage import filters
from niteoweb.clickbank.storage import queries
from niteoweb.clickbank.storage.log import OUTCOMES
from niteoweb.clickbank.storage.log import NotificationRecord
from niteoweb.clickbank.storage.orders import for_buyer
from niteoweb.clickbank.storage.root import read_storage

# A spreadsheet reads a cell starting with one of these as a formula.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def display_time(value: datetime | None) -> str:
    """A time as ``YYYY-MM-DD HH:MM:SS UTC``; "" for None."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if value else ""


def spreadsheet_safe(value: str) -> str:
    """``value``, prefixed with ``'`` if a spreadsheet would run it as a formula."""
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


class LogPage(BrowserView):
    """Links and row formatting shared by the log views."""

    def page_url(self, view: str, **params) -> str:
        """The URL of ``@@view`` on the site root, with ``params`` as its query."""
        url = f"{self.context.absolute_url()}/@@{view}"
        return f"{url}?{urlencode(params)}" if params else url

    def member_url(self, email: str) -> str | None:
        """The page of the buyer ``email``; None without an email."""
        return self.page_url("clickbank-member", email=email) if email else None

    def row(self, record: NotificationRecord) -> dict:
        """A record as shown in a table: summary values, display times and links."""
        return {
            **queries.summary(record),
            "received": display_time(record.received),
            "transaction_time": display_time(record.transaction_time),
            "item_numbers": ", ".join(record.item_numbers),
            "entry_url": self.page_url("clickbank-log-entry", id=record.id),
            "member_url": self.member_url(record.email),
        }


class LogView(LogPage):
    """``@@clickbank-log``: the notification log, newest first, filtered and paged."""

    index = ViewPageTemplateFile("templates/log.pt")
    error = None
    page = None
    #: Choices of the outcome filter.
    outcomes = (filters.ALL_OUTCOMES,) + OUTCOMES
    #: Known transaction types, offered while typing the type filter.
    transaction_types = sorted(TRANSACTION_TYPES)

    def __call__(self):
        try:
            self.query = filters.parse_query(self.request.form)
            b_start, b_size = filters.parse_batch(self.request.form)
        except filters.InvalidLogQuery as error:
            self.error = str(error)
            self.request.response.setStatus(400)
        else:
            self.page = queries.search(read_storage(), self.query, b_start, b_size)
        return self.index()

    def submitted(self, name: str) -> str:
        """The value the admin typed into filter ``name``, to show it back."""
        value = self.request.form.get(name, "")
        return value if isinstance(value, str) else ""

    @property
    def rows(self) -> list[dict]:
        """The rows of this page."""
        return [self.row(record) for record in self.page.records]

    @property
    def csv_url(self) -> str:
        """The CSV export of every record matching the current filters."""
        return self.query.url(self.page_url("clickbank-log.csv"))

    def batch_url(self, b_start: int | None) -> str | None:
        """The page of the current filters starting at ``b_start``; None for None."""
        if b_start is None:
            return None
        size = self.page.b_size
        return self.query.url(
            self.page_url("clickbank-log"),
            b_start=b_start or None,
            b_size=None if size == filters.DEFAULT_PAGE_SIZE else size,
        )

    @property
    def range_text(self):
        """Which records this page shows, e.g. "Records 1–50 of 60"."""
        page = self.page
        if not page.records:
            return _("No notification matches.")
        mapping = {
            "first": page.b_start + 1,
            "last": page.b_start + len(page.records),
            "total": page.total,
        }
        if page.total is None:
            return _("Records ${first}–${last}", mapping=mapping)
        return _("Records ${first}–${last} of ${total}", mapping=mapping)


class LogCSVView(LogPage):
    """``@@clickbank-log.csv``: every record matching the filters, as a download."""

    def __call__(self):
        response = self.request.response
        try:
            query = filters.parse_query(self.request.form)
        except filters.InvalidLogQuery as error:
            response.setStatus(400)
            response.setHeader("Content-Type", "text/plain; charset=utf-8")
            return str(error)
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(queries.SUMMARY_FIELDS)
        for record in queries.iter_records(read_storage(), query):
            row = queries.summary(record)
            row["item_numbers"] = " ".join(row["item_numbers"])
            writer.writerow(spreadsheet_safe(str(value)) for value in row.values())
        filename = f"clickbank-log-{datetime.now(UTC):%Y%m%d}.csv"
        response.setHeader("Content-Type", "text/csv; charset=utf-8")
        response.setHeader("Content-Disposition", f'attachment; filename="{filename}"')
        # The byte order mark makes spreadsheets read the file as UTF-8.
        return ("\ufeff" + buffer.getvalue()).encode("utf-8")


class LogEntryView(LogPage):
    """``@@clickbank-log-entry?id=``: one record with its decrypted notification."""

    index = ViewPageTemplateFile("templates/log-entry.pt")

    def __call__(self):
        record_id = self.request.form.get("id", "")
        self.record = queries.get_record(read_storage(), record_id)
        if self.record is None:
            raise NotFound("No ClickBank notification with this id.")
        return self.index()

    @property
    def fields(self) -> list[tuple]:
        """``(label, value)`` of every stored field of the record."""
        record = self.record
        return [
            (_("Record id"), record.id),
            (_("Received"), display_time(record.received)),
            (_("Transaction time"), display_time(record.transaction_time)),
            (_("Transaction type"), record.transaction_type),
            (_("Receipt"), record.receipt),
            (_("Original receipt"), record.original_receipt),
            (_("Vendor"), record.vendor),
            (_("Role"), record.role),
            (_("Item numbers"), ", ".join(record.item_numbers)),
            (_("Attempt"), record.attempt_count),  # None is shown empty
            (_("Buyer email"), record.email),
            (_("Outcome"), record.outcome),
            (_("Detail"), record.detail),
            (_("Idempotency key"), record.key),
        ]

    @property
    def payload(self) -> str | None:
        """The decrypted notification as indented JSON; None once it was blanked."""
        payload = self.record.payload
        if not payload:
            return None
        return json.dumps(payload, indent=2, sort_keys=True, ensure_ascii=False)


class MemberView(LogPage):
    """``@@clickbank-member?email=``: a buyer's member, entitlements and history."""

    index = ViewPageTemplateFile("templates/member.pt")
    email = ""
    member = None
    entitlement_rows = ()
    history_rows = ()

    def __call__(self):
        email = self.request.form.get("email", "")
        self.email = members.normalize_email(email if isinstance(email, str) else "")
        if self.email:
            storage = read_storage()
            self.member = members.find(self.email)
            self.entitlement_rows = [
                {
                    **queries.entitlement_summary(entitlement),
                    "valid_until": display_time(entitlement.valid_until),
                }
                for entitlement in for_buyer(storage, self.email)
            ]
            self.history_rows = [
                self.row(record) for record in queries.history(storage, self.email)
            ]
        return self.index()

    @property
    def known(self) -> bool:
        """Whether anything is known about the buyer."""
        return bool(self.member or self.entitlement_rows or self.history_rows)
