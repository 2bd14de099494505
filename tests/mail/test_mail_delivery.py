"""The welcome mail over real HTTP and SMTP, through the MailHost's queue."""

import logging
import time

import pytest
import requests
import zope.sendmail.queue
from plone import api

from helpers import fresh
from helpers import payload
from helpers import post
from niteoweb.clickbank import members
from niteoweb.clickbank.ins.crypto import encrypt
from niteoweb.clickbank.mail import queue
from niteoweb.clickbank.storage import log
from niteoweb.clickbank.testing import SECRET_KEY


def send(webhook_url, **kwargs):
    """Encrypt a notification like ClickBank and post it."""
    return post(webhook_url, encrypt(payload(**kwargs), SECRET_KEY))


def has_access(email: str) -> bool:
    fresh()
    found = members.find(email)
    return found is not None and "Member" in api.user.get_roles(user=found)


def recipients(inbox) -> list[str]:
    return [m["To"].addresses[0].addr_spec for m in inbox.messages]


class TestDelivery:
    def test_answer_does_not_wait_for_the_mail_server(self, webhook_url, smtp):
        """A slow SMTP server delays the mail, not ClickBank's answer."""
        smtp.delay = 2.0
        try:
            started = time.monotonic()
            assert send(webhook_url).json()["outcome"] == "created"
            assert time.monotonic() - started < 1.5
            assert smtp.messages == []
            assert smtp.delivered()
            assert recipients(smtp) == ["buyer@example.com"]
        finally:
            smtp.delay = 0.0

    def test_sale_sends_one_utf8_mail_with_link(self, webhook_url, smtp):
        """One well-formed mail; accents intact; the link opens the reset form."""
        send(webhook_url, first_name="José", last_name="Müller")
        assert smtp.delivered()
        (message,) = smtp.messages
        assert message["To"].addresses[0].addr_spec == "buyer@example.com"
        body = message.get_content()
        assert "José Müller" in body
        link = next(w for w in body.split() if "@@clickbank-set-password" in w)
        page = requests.get(link, timeout=30)
        assert page.status_code == 200
        assert "/passwordreset/" in page.url
        assert "password" in page.text.lower()
        # A second visit (or a mail scanner's first) leads to the same form.
        assert requests.get(link, timeout=30).url == page.url

    def test_unknown_link_leads_to_forgot_password(self, site_url):
        """A made-up token is sent to "Forgot your password?"."""
        page = requests.get(
            site_url + "/@@clickbank-set-password?token=00000000001-nope", timeout=30
        )
        assert page.status_code == 200
        assert page.url.endswith("/mail_password_form")

    def test_no_mail_when_the_transaction_aborts(self, webhook_url, smtp, monkeypatch):
        """A notification that fails queues no mail, and leaves nothing behind."""
        monkeypatch.setattr(log, "record", lambda *a, **k: 1 / 0)
        assert send(webhook_url).status_code == 500
        assert smtp.queued() == []
        assert list((smtp.queue / "tmp").iterdir()) == []
        assert smtp.messages == []


@pytest.fixture
def quick_retries(monkeypatch):
    """A failed mail is tried again at once, not two minutes later."""
    monkeypatch.setattr(zope.sendmail.queue, "MAX_SEND_TIME", 0.2)


@pytest.fixture
def queue_log(monkeypatch, caplog):
    """The queue processor's log lines; its filter reports the next failure."""
    monkeypatch.setattr(queue.QUEUE_LOG, "reported", None)
    caplog.set_level(logging.INFO, logger=queue.LOGGER)
    return lambda: [r for r in caplog.records if r.name == queue.LOGGER]


def test_smtp_server_down_costs_no_sale_and_no_mail(
    webhook_url, smtp, acceptance, quick_retries, queue_log
):
    """Sales while the server is down: answered 200, mailed once it is back.

    Meanwhile the queue tries every mail five times a second, and logs one line
    without an address.
    """
    buyers = [f"down{n}@example.com" for n in range(3)]
    server = acceptance["smtp_server"]
    server.stop()
    try:
        for n, email in enumerate(buyers):
            response = send(webhook_url, receipt=f"DOWN000{n}", email=email)
            assert response.status_code == 200
            assert response.json()["outcome"] == "created"
        time.sleep(2)
        assert len(smtp.queued()) == 3
    finally:
        server.start()
    assert all(has_access(email) for email in buyers)
    assert smtp.delivered()
    assert sorted(recipients(smtp)) == buyers
    lines = queue_log()
    failures = [line for line in lines if line.levelno >= logging.WARNING]
    assert len(failures) == 1
    assert failures[0].getMessage().startswith("Queued mail not sent (")
    assert failures[0].exc_info is None
    assert [line.getMessage() for line in lines if line.levelno < logging.WARNING] == [
        "A queued mail was sent."
    ] * 3
    assert not any("@" in line.getMessage() for line in lines)
