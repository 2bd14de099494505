"""The log of zope.sendmail's queue processor: no addresses, no flood.

The real queue processor of zope.sendmail runs over a real maildir queue here;
its mailer is a stand-in for the SMTP server.
"""

import logging
import os
import smtplib

import pytest
import zope.sendmail.queue
from zope.sendmail.delivery import QueuedMailDelivery
from zope.sendmail.queue import QueueProcessorThread

from niteoweb.clickbank.mail import queue

BUYER = "buyer@example.com"
SHOP = "shop@example.org"


class Clock:
    """A monotonic clock the test moves on."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Mailer:
    """Stands in for the SMTP server: raises ``error`` if set, else accepts."""

    def __init__(self):
        self.error = None
        self.sent = []
        self.attempts = 0

    def send(self, fromaddr, toaddrs, message):
        self.attempts += 1
        if self.error is not None:
            raise self.error
        self.sent.append(toaddrs)


@pytest.fixture
def clock(monkeypatch):
    """The clock of a fresh filter on the queue processor's logger."""
    clock = Clock()
    logger = logging.getLogger(queue.LOGGER)
    monkeypatch.setattr(logger, "filters", [queue.QueueLog(clock=clock)])
    return clock


@pytest.fixture
def processor(tmp_path, clock):
    """zope.sendmail's queue processor over a queue in ``tmp_path``."""
    thread = QueueProcessorThread()
    thread.setQueuePath(str(tmp_path / "queue"))
    thread.setMailer(Mailer())
    return thread


@pytest.fixture
def lines(caplog):
    """The lines the queue processor's logger let through."""
    caplog.set_level(logging.INFO, logger=queue.LOGGER)
    return lambda: [r for r in caplog.records if r.name == queue.LOGGER]


def queue_mail(thread, recipient: str = BUYER) -> None:
    """Queue a mail as the MailHost does, and commit it."""
    delivery = QueuedMailDelivery(thread.maildir.path)
    manager = delivery.createDataManager(SHOP, (recipient,), b"Subject: Hi\n\nHi\n")
    manager.tpc_finish(None)


def poll(thread, times: int = 1) -> None:
    """What the thread does every three seconds: try every mail once."""
    for _ in range(times):
        thread.run(forever=False)


def age(thread, seconds: float) -> None:
    """Make the queued mails (and their locks, links to them) ``seconds`` older."""
    for name in thread.maildir:
        when = os.stat(name).st_mtime - seconds
        os.utime(name, (when, when))


@pytest.fixture
def every_poll_retries(monkeypatch):
    """The worst a queue can log: each poll tries each mail again."""
    monkeypatch.setattr(zope.sendmail.queue, "MAX_SEND_TIME", -1)


class TestSent:
    def test_sent_mail_is_logged_without_addresses(self, processor, lines):
        queue_mail(processor)
        poll(processor)
        assert processor.mailer.sent == [(BUYER,)]
        (line,) = lines()
        assert line.levelno == logging.INFO
        assert line.getMessage() == "A queued mail was sent."


class TestServerDown:
    def test_failed_mail_is_tried_again_two_minutes_later(self, processor):
        """Not three hours later, as zope.sendmail would."""
        assert zope.sendmail.queue.MAX_SEND_TIME == queue.RETRY_SECONDS == 120
        processor.mailer.error = ConnectionRefusedError(111, "Connection refused")
        queue_mail(processor)
        poll(processor, 3)
        assert processor.mailer.attempts == 1
        processor.mailer.error = None
        age(processor, queue.RETRY_SECONDS - 10)
        poll(processor)
        assert processor.mailer.sent == []
        age(processor, 11)
        poll(processor)
        assert processor.mailer.sent == [(BUYER,)]
        assert list(processor.maildir) == []

    @pytest.mark.usefixtures("every_poll_retries")
    def test_one_line_for_many_failed_attempts(self, processor, lines, clock):
        """Three mails, twenty polls in a minute: one warning, no traceback."""
        processor.mailer.error = ConnectionRefusedError(111, "Connection refused")
        for n in range(3):
            queue_mail(processor, f"buyer{n}@example.com")
        for _ in range(20):
            poll(processor)
            clock.now += 2.9
        (line,) = lines()
        assert line.levelno == logging.WARNING
        assert line.exc_info is None
        assert line.getMessage().startswith(
            "Queued mail not sent (ConnectionRefusedError), 1 failed attempt(s)"
        )
        assert "@" not in line.getMessage()
        assert processor.mailer.attempts == 60

    @pytest.mark.usefixtures("every_poll_retries")
    def test_ten_minutes_down_give_a_line_a_minute(self, processor, lines, clock):
        """Each line counts the attempts since the one before."""
        processor.mailer.error = smtplib.SMTPServerDisconnected("gone")
        queue_mail(processor)
        for _ in range(200):  # every three seconds for ten minutes
            poll(processor)
            clock.now += 3
        messages = [line.getMessage() for line in lines()]
        assert len(messages) == 10
        assert "SMTPServerDisconnected), 20 failed attempt(s)" in messages[1]

    @pytest.mark.usefixtures("every_poll_retries")
    def test_mail_is_delivered_once_the_server_is_back(self, processor, lines, clock):
        """Nothing lost; the first failure after a delivery is reported at once."""
        processor.mailer.error = ConnectionRefusedError(111, "Connection refused")
        queue_mail(processor)
        poll(processor, 5)
        processor.mailer.error = None
        poll(processor)
        assert processor.mailer.sent == [(BUYER,)]
        processor.mailer.error = ConnectionRefusedError(111, "Connection refused")
        queue_mail(processor)
        poll(processor)
        assert [line.levelname for line in lines()] == ["WARNING", "INFO", "WARNING"]
        assert len(list(processor.maildir)) == 1  # the new one waits


class TestRefusedForGood:
    """A mail the server will never take is set aside, with one line."""

    def test_permanent_error(self, processor, lines):
        processor.mailer.error = smtplib.SMTPDataError(
            554, f"5.7.1 <{BUYER}>: message refused".encode()
        )
        queue_mail(processor)
        poll(processor, 3)
        (line,) = lines()
        assert line.levelno == logging.ERROR
        message = line.getMessage()
        assert message.startswith("The SMTP server refused a queued mail for good;")
        assert ".rejected-" in message
        assert "@" not in message
        assert list(processor.maildir) == []

    def test_refused_recipient(self, processor, lines):
        processor.mailer.error = smtplib.SMTPRecipientsRefused(
            {BUYER: (550, b"5.1.1 no such user")}
        )
        queue_mail(processor)
        poll(processor, 3)
        (line,) = lines()
        assert line.getMessage().startswith("The SMTP server refused a queued mail")
        assert "@" not in line.getMessage()
        assert list(processor.maildir) == []
