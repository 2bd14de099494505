"""Test layers of niteoweb.clickbank (plone.app.testing).

``INTEGRATION_TESTING`` and ``FUNCTIONAL_TESTING`` run on a site with the add-on,
plone.restapi and the secret key :data:`SECRET_KEY`. ``ACCEPTANCE_TESTING`` serves
that site over real HTTP (waitress) and points its real MailHost at a real SMTP
server on localhost (aiosmtpd) whose messages are in the layer resource
``"smtp"`` (an :class:`Inbox`).
"""

import asyncio
import email
import email.policy
import shutil
import socket
import tempfile
from pathlib import Path

from plone import api
from plone.app.testing import PLONE_FIXTURE
from plone.app.testing import FunctionalTesting
from plone.app.testing import IntegrationTesting
from plone.app.testing import PloneSandboxLayer
from plone.app.testing import applyProfile
from plone.testing import zope as zope_testing
from Products.MailHost.interfaces import IMailHost
from zope.component import getSiteManager

from niteoweb.clickbank import spool

SECRET_KEY = "TESTKEY1234ABCD"  # noqa: S105 - the test layer's key
SENDER = "shop@example.org"


class ClickBankLayer(PloneSandboxLayer):
    """A Plone site with niteoweb.clickbank installed and configured."""

    defaultBases = (PLONE_FIXTURE,)

    def setUpZope(self, app, configurationContext):
        import plone.restapi

        import niteoweb.clickbank

        self.loadZCML(package=plone.restapi)
        self.loadZCML(package=niteoweb.clickbank)
        # The mail spool of the test process: a directory of its own.
        self._spool = Path(tempfile.mkdtemp(prefix="clickbank-outbox-"))
        self._directory = spool.directory
        spool.directory = lambda: self._spool

    def tearDownZope(self, app):
        spool.directory = self._directory
        shutil.rmtree(self._spool, ignore_errors=True)

    def setUpPloneSite(self, portal):
        applyProfile(portal, "plone.restapi:default")
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
    # A plain list: the welcome mail is sent from the outbox thread, through a
    # copy of the MailHost that shares this list (a PersistentList is copied).
    mailhost.messages = []
    portal.MailHost = mailhost
    getSiteManager(portal).registerUtility(mailhost, provided=IMailHost)
    return mailhost


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Inbox:
    """aiosmtpd handler keeping every message it receives, parsed."""

    def __init__(self):
        self.messages = []
        self.delay = 0.0  # seconds the server takes to accept a message

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd
        if self.delay:
            await asyncio.sleep(self.delay)
        self.messages.append(
            email.message_from_bytes(envelope.content, policy=email.policy.default)
        )
        return "250 OK"


class SmtpLayer(PloneSandboxLayer):
    """The site's real MailHost, sending to a real SMTP server on localhost."""

    defaultBases = (FIXTURE,)

    def setUp(self):
        from aiosmtpd.controller import Controller

        self.inbox = Inbox()
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=free_port())
        self.controller.start()
        self["smtp"] = self.inbox
        super().setUp()

    def setUpPloneSite(self, portal):
        portal.MailHost.smtp_host = "127.0.0.1"
        portal.MailHost.smtp_port = self.controller.port
        api.portal.set_registry_record("plone.smtp_port", self.controller.port)

    def tearDown(self):
        super().tearDown()
        self.controller.stop()
        del self["smtp"]


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
