"""Test layers of niteoweb.clickbank (plone.app.testing).

``INTEGRATION_TESTING`` and ``FUNCTIONAL_TESTING`` run on a site with the add-on,
plone.restapi, a mock MailHost that keeps sent messages, and the secret key
:data:`SECRET_KEY`. ``ACCEPTANCE_TESTING`` serves that site over real HTTP
(waitress) for tests that need concurrent requests.
"""

from plone import api
from plone.app.testing import PLONE_FIXTURE
from plone.app.testing import FunctionalTesting
from plone.app.testing import IntegrationTesting
from plone.app.testing import PloneSandboxLayer
from plone.app.testing import applyProfile
from plone.testing import zope as zope_testing
from Products.MailHost.interfaces import IMailHost
from zope.component import getSiteManager

SECRET_KEY = "TESTKEY1234ABCD"
SENDER = "shop@example.org"


class ClickBankLayer(PloneSandboxLayer):
    """A Plone site with niteoweb.clickbank installed and configured."""

    defaultBases = (PLONE_FIXTURE,)

    def setUpZope(self, app, configurationContext):
        import plone.restapi

        import niteoweb.clickbank

        self.loadZCML(package=plone.restapi)
        self.loadZCML(package=niteoweb.clickbank)

    def setUpPloneSite(self, portal):
        applyProfile(portal, "plone.restapi:default")
        applyProfile(portal, "niteoweb.clickbank:default")
        api.portal.set_registry_record("niteoweb.clickbank.secret_key", SECRET_KEY)
        api.portal.set_registry_record("plone.email_from_address", SENDER)
        api.portal.set_registry_record("plone.email_from_name", "Test Shop")
        api.portal.set_registry_record("plone.smtp_host", "localhost")
        self._install_mock_mailhost(portal)

    def _install_mock_mailhost(self, portal):
        from Products.CMFPlone.tests.utils import MockMailHost

        portal._original_MailHost = portal.MailHost
        portal.MailHost = mailhost = MockMailHost("MailHost")
        getSiteManager(portal).registerUtility(mailhost, provided=IMailHost)


FIXTURE = ClickBankLayer()

INTEGRATION_TESTING = IntegrationTesting(
    bases=(FIXTURE,), name="ClickBankLayer:IntegrationTesting"
)
FUNCTIONAL_TESTING = FunctionalTesting(
    bases=(FIXTURE,), name="ClickBankLayer:FunctionalTesting"
)
ACCEPTANCE_TESTING = FunctionalTesting(
    bases=(FIXTURE, zope_testing.WSGI_SERVER_FIXTURE),
    name="ClickBankLayer:AcceptanceTesting",
)
