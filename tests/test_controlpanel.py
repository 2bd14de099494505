"""The ClickBank control panel: Classic UI form and REST ``@controlpanels``."""

import pytest
import requests
import transaction
from plone import api
from plone.app.testing import SITE_OWNER_NAME
from plone.app.testing import SITE_OWNER_PASSWORD
from plone.app.testing import TEST_USER_NAME
from plone.app.testing import TEST_USER_PASSWORD

from niteoweb.clickbank.settings import get_settings
from niteoweb.clickbank.testing import SECRET_KEY

RECORD = "niteoweb.clickbank."


def secret_key() -> str:
    """The secret key in use, opened from its sealed record."""
    return get_settings().secret_keys[0]


def login(browser, portal_url, name, password):
    browser.addHeader("Authorization", f"Basic {name}:{password}")


class TestClassicControlPanel:
    """Site Setup → ClickBank."""

    def test_anonymous_is_sent_to_login(self, browser, functional_portal):
        """Anonymous visitors cannot open the control panel."""
        browser.open(functional_portal.absolute_url() + "/@@clickbank-controlpanel")
        assert "/login?came_from=" in browser.url
        assert "form.widgets.secret_key" not in browser.contents

    def test_plain_member_is_refused(self, browser, functional_portal):
        """A logged-in member without Manage portal cannot open it."""
        login(
            browser,
            functional_portal.absolute_url(),
            TEST_USER_NAME,
            TEST_USER_PASSWORD,
        )
        browser.open(functional_portal.absolute_url() + "/@@clickbank-controlpanel")
        assert browser.url.endswith("/insufficient-privileges")
        assert "form.widgets.secret_key" not in browser.contents

    def test_manager_sees_form_and_webhook_url(self, admin_browser, functional_portal):
        """The form shows the webhook URL to paste into ClickBank."""
        admin_browser.open(
            functional_portal.absolute_url() + "/@@clickbank-controlpanel"
        )
        assert (
            functional_portal.absolute_url() + "/@@clickbank" in admin_browser.contents
        )
        assert "Secret key" in admin_browser.contents

    def test_secret_key_is_never_rendered(self, admin_browser, functional_portal):
        """The stored secret key does not appear in the form's HTML."""
        admin_browser.open(
            functional_portal.absolute_url() + "/@@clickbank-controlpanel"
        )
        assert SECRET_KEY not in admin_browser.contents
        assert admin_browser.getControl(name="form.widgets.secret_key").value == ""

    def test_save_with_empty_key_keeps_key(self, admin_browser, functional_portal):
        """Saving with the key field empty keeps the stored key."""
        admin_browser.open(
            functional_portal.absolute_url() + "/@@clickbank-controlpanel"
        )
        admin_browser.getControl(name="form.widgets.grace_days").value = "7"
        admin_browser.getControl(name="form.buttons.save").click()
        assert "Changes saved" in admin_browser.contents
        transaction.begin()
        assert secret_key() == SECRET_KEY
        assert api.portal.get_registry_record(RECORD + "grace_days") == 7

    def test_save_new_key(self, admin_browser, functional_portal):
        """A typed key replaces the stored one and is not shown back."""
        admin_browser.open(
            functional_portal.absolute_url() + "/@@clickbank-controlpanel"
        )
        admin_browser.getControl(name="form.widgets.secret_key").value = "NEWKEY42"
        admin_browser.getControl(name="form.buttons.save").click()
        assert "NEWKEY42" not in admin_browser.contents
        transaction.begin()
        assert secret_key() == "NEWKEY42"

    def test_bad_product_line_is_refused(self, admin_browser, functional_portal):
        """A product line with a bad day count gives a clear error."""
        admin_browser.open(
            functional_portal.absolute_url() + "/@@clickbank-controlpanel"
        )
        admin_browser.getControl(name="form.widgets.products").value = "gold | Gold | x"
        admin_browser.getControl(name="form.buttons.save").click()
        assert "must be a whole number of days" in admin_browser.contents
        transaction.begin()
        assert api.portal.get_registry_record(RECORD + "products") == []

    def test_duplicate_item_is_refused(self, admin_browser, functional_portal):
        """The same item number twice is refused."""
        admin_browser.open(
            functional_portal.absolute_url() + "/@@clickbank-controlpanel"
        )
        admin_browser.getControl(name="form.widgets.products").value = "gold\ngold | G"
        admin_browser.getControl(name="form.buttons.save").click()
        assert "listed more than once" in admin_browser.contents

    def test_unknown_group_is_refused(self, admin_browser, functional_portal):
        """A product naming a group that does not exist is refused, saying which."""
        admin_browser.open(
            functional_portal.absolute_url() + "/@@clickbank-controlpanel"
        )
        admin_browser.getControl(name="form.widgets.products").value = "gold | Gold"
        admin_browser.getControl(name="form.buttons.save").click()
        assert "These groups do not exist: Gold" in admin_browser.contents
        transaction.begin()
        assert api.portal.get_registry_record(RECORD + "products") == []
        assert api.group.get(groupname="Gold") is None

    def test_missing_groups_created_on_request(self, admin_browser, functional_portal):
        """With 'Create missing groups' ticked, the groups are created and saved."""
        admin_browser.open(
            functional_portal.absolute_url() + "/@@clickbank-controlpanel"
        )
        admin_browser.getControl(name="form.widgets.products").value = "gold | Gold"
        admin_browser.getControl(
            name="form.widgets.create_missing_groups:list"
        ).value = ["selected"]
        admin_browser.getControl(name="form.buttons.save").click()
        assert "Groups created: Gold" in admin_browser.contents
        transaction.begin()
        assert api.portal.get_registry_record(RECORD + "products") == ["gold | Gold"]
        assert api.group.get(groupname="Gold") is not None

    def test_send_test_notification(self, admin_browser, functional_portal):
        """The test button delivers a TEST notification and shows the log entry."""
        from niteoweb.clickbank.storage.queries import newest
        from niteoweb.clickbank.storage.root import get_storage

        admin_browser.open(
            functional_portal.absolute_url() + "/@@clickbank-controlpanel"
        )
        admin_browser.getControl(name="form.buttons.send_test").click()
        assert "Test notification delivered: HTTP 200" in admin_browser.contents
        assert "ignored-test" in admin_browser.contents
        transaction.begin()
        (entry,) = newest(get_storage(functional_portal), 5)
        assert entry.transaction_type == "TEST"
        assert str(entry.id) in admin_browser.contents

    def test_send_test_notification_without_key(self, admin_browser, functional_portal):
        """Without a key the admin is told to set one first."""
        api.portal.get_tool("portal_registry")[RECORD + "secret_key"] = None
        transaction.commit()
        admin_browser.open(
            functional_portal.absolute_url() + "/@@clickbank-controlpanel"
        )
        admin_browser.getControl(name="form.buttons.send_test").click()
        assert "Set and save the secret key" in admin_browser.contents

    def test_manager_role_is_not_offered(self, admin_browser, functional_portal):
        """Roles that manage the site cannot be chosen as the buyers' role."""
        admin_browser.open(
            functional_portal.absolute_url() + "/@@clickbank-controlpanel"
        )
        options = admin_browser.getControl(name="form.widgets.member_role:list").options
        assert "Member" in options
        for role in ("Manager", "Site Administrator", "Editor", "Reviewer"):
            assert role not in options

    def test_forget_button_only_with_previous_key(
        self, admin_browser, functional_portal
    ):
        """'Forget previous secret key' is offered only while one is set."""
        admin_browser.open(
            functional_portal.absolute_url() + "/@@clickbank-controlpanel"
        )
        assert "form.buttons.forget_previous" not in admin_browser.contents

    def test_forget_previous_key(self, admin_browser, functional_portal):
        """The 'forget previous key' button ends a key rotation."""
        api.portal.set_registry_record(RECORD + "previous_secret_key", "OLDKEY")
        transaction.commit()
        admin_browser.open(
            functional_portal.absolute_url() + "/@@clickbank-controlpanel"
        )
        assert "OLDKEY" not in admin_browser.contents
        admin_browser.getControl(name="form.buttons.forget_previous").click()
        transaction.begin()
        assert api.portal.get_registry_record(RECORD + "previous_secret_key") is None

    def test_save_without_csrf_token_is_refused(self, admin_browser, functional_portal):
        """Posting the form without plone.protect's token does not save."""
        url = functional_portal.absolute_url() + "/@@clickbank-controlpanel"
        admin_browser.post(
            url,
            "form.widgets.grace_days=9&form.widgets.member_role:list=Member"
            "&form.widgets.log_retention_days=365&form.buttons.save=Save",
        )
        transaction.begin()
        assert api.portal.get_registry_record(RECORD + "grace_days") == 3


