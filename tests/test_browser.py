"""A site admin in a real browser (headless Chromium driven by Playwright).

Runs wherever Chromium is installed (``.ci/run`` installs Debian's package).
Set ``SCREENSHOTS_DIR`` to keep screenshots of the pages (``make screenshots``).
"""

import pytest
import transaction
from playwright.sync_api import expect
from playwright.sync_api import sync_playwright
from plone import api
from plone.app.testing import SITE_OWNER_NAME
from plone.app.testing import SITE_OWNER_PASSWORD

import headless  # skips this module where Chromium is not installed
from niteoweb.clickbank.settings import get_settings


@pytest.fixture
def page(acceptance, tmp_path):
    """A Chromium page; closed after the test."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=headless.EXECUTABLE, args=headless.ARGS
        )
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.set_default_timeout(20000)
        yield page
        context.close()
        browser.close()


def log_in(page, site_url):
    page.goto(site_url + "/login")
    page.fill("#__ac_login, input[name='__ac_name']", SITE_OWNER_NAME)
    page.fill("input[name='__ac_password']", SITE_OWNER_PASSWORD)
    page.click("button[name='buttons.login'], input[name='buttons.login']")
    expect(page.locator("body")).not_to_contain_text("Login failed")


def test_admin_configures_and_sends_test_notification(page, site_url, acceptance):
    """Log in, set key and a product mapping, press the test button, see the entry."""
    log_in(page, site_url)
    page.goto(site_url + "/@@clickbank-controlpanel")
    expect(page.locator("body")).to_contain_text(site_url + "/@@clickbank")
    page.fill("input[name='form.widgets.secret_key']", "BROWSERKEY42")
    page.fill("textarea[name='form.widgets.products']", "gold | Gold Members | | 30")
    page.check("input[name='form.widgets.create_missing_groups:list']")
    headless.screenshot(page, "controlpanel")
    page.click("button[name='form.buttons.save'], input[name='form.buttons.save']")
    expect(page.locator("body")).to_contain_text("Changes saved")
    expect(page.locator("input[name='form.widgets.secret_key']")).to_have_value("")
    assert "BROWSERKEY42" not in page.content()

    page.click(
        "button[name='form.buttons.send_test'], input[name='form.buttons.send_test']"
    )
    expect(page.locator("body")).to_contain_text(
        "Test notification delivered: HTTP 200"
    )
    expect(page.locator("body")).to_contain_text("ignored-test")
    headless.screenshot(page, "controlpanel-test-sent")

    page.goto(site_url + "/@@clickbank-log")
    expect(page.locator("body")).to_contain_text("TEST")
    expect(page.locator("body")).to_contain_text("ignored-test")
    headless.screenshot(page, "log")

    transaction.begin()
    assert get_settings().secret_keys == ("BROWSERKEY42",)
    assert api.group.get(groupname="Gold Members") is not None
