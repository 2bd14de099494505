"""The outbox's kept SMTP connection, against a real SMTP server on localhost."""

import asyncio
import json
import os
import resource
import smtplib
import socket
import threading
import time

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from plone import api
from zope.sendmail.mailer import SMTPMailer

from niteoweb.clickbank import mail
from niteoweb.clickbank import smtpconnection
from niteoweb.clickbank import spool
from niteoweb.clickbank.smtpconnection import KeptConnection
from niteoweb.clickbank.testing import free_port

MESSAGE = b"Subject: hello\r\n\r\nHello.\r\n"


class Server:
    """aiosmtpd handler that tells which connection each command came on."""

    def __init__(self):
        self.mails = []  # (connection number, recipients)
        self.greetings = []  # connection numbers, one per EHLO/HELO
        self.quits = []
        self.logins = []
        self.refuse = set()  # recipients answered 550
        self.busy = set()  # recipients answered 450 (try again later)
        self.recipients = []  # every RCPT, accepted or not
        self.hang_up_after_data = False
        self._sessions = {}

    def connection(self, session) -> int:
        return self._sessions.setdefault(id(session), len(self._sessions) + 1)

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: N802
        self.greetings.append(self.connection(session))
        session.host_name = hostname  # this hook's duty in aiosmtpd
        return responses

    async def handle_RCPT(self, server, session, envelope, address, options):  # noqa: N802
        self.recipients.append(address)
        if address in self.refuse:
            return f"550 no such user {address}"
        if address in self.busy:
            return "450 mailbox busy"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.mails.append((self.connection(session), list(envelope.rcpt_tos)))
        if self.hang_up_after_data:  # as a server closing an idle connection
            asyncio.get_running_loop().call_later(0.05, server.transport.close)
        return "250 OK"

    async def handle_QUIT(self, server, session, envelope):  # noqa: N802
        self.quits.append(self.connection(session))
        return "221 Bye"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        self.logins.append(self.connection(session))
        ok = (auth_data.login, auth_data.password) == (b"shop", b"s3cret")
        return AuthResult(success=ok)


@pytest.fixture
def server():
    handler = Server()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=free_port(),
        authenticator=handler.authenticate,
        auth_require_tls=False,
    )
    controller.start()
    handler.port = controller.port
    yield handler
    controller.stop()


@pytest.fixture
def kept():
    connection = KeptConnection()
    yield connection
    connection.close()


@pytest.fixture
def mailer(portal, server):
    """Plone's SMTPMailer: it reads the SMTP settings from the registry."""
    api.portal.set_registry_record("plone.smtp_host", "127.0.0.1")
    api.portal.set_registry_record("plone.smtp_port", server.port)
    return SMTPMailer()


def send(kept, mailer, to="buyer@example.com"):
    kept.mailer_for(mailer).send("shop@example.org", [to], MESSAGE)


def wait_for(condition, seconds=5.0):
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    return condition()


