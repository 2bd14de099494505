"""The welcome mail: login name and a one-time link to choose a password.

The mail is handed over only after the transaction has committed (an
after-commit hook): a notification that fails and is rolled back sends nothing.
It is then sent by a background thread (:class:`Outbox`), so that ClickBank's
request does not wait for the SMTP conversation; a mail server that is down or
refuses the mail never costs a sale — the mail is tried three times over about
ten seconds, then the failure is logged (the mail is kept, see
:mod:`niteoweb.clickbank.spool`, and tried again a quarter of an hour later)
and the buyer can still use "Forgot your password?". A mail the server refuses
for good (a 5xx reply to its recipient or its content) is not tried again: it
is kept aside with a warning. The password is never mailed; the link leads to
Plone's own password form.

The text is the admin's (Site Setup → ClickBank → Welcome mails) for the order
language when set, else the built-in ``emails/welcome-<language>.txt``; orders in
a language without a mail get the English one.
"""

import atexit
import copy
import functools
import os
import queue
import signal
import smtplib
import threading
import time
from email.charset import QP
from email.charset import Charset
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import formataddr
from pathlib import Path
from string import Template

import transaction
from Acquisition import aq_base
from persistent import Persistent
from plone import api
from plone.registry.interfaces import IRegistry
from zope.component import getUtility
from zope.interface import Invalid

from niteoweb.clickbank import logger
from niteoweb.clickbank import passwordlinks
from niteoweb.clickbank import smtpconnection
from niteoweb.clickbank import spool
from niteoweb.clickbank.mailsettings import LANGUAGES
from niteoweb.clickbank.mailsettings import REQUIRED_IN_BODY
from niteoweb.clickbank.mailsettings import check_template
from niteoweb.clickbank.mailsettings import field_names
from niteoweb.clickbank.settings import record_name

TEMPLATES = Path(__file__).parent / "emails"
DEFAULT_LANGUAGE = "EN"

# SMTP wants CRLF line ends; servers may refuse bare LF (RFC 5321).
SMTP_POLICY = compat32.clone(linesep="\r\n")

# Quoted-printable keeps the mostly-ASCII source of a mail readable.
UTF8 = Charset("utf-8")
UTF8.body_encoding = QP


def mail_language(language: str | None) -> str:
    """The order language (``de`` → ``DE``) if it has a mail, else ``EN``."""
    code = (language or "").strip().upper()
    return code if code in LANGUAGES else DEFAULT_LANGUAGE


def builtin_template(language: str | None) -> tuple[str, str]:
    """Return the built-in ``(subject, body)`` templates of an order language."""
    return _read_template(mail_language(language))


@functools.cache
def _read_template(language: str) -> tuple[str, str]:
    """Read ``emails/welcome-<language>.txt`` once per process."""
    path = TEMPLATES / f"welcome-{language.lower()}.txt"
    head, _, body = path.read_text(encoding="utf-8").partition("\n\n")
    return head.removeprefix("Subject:").strip(), body


def admin_text(field_name: str, required: str | None = None) -> str | None:
    """The admin's text in a mail settings field; None if empty or unusable."""
    text = api.portal.get_registry_record(record_name(field_name), default=None)
    if not text or not text.strip():
        return None
    try:
        check_template(text, required)
    except Invalid as error:
        # Set around the form (records keep no constraint): never send it broken.
        logger.warning("%s ignored, the built-in text is used: %s", field_name, error)
        return None
    return text.replace("\r\n", "\n")  # browsers send textareas with CRLF


def template_for(language: str | None) -> tuple[str, str]:
    """Return ``(subject, body)`` templates for a ClickBank order language."""
    subject, body = builtin_template(language)
    subject_field, body_field = field_names(mail_language(language))
    return (
        admin_text(subject_field) or subject,
        admin_text(body_field, required=REQUIRED_IN_BODY) or body,
    )


def render_welcome(member, language: str = DEFAULT_LANGUAGE) -> tuple[str, str]:
    """Return the ``(subject, body)`` of the welcome mail for ``member``."""
    url, hours = passwordlinks.new_link(member)
    values = {
        "fullname": member.getProperty("fullname", "") or member.getUserName(),
        "login": member.getUserName(),
        "set_password_url": url,
        "expires_hours": str(hours),
        "site_title": api.portal.get().Title(),
    }
    subject, body = template_for(language)
    subject = Template(subject).safe_substitute(values)
    # One line whatever the values hold: no header injection through a name.
    return " ".join(subject.split()), Template(body).safe_substitute(values)


def after_commit(callback, *args) -> None:
    """Call ``callback(committed, *args)`` when the current transaction ends."""
    transaction.get().addAfterCommitHook(callback, args)


