"""Fixtures shared by the test suite (pytest-plone over our layers)."""

import pytest
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
def package_name() -> str:
    """The distribution under test."""
    return "niteoweb.clickbank"
