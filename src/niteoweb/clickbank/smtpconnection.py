"""One SMTP connection for a run of welcome mails.

The SMTP mailer Plone's MailHost sends with (``zope.sendmail``'s
``SMTPMailer``) opens a connection for every mail: connect, EHLO (STARTTLS,
EHLO and AUTH when the site is set up so), MAIL, RCPT, DATA, QUIT. The outbox
sends its mails one after the other, so it keeps the connection open while
mails keep coming and sends the next one with MAIL, RCPT and DATA alone, as
mail servers do among themselves (RFC 5321 allows any number of mails per
connection). That halves the CPU a mail costs the Zope process and the round
trips it costs the SMTP server.

The mail still goes through the site's MailHost (``MailHost.send``: its
headers, its settings); only the way its mailer talks to the server changes,
and only for a plain ``SMTPMailer`` (other mailers are used as they are). The
connection is closed (QUIT) once no mail has come for :data:`IDLE_SECONDS`,
after :data:`MAX_MAILS` mails or :data:`MAX_AGE_SECONDS`, when the SMTP
settings change, and after any error: the outbox's next attempt starts afresh.
A connection the server has closed meanwhile is noticed before it is used
(the server's farewell, or the end of the stream, is waiting to be read) and
replaced; the mail was not sent on it, so it is not sent twice.
"""

import contextlib
import select
import threading
import time

from zope.sendmail.mailer import SMTPMailer

#: Seconds a connection stays open without a mail (mail servers wait minutes).
IDLE_SECONDS = 5.0
#: Mails sent over one connection before it is closed.
MAX_MAILS = 100
#: Seconds one connection is used for at most.
MAX_AGE_SECONDS = 120.0


class KeptConnection:
    """An SMTP connection kept open between mails; usable from any thread."""

    def __init__(self):
        self._lock = threading.RLock()
        self._smtp = None
        self._settings = None
        self._opened = self._used = 0.0
        self._mails = 0

    def mailer_for(self, mailer):
        """A mailer that sends as ``mailer`` would, over the kept connection."""
        if type(mailer) is not SMTPMailer:  # a mailer of its own: leave it alone
            return mailer
        return _KeptMailer(self, mailer)

    def send(self, mailer, fromaddr, toaddrs, message) -> None:
        """Send ``message`` with ``mailer``'s settings; raise what smtplib raises."""
        settings = _settings(mailer)
        with self._lock:
            if not self._usable(settings):
                self.close()
                self._smtp = _connect(mailer)
                self._settings = settings
                self._opened = time.monotonic()
                self._mails = 0
            try:
                self._smtp.sendmail(fromaddr, toaddrs, message)
            except BaseException:
                self.close()
                raise
            self._mails += 1
            self._used = time.monotonic()
            if self._mails >= MAX_MAILS or self._used - self._opened >= MAX_AGE_SECONDS:
                self.close()

    def close(self) -> None:
        """Say goodbye to the server, if a connection is open."""
        with self._lock:
            smtp, self._smtp, self._settings = self._smtp, None, None
            if smtp is None:
                return
            with contextlib.suppress(Exception):  # gone already: nothing to say
                smtp.quit()
            smtp.close()

    @property
    def is_open(self) -> bool:
        """Whether a connection is open now."""
        return self._smtp is not None

    def _usable(self, settings: tuple) -> bool:
        """Whether the open connection can take a mail sent with ``settings``."""
        smtp = self._smtp
        if smtp is None or settings != self._settings:
            return False
        if time.monotonic() - self._used >= IDLE_SECONDS or smtp.sock is None:
            return False
        # An idle server says nothing; something to read is its "421 closing"
        # or the end of the connection.
        return not _readable(smtp.sock)


class _KeptMailer:
    """The ``send`` of an SMTPMailer, over a kept connection."""

    def __init__(self, kept: KeptConnection, mailer: SMTPMailer):
        self._kept = kept
        self._mailer = mailer

    def send(self, fromaddr, toaddrs, message) -> None:
        self._kept.send(self._mailer, fromaddr, toaddrs, message)


def _readable(sock) -> bool:
    """Whether ``sock`` has something to read (or is closed) right now.

    ``poll``, not ``select``: a busy Zope process may have more than 1 024
    files open, and ``select`` refuses descriptors beyond that.
    """
    if getattr(sock, "pending", lambda: 0)():  # TLS: decrypted, not yet read
        return True
    try:
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    except (OSError, ValueError):  # closed under us
        return True


def _settings(mailer: SMTPMailer) -> tuple:
    """What a connection made for ``mailer`` depends on."""
    return (
        mailer.smtp,
        mailer.hostname,
        str(mailer.port),
        mailer.username,
        mailer.password,
        mailer.no_tls,
        mailer.force_tls,
        mailer.implicit_tls,
        mailer.timeout,
    )


def _connect(mailer: SMTPMailer):
    """Open a connection as ``mailer`` does before a mail: greet, TLS, log in.

    The mailer's own ``vote`` connects and greets (EHLO, else HELO); the TLS
    and login steps are those of its ``send``, which would also send the mail
    and close the connection.
    """
    try:
        mailer.vote(None, None, None)
        smtp = mailer.connection
        if not mailer.implicit_tls:
            tls = smtp.has_extn("starttls")
            if not tls and mailer.force_tls:
                raise RuntimeError("TLS is required, but the SMTP server has none.")
            if tls and not mailer.no_tls:
                smtp.starttls()
                smtp.ehlo()
        if smtp.does_esmtp:
            if mailer.username is not None and mailer.password is not None:
                smtp.login(mailer.username, mailer.password)
        elif mailer.username:
            raise RuntimeError("A user name is set, but the SMTP server has no ESMTP.")
    except BaseException:
        if mailer.connection is not None:
            mailer.connection.close()
        raise
    finally:
        mailer.connection = None  # kept here, not in the mailer (per thread)
    return smtp


#: The process's kept connection, used by the outbox.
KEPT = KeptConnection()
