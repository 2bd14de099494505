"""``@@clickbank`` over real HTTP: status codes, encryption, concurrency.

The welcome mail over HTTP: ``tests/mail/test_mail_delivery.py``.
"""

import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import transaction
from plone import api

from helpers import fresh
from helpers import payload
from helpers import post
from niteoweb.clickbank import members
from niteoweb.clickbank.ins.crypto import MAX_BODY_SIZE
from niteoweb.clickbank.ins.crypto import encrypt
from niteoweb.clickbank.storage.root import get_storage
from niteoweb.clickbank.testing import SECRET_KEY

RECORD = "niteoweb.clickbank."
INVALID = {
    "error": {
        "type": "InvalidNotification",
        "message": "Invalid ClickBank notification.",
    }
}


@pytest.fixture
def portal(acceptance):
    return acceptance["portal"]


def send(webhook_url, secret=SECRET_KEY, **kwargs):
    """Encrypt a notification like ClickBank and post it."""
    return post(webhook_url, encrypt(payload(**kwargs), secret))


def has_access(email="buyer@example.com") -> bool:
    fresh()
    found = members.find(email)
    return found is not None and "Member" in api.user.get_roles(user=found)


class TestStatusCodes:
    """What ClickBank gets back."""

    def test_get_is_405(self, webhook_url):
        """Only POST is accepted."""
        response = requests.get(webhook_url, timeout=30)
        assert response.status_code == 405
        assert response.headers["Allow"] == "POST"

    @pytest.mark.parametrize(
        "method", ["PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "PROPFIND", "MKCOL"]
    )
    def test_other_methods_are_405_without_a_traceback(
        self, webhook_url, portal, method
    ):
        """Every method but POST is refused alike, and fills no error log."""
        errors = portal.error_log
        before = len(errors.getLogEntries())
        response = requests.request(method, webhook_url, data=b"{}", timeout=30)
        assert response.status_code == 405
        assert response.headers["Allow"] == "POST"
        if method != "HEAD":
            assert response.json() == {
                "error": {
                    "type": "MethodNotAllowed",
                    "message": "Only POST is accepted.",
                }
            }
        assert len(errors.getLogEntries()) == before

    def test_sale_is_200_with_small_json(self, webhook_url):
        """A processed notification is 200 with status and outcome."""
        response = send(webhook_url)
        assert response.status_code == 200
        assert response.json() == {
            "status": "ok",
            "outcome": "created",
            "receipt": "AAAA1111",
        }
        assert response.headers["Content-Type"].startswith("application/json")

    def test_duplicate_is_200(self, webhook_url):
        """A repeat is acknowledged so ClickBank stops retrying."""
        send(webhook_url)
        response = send(webhook_url)
        assert response.status_code == 200
        assert response.json()["status"] == "duplicate"

    @pytest.mark.parametrize(
        "body",
        [
            b"",
            b"not json",
            b"[]",
            b'{"notification": "", "iv": ""}',
            b'{"notification": "!!!", "iv": "MTIzNDU2Nzg5MDEyMzQ1Ng=="}',
            b"notification=abc&iv=def",
        ],
    )
    def test_garbage_is_400_with_one_message(self, webhook_url, body):
        """Anything that is not an INS envelope gets the same 400 answer."""
        response = post(webhook_url, body)
        assert response.status_code == 400
        assert response.json() == INVALID

    def test_wrong_key_is_400_and_writes_nothing(self, webhook_url, portal):
        """A body encrypted with another key is refused; nothing is written."""
        response = send(webhook_url, secret="OTHERKEY")
        assert response.status_code == 400
        assert response.json() == INVALID
        fresh()
        assert len(get_storage(portal).records) == 0
        assert members.find("buyer@example.com") is None

    def test_previous_key_is_accepted(self, webhook_url, portal):
        """During a key rotation the previous key still works."""
        api.portal.set_registry_record(RECORD + "secret_key", "NEWKEY")
        api.portal.set_registry_record(RECORD + "previous_secret_key", SECRET_KEY)
        transaction.commit()
        assert send(webhook_url).status_code == 200
        assert send(webhook_url, secret="NEWKEY", receipt="BBBB2222").status_code == 200

    def test_no_secret_key_is_503(self, webhook_url, portal):
        """Until the admin sets the key, ClickBank is told to retry later."""
        api.portal.get_tool("portal_registry")[RECORD + "secret_key"] = None
        transaction.commit()
        response = send(webhook_url)
        assert response.status_code == 503
        assert response.json()["error"]["type"] == "NotConfigured"

    def test_too_large_is_413(self, webhook_url):
        """Bodies over the size limit are refused before decryption."""
        response = post(webhook_url, b"{" + b" " * (MAX_BODY_SIZE + 10) + b"}")
        assert response.status_code == 413

    def test_unexpected_error_is_500_and_rolls_back(
        self, webhook_url, portal, monkeypatch
    ):
        """A failure after the member was created saves nothing; ClickBank retries."""
        from niteoweb.clickbank.storage import log

        def broken(*args, **kwargs):
            raise RuntimeError("disk full")

        monkeypatch.setattr(log, "record", broken)
        response = send(webhook_url)
        assert response.status_code == 500
        assert "disk full" not in response.text
        assert members.find("buyer@example.com") is None or not has_access()
        fresh()
        assert members.find("buyer@example.com") is None
        monkeypatch.undo()
        assert send(webhook_url).json()["outcome"] == "created"

    def test_conflict_is_retried_invisibly(self, webhook_url, monkeypatch):
        """A ZODB conflict is retried by Zope; ClickBank sees one 200."""
        from ZODB.POSException import ConflictError

        from niteoweb.clickbank import processing

        original = processing.handle
        calls = []

        def conflicting(*args, **kwargs):
            calls.append(1)
            if len(calls) == 1:
                raise ConflictError("simulated")
            return original(*args, **kwargs)

        monkeypatch.setattr(processing, "handle", conflicting)
        response = send(webhook_url)
        assert response.status_code == 200
        assert len(calls) == 2
        assert has_access()


class TestLifecycleOverHttp:
    """Each transaction type end to end."""

    def test_sale_then_refund(self, webhook_url):
        """SALE grants the Member role; RFND removes it, the member stays."""
        assert send(webhook_url).json()["outcome"] == "created"
        assert has_access()
        assert (
            send(webhook_url, transaction_type="RFND", days=1).json()["outcome"]
            == "revoked"
        )
        fresh()
        assert members.find("buyer@example.com") is not None
        assert not has_access()

    def test_affiliate_copy_is_ignored(self, webhook_url):
        """The AFFILIATE copy of a sale creates nothing."""
        assert send(webhook_url, role="AFFILIATE").json()["outcome"] == "ignored-role"
        fresh()
        assert members.find("buyer@example.com") is None

    def test_test_button(self, webhook_url):
        """ClickBank's Test button gets 200 and touches nobody."""
        response = send(webhook_url, transaction_type="TEST", receipt="********")
        assert response.status_code == 200
        assert response.json()["outcome"] == "ignored-test"


class TestConcurrency:
    """Copies of one notification at the same time."""

    def test_concurrent_duplicates_take_effect_once(self, webhook_url, portal):
        """20 copies posted by 8 threads: one member, one record, all 2xx."""
        body = encrypt(payload(), SECRET_KEY)
        barrier = threading.Barrier(8)

        def deliver(_):
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait(timeout=5)
            return post(webhook_url, body)

        with ThreadPoolExecutor(max_workers=8) as pool:
            responses = list(pool.map(deliver, range(20)))
        assert [r.status_code for r in responses] == [200] * 20
        statuses = sorted(r.json()["status"] for r in responses)
        assert statuses.count("ok") == 1
        fresh()
        assert len(get_storage(portal).records) == 1
        assert has_access()
