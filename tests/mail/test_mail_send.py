"""The welcome mail as it is handed to the MailHost, with its queue on and off."""

import email
import email.policy
import logging
import os

import pytest
import transaction
from plone import api

from helpers import notification
from niteoweb.clickbank import members
from niteoweb.clickbank import processing
from niteoweb.clickbank.mail import send
from niteoweb.clickbank.settings import get_settings
from niteoweb.clickbank.testing import install_mock_mailhost

RECORD = "niteoweb.clickbank."


@pytest.fixture
def buyer(portal):
    """A member as a sale creates it, with an accented name."""
    return members.create("buyer@example.com", "José Müller")


def parse(message) -> email.message.EmailMessage:
    """A message as the MailHost got it, parsed."""
    raw = message if isinstance(message, bytes) else message.encode("utf-8")
    return email.message_from_bytes(raw, policy=email.policy.default)


def refuse(*args, **kwargs):
    """A MailHost's ``send`` while the SMTP server is down."""
    raise ConnectionRefusedError("SMTP down for buyer@example.com")


class TestMessage:
    """The mail as it leaves the site."""

    def test_plain_text_utf8_with_names_intact(self, portal, mails):
        """text/plain; charset=utf-8; accents intact in name, subject and body."""
        portal.setTitle("Café Über")
        processing.handle(
            notification(first_name="José", last_name="Müller"), get_settings()
        )
        message = parse(mails[0])
        assert message.get_content_type() == "text/plain"
        assert message.get_content_charset() == "utf-8"
        assert str(message["Subject"]) == "Your access to Café Über"
        assert message.get_content().startswith("Hello José Müller,\r\n")
        assert message["To"] == "buyer@example.com"
        assert message["From"] == "Test Shop <shop@example.org>"

    def test_header_like_first_line_stays_in_body(self, buyer, mails):
        """A body starting 'Note: …' is not mistaken for a mail header."""
        api.portal.get_tool("portal_registry")[RECORD + "welcome_body_en"] = (
            "Note: welcome!\n\n${set_password_url}\n"
        )
        assert send.welcome(buyer, "EN")
        message = parse(mails[0])
        assert message.get_content().startswith("Note: welcome!\r\n")
        assert message["Note"] is None

    def test_password_is_never_mailed(self, portal, mails, monkeypatch):
        """The password the account was created with appears nowhere in the mail."""
        passwords = []
        create = api.user.create

        def spy(**kwargs):
            passwords.append(kwargs["password"])
            return create(**kwargs)

        monkeypatch.setattr(members.api.user, "create", spy)
        processing.handle(notification(), get_settings())
        (password,) = passwords
        (raw,) = mails
        assert password.encode() not in raw
        assert password not in parse(raw).get_content()

    def test_no_sender_address_is_reported(self, buyer, mails):
        """Without a sender address no mail is made: False, the member stays."""
        api.portal.set_registry_record("plone.email_from_address", "")
        assert send.welcome(buyer, "EN") is False
        assert mails == []

    def test_failure_to_queue_is_logged_not_raised(self, buyer, mails, caplog):
        """A MailHost that fails is logged by the error's kind; nothing raises."""
        api.portal.get_tool("MailHost").send = refuse
        assert send.welcome(buyer, "EN") is True
        assert "Welcome mail could not be sent (ConnectionRefusedError)" in caplog.text
        assert "buyer@example.com" not in caplog.text


@pytest.fixture
def site(functional_portal):
    """The functional site (real commits) and the MailHost it has."""
    yield functional_portal
    transaction.abort()


class TestQueueOff:
    """MailHost without its queue: the mail is sent once the sale has committed."""

    @pytest.fixture
    def mailhost(self, site):
        mailhost = install_mock_mailhost(site)
        transaction.commit()
        return mailhost

    def test_sent_after_the_commit(self, mailhost):
        assert send.welcome(members.create("buyer@example.com", "Buyer"))
        assert mailhost.messages == []
        transaction.commit()
        (message,) = mailhost.messages
        assert parse(message)["To"] == "buyer@example.com"

    def test_nothing_sent_when_the_transaction_aborts(self, mailhost):
        assert send.welcome(members.create("buyer@example.com", "Buyer"))
        transaction.abort()
        assert mailhost.messages == []

    def test_failure_after_the_commit_keeps_the_sale(self, mailhost, caplog):
        """SMTP down: the member is saved, one warning without the address."""
        mailhost.send = refuse
        assert send.welcome(members.create("buyer@example.com", "Buyer"))
        transaction.commit()
        transaction.begin()
        assert members.find("buyer@example.com") is not None
        (warning,) = [r for r in caplog.records if r.name == "niteoweb.clickbank"]
        assert warning.levelno == logging.WARNING
        assert "Welcome mail could not be sent (ConnectionRefusedError)" in (
            warning.getMessage()
        )
        assert "buyer@example.com" not in caplog.text


class TestQueueOn:
    """The site's real MailHost with its queue on: a maildir file at commit."""

    @pytest.fixture
    def queue(self, site, tmp_path, monkeypatch):
        """The MailHost's queue directory; no thread delivers from it here."""
        monkeypatch.setenv("MAILHOST_QUEUE_ONLY", "1")
        mailhost = site.MailHost
        mailhost.smtp_queue = True
        mailhost.smtp_queue_directory = str(tmp_path / "queue")
        transaction.commit()
        yield tmp_path / "queue"
        mailhost.smtp_queue = False
        transaction.commit()

    def files(self, queue) -> dict[str, list[str]]:
        return {folder: os.listdir(queue / folder) for folder in ("tmp", "new")}

    def test_written_to_the_queue_at_commit(self, queue):
        """No SMTP in the request: the mail waits in the queue's ``new`` folder."""
        assert send.welcome(members.create("buyer@example.com", "Buyer"), "DE")
        assert self.files(queue)["new"] == []
        transaction.commit()
        (name,) = self.files(queue)["new"]
        assert self.files(queue)["tmp"] == []
        text = (queue / "new" / name).read_bytes()
        message = parse(text.split(b"\n", 2)[2])  # after zope.sendmail's X-Zope- lines
        assert message["To"] == "buyer@example.com"
        assert str(message["Subject"]).startswith("Ihr Zugang zu")

    def test_nothing_queued_when_the_transaction_aborts(self, queue):
        assert send.welcome(members.create("buyer@example.com", "Buyer"))
        transaction.abort()
        assert self.files(queue) == {"tmp": [], "new": []}
