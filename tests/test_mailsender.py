"""Welcome mails sent from the mail sender process, over real HTTP and real SMTP."""

import logging
import os
import signal
import time

import pytest
import transaction
from plone import api
from plone.app.testing.utils import MockMailHost
from Products.MailHost.MailHost import MailBase

from helpers import payload
from helpers import post
from helpers import wait_for
from niteoweb.clickbank import ins
from niteoweb.clickbank import mail
from niteoweb.clickbank import mailsender
from niteoweb.clickbank import spool
from niteoweb.clickbank.testing import SECRET_KEY
from niteoweb.clickbank.testing import free_port

PROCESS = mailsender.PROCESS
QUEUE_DELIVERY = mail.queue_delivery


@pytest.fixture
def process(acceptance, smtp, monkeypatch):
    """The mail sender process, on for this test (the test layers keep it off)."""
    monkeypatch.setattr(PROCESS, "enabled", True)
    monkeypatch.setattr(PROCESS, "retry_delays", (0.1, 0.1))
    handed_to_thread = []
    monkeypatch.setattr(mail, "queue_delivery", handed_to_thread.append)
    for name in waiting_files():  # kept by earlier tests' failed mails
        (spool.directory() / name).unlink()
    yield handed_to_thread
    assert PROCESS.close(20)


def sale(webhook_url, **kwargs) -> None:
    body = ins.encrypt(payload(**kwargs), SECRET_KEY)
    response = post(webhook_url, body)
    assert response.status_code == 200
    assert response.json()["outcome"] == "created"


def waiting_files() -> list[str]:
    folder = spool.directory()
    return sorted(os.listdir(folder)) if folder.exists() else []


def test_mail_is_sent_by_a_process_of_its_own(webhook_url, smtp, process):
    sale(webhook_url, email="one@example.com", receipt="PROC0001")
    assert PROCESS.flush(20)
    assert PROCESS.pid not in (None, os.getpid())
    assert process == []  # nothing for the outbox thread
    assert [m["To"].addresses[0].addr_spec for m in smtp.messages] == [
        "one@example.com"
    ]
    assert waiting_files() == []  # sent, then forgotten


def test_process_sends_the_message_the_thread_would(
    webhook_url, smtp, process, monkeypatch
):
    """Same headers and encoding as the site's MailHost sends from the thread."""
    sale(webhook_url, email="first@example.com", receipt="PROC0002", first_name="José")
    assert PROCESS.flush(20)
    monkeypatch.setattr(PROCESS, "enabled", False)  # back to the outbox thread
    monkeypatch.setattr(mail, "queue_delivery", QUEUE_DELIVERY)
    sale(webhook_url, email="second@example.com", receipt="PROC0003", first_name="José")
    assert mail.flush(20)
    assert wait_for(lambda: len(smtp.messages) == 2)
    by_process, by_thread = smtp.messages
    differ = {"date", "message-id", "to"}
    assert [k.lower() for k in by_process] == [k.lower() for k in by_thread]
    for name in by_thread:
        if name.lower() not in differ:
            assert by_process[name] == by_thread[name], name
    assert by_process["To"].addresses[0].addr_spec == "first@example.com"
    assert "José" in by_process.get_content()
    assert "José" in by_thread.get_content()


def test_mail_server_down_is_logged_by_zope_and_the_mail_kept(
    webhook_url, smtp, process, caplog
):
    working_port = api.portal.get_registry_record("plone.smtp_port")
    api.portal.set_registry_record("plone.smtp_port", free_port())
    transaction.commit()
    try:
        with caplog.at_level(logging.INFO, logger="niteoweb.clickbank"):
            sale(webhook_url, email="down@example.com", receipt="PROC0004")
            assert PROCESS.flush(20)
            assert wait_for(lambda: "could not be sent" in caplog.text)
        assert "Welcome mail not sent yet (ConnectionRefusedError)" in caplog.text
        assert smtp.messages == []
        kept = waiting_files()
        assert len(kept) == 1 and kept[0].endswith(".json")  # back to wait
        assert "down@example.com" in (spool.directory() / kept[0]).read_text()
    finally:
        api.portal.set_registry_record("plone.smtp_port", working_port)
        transaction.commit()
        for name in waiting_files():
            (spool.directory() / name).unlink()


