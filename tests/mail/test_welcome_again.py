"""The buyer page's "Send the welcome mail again" (``@@clickbank-welcome-again``)."""

import email
import email.policy
import os

import pytest
import transaction

from niteoweb.clickbank import members

EMAIL = "buyer@example.com"


@pytest.fixture
def queue(functional_portal, tmp_path, monkeypatch):
    """The site's MailHost queues its mail in ``tmp_path``; nothing delivers it."""
    monkeypatch.setenv("MAILHOST_QUEUE_ONLY", "1")
    mailhost = functional_portal.MailHost
    mailhost.smtp_queue = True
    mailhost.smtp_queue_directory = str(tmp_path / "queue")
    transaction.commit()
    return tmp_path / "queue"


@pytest.fixture
def buyer(functional_portal, queue) -> str:
    """A buyer's member (its welcome mail long gone); returns the member id."""
    userid = members.create(EMAIL, "Buyer").getId()
    transaction.commit()
    return userid


@pytest.fixture
def page(functional_portal) -> str:
    return functional_portal.absolute_url() + "/@@clickbank-member?email=" + EMAIL


def queued(queue) -> list[email.message.EmailMessage]:
    """The mails in the MailHost's queue, parsed."""
    folder = queue / "new"
    names = os.listdir(folder) if folder.exists() else []
    return [
        email.message_from_bytes(
            (folder / name).read_bytes().split(b"\n", 2)[2],  # after X-Zope-From/To
            policy=email.policy.default,
        )
        for name in names
    ]


class TestButton:
    def test_sends_the_mail_in_the_chosen_language(
        self, admin_browser, page, buyer, queue
    ):
        """The button on the buyer page queues a new mail and says so."""
        admin_browser.open(page)
        admin_browser.getControl(name="language").value = ["DE"]
        admin_browser.getControl("Send the welcome mail again").click()
        assert admin_browser.url == page.replace("@", "%40").replace("%40%40", "@@")
        assert f"The welcome mail to {EMAIL} is being sent again." in (
            admin_browser.contents
        )
        (message,) = queued(queue)
        assert message["To"] == EMAIL
        assert str(message["Subject"]).startswith("Ihr Zugang zu")
        assert "/@@clickbank-set-password?token=" in message.get_content()

    def test_no_button_without_a_member(self, admin_browser, functional_portal):
        """A buyer known only from the log has no account to mail."""
        admin_browser.open(
            functional_portal.absolute_url() + "/@@clickbank-member?email=x@example.com"
        )
        assert "Send the welcome mail again" not in admin_browser.contents


class TestView:
    def url(self, portal) -> str:
        return portal.absolute_url() + "/@@clickbank-welcome-again"

    @pytest.mark.parametrize(
        "member", ["member=nobody", "member=", "member=a&member=b"]
    )
    def test_unknown_member_is_reported(
        self, admin_browser, functional_portal, queue, member
    ):
        """An unknown, empty or repeated member id: a warning, no mail."""
        admin_browser.open(functional_portal.absolute_url() + "/@@authenticator/token")
        token = admin_browser.contents.strip()
        admin_browser.open(
            self.url(functional_portal), data=f"{member}&_authenticator={token}"
        )
        assert "There is no such member." in admin_browser.contents
        assert queued(queue) == []

    def test_post_without_token_is_refused(
        self, admin_browser, functional_portal, buyer, queue
    ):
        """plone.protect: a forged form from another site sends nothing."""
        admin_browser.open(self.url(functional_portal), data=f"member={buyer}")
        assert admin_browser.headers["status"].startswith("403")
        assert queued(queue) == []

    def test_get_is_refused(self, admin_browser, functional_portal, buyer, queue):
        admin_browser.open(f"{self.url(functional_portal)}?member={buyer}")
        assert admin_browser.headers["status"].startswith("405")
        assert queued(queue) == []

    def test_only_site_managers(self, browser, functional_portal, buyer, queue):
        browser.open(self.url(functional_portal), data=f"member={buyer}")
        assert "/login" in browser.url or browser.headers["status"][:3] in (
            "401",
            "403",
        )
        assert queued(queue) == []
