"""The MailHost's queue: delivered from Zope's start, retried, logged quietly.

Products.MailHost starts zope.sendmail's queue thread with the first mail a
process queues, so mails a stopped Zope left in the queue would wait for the
next sale: :func:`start_delivery` starts it with Zope. A failed mail keeps its
lock for ``MAX_SEND_TIME``, three hours in zope.sendmail, here
:data:`RETRY_SECONDS`. The thread logs addresses, and a traceback per failed
attempt: :class:`QueueLog` takes the addresses out and reports failures at most
once a minute.
"""

import logging
import os
import time

import transaction
import zope.sendmail.queue
from Acquisition import aq_base
from plone.base.interfaces import IPloneSiteRoot
from zope.component.hooks import setSite

#: Seconds after a failed attempt until a queued mail is tried again. Longer
#: than a send can take, or a second Zope process on the queue sends it twice.
RETRY_SECONDS = 120
zope.sendmail.queue.MAX_SEND_TIME = RETRY_SECONDS

#: The logger of zope.sendmail's queue thread, and its messages.
LOGGER = "QueueProcessorThread"
SENT = "Mail from %s to %s sent."
FAILED = "Error while sending mail from %s to %s (%s)."
DISCARDED = "Discarding email from %s to %s (%s) due to a permanent error: %s"
REFUSED = "Email recipients refused for %s: %s"


class QueueLog(logging.Filter):
    """The queue thread's log lines without addresses, failures once a minute."""

    def __init__(self, clock=time.monotonic):
        super().__init__()
        self.clock = clock
        self.reported = None  # the clock when a failure was last logged
        self.failed = 0  # attempts failed since then
        self.set_aside = False  # zope.sendmail says "sent" of a refused mail too

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite ``record``; False for a failure reported less than a minute ago."""
        if record.msg == FAILED:
            return self._failure(record)
        if record.msg == SENT:
            if self.set_aside:
                self.set_aside = False
                return False
            self.reported = None  # delivering again: the next failure is news
            record.msg, record.args = "A queued mail was sent.", ()
        elif record.msg in (DISCARDED, REFUSED):
            self.set_aside = True
            path = record.args[2] if record.msg == DISCARDED else record.args[0]
            record.msg = (
                "The SMTP server refused a queued mail for good; it is kept in the "
                "queue as %s."
            )
            record.args = (".rejected-" + os.path.basename(path),)
        return True

    def _failure(self, record: logging.LogRecord) -> bool:
        now = self.clock()
        self.failed += 1
        if self.reported is not None and now - self.reported < 60:
            return False
        error = record.exc_info[1] if record.exc_info else None
        record.msg = (
            "Queued mail not sent (%s), %d failed attempt(s) since the last report; "
            "the queue keeps trying and reports at most once a minute."
        )
        record.args = (type(error).__name__, self.failed)
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.exc_info = record.exc_text = None  # one line, no traceback
        self.reported, self.failed = now, 0
        return True


#: The filter of the queue thread's logger, in every process with the add-on.
QUEUE_LOG = QueueLog()
logging.getLogger(LOGGER).addFilter(QUEUE_LOG)


def start_delivery(event) -> None:
    """Subscriber of IProcessStarting: deliver what the sites' queues hold now."""
    if os.environ.get("MAILHOST_QUEUE_ONLY"):  # then zope-sendmail delivers
        return
    import Zope2

    app = Zope2.app()
    try:
        for site in app.objectValues():
            mailhost = getattr(aq_base(site), "MailHost", None)
            if IPloneSiteRoot.providedBy(site) and getattr(mailhost, "smtp_queue", 0):
                setSite(site)  # Plone's mailer reads the SMTP settings of the site
                site.MailHost.manage_restartQueueThread("start")
    finally:
        setSite(None)
        transaction.abort()
        app._p_jar.close()