#: Put in the outbox's queue to make its thread look at the time again.
_WAKE = object()


class Outbox:
    """Mails waiting for the SMTP server, sent one after the other by a thread.

    A job is a callable that sends one mail. The thread starts with the first
    job; a job that raises is tried again after each of ``retry_delays``
    seconds, then given up with a warning (and its ``given_up(outbox)`` method
    is called, if it has one). Jobs still waiting when the process exits
    normally are sent first (for up to ten seconds); after a crash, the copies
    :mod:`niteoweb.clickbank.spool` keeps are sent by the next process.
    ``on_idle`` is called when no job has come for ``idle_seconds`` after the
    last one (the outbox closes its SMTP connection then). One job can be
    kept for later (:meth:`later`): the retry of mails the server refused.
    """

    def __init__(
        self,
        retry_delays: tuple[float, ...] = (2, 8),
        on_idle=None,
        idle_seconds: float = smtpconnection.IDLE_SECONDS,
    ):
        self.retry_delays = retry_delays
        self.on_idle = on_idle
        self.idle_seconds = idle_seconds
        self._jobs = queue.Queue()
        self._thread = None
        self._start_lock = threading.Lock()
        self._later = None  # (monotonic time due, job)

    def put(self, job) -> None:
        """Send ``job`` as soon as the jobs before it are done."""
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._work, name="niteoweb.clickbank mail", daemon=True
                )
                self._thread.start()
        self._jobs.put(job)

    def later(self, job, seconds: float) -> None:
        """Run ``job`` in ``seconds``, unless a job kept for later is due sooner.

        It runs in the outbox's thread, between two jobs; an outbox whose
        thread has not started yet runs it once its first job has started the
        thread. :meth:`flush` does not wait for it.
        """
        due = time.monotonic() + seconds
        with self._start_lock:
            if self._later is not None and self._later[0] <= due:
                return
            self._later = (due, job)
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            self._jobs.put(_WAKE)  # it may be waiting without a time limit

    def flush(self, timeout: float = 10) -> bool:
        """Wait until every job is done; False if some are left after ``timeout``."""
        deadline = time.monotonic() + timeout
        while self._jobs.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)
        return not self._jobs.unfinished_tasks

    def _work(self) -> None:
        idle = False  # whether on_idle has run since the last job
        while True:
            try:
                job = self._jobs.get(timeout=self._wait(idle))
            except queue.Empty:
                job = self._due()
                if job is not None:
                    self._send(job)
                    idle = False
                elif not idle:
                    self._idle()
                    idle = True
                continue
            try:
                if job is not _WAKE:
                    self._send(job)
                    idle = False
            finally:
                self._jobs.task_done()

    def _wait(self, idle: bool) -> float | None:
        """Seconds to wait for a job: until it is idle, or the later job is due."""
        waits = [] if idle else [self.idle_seconds]
        later = self._later
        if later is not None:
            waits.append(max(0.0, later[0] - time.monotonic()))
        return min(waits) if waits else None

    def _due(self):
        """The job kept for later, if it is due now (it is then no longer kept)."""
        with self._start_lock:
            if self._later is None or self._later[0] > time.monotonic():
                return None
            job, self._later = self._later[1], None
        return job

    def _idle(self) -> None:
        if self.on_idle is not None:
            try:
                self.on_idle()
            except Exception:  # noqa: BLE001 - never end the thread
                logger.exception("The outbox's idle hook failed.")

    def _send(self, job) -> None:
        for delay in (*self.retry_delays, None):
            try:
                job()
                return
            except Exception as error:  # noqa: BLE001 - the sale is saved; only log
                if delay is None:
                    logger.warning(
                        "Welcome mail could not be sent (%s); the member was created.",
                        type(error).__name__,
                    )
                    given_up = getattr(job, "given_up", None)
                    if given_up is not None:
                        given_up(self)
                    return
                logger.info(
                    "Welcome mail not sent yet (%s); trying again in %s s.",
                    type(error).__name__,
                    delay,
                )
                time.sleep(delay)


#: The process's outbox for welcome mails.
OUTBOX = Outbox(on_idle=smtpconnection.KEPT.close)


@atexit.register
def _flush_at_exit() -> None:
    OUTBOX.flush()
    smtpconnection.KEPT.close()


#: Seconds a SIGTERM waits for the outbox (process managers wait about 10 s
#: before they send SIGKILL).
TERM_FLUSH_SECONDS = 5