class TestKeptConnection:
    def test_mails_in_a_row_share_one_connection(self, kept, mailer, server):
        for n in range(3):
            send(kept, mailer, f"buyer{n}@example.com")
        assert [connection for connection, _ in server.mails] == [1, 1, 1]
        assert server.greetings == [1]
        assert server.quits == []
        kept.close()
        assert wait_for(lambda: server.quits == [1])
        assert not kept.is_open

    def test_log_in_once_per_connection(self, kept, mailer, server):
        api.portal.set_registry_record("plone.smtp_userid", "shop")
        api.portal.set_registry_record("plone.smtp_pass", "s3cret")
        mailer = SMTPMailer()
        send(kept, mailer)
        send(kept, mailer)
        assert server.logins == [1]
        assert len(server.mails) == 2

    def test_changed_settings_get_a_new_connection(self, kept, mailer, server):
        send(kept, mailer)
        api.portal.set_registry_record("plone.smtp_userid", "shop")
        api.portal.set_registry_record("plone.smtp_pass", "s3cret")
        send(kept, SMTPMailer())
        assert [connection for connection, _ in server.mails] == [1, 2]
        assert wait_for(lambda: server.quits == [1])
        assert server.logins == [2]

    def test_connection_the_server_closed_is_replaced(self, kept, mailer, server):
        server.hang_up_after_data = True
        send(kept, mailer, "first@example.com")
        time.sleep(0.3)  # the server has hung up meanwhile
        send(kept, mailer, "second@example.com")
        assert server.mails == [(1, ["first@example.com"]), (2, ["second@example.com"])]

    def test_error_closes_the_connection(self, kept, mailer, server):
        server.refuse.add("nobody@example.com")
        send(kept, mailer, "first@example.com")
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            send(kept, mailer, "nobody@example.com")
        assert not kept.is_open
        send(kept, mailer, "third@example.com")
        assert [connection for connection, _ in server.mails] == [1, 2]

    def test_connection_is_closed_after_max_mails(
        self, kept, mailer, server, monkeypatch
    ):
        monkeypatch.setattr(smtpconnection, "MAX_MAILS", 2)
        for n in range(5):
            send(kept, mailer, f"buyer{n}@example.com")
        assert [connection for connection, _ in server.mails] == [1, 1, 2, 2, 3]
        assert wait_for(lambda: server.quits == [1, 2])

    def test_idle_connection_is_not_used(self, kept, mailer, server, monkeypatch):
        send(kept, mailer)
        monkeypatch.setattr(smtpconnection, "IDLE_SECONDS", 0.0)
        send(kept, mailer)
        assert [connection for connection, _ in server.mails] == [1, 2]

    def test_unreachable_server_raises(self, kept, mailer):
        api.portal.set_registry_record("plone.smtp_port", free_port())
        with pytest.raises(ConnectionRefusedError):
            send(kept, SMTPMailer())
        assert not kept.is_open

    def test_other_mailers_are_used_as_they_are(self, kept):
        class OwnMailer(SMTPMailer):
            pass

        own = OwnMailer.__new__(OwnMailer)
        assert kept.mailer_for(own) is own

    def test_threads_take_turns(self, kept, mailer, server):
        threads = [
            threading.Thread(target=send, args=(kept, mailer, f"b{n}@example.com"))
            for n in range(6)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert sorted(to for _, (to,) in server.mails) == sorted(
            f"b{n}@example.com" for n in range(6)
        )
        assert {connection for connection, _ in server.mails} == {1}


class TestOutbox:
    def test_outbox_closes_the_connection_when_idle(self, kept, mailer, server):
        outbox = mail.Outbox(retry_delays=(), on_idle=kept.close, idle_seconds=0.2)
        outbox.put(lambda: send(kept, mailer, "first@example.com"))
        outbox.put(lambda: send(kept, mailer, "second@example.com"))
        assert outbox.flush(5)
        assert [connection for connection, _ in server.mails] == [1, 1]
        assert wait_for(lambda: server.quits == [1])
        assert not kept.is_open

    def test_job_kept_for_later_runs_when_due(self):
        """Not before, not waited for by ``flush``; the sooner of two is kept."""
        outbox = mail.Outbox(retry_delays=(), idle_seconds=0.05)
        ran = []
        outbox.put(lambda: ran.append("now"))
        assert outbox.flush(5)
        time.sleep(0.2)  # the thread is idle: it waits without a time limit
        outbox.later(lambda: ran.append("in 0.6 s"), 0.6)
        outbox.later(lambda: ran.append("in 0.3 s"), 0.3)
        outbox.later(lambda: ran.append("in 5 s"), 5)
        assert outbox.flush(5)
        assert ran == ["now"]
        assert wait_for(lambda: len(ran) == 2, 3)
        time.sleep(0.5)
        assert ran == ["now", "in 0.3 s"]

    def test_job_kept_for_later_before_the_first_job(self):
        """An outbox without a thread yet runs it once its first job starts one."""
        outbox = mail.Outbox(retry_delays=())
        ran = []
        outbox.later(lambda: ran.append("later"), 0)
        time.sleep(0.1)
        assert ran == []
        outbox.put(lambda: ran.append("first"))
        assert wait_for(lambda: sorted(ran) == ["first", "later"], 3)

    def test_welcome_mails_share_the_connection(
        self, portal, mailer, server, monkeypatch
    ):
        """Through the site's MailHost, as the outbox sends them."""
        monkeypatch.setattr(mail.spool, "directory", lambda: None)
        mailhost = mail._detached(portal.MailHost)
        for n in range(2):
            mail._send_stored(
                mailhost,
                {
                    "body": "Welcome.",
                    "recipient": f"buyer{n}@example.com",
                    "sender": "Shop <shop@example.org>",
                    "subject": "Welcome",
                },
                None,
            )
        assert [connection for connection, _ in server.mails] == [1, 1]
        smtpconnection.KEPT.close()
        assert wait_for(lambda: server.quits == [1])


class TestRefusedMails:
    """Waiting mails the server refuses: for good, for now, or all of them."""

    @pytest.fixture
    def outbox(self, tmp_path, monkeypatch):
        """An empty outbox folder; files in it count as left by an earlier process."""
        folder = tmp_path / spool.DIRECTORY_NAME
        folder.mkdir()
        monkeypatch.setattr(spool, "directory", lambda: folder)
        monkeypatch.setattr(spool, "STARTED", time.time() + 3600)
        return folder

    @pytest.fixture
    def mailhost(self, portal, mailer):
        yield mail._detached(portal.MailHost)
        smtpconnection.KEPT.close()

    @staticmethod
    def letter(recipient: str) -> dict:
        """A welcome mail as the outbox folder keeps it."""
        return {
            "body": "Welcome.",
            "recipient": recipient,
            "sender": "Shop <shop@example.org>",
            "subject": "Welcome",
        }

    def waiting(self, *recipients):
        """Stored mails for ``recipients``, oldest first, as ``left_over`` has them."""
        for recipient in recipients:
            spool.write(self.letter(recipient))
        return spool.left_over()

    def test_mail_refused_for_good_is_kept_aside(
        self, outbox, mailhost, server, caplog
    ):
        """No such user: not tried again, kept in ``undeliverable``; others go."""
        server.refuse.add("nobody@example.com")
        mail._send_left_over(mailhost, self.waiting("nobody@example.com", "b@x.org"))
        assert [to for _, to in server.mails] == [["b@x.org"]]
        (kept,) = (outbox / spool.UNDELIVERABLE_NAME).iterdir()
        assert json.loads(kept.read_text())["recipient"] == "nobody@example.com"
        assert kept.stat().st_mode & 0o777 == 0o600
        assert [p.name for p in outbox.iterdir()] == [spool.UNDELIVERABLE_NAME]
        assert "refused a welcome mail for good (550 SMTPRecipientsRefused)" in (
            caplog.text
        )
        assert "nobody@example.com" not in caplog.text  # the server's words
        # Neither the next mails nor the sweep's runs try it again.
        assert spool.left_over() == []
        assert mail.send_left_over() == 0
        assert server.recipients == ["nobody@example.com", "b@x.org"]

    def test_new_mail_refused_for_good_is_not_tried_again(
        self, outbox, mailhost, server, caplog
    ):
        """The outbox's three attempts are for servers that may come back."""
        server.refuse.add("nobody@example.com")
        outbox_thread = mail.Outbox(retry_delays=(0, 0))
        letter = self.letter("nobody@example.com")
        stored = spool.write(letter)
        outbox_thread.put(lambda: mail._send_stored(mailhost, letter, stored))
        assert outbox_thread.flush(5)
        assert server.recipients == ["nobody@example.com"]
        assert "could not be sent" not in caplog.text
        assert (outbox / spool.UNDELIVERABLE_NAME / stored.name).exists()

    def test_mail_refused_for_now_waits(self, outbox, mailhost, server, caplog):
        """A 4xx reply may pass: the mail goes back to wait, the run ends."""
        server.busy.add("busy@example.com")
        mail._send_left_over(mailhost, self.waiting("busy@example.com", "b@x.org"))
        assert server.mails == []
        assert sorted(p.suffix for p in outbox.iterdir()) == [".json", ".json"]
        assert "Waiting welcome mails could not be sent (SMTPRecipientsRefused); " in (
            caplog.text
        )
        assert "2 stay in" in caplog.text
        server.busy.clear()
        mail._send_left_over(mailhost)
        assert sorted(to for _, (to,) in server.mails) == [
            "b@x.org",
            "busy@example.com",
        ]
        assert list(outbox.iterdir()) == []

    def test_server_down_costs_one_attempt(
        self, outbox, portal, mailer, server, caplog, monkeypatch
    ):
        """Not one connection attempt (and timeout) and one warning per mail."""
        waiting = self.waiting("a@x.org", "b@x.org", "c@x.org")
        api.portal.set_registry_record("plone.smtp_port", free_port())
        attempts = []
        connect = smtpconnection._connect
        monkeypatch.setattr(
            smtpconnection,
            "_connect",
            lambda mailer: attempts.append(mailer) or connect(mailer),
        )
        mail._send_left_over(mail._detached(portal.MailHost), waiting)
        assert len(attempts) == 1
        warnings = [r for r in caplog.records if r.levelname == "WARNING"]
        assert [r.getMessage().split(";")[0] for r in warnings] == [
            "Waiting welcome mails could not be sent (ConnectionRefusedError)"
        ]
        assert "3 stay in" in caplog.text
        assert sorted(p.suffix for p in outbox.iterdir()) == [".json"] * 3
        # The server is back: the next run sends them all, oldest first.
        api.portal.set_registry_record("plone.smtp_port", server.port)
        mail._send_left_over(mail._detached(portal.MailHost))
        assert [to for _, (to,) in server.mails] == ["a@x.org", "b@x.org", "c@x.org"]
        assert list(outbox.iterdir()) == []
        smtpconnection.KEPT.close()

    def test_mail_given_up_is_tried_again_without_a_sale(
        self, outbox, mailhost, server, caplog, monkeypatch
    ):
        """A quiet site: the outbox itself tries again, until the server is back."""
        monkeypatch.setattr(mail, "RETRY_SECONDS", 0.5)
        monkeypatch.setattr(spool, "STARTED", 0)  # the outbox folder's files are new
        server.busy.add("b@x.org")
        sender = mail.Outbox(retry_delays=(0, 0))
        letter = self.letter("b@x.org")
        sender.put(mail.StoredMail(mailhost, letter, spool.write(letter)))
        assert sender.flush(5)
        assert "Welcome mail could not be sent (SMTPRecipientsRefused)" in caplog.text
        assert server.recipients == ["b@x.org"] * 3
        # Tried again after RETRY_SECONDS, once, and again after that.
        failed = "Waiting welcome mails could not be sent (SMTPRecipientsRefused)"
        assert wait_for(lambda: caplog.text.count(failed) == 2, 5)
        server.busy.clear()  # the next try comes RETRY_SECONDS after the last
        assert wait_for(lambda: server.mails, 5)
        assert server.recipients == ["b@x.org"] * 6
        assert [to for _, (to,) in server.mails] == ["b@x.org"]
        assert list(outbox.iterdir()) == []
        time.sleep(1.2)  # sent: nothing is tried any more
        assert len(server.recipients) == 6

    def test_mail_given_up_goes_with_the_next_at_once(
        self, outbox, mailhost, server, monkeypatch
    ):
        """The server is back: no quarter of an hour to wait for the next mail."""
        monkeypatch.setattr(mail, "RETRY_SECONDS", 60)
        monkeypatch.setattr(spool, "STARTED", 0)  # the outbox folder's files are new
        server.busy.add("first@x.org")
        sender = mail.Outbox(retry_delays=())
        for to in ("first@x.org", "second@x.org"):
            letter = self.letter(to)
            sender.put(mail.StoredMail(mailhost, letter, spool.write(letter)))
            assert sender.flush(5)
            server.busy.clear()
        assert [to for _, (to,) in server.mails] == ["second@x.org", "first@x.org"]
        assert list(outbox.iterdir()) == []

    def test_refused_for_good(self):
        """Which failures concern the mail itself, and which the server."""
        refused = smtplib.SMTPRecipientsRefused
        assert mail.refused_for_good(refused({"a@x.org": (550, b"no")})) == 550
        assert mail.refused_for_good(refused({"a@x.org": (450, b"busy")})) is None
        both = refused({"a@x.org": (550, b"no"), "b@x.org": (451, b"later")})
        assert mail.refused_for_good(both) is None
        assert mail.refused_for_good(smtplib.SMTPDataError(554, b"spam")) == 554
        assert mail.refused_for_good(smtplib.SMTPDataError(451, b"later")) is None
        sender = smtplib.SMTPSenderRefused(553, b"no relay", "shop@example.org")
        assert mail.refused_for_good(sender) is None
        assert mail.refused_for_good(smtplib.SMTPAuthenticationError(535, b"")) is None
        assert mail.refused_for_good(ConnectionRefusedError()) is None


class TestReadable:
    """How a kept connection the server closed is noticed before it is used."""

    def test_idle_peer_then_data_then_end(self):
        ours, theirs = socket.socketpair()
        with ours, theirs:
            assert not smtpconnection._readable(ours)
            theirs.sendall(b"421 closing\r\n")
            assert smtpconnection._readable(ours)
            ours.recv(100)
            theirs.close()
            assert smtpconnection._readable(ours)

    def test_descriptor_beyond_select_limit(self):
        """A busy Zope process has more than 1 024 files open."""
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        assert hard >= 2048, "the test needs descriptors beyond 1 024"
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 2048), hard))
        ours, theirs = socket.socketpair()
        high = socket.socket(fileno=os.dup2(ours.fileno(), 2000))
        try:
            assert not smtpconnection._readable(high)
            theirs.sendall(b"x")
            assert smtpconnection._readable(high)
        finally:
            high.close()
            ours.close()
            theirs.close()
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
