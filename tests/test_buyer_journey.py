"""A buyer's journey in a real browser: buy, get the mail, set a password, refund.

The site of the acceptance layer served over HTTP, its welcome mail over real
SMTP, the buyer in headless Chromium (Playwright). Set ``SCREENSHOTS_DIR`` to
keep screenshots of the pages.
"""

import re
import time

import pytest
import requests
import transaction
from playwright.sync_api import expect
from playwright.sync_api import sync_playwright
from plone import api

import headless  # skips this module where Chromium is not installed
from helpers import payload
from niteoweb.clickbank.ins.crypto import encrypt
from niteoweb.clickbank.testing import SECRET_KEY

EMAIL = "gold.buyer@example.com"
PASSWORD = "Gold-Lounge-2026!"
RECEIPT = "GOLD0001"


@pytest.fixture
def browser(acceptance):
    """A headless Chromium; closed after the test."""
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=headless.EXECUTABLE, args=headless.ARGS
        )
        yield chromium
        chromium.close()


def new_page(browser):
    """A page in a fresh context (no cookies)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30000)
    return page


@pytest.fixture
def gold_lounge(acceptance):
    """Product ``gold`` gives group Gold; a private page only Gold may read."""
    portal = acceptance["portal"]
    api.portal.set_registry_record("niteoweb.clickbank.products", ["gold | Gold"])
    api.group.create(groupname="Gold", title="Gold")
    portal.portal_workflow.setChainForPortalTypes(
        ("Document",), "simple_publication_workflow"
    )
    with api.env.adopt_roles(["Manager"]):
        page = api.content.create(
            container=portal, type="Document", id="gold-lounge", title="Gold Lounge"
        )
        api.group.grant_roles(groupname="Gold", roles=["Reader"], obj=page)
    assert api.content.get_state(page) == "private"
    transaction.commit()
    return page.absolute_url()


def notify(acceptance, transaction_type: str, days: int = 0) -> dict:
    """Post a notification for the buyer's ``gold`` order like ClickBank."""
    body = encrypt(
        payload(
            transaction_type,
            receipt=RECEIPT,
            days=days,
            email=EMAIL,
            first_name="Goldie",
            last_name="Buyer",
            items=("gold",),
        ),
        SECRET_KEY,
    )
    url = f"http://{acceptance['host']}:{acceptance['port']}/plone/@@clickbank"
    response = requests.post(
        url, data=body, headers={"Content-Type": "application/json"}, timeout=60
    )
    assert response.status_code == 200
    return response.json()


def welcome_link(inbox, seconds: float = 30.0) -> str:
    """The set-password link of the welcome mail to :data:`EMAIL`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for message in inbox.messages:
            if message["To"].addresses[0].addr_spec == EMAIL:
                body = message.get_content()
                return next(w for w in body.split() if "@@clickbank-set-password" in w)
        time.sleep(0.1)
    raise AssertionError(f"no welcome mail for {EMAIL} within {seconds} s")


def test_buyer_sets_password_reads_gold_page_and_loses_it_on_refund(
    acceptance, browser, gold_lounge
):
    """SALE → mail → set password → log in → read private page → RFND → refused."""
    acceptance["smtp"].messages.clear()
    portal_url = f"http://{acceptance['host']}:{acceptance['port']}/plone"
    assert notify(acceptance, "SALE")["outcome"] == "created"
    link = welcome_link(acceptance["smtp"])

    page = new_page(browser)
    page.goto(gold_lounge)  # private: anonymous is asked to log in
    expect(page.locator("input[name='__ac_password']")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).not_to_have_text("Gold Lounge")
    page.goto(link)
    form = page.locator("form[name='pwreset_action']")
    expect(form.locator("input[name='randomstring']")).to_have_count(1)
    form.locator("input[name='userid']").fill(EMAIL)
    form.locator("input[name='password']").fill(PASSWORD)
    form.locator("input[name='password2']").fill(PASSWORD)
    headless.screenshot(page, "journey-set-password")
    form.locator("button[type='submit']").click()
    # Plone logs the buyer in right away when autologin_after_password_reset is on.
    expect(page.locator("body")).to_contain_text(
        re.compile("Your password has been set|Goldie Buyer")
    )
    headless.screenshot(page, "journey-password-set")
    page.context.close()

    page = new_page(browser)
    page.goto(portal_url + "/login")
    page.fill("input[name='__ac_name']", EMAIL)
    page.fill("input[name='__ac_password']", PASSWORD)
    page.click("button[name='buttons.login'], input[name='buttons.login']")
    expect(page.locator("body")).not_to_contain_text("Login failed")
    page.goto(gold_lounge)
    expect(page.get_by_role("heading", level=1)).to_have_text("Gold Lounge")
    headless.screenshot(page, "journey-gold-page")

    assert notify(acceptance, "RFND", days=1)["outcome"] == "revoked"
    page.reload()
    expect(page.get_by_role("heading", level=1)).to_have_text("Insufficient Privileges")
    expect(page.locator("body")).not_to_contain_text("Gold Lounge")
    headless.screenshot(page, "journey-refused")
    page.context.close()


def expect_forgot_password(browser, link: str) -> None:
    """``link`` leads to "Forgot your password?", no reset form, no account named."""
    page = new_page(browser)
    page.goto(link)
    assert page.url.endswith("/mail_password_form")
    expect(page.locator("body")).to_contain_text(
        "This link has expired or was already used"
    )
    expect(page.locator("input[name='randomstring']")).to_have_count(0)
    expect(page.locator("body")).not_to_contain_text(EMAIL)
    headless.screenshot(page, "journey-used-link")
    page.context.close()


def test_welcome_link_is_dead_once_the_password_is_chosen(acceptance, browser):
    """Scanner opens → buyer sets password → the link is dead, also after login."""
    acceptance["smtp"].messages.clear()
    portal_url = f"http://{acceptance['host']}:{acceptance['port']}/plone"
    assert notify(acceptance, "SALE")["outcome"] == "created"
    link = welcome_link(acceptance["smtp"])
    # A mail scanner opens the link first: that alone does not use it.
    assert "/passwordreset/" in requests.get(link, timeout=30).url

    page = new_page(browser)
    page.goto(link)
    form = page.locator("form[name='pwreset_action']")
    form.locator("input[name='userid']").fill(EMAIL)
    form.locator("input[name='password']").fill(PASSWORD)
    form.locator("input[name='password2']").fill(PASSWORD)
    form.locator("button[type='submit']").click()
    expect(page.locator("body")).to_contain_text(
        re.compile("Your password has been set|Goldie Buyer")
    )
    page.context.close()
    # Whoever else holds the mail gets no reset, before the buyer logs in …
    expect_forgot_password(browser, link)

    page = new_page(browser)
    page.goto(portal_url + "/login")
    page.fill("input[name='__ac_name']", EMAIL)
    page.fill("input[name='__ac_password']", PASSWORD)
    page.click("button[name='buttons.login'], input[name='buttons.login']")
    expect(page.locator("body")).not_to_contain_text("Login failed")
    page.context.close()
    # … nor after.
    expect_forgot_password(browser, link)