class TestRestControlPanel:
    """``@controlpanels/clickbank`` and ``@registry`` over real HTTP."""

    @pytest.fixture
    def session(self, acceptance):
        session = requests.Session()
        session.headers.update({"Accept": "application/json"})
        session.auth = (SITE_OWNER_NAME, SITE_OWNER_PASSWORD)
        yield session
        session.close()

    @pytest.fixture
    def url(self, acceptance):
        return f"http://{acceptance['host']}:{acceptance['port']}/plone"

    def test_get_controlpanel(self, session, url):
        """Admins read the settings and their schema as JSON."""
        response = session.get(url + "/@controlpanels/clickbank")
        assert response.status_code == 200
        body = response.json()
        assert body["data"]["member_role"]["token"] == "Member"
        assert "secret_key" in body["schema"]["properties"]

    def test_get_never_shows_secret_key(self, session, url):
        """The JSON says a key is set but never contains it."""
        response = session.get(url + "/@controlpanels/clickbank")
        assert SECRET_KEY not in response.text
        assert response.json()["secret_keys_set"]["secret_key"] is True

    def test_listed_in_controlpanels(self, session, url):
        """The panel is listed among the site's control panels."""
        response = session.get(url + "/@controlpanels")
        assert any(
            p["@id"].endswith("/@controlpanels/clickbank") for p in response.json()
        )

    @pytest.mark.parametrize("auth", [None, (TEST_USER_NAME, TEST_USER_PASSWORD)])
    def test_anonymous_and_members_are_refused(self, session, url, auth):
        """Only managers read the panel."""
        session.auth = auth
        response = session.get(url + "/@controlpanels/clickbank")
        assert response.status_code == 401
        assert SECRET_KEY not in response.text

    def test_patch_settings_keeps_key_on_empty_string(self, session, url):
        """PATCH with an empty key keeps the stored key."""
        response = session.patch(
            url + "/@controlpanels/clickbank",
            json={"secret_key": "", "grace_days": 5},
        )
        assert response.status_code == 204
        transaction.begin()
        assert secret_key() == SECRET_KEY
        assert api.portal.get_registry_record(RECORD + "grace_days") == 5

    def test_patch_invalid_product_line(self, session, url):
        """A bad product line is a 400 with the field's message."""
        response = session.patch(
            url + "/@controlpanels/clickbank", json={"products": ["a | b | -1"]}
        )
        assert response.status_code == 400
        assert "whole number of days" in response.text

    def test_patch_unknown_group_is_400(self, session, url):
        """Over REST an unknown group is refused and nothing is saved."""
        response = session.patch(
            url + "/@controlpanels/clickbank", json={"products": ["gold | Nope"]}
        )
        assert response.status_code == 400
        assert "These groups do not exist: Nope" in response.text
        transaction.begin()
        assert api.portal.get_registry_record(RECORD + "products") == []

    def test_patch_registry_sets_secret_key(self, session, url):
        """The secret key can be set through ``@registry`` (scripts, make start)."""
        response = session.patch(
            url + "/@registry", json={RECORD + "secret_key": "ROTATED99"}
        )
        assert response.status_code == 204
        transaction.begin()
        assert secret_key() == "ROTATED99"
