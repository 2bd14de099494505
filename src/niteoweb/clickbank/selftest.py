""" "Send test notification": the check ClickBank's own Test button makes.

A ``TEST`` notification is encrypted with the configured secret key exactly as
ClickBank encrypts it and handed to this site's ``@@clickbank`` view in-process,
through a request of its own. The answer and the new log entry show whether the
key and the endpoint work, without a ClickBank account.
"""

import json
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from io import BytesIO

from ZPublisher.HTTPRequest import HTTPRequest
from ZPublisher.HTTPResponse import HTTPResponse

from niteoweb.clickbank.ins.crypto import encrypt
from niteoweb.clickbank.ins.model import TEST_RECEIPT
from niteoweb.clickbank.scripts.notify import build_notification
from niteoweb.clickbank.settings import get_settings
from niteoweb.clickbank.storage.log import NotificationRecord
from niteoweb.clickbank.storage.queries import newest
from niteoweb.clickbank.storage.root import get_storage


@dataclass(frozen=True)
class SelfTestResult:
    """What the endpoint answered to the test notification."""

    status: int
    answer: dict
    entry: NotificationRecord | None

    @property
    def ok(self) -> bool:
        """Whether the endpoint accepted the notification (2xx)."""
        return 200 <= self.status < 300


def self_test_payload(vendor: str = "") -> dict:
    """A ``TEST`` notification like the one of ClickBank's Test button."""
    return build_notification(
        transaction_type="TEST",
        receipt=TEST_RECEIPT,
        vendor=vendor or "testvendor",
        email="test@example.com",
        transaction_time=datetime.now(UTC).replace(microsecond=0),
    )


def send_test_notification(portal) -> SelfTestResult:
    """Encrypt a TEST notification with the current key and deliver it.

    Raises :class:`niteoweb.clickbank.errors.NotConfiguredError` when no key is set.
    """
    from niteoweb.clickbank.browser.webhook import ClickBankView
    from niteoweb.clickbank.errors import NotConfiguredError

    settings = get_settings()
    if not settings.secret_keys:
        raise NotConfiguredError("no secret key is set")
    vendor = sorted(settings.vendors)[0] if settings.vendors else ""
    body = encrypt(self_test_payload(vendor), settings.secret_keys[0])
    storage = get_storage(portal)
    before = newest(storage, 1)
    request = _post_request(portal, body)
    answer = ClickBankView(portal, request)()
    after = newest(storage, 1)
    entry = after[0] if after and after != before else None
    return SelfTestResult(request.response.getStatus(), json.loads(answer), entry)


def _post_request(portal, body: bytes) -> HTTPRequest:
    """A POST request to ``@@clickbank`` of ``portal`` carrying ``body``."""
    environ = {
        "REQUEST_METHOD": "POST",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "REMOTE_ADDR": "127.0.0.1",
        "PATH_INFO": "/@@clickbank",
    }
    request = HTTPRequest(BytesIO(body), environ, HTTPResponse())
    request.processInputs()
    return request