def flush_on_terminate(event=None) -> None:
    """Subscriber of IProcessStarting: a SIGTERM sends waiting mails first.

    Zope under WSGI sets no handler for SIGTERM, the signal supervisord,
    systemd and docker stop it with, and Python then ends at once, without the
    exit handlers that flush the outbox: waiting mails would stay in the
    outbox folder until the next process sends a mail. The handler waits for
    the outbox (up to :data:`TERM_FLUSH_SECONDS`), then does what was there
    before: the earlier handler, or the default (the process ends by SIGTERM).
    """
    if threading.current_thread() is not threading.main_thread():
        return  # only the main thread may set signal handlers
    previous = signal.getsignal(signal.SIGTERM)
    if getattr(previous, "flushes_outbox", False):
        return

    def terminate(signum, frame):
        OUTBOX.flush(TERM_FLUSH_SECONDS)
        if callable(previous):
            previous(signum, frame)
        elif previous != signal.SIG_IGN:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)

    terminate.flushes_outbox = True
    signal.signal(signal.SIGTERM, terminate)


def queue_delivery(job) -> None:
    """Hand a mail job to the outbox (tests replace this to send at once)."""
    OUTBOX.put(job)


def _detached(mailhost):
    """A copy of the MailHost that needs no database connection or site.

    The outbox thread sends after the request has ended and its connection has
    gone back to the pool, where another request may use it. The copy holds
    this moment's settings and shares nothing with the database; its SMTP
    mailer is made here, in the request, because Plone makes mailers read the
    SMTP settings from the site's registry. It sends over the outbox's kept
    connection (:mod:`niteoweb.clickbank.smtpconnection`).
    """
    base = aq_base(mailhost)
    getattr(base, "_p_activate", lambda: None)()  # a ghost's __dict__ is empty
    detached = base.__class__.__new__(base.__class__)
    # Persistent attributes are copied too: changing one from the outbox thread
    # would join its connection to a transaction of that thread.
    detached.__dict__.update(
        (name, copy.copy(value) if isinstance(value, Persistent) else value)
        for name, value in base.__dict__.items()
    )
    try:
        mailer = base._makeMailer()
    except AttributeError:  # a MailHost that sends without SMTP settings
        return detached
    kept = smtpconnection.KEPT.mailer_for(mailer)
    detached._makeMailer = lambda: kept
    return detached


def send_welcome(member, language: str = DEFAULT_LANGUAGE) -> bool:
    """Prepare the welcome mail; it is sent once the transaction has committed.

    Returns False (and logs why) when the site has no sender address: the
    member is created all the same.
    """
    registry = getUtility(IRegistry)
    sender = registry.get("plone.email_from_address") or ""
    if not sender:
        logger.warning("Welcome mail not sent: the site has no sender address.")
        return False
    subject, body = render_welcome(member, language)
    name = registry.get("plone.email_from_name") or ""
    after_commit(
        _deliver,
        api.portal.get_tool("MailHost"),
        body,
        member.getProperty("email"),
        formataddr((name, sender)),
        subject,
    )
    return True


def _deliver(committed: bool, mailhost, body, recipient, sender, subject) -> None:
    """Store and queue a prepared mail if its transaction committed; never raise."""
    if not committed:
        return
    mail = {"body": body, "recipient": recipient, "sender": sender, "subject": subject}
    try:
        job = StoredMail(_detached(mailhost), mail, spool.write(mail))
    except Exception as error:  # noqa: BLE001 - the sale is saved; only log
        logger.warning(
            "Welcome mail could not be sent (%s); the member was created.",
            type(error).__name__,
        )
        return
    queue_delivery(job)


#: Seconds after the outbox gave a mail up before it tries the waiting mails
#: again (and again, as long as the server fails).
RETRY_SECONDS = spool.STALE_SECONDS


class StoredMail:
    """The outbox's job for one welcome mail: send it, then the mails waiting.

    ``path``: its copy in the outbox folder (None if it could not be stored).
    """

    def __init__(self, mailhost, mail: dict, path):
        self.mailhost, self.mail, self.path = mailhost, mail, path

    def __call__(self) -> None:
        _send_stored(self.mailhost, self.mail, self.path)

    def given_up(self, outbox) -> None:
        """The server failed three times: the mail waits, and is tried again.

        It is marked as no longer this outbox's (the next mail takes it along,
        once the server is back), and the outbox tries the waiting mails again
        in :data:`RETRY_SECONDS`, with this mail's MailHost settings: a quiet
        site's mails need no sale or sweep to leave.
        """
        if self.path is not None:
            spool.let_go(self.path)
        _retry_later(self.mailhost, outbox)


def _retry_later(mailhost, outbox) -> None:
    """Have ``outbox`` try the waiting mails in :data:`RETRY_SECONDS`."""
    outbox.later(functools.partial(_retry_waiting, mailhost, outbox), RETRY_SECONDS)


