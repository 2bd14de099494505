"""Fixtures shared by the test suite (pytest-plone over our layers)."""

import os

import pytest
from hypothesis import HealthCheck
from hypothesis import settings
from pytest_plone import fixtures_factory

from niteoweb.clickbank.testing import ACCEPTANCE_TESTING
from niteoweb.clickbank.testing import FUNCTIONAL_TESTING
from niteoweb.clickbank.testing import INTEGRATION_TESTING

pytest_plugins = ["pytest_plone"]

globals().update(
    fixtures_factory(
        (
            (ACCEPTANCE_TESTING, "acceptance"),
            (FUNCTIONAL_TESTING, "functional"),
            (INTEGRATION_TESTING, "integration"),
        )
    )
)


@pytest.fixture
def mails(portal):
    """Messages given to a mock MailHost (installed for this test only).

    Its queue is on, so each mail is handed over at once, as the real MailHost
    hands it to its queue: integration tests never commit.
    """
    from niteoweb.clickbank.testing import install_mock_mailhost

    mailhost = install_mock_mailhost(portal)
    mailhost.smtp_queue = True
    return mailhost.messages


@pytest.fixture
def browser(functional_app):
    """A zope.testbrowser on the functional layer's WSGI app (errors as pages)."""
    from plone.testing.zope import Browser

    browser = Browser(functional_app)
    browser.handleErrors = True
    browser.raiseHttpErrors = False
    return browser


@pytest.fixture
def admin_browser(browser):
    """The test browser, logged in as the site owner (Manager)."""
    from plone.app.testing import SITE_OWNER_NAME
    from plone.app.testing import SITE_OWNER_PASSWORD

    browser.addHeader("Authorization", f"Basic {SITE_OWNER_NAME}:{SITE_OWNER_PASSWORD}")
    return browser


@pytest.fixture
def site_url(acceptance) -> str:
    """URL of the site served over real HTTP by the acceptance layer."""
    return f"http://{acceptance['host']}:{acceptance['port']}/plone"


@pytest.fixture
def webhook_url(site_url) -> str:
    """URL of the served site's ``@@clickbank``."""
    return site_url + "/@@clickbank"


@pytest.fixture
def smtp(acceptance):
    """Messages received by the acceptance layer's SMTP server during this test."""
    inbox = acceptance["smtp"]
    assert inbox.delivered()  # mails of earlier tests arrive before this one starts
    inbox.messages.clear()
    return inbox


@pytest.fixture
def package_name() -> str:
    """The distribution under test."""
    return "niteoweb.clickbank"


# ``make test`` runs the quick profile; ``make stress`` sets HYPOTHESIS_PROFILE=stress.
settings.register_profile(
    "default",
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
settings.register_profile(
    "stress",
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
