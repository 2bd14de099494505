"""Test layers of niteoweb.clickbank (plone.app.testing); see docs/development.rst."""

import asyncio
import email
import email.policy
import os
import shutil
import socket
import tempfile
import time
from pathlib import Path

from plone import api
from plone.app.testing import PLONE_FIXTURE
from plone.app.testing import FunctionalTesting
from plone.app.testing import IntegrationTesting
from plone.app.testing import PloneSandboxLayer
from plone.app.testing import applyProfile
from plone.testing import zope as zope_testing
from Products.MailHost.interfaces import IMailHost
from Products.MailHost.MailHost import queue_threads
from zope.component import getSiteManager

SECRET_KEY = "TESTKEY1234ABCD"  # noqa: S105 - the test layer's key
SENDER = "shop@example.org"


class ClickBankLayer(PloneSandboxLayer):
    """A Plone site with niteoweb.clickbank installed and configured."""

    defaultBases = (PLONE_FIXTURE,)

    def setUpZope(self, app, configurationContext):
        import niteoweb.clickbank

        self.loadZCML(package=niteoweb.clickbank)

    def setUpPloneSite(self, portal):
        applyProfile(portal, "niteoweb.clickbank:default")
        api.portal.set_registry_record("niteoweb.clickbank.secret_key", SECRET_KEY)
        api.portal.set_registry_record("plone.email_from_address", SENDER)
        api.portal.set_registry_record("plone.email_from_name", "Test Shop")
        api.portal.set_registry_record("plone.smtp_host", "127.0.0.1")


FIXTURE = ClickBankLayer()


def install_mock_mailhost(portal):
    """Replace the MailHost by one that keeps messages in ``.messages``."""
    from Products.CMFPlone.tests.utils import MockMailHost

    mailhost = MockMailHost("MailHost")
    mailhost.messages = []  # not persistent: a sent mail changes no object
    portal.MailHost = mailhost
    getSiteManager(portal).registerUtility(mailhost, provided=IMailHost)
    return mailhost


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def queued(queue: Path | None) -> list[str]:
    """The mails waiting in the MailHost queue ``queue`` (being sent or not)."""
    if queue is None or not queue.exists():
        return []
    return [
        name
        for folder in ("new", "cur")
        for name in os.listdir(queue / folder)
        if not name.startswith(".")  # zope.sendmail's locks, refused mails
    ]


def delivered(queue: Path | None, seconds: float = 30) -> bool:
    """Wait until every mail in the MailHost queue ``queue`` has been sent."""
    deadline = time.monotonic() + seconds
    while queued(queue):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


class Inbox:
    """aiosmtpd handler keeping every message it receives, parsed.

    ``queue``: the maildir of the MailHost that sends here.
    """

    def __init__(self, queue: Path | None = None):
        self.messages = []
        self.delay = 0.0  # seconds the server takes to accept a message
        self.queue = queue

    def queued(self) -> list[str]:
        """The mails waiting in :attr:`queue`."""
        return queued(self.queue)

    def delivered(self, seconds: float = 30) -> bool:
        """Wait until every mail queued so far has been delivered here."""
        return delivered(self.queue, seconds)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd
        if self.delay:
            await asyncio.sleep(self.delay)
        self.messages.append(
            email.message_from_bytes(envelope.content, policy=email.policy.default)
        )
        return "250 OK"


class SmtpServer:
    """An SMTP server on localhost for ``inbox``; it can stop and start again."""

    def __init__(self, inbox: Inbox):
        self.inbox = inbox
        self.port = free_port()

    def start(self) -> None:
        from aiosmtpd.controller import Controller

        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()


class SmtpLayer(PloneSandboxLayer):
    """The site's real MailHost in queue mode, sending to a :class:`SmtpServer`."""

    defaultBases = (FIXTURE,)

    #: Seconds between two looks of the queue processor at the queue (Zope: 3).
    QUEUE_INTERVAL = 0.1

    def setUp(self):
        # A maildir the MailHost makes itself, in a directory of this layer's.
        self.home = Path(tempfile.mkdtemp(prefix="clickbank-smtp-"))
        self.server = SmtpServer(Inbox(self.home / "mailqueue"))
        self.server.start()
        self["smtp"] = self.server.inbox
        self["smtp_server"] = self.server
        super().setUp()

    def setUpPloneSite(self, portal):
        api.portal.set_registry_record("plone.smtp_port", self.server.port)
        queue = str(self.server.inbox.queue)
        mailhost = portal.MailHost
        mailhost.smtp_queue = True
        mailhost.smtp_queue_directory = queue
        # Started here, as Zope starts it (mail/queue.py), with a short interval.
        mailhost.manage_restartQueueThread("start")
        queue_threads[os.path.realpath(queue)].interval = self.QUEUE_INTERVAL

    def tearDownPloneSite(self, portal):
        portal.MailHost.manage_restartQueueThread("stop")

    def tearDown(self):
        super().tearDown()
        self.server.stop()
        shutil.rmtree(self.home, ignore_errors=True)
        del self["smtp"], self["smtp_server"]


SMTP_FIXTURE = SmtpLayer()

INTEGRATION_TESTING = IntegrationTesting(
    bases=(FIXTURE,), name="ClickBankLayer:IntegrationTesting"
)
FUNCTIONAL_TESTING = FunctionalTesting(
    bases=(FIXTURE,), name="ClickBankLayer:FunctionalTesting"
)
ACCEPTANCE_TESTING = FunctionalTesting(
    bases=(SMTP_FIXTURE, zope_testing.WSGI_SERVER_FIXTURE),
    name="ClickBankLayer:AcceptanceTesting",
)