def test_settings_changed_in_the_control_panel_reach_the_process(
    webhook_url, smtp, process
):
    sale(webhook_url, email="before@example.com", receipt="PROC0005")
    assert PROCESS.flush(20)
    first = PROCESS.pid
    working_port = api.portal.get_registry_record("plone.smtp_port")
    api.portal.set_registry_record("plone.smtp_port", free_port())
    transaction.commit()
    try:
        sale(webhook_url, email="lost@example.com", receipt="PROC0006")
        assert PROCESS.flush(20)
    finally:
        api.portal.set_registry_record("plone.smtp_port", working_port)
        transaction.commit()
    sale(webhook_url, email="after@example.com", receipt="PROC0007")
    assert PROCESS.flush(20)
    assert PROCESS.pid == first
    received = [m["To"].addresses[0].addr_spec for m in smtp.messages]
    assert received == ["before@example.com", "after@example.com"]
    for name in waiting_files():
        (spool.directory() / name).unlink()


def test_a_dead_process_is_replaced_with_the_next_mail(webhook_url, smtp, process):
    sale(webhook_url, email="a@example.com", receipt="PROC0008")
    assert PROCESS.flush(20)
    dead = PROCESS.pid
    os.kill(dead, signal.SIGKILL)
    assert wait_for(lambda: PROCESS.pid is None)
    sale(webhook_url, email="b@example.com", receipt="PROC0009")
    assert PROCESS.flush(20)
    assert PROCESS.pid not in (None, dead)
    received = [m["To"].addresses[0].addr_spec for m in smtp.messages]
    assert received == ["a@example.com", "b@example.com"]


def test_closing_sends_what_the_process_has_then_ends_it(webhook_url, smtp, process):
    for index in range(3):
        sale(webhook_url, email=f"c{index}@example.com", receipt=f"PROC001{index}")
    assert PROCESS.close(20)
    assert PROCESS.pid is None
    assert len(smtp.messages) == 3
    assert len(set(smtp.peers)) == 1  # one connection for mails in a row
    assert waiting_files() == []


def test_mails_left_over_by_an_earlier_process_go_with_the_next(
    webhook_url, smtp, process
):
    left = spool.write(
        {
            "body": "Left over.",
            "recipient": "left@example.com",
            "sender": "shop@example.org",
            "subject": "Waiting",
        }
    )
    before = spool.STARTED - 60
    os.utime(left, (before, before))
    sale(webhook_url, email="new@example.com", receipt="PROC0020")
    assert PROCESS.flush(20)
    received = sorted(m["To"].addresses[0].addr_spec for m in smtp.messages)
    assert received == ["left@example.com", "new@example.com"]
    assert waiting_files() == []


class TestWhichMailHostTheProcessServes:
    """Only Products.MailHost's own sending is done outside Zope."""

    def test_the_sites_mailhost_with_its_registry_settings(self, portal):
        settings = mailsender.mailer_settings(portal.MailHost)
        assert settings["hostname"] == "127.0.0.1"
        assert settings["port"] == api.portal.get_registry_record("plone.smtp_port")
        assert set(settings) == set(mailsender.MAILER_SETTINGS)

    def test_a_mock_mailhost_sends_itself(self):
        assert mailsender.mailer_settings(MockMailHost("MailHost")) is None

    def test_a_patched_mailhost_sends_itself(self, portal, monkeypatch):
        def printing_send(self, mfrom, mto, messageText, immediate=False):
            """What a mail add-on patches in."""

        monkeypatch.setattr(MailBase, "_send", printing_send)
        assert mailsender.mailer_settings(portal.MailHost) is None

    def test_a_mailhost_with_its_own_mailer_sends_itself(self, portal, monkeypatch):
        monkeypatch.setattr(portal.MailHost, "_makeMailer", lambda: object())
        assert mailsender.mailer_settings(portal.MailHost) is None

    def test_switched_off_in_the_environment(self, monkeypatch):
        for value, on in (("off", False), ("0", False), ("No", False), ("on", True)):
            monkeypatch.setenv(mailsender.SWITCH, value)
            assert mailsender.switched_on() is on
        monkeypatch.delenv(mailsender.SWITCH)
        assert mailsender.switched_on()

    def test_off_means_the_outbox_thread(self, monkeypatch, tmp_path):
        monkeypatch.setattr(PROCESS, "enabled", False)
        assert not PROCESS.send(None, {}, tmp_path / "x.json")


def test_process_ends_when_its_input_ends():
    """A child whose Zope process is gone ends after what it was given."""
    child = mailsender.SenderProcess()
    child.enabled = True
    assert child._write({"sync": 0})
    pid = child.pid
    assert pid is not None
    child._process.stdin.close()
    deadline = time.monotonic() + 20
    while child._process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert child._process.returncode == 0
