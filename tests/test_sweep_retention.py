"""The retention sweep: sweep.blank_old_payloads forgets old customer data.

The expiry sweep, @@clickbank-expire and clickbank-expire are in test_sweep.py.
"""

from datetime import UTC
from datetime import datetime
from datetime import timedelta
from types import SimpleNamespace

import pytest
from plone import api

from helpers import Counting
from helpers import notification
from niteoweb.clickbank import sweep
from niteoweb.clickbank.settings import get_settings
from niteoweb.clickbank.storage import log
from niteoweb.clickbank.storage.orders import get_order
from niteoweb.clickbank.storage.root import get_storage

BUYER = "buyer@example.com"


@pytest.fixture
def record_at(portal, monkeypatch):
    """Log a notification as if it had been received at a given time."""
    storage = get_storage()

    def record_at(when, receipt="AAAA1111", transaction_type="SALE"):
        clock = SimpleNamespace(time_ns=lambda: int(when.timestamp()) * 10**9)
        monkeypatch.setattr(log, "time", clock)
        n = notification(transaction_type, receipt, email=BUYER)
        order = get_order(storage, n.original_receipt, create=True)
        key = log.idempotency_key(n)
        return log.record(storage, order, key, n, "created", "", BUYER)

    return record_at


class TestRetention:
    """sweep.blank_old_payloads: old customer data is forgotten, the log kept."""

    def test_blanks_only_old_payloads(self, record_at):
        """Records older than the retention days lose the payload and keep the rest."""
        now = datetime(2026, 6, 1, tzinfo=UTC)
        old = record_at(now - timedelta(days=366), "OLD00001")
        recent = record_at(now - timedelta(days=364), "NEW00001")
        assert sweep.blank_old_payloads(get_settings(), now) == 1
        assert old.payload is None
        assert recent.payload["receipt"] == "NEW00001"
        kept = (old.receipt, old.transaction_type, old.outcome, old.email)
        assert kept == ("OLD00001", "SALE", "created", BUYER)
        assert old.received and old.transaction_time

    def test_retention_days_from_settings(self, record_at):
        """log_retention_days decides what is old."""
        now = datetime(2026, 6, 1, tzinfo=UTC)
        record = record_at(now - timedelta(days=40))
        api.portal.set_registry_record("niteoweb.clickbank.log_retention_days", 30)
        assert sweep.blank_old_payloads(get_settings(), now) == 1
        assert record.payload is None

    def test_dry_run_counts_without_blanking(self, record_at):
        """A dry run says how many would be blanked and blanks none."""
        now = datetime(2026, 6, 1, tzinfo=UTC)
        record = record_at(now - timedelta(days=400))
        assert sweep.blank_old_payloads(get_settings(), now, dry_run=True) == 1
        assert record.payload is not None
        assert getattr(get_storage(), "retention_cursor", 0) == 0

    def test_cursor_means_second_run_visits_nothing(self, record_at, monkeypatch):
        """The second run starts at the first run's cutoff: no record is read."""
        now = datetime(2026, 6, 1, tzinfo=UTC)
        record_at(now - timedelta(days=400))
        storage = get_storage()
        assert sweep.blank_old_payloads(get_settings(), now) == 1
        assert storage.retention_cursor == log.first_record_id(
            now - timedelta(days=365)
        )
        records = Counting(storage.records)
        monkeypatch.setattr(storage, "records", records)
        assert sweep.blank_old_payloads(get_settings(), now + timedelta(days=1)) == 0
        assert records.reads == 0


class TestCost:
    """The retention sweep's work grows with the old records, not with the log."""

    def test_blanking_reads_only_old_records(self, record_at, monkeypatch):
        """2000 recent records and 20 old ones: 20 records read."""
        now = datetime(2026, 6, 1, tzinfo=UTC)
        for i in range(20):
            record_at(now - timedelta(days=400, minutes=i), f"OLD{i:05d}")
        for i in range(2000):
            record_at(now - timedelta(days=10, minutes=i), f"NEW{i:05d}")
        storage = get_storage()
        records = Counting(storage.records)
        monkeypatch.setattr(storage, "records", records)
        assert sweep.blank_old_payloads(get_settings(), now) == 20
        assert records.reads == 20
