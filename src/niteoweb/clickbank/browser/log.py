"""The transaction log in Classic UI, for site managers.

``@@clickbank-log`` (a filtered, paged table), ``@@clickbank-log.csv`` (the same
filters, every matching row), ``@@clickbank-log-entry`` (one record with its
decrypted notification) and ``@@clickbank-member`` (one buyer). Customer data
beyond the email is shown by the last two only.
"""

import csv
import io
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
from niteoweb.clickbank.storage.orders import Entitlement
from niteoweb.clickbank.storage.orders import for_buyer
from niteoweb.clickbank.storage.root import read_storage

# A spreadsheet reads a cell starting with one of these as a formula.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def display_time(value: datetime | None) -> str:
    """A time as ``YYYY-MM-DD HH:MM:SS UTC``; "" for None."""
    if value is None:
        return ""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def spreadsheet_safe(value: str) -> str:
    """``value``, prefixed with ``'`` if a spreadsheet would run it as a formula."""
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


class LogPage(BrowserView):
    """Links and row formatting shared by the log views."""

    def page_url(self, view: str, **params) -> str:
        """The URL of ``@@view`` on the site root with the non-empty ``params``."""
        query = urlencode({k: v for k, v in params.items() if v not in ("", None)})
        url = f"{self.context.absolute_url()}/@@{view}"
        return f"{url}?{query}" if query else url

    def row(self, record: NotificationRecord) -> dict:
        """A record as shown in a table: summary values, display times and links."""
        row = queries.summary(record)
        row["received"] = display_time(record.received)
        row["transaction_time"] = display_time(record.transaction_time)
        row["item_numbers"] = ", ".join(record.item_numbers)
        row["entry_url"] = self.page_url("clickbank-log-entry", id=record.id)
        row["member_url"] = (
            self.page_url("clickbank-member", email=record.email)
            if record.email
            else None
        )
        return row


class LogView(LogPage):
    """``@@clickbank-log``: the notification log, newest first, filtered and paged."""

    index = ViewPageTemplateFile("templates/log.pt")
    error = None
    page = None
    query = filters.LogQuery()

    def __call__(self):
        form = self.request.form
        try:
            self.query = filters.parse_query(form)
            b_start, b_size = filters.parse_batch(form)
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
    def outcomes(self) -> tuple[str, ...]:
        """Choices of the outcome filter."""
        return (filters.ALL_OUTCOMES,) + OUTCOMES

    @property
    def transaction_types(self) -> list[str]:
        """Known transaction types, offered while typing the type filter."""
        return sorted(TRANSACTION_TYPES)

    @property
    def rows(self) -> list[dict]:
        """The rows of this page."""
        return [self.row(record) for record in self.page.records] if self.page else []

    @property
    def csv_url(self) -> str:
        """The CSV export of every record matching the current filters."""
        return self.page_url("clickbank-log.csv", **self.query.params())

    def _batch_url(self, b_start: int) -> str:
        size = self.page.b_size
        return self.page_url(
            "clickbank-log",
            **self.query.params(),
            b_start=b_start or None,
            b_size=None if size == filters.DEFAULT_PAGE_SIZE else size,
        )

    @property
    def previous_url(self) -> str | None:
        """The page of newer records, if any."""
        if not (self.page and self.page.has_previous):
            return None
        return self._batch_url(max(self.page.b_start - self.page.b_size, 0))

    @property
    def next_url(self) -> str | None:
        """The page of older records, if any."""
        if not (self.page and self.page.has_next):
            return None
        return self._batch_url(self.page.b_start + self.page.b_size)

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
        writer.writerow(queries.CSV_COLUMNS)
        for record in queries.iter_records(read_storage(), query):
            cells = queries.csv_cells(record)
            writer.writerow([spreadsheet_safe(cell) for cell in cells])
        filename = f"clickbank-log-{datetime.now(UTC):%Y%m%d}.csv"
        response.setHeader("Content-Type", "text/csv; charset=utf-8")
        response.setHeader("Content-Disposition", f'attachment; filename="{filename}"')
        # The byte order mark makes spreadsheets read the file as UTF-8.
        return ("\ufeff" + buffer.getvalue()).encode("utf-8")


class LogEntryView(LogPage):
    """``@@clickbank-log-entry?id=``: one record with its decrypted notification."""

    index = ViewPageTemplateFile("templates/log-entry.pt")
    record = None

    def __call__(self):
        record_id = self.request.form.get("id", "")
        self.record = queries.get_record(read_storage(), record_id)
        if self.record is None:
            raise NotFound("No ClickBank notification with this id.")
        return self.index()

    @property
    def fields(self) -> list[tuple[str, str]]:
        """``(label, value)`` of every stored field of the record."""
        record = self.record
        return [
            (_("Record id"), str(record.id)),
            (_("Received"), display_time(record.received)),
            (_("Transaction time"), display_time(record.transaction_time)),
            (_("Transaction type"), record.transaction_type),
            (_("Receipt"), record.receipt),
            (_("Original receipt"), record.original_receipt),
            (_("Vendor"), record.vendor),
            (_("Role"), record.role),
            (_("Item numbers"), ", ".join(record.item_numbers)),
            (
                _("Attempt"),
                "" if record.attempt_count is None else str(record.attempt_count),
            ),
            (_("Buyer email"), record.email),
            (_("Outcome"), record.outcome),
            (_("Detail"), record.detail),
            (_("Idempotency key"), record.key),
        ]

    @property
    def payload(self) -> str | None:
        """The decrypted notification as indented JSON; None once it was blanked."""
        return queries.payload_json(self.record)

    @property
    def member_url(self) -> str | None:
        """The buyer's page, if the record names a buyer."""
        return self.row(self.record)["member_url"]


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
                self.entitlement_row(entitlement)
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

    @property
    def member_info(self) -> dict | None:
        """The buyer's member: id, full name and the link to Plone's user page."""
        if self.member is None:
            return None
        userid = self.member.getId()
        return {
            "id": userid,
            "login": self.member.getUserName(),
            "fullname": self.member.getProperty("fullname", ""),
            "edit_url": self.page_url("user-information", userid=userid),
        }

    def entitlement_row(self, entitlement: Entitlement) -> dict:
        """An entitlement as shown in the table."""
        row = queries.entitlement_summary(entitlement)
        row["valid_until"] = display_time(entitlement.valid_until)
        return row
