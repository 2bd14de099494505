"""Helpers for tests: notifications as ClickBank would send them."""

from datetime import UTC
from datetime import datetime
from datetime import timedelta

from niteoweb.clickbank import ins
from niteoweb.clickbank.simulator import build_notification

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def payload(transaction_type="SALE", receipt="AAAA1111", days=0, **kwargs) -> dict:
    """A plaintext notification; ``days`` after :data:`T0`."""
    kwargs.setdefault("email", "buyer@example.com")
    return build_notification(
        transaction_type=transaction_type,
        receipt=receipt,
        transaction_time=T0 + timedelta(days=days),
        **kwargs,
    )


def notification(transaction_type="SALE", receipt="AAAA1111", days=0, **kwargs):
    """A parsed :class:`~niteoweb.clickbank.ins.Notification`."""
    return ins.parse(payload(transaction_type, receipt, days, **kwargs))
