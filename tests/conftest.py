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
def mails(portal, monkeypatch):
    """Messages given to a mock MailHost (installed for this test only).

    Integration tests never commit, so mail is handed over at once instead of
    after the commit; tests over HTTP see the real after-commit delivery.
    """
    from niteoweb.clickbank import mail
    from niteoweb.clickbank.testing import install_mock_mailhost

    monkeypatch.setattr(mail, "after_commit", lambda callback, *a: callback(True, *a))
    return install_mock_mailhost(portal).messages


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