def _retry_waiting(mailhost, outbox) -> None:
    """Send the waiting mails; failing, try again in :data:`RETRY_SECONDS`."""
    if not _send_left_over(mailhost):
        _retry_later(mailhost, outbox)


def _send_stored(mailhost, mail: dict, path) -> None:
    """Send a mail and forget its file; then the mails left waiting."""
    if path is None:  # it could not be stored
        _send(mailhost, **mail)
    elif _send_claimed(mailhost, mail, path) == TAKEN:
        return
    _send_left_over(mailhost)


#: What became of a stored mail a sender tried (:func:`_send_claimed`).
SENT, TAKEN, REFUSED = "sent", "taken by another sender", "refused for good"


def _send_claimed(mailhost, mail: dict, path) -> str:
    """Send the stored mail ``path`` and forget it; :data:`SENT` if it was sent.

    The file is claimed first: if another process sent it meanwhile (as the
    expiry sweep may, for a mail that waited long), this one does not
    (:data:`TAKEN`). A mail the SMTP server refused for good is kept aside
    (:func:`niteoweb.clickbank.spool.give_up`) with a warning, and not tried
    again (:data:`REFUSED`). Any other failure puts the mail back to wait, and
    the error is raised.
    """
    sending = spool.claim(path)
    if sending is None:
        return TAKEN
    try:
        _send(mailhost, **mail)
    except Exception as error:
        code = refused_for_good(error)
        if code is None:
            spool.release(sending)
            raise
        kept = spool.give_up(sending)
        if kept is None:
            raise
        # The server's words may hold the address: only its code is logged.
        logger.warning(
            "The SMTP server refused a welcome mail for good (%s %s); it is not "
            "tried again. It is kept as %s.",
            code,
            type(error).__name__,
            kept,
        )
        return REFUSED
    spool.remove(sending)
    return SENT


def refused_for_good(error: Exception) -> int | None:
    """The SMTP reply code if ``error`` says this mail can never be delivered.

    That is a permanent (5xx) refusal of its recipient, or of its content after
    DATA. A refused sender, a failed login, a closed connection or a temporary
    (4xx) reply concern every mail, and may pass: None.
    """
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [reply[0] for reply in error.recipients.values()]
        permanent = bool(codes) and all(500 <= code < 600 for code in codes)
        return codes[0] if permanent else None
    if isinstance(error, smtplib.SMTPDataError) and 500 <= error.smtp_code < 600:
        return error.smtp_code
    return None


def send_left_over() -> int:
    """Hand the waiting mails no outbox is sending to this one; how many.

    See :func:`niteoweb.clickbank.spool.left_over`. They go with the next
    welcome mail anyway; the expiry sweep calls this so that they do not wait
    for a sale. The site's MailHost sends them.
    """
    waiting = spool.left_over()
    if waiting:
        mailhost = _detached(api.portal.get_tool("MailHost"))
        queue_delivery(functools.partial(_send_left_over, mailhost, waiting))
        logger.info("%d waiting welcome mail(s) handed to the outbox.", len(waiting))
    return len(waiting)


def _send_left_over(mailhost, waiting: list | None = None) -> bool:
    """Send ``waiting`` (``spool.left_over()``'s list), by default read now.

    Each file is claimed before it is sent: one another sender took since the
    list was made is skipped. The first mail that fails ends the run: the
    server is down or refuses this site's mail, and would refuse the others as
    well (each trying a dead server's timeout). They wait for the next run.
    Returns False if a mail failed.
    """
    if waiting is None:
        waiting = spool.left_over()
    for done, (left_path, left_mail) in enumerate(waiting):
        try:
            outcome = _send_claimed(mailhost, left_mail, left_path)
        except Exception as error:  # noqa: BLE001 - kept for a later try
            logger.warning(
                "Waiting welcome mails could not be sent (%s); %d stay in %s for "
                "a later try.",
                type(error).__name__,
                len(waiting) - done,
                left_path.parent,
            )
            return False
        if outcome == SENT:
            logger.info("A waiting welcome mail was sent.")
    return True


def _send(mailhost, body, recipient, sender, subject) -> None:
    """Send one welcome mail through ``mailhost`` (in the outbox thread)."""
    mailhost.send(
        # A message, not a string: MailHost would parse a string's first lines
        # as headers ("Note: …" would vanish from the text).
        MIMEText(body, "plain", UTF8, policy=SMTP_POLICY),
        mto=recipient,
        mfrom=sender,
        subject=subject,
        charset="utf-8",
        immediate=True,
    )
