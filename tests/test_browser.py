"""A site admin in a real browser (headless Chromium driven by Playwright).

Runs wherever Chromium is installed (``.ci/run`` installs Debian's package).
Set ``SCREENSHOTS_DIR`` to keep screenshots of the pages (``make screenshots``).
"""

import os
import shutil
from pathlib import Path

import pytest
import transaction
from plone import api
from plone.app.testing import SITE_OWNER_NAME
from plone.app.testing import SITE_OWNER_PASSWORD

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    if os.environ.get("CI"):
        raise RuntimeError("CI must install Chromium for the browser tests (.ci/run)")
    pytest.skip("Chromium is not installed here", allow_module_level=True)

from playwright.sync_api import expect  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def page(acceptance, tmp_path):
    """A Chromium page; closed after the test."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.set_default_timeout(20000)
        yield page
        context.close()
        browser.close()


@pytest.fixture
def portal_url(acceptance):
    return f"http://{acceptance['host']}:{acceptance['port']}/plone"


def screenshot(page, name: str) -> None:
    """Save a screenshot for the docs when SCREENSHOTS_DIR is set."""
    target = os.environ.get("SCREENSHOTS_DIR")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        # A viewport as tall as the page: sticky form buttons stay at the bottom.
        height = page.evaluate("document.documentElement.scrollHeight")
        page.set_viewport_size({"width": 1280, "height": height})
        page.screenshot(path=str(Path(target) / f"{name}.png"))
        page.set_viewport_size({"width": 1280, "height": 900})


def log_in(page, portal_url):
    page.goto(portal_url + "/login")
    page.fill("#__ac_login, input[name='__ac_name']", SITE_OWNER_NAME)
    page.fill("input[name='__ac_password']", SITE_OWNER_PASSWORD)
    page.click("button[name='buttons.login'], input[name='buttons.login']")
    expect(page.locator("body")).not_to_contain_text("Login failed")


def test_admin_configures_and_sends_test_notification(page, portal_url, acceptance):
    """Log in, set key and a product mapping, press the test button, see the entry."""
    log_in(page, portal_url)
    page.goto(portal_url + "/@@clickbank-controlpanel")
    expect(page.locator("body")).to_contain_text(portal_url + "/@@clickbank")
    page.fill("input[name='form.widgets.secret_key']", "BROWSERKEY42")
    page.fill("textarea[name='form.widgets.products']", "gold | Gold Members | | 30")
    page.check("input[name='form.widgets.create_missing_groups:list']")
    screenshot(page, "controlpanel")
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
    screenshot(page, "controlpanel-test-sent")

    page.goto(portal_url + "/@@clickbank-log")
    expect(page.locator("body")).to_contain_text("TEST")
    expect(page.locator("body")).to_contain_text("ignored-test")
    screenshot(page, "log")

    transaction.begin()
    assert api.portal.get_registry_record("niteoweb.clickbank.secret_key") == (
        "BROWSERKEY42"
    )
    assert api.group.get(groupname="Gold Members") is not None
