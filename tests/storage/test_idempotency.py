"""The idempotency rule: which notifications are retries of one another. No Plone."""

import json
from pathlib import Path

import pytest

from niteoweb.clickbank.ins import decode
from niteoweb.clickbank.ins.crypto import encrypt
from niteoweb.clickbank.ins.parse import parse
from niteoweb.clickbank.storage.log import idempotency_key

SAMPLE_V6 = (
    Path(__file__).parent.parent / "ins" / "clickbank-v6-sample.json"
).read_text()
SECRET = "MYSECRETKEY123"


def sample(**changes) -> dict:
    """ClickBank's documented v6 sample as a dict, with top-level ``changes``."""
    return {**json.loads(SAMPLE_V6), **changes}


def decoded(payload):
    """``payload`` through encrypt and decode, as the webhook receives it."""
    return decode(encrypt(payload, SECRET), SECRET)


class TestIdempotencyKey:
    """Retries of one notification share a key; other notifications do not."""

    def test_is_equal_for_a_retried_notification(self):
        """A retry (new IV, higher attemptCount) has the same key."""
        first = decoded(sample())
        retry = decoded(sample(attemptCount=2))
        assert idempotency_key(first) == idempotency_key(retry)
        assert len(idempotency_key(first)) == 64

    def test_ignores_time_zone_item_order_and_vendor_case(self):
        """The same instant in another zone, reordered items, VENDOR case: same key."""
        payload = sample()
        other = sample(
            transactionTime="20160605T194751Z",
            lineItems=list(reversed(payload["lineItems"])),
            vendor="TESTACCT",
        )
        key = idempotency_key(parse(payload))
        assert idempotency_key(parse(other)) == key

    @pytest.mark.parametrize(
        "changes",
        [
            {"transactionType": "RFND"},
            {"transactionTime": "2016-06-05T13:47:52-06:00"},
            {"transactionTime": "2016-06-05T13:47:51-07:00"},
            {"lineItems": [{"itemNo": "1"}]},
            {"lineItems": [{"itemNo": "1"}, {"itemNo": "3"}]},
            {"receipt": "CWOGBZLN-B002"},
            {"role": "AFFILIATE"},
            {"vendor": "othervendor"},
        ],
    )
    def test_differs_for_a_different_notification(self, changes):
        """Another type, time, item set, receipt, role or vendor: another key."""
        key = idempotency_key(parse(sample()))
        assert idempotency_key(parse(sample(**changes))) != key
