"""Helpers for tests: notifications as ClickBank would send them."""

import time
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import requests
import transaction
from zope.globalrequest import getRequest

from niteoweb.clickbank.ins.parse import parse
from niteoweb.clickbank.scripts.notify import build_notification

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
    """A parsed :class:`~niteoweb.clickbank.ins.model.Notification`."""
    return parse(payload(transaction_type, receipt, days, **kwargs))


def fresh() -> None:
    """See what the test server committed (plone.registry caches per request)."""
    transaction.abort()
    request = getRequest()
    if request is not None:
        request.other.pop("_plone_registry_cache", None)
    transaction.begin()


def post(url: str, body: bytes, timeout: float = 60) -> requests.Response:
    """POST ``body`` to ``url`` as ClickBank does (a JSON body)."""
    return requests.post(
        url, data=body, headers={"Content-Type": "application/json"}, timeout=timeout
    )


def wait_for(condition, seconds: float = 10.0) -> bool:
    """Poll ``condition`` until it is true or ``seconds`` have passed."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


class Counting:
    """A read-through proxy of a BTree that counts every value it hands out."""

    def __init__(self, tree):
        self.tree = tree
        self.reads = 0

    def _counted(self, values):
        for value in values:
            self.reads += 1
            yield value

    def values(self, *args, **kwargs):
        return self._counted(self.tree.values(*args, **kwargs))

    def items(self, *args, **kwargs):
        return self._counted(self.tree.items(*args, **kwargs))

    def keys(self, *args, **kwargs):
        return self._counted(self.tree.keys(*args, **kwargs))

    def __iter__(self):
        return self.keys()

    def __len__(self):
        self.reads += len(self.tree)
        return len(self.tree)

    def __getitem__(self, key):
        self.reads += 1
        return self.tree[key]

    def get(self, key, default=None):
        self.reads += 1
        return self.tree.get(key, default)

    def __contains__(self, key):
        return key in self.tree

    def __getattr__(self, name):
        return getattr(self.tree, name)
