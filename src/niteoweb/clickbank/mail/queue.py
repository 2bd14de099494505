"""The MailHost's mail queue: delivered from the start, retried, logged quietly.

Products.MailHost starts zope.sendmail's queue processor thread with the first
mail a process queues, so mails a stopped or killed Zope left in the queue
would wait for the next sale. :func:`start_delivery` starts it when Zope
starts, for each Plone site whose MailHost has its queue on; not when
``MAILHOST_QUEUE_ONLY`` is set (then ``zope-sendmail`` delivers the queue).

The thread looks at the queue every three seconds. A mail it failed to send
keeps its ``.sending-`` lock until the lock is ``MAX_SEND_TIME`` old, three
hours in zope.sendmail: a welcome mail would wait that long after the SMTP
server is back. Here it is :data:`RETRY_SECONDS`.

The thread logs each mail it sends with its addresses, at INFO, and each failed
attempt with a traceback. :class:`QueueLog` rewrites the lines of its logger:
no addresses, and failed attempts reported at most once a minute, counted.
"""

import logging
import os
import re
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

#: The logger of zope.sendmail's queue processor, and its messages.
LOGGER = "QueueProcessorThread"
SENT = "Mail from %s to %s sent."
FAILED = "Error while sending mail from %s to %s (%s)."
DISCARDED = "Discarding email from %s to %s (%s) due to a permanent error: %s"
REFUSED = "Email recipients refused for %s: %s"


class QueueLog(logging.Filter):
    """The queue processor's log lines without addresses, failures once a minute."""

    def __init__(self, seconds: float = 60, clock=time.monotonic):
        super().__init__()
        self.seconds = seconds
        self.clock = clock
        self.reported = None  # the clock when a failure was last logged
        self.failed = 0  # attempts failed since then
        self.set_aside = False  # the mail just refused is not "sent" as it says next

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite ``record``; False for a failure reported less than a minute ago."""
        if record.msg == FAILED:
            return self._failure(record)
        if record.msg == SENT:
            if self.set_aside:
                self.set_aside = False
                return False
            self.reported = None  # delivering again: the next failure is news
            _rewrite(record, "A queued mail was sent.")
        elif record.msg == DISCARDED:
            self.set_aside = True
            code = re.match(r"\((\d+)", record.args[3])
            _rewrite(
                record,
                "The SMTP server refused a queued mail for good (%s); it is kept "
                "in the queue as %s.",
                code.group(1) if code else "?",
                ".rejected-" + os.path.basename(record.args[2]),
            )
        elif record.msg == REFUSED:
            self.set_aside = True
            _rewrite(
                record,
                "The SMTP server refused the recipient of a queued mail; it is kept "
                "in the queue as %s.",
                ".rejected-" + os.path.basename(record.args[0]),
            )
        return True

    def _failure(self, record: logging.LogRecord) -> bool:
        now = self.clock()
        self.failed += 1
        if self.reported is not None and now - self.reported < self.seconds:
            return False
        error = record.exc_info[1] if record.exc_info else None
        _rewrite(
            record,
            "Queued mail not sent (%s), %d failed attempt(s) since the last report; "
            "the queue keeps trying and reports at most once a minute.",
            type(error).__name__,
            self.failed,
        )
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.exc_info = record.exc_text = None  # one line, no traceback
        self.reported, self.failed = now, 0
        return True


def _rewrite(record: logging.LogRecord, message: str, *args) -> None:
    record.msg, record.args = message, args


#: The filter on the queue processor's logger, in every process with the add-on.
QUEUE_LOG = QueueLog()
logging.getLogger(LOGGER).addFilter(QUEUE_LOG)


def start_delivery(event=None) -> None:
    """Subscriber of IProcessStarting: deliver what the sites' queues hold now."""
    if os.environ.get("MAILHOST_QUEUE_ONLY"):
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
