"""Times in log records and entitlements are stored compactly and read back as moments.

An aware datetime brings its time zone's classes into every pickle; the add-on
stores a record's transaction time as ISO text and an entitlement's end as
microseconds since the epoch, and still reads objects stored by earlier
versions, which hold datetimes.
"""

import pickle
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from datetime import timezone

from helpers import earlier_entitlement_state
from helpers import earlier_record_state
from helpers import payload
from niteoweb.clickbank.ins.parse import parse
from niteoweb.clickbank.ledger import NotificationRecord
from niteoweb.clickbank.orders import Entitlement

PST = timezone(timedelta(hours=-8))
VENDOR_TIME = datetime(2026, 3, 1, 2, 0, 0, 250000, tzinfo=PST)


def _record() -> NotificationRecord:
    n = parse({**payload(), "transactionTime": VENDOR_TIME.isoformat()})
    return NotificationRecord(1, "ab" * 32, n, "created", email="a@example.com")


def test_record_keeps_the_transaction_time_with_its_offset():
    record = _record()
    assert record.transaction_time == VENDOR_TIME
    assert record.transaction_time.utcoffset() == timedelta(hours=-8)
    assert record.__dict__["_transaction_time"] == "2026-03-01T02:00:00.250000-08:00"
    assert "transaction_time" not in record.__dict__


def test_record_without_detail_stores_none():
    record = _record()
    assert record.detail == ""
    assert "detail" not in record.__dict__
    n = parse(payload())
    with_detail = NotificationRecord(2, "cd" * 32, n, "ignored", detail="unknown item")
    assert with_detail.detail == "unknown item"


def test_record_of_an_earlier_version_is_read_and_rewritten():
    old = NotificationRecord.__new__(NotificationRecord)
    old.__setstate__(earlier_record_state(_record()))
    assert isinstance(old.__dict__["transaction_time"], datetime)
    assert old.transaction_time == VENDOR_TIME
    assert old.detail == ""
    later = VENDOR_TIME + timedelta(hours=1)
    old.transaction_time = later
    assert old.transaction_time == later
    assert "transaction_time" not in old.__dict__


def test_record_pickle_is_smaller_than_with_a_datetime():
    record = _record()
    old_state = earlier_record_state(record)
    state = record.__getstate__()
    assert len(pickle.dumps(old_state, 3)) - len(pickle.dumps(state, 3)) >= 50


def test_entitlement_end_is_stored_as_microseconds():
    entitlement = Entitlement("AAAA1111", "1", "a@example.com")
    assert entitlement.valid_until is None
    assert entitlement.__dict__["_valid_until"] is None
    entitlement.valid_until = VENDOR_TIME
    assert entitlement.valid_until == VENDOR_TIME  # the same moment
    assert entitlement.valid_until.tzinfo is UTC
    assert isinstance(entitlement.__dict__["_valid_until"], int)
    assert "valid_until" not in entitlement.__dict__
    old = earlier_entitlement_state(entitlement)
    assert len(pickle.dumps(old, 3)) - len(pickle.dumps(entitlement.__dict__, 3)) >= 60


def test_entitlement_of_an_earlier_version_is_read_and_rewritten():
    old = Entitlement.__new__(Entitlement)
    old.__dict__.update(
        original_receipt="AAAA1111",
        item_no="1",
        email="a@example.com",
        product_title="",
        recurring=True,
        _events=(),
        state="active",
        valid_until=VENDOR_TIME,
    )
    assert old.valid_until == VENDOR_TIME
    old.valid_until = None
    assert old.valid_until is None
    assert "valid_until" not in old.__dict__
    old_without = Entitlement.__new__(Entitlement)
    old_without.__dict__.update(earlier_entitlement_state(old))
    assert old_without.__dict__["valid_until"] is None
    assert old_without.valid_until is None
