"""The outbox: welcome mails sent one after the other, after the request.

A job sends one mail (:func:`send_stored`): it claims the mail's file in the
outbox folder (:mod:`niteoweb.clickbank.spool`), sends it through a MailHost
and forgets the file, then sends the mails left waiting by earlier processes.
An :class:`Outbox` runs the jobs in a thread and tries a failed one again.
The Zope process has one (:data:`OUTBOX`); so has the mail sender process
(:mod:`niteoweb.clickbank.mailsender`), which is why this module needs no
Zope or Plone, only a MailHost-like object with Products.MailHost's ``send``.
"""

import queue
import threading
import time
from email.charset import QP
from email.charset import Charset
from email.mime.text import MIMEText
from email.policy import compat32

from niteoweb.clickbank import logger
from niteoweb.clickbank import smtpconnection
from niteoweb.clickbank import spool

# SMTP wants CRLF line ends; servers may refuse bare LF (RFC 5321).
SMTP_POLICY = compat32.clone(linesep="\r\n")

# Quoted-printable keeps the mostly-ASCII source of a mail readable.
UTF8 = Charset("utf-8")
UTF8.body_encoding = QP


class Outbox:
    """Mails waiting for the SMTP server, sent one after the other by a thread.

    A job is a callable that sends one mail. The thread starts with the first
    job; a job that raises is tried again after each of ``retry_delays``
    seconds, then given up with a warning. Jobs still waiting when the process
    exits normally are sent first (for up to ten seconds); after a crash, the
    copies :mod:`niteoweb.clickbank.spool` keeps are sent by the next process.
    ``on_idle`` is called when no job has come for ``idle_seconds`` after the
    last one (the outbox closes its SMTP connection then).
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

    def put(self, job) -> None:
        """Send ``job`` as soon as the jobs before it are done."""
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._work, name="niteoweb.clickbank mail", daemon=True
                )
                self._thread.start()
        self._jobs.put(job)

    def flush(self, timeout: float = 10) -> bool:
        """Wait until every job is done; False if some are left after ``timeout``."""
        deadline = time.monotonic() + timeout
        while self._jobs.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)
        return not self._jobs.unfinished_tasks

    def _work(self) -> None:
        while True:
            try:
                job = self._jobs.get(timeout=self.idle_seconds)
            except queue.Empty:
                if self.on_idle is not None:
                    try:
                        self.on_idle()
                    except Exception:  # noqa: BLE001 - never end the thread
                        logger.exception("The outbox's idle hook failed.")
                job = self._jobs.get()
            try:
                self._send(job)
            finally:
                self._jobs.task_done()

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
                    return
                logger.info(
                    "Welcome mail not sent yet (%s); trying again in %s s.",
                    type(error).__name__,
                    delay,
                )
                time.sleep(delay)


#: The process's outbox for welcome mails.
OUTBOX = Outbox(on_idle=smtpconnection.KEPT.close)


def send_stored(mailhost, mail: dict, path) -> None:
    """Send a mail and forget its file; then the mails left waiting."""
    if path is None:  # it could not be stored
        send_message(mailhost, **mail)
    elif not send_claimed(mailhost, mail, path):
        return
    send_left_over_with(mailhost)


def send_claimed(mailhost, mail: dict, path) -> bool:
    """Send the stored mail ``path`` and forget it; False if a sender has it.

    The file is claimed first: if another process sent it meanwhile (as the
    expiry sweep may, for a mail that waited long), this one does not. A mail
    that cannot be sent goes back to wait, and the error is raised.
    """
    sending = spool.claim(path)
    if sending is None:
        return False
    try:
        send_message(mailhost, **mail)
    except Exception:
        spool.release(sending)
        raise
    spool.remove(sending)
    return True


def send_left_over_with(mailhost) -> None:
    """Send the waiting mails no outbox is sending, through ``mailhost``."""
    for left_path, left_mail in spool.left_over():
        try:
            if not send_claimed(mailhost, left_mail, left_path):
                continue  # another sender took it
        except Exception as error:  # noqa: BLE001 - kept for a later try
            logger.warning(
                "A waiting welcome mail could not be sent (%s); it stays in %s.",
                type(error).__name__,
                left_path.parent,
            )
            continue
        logger.info("A waiting welcome mail was sent.")


def send_message(mailhost, body, recipient, sender, subject) -> None:
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
