"""Installing and uninstalling the add-on."""

import pytest
from plone import api
from plone.app.testing import TEST_USER_ID
from plone.app.testing import setRoles

PACKAGE = "niteoweb.clickbank"
SETTINGS = "niteoweb.clickbank."


class TestInstall:
    """What the default profile sets up."""

    def test_product_installed(self, installer):
        """The add-on shows as installed."""
        assert installer.is_product_installed(PACKAGE) is True

    def test_browserlayer(self, browser_layers):
        """The browser layer is registered."""
        from niteoweb.clickbank.interfaces import IClickBankLayer

        assert IClickBankLayer in browser_layers

    def test_configlet_in_site_setup(self, controlpanel_actions):
        """The ClickBank configlet is in Site Setup."""
        assert "clickbank" in controlpanel_actions

    def test_profile_version(self, setup_tool, profile_last_version):
        """The installed profile version is the latest upgrade destination."""
        version = setup_tool.getLastVersionForProfile(f"{PACKAGE}:default")
        assert version == (profile_last_version(f"{PACKAGE}:default"),)

    @pytest.mark.parametrize(
        "name,default",
        [
            ("previous_secret_key", None),
            ("vendors", []),
            ("member_role", "Member"),
            ("products", []),
            ("process_test_transactions", False),
            ("grace_days", 3),
            ("log_retention_days", 365),
        ],
    )
    def test_registry_record_defaults(self, portal, name, default):
        """Every setting is a registry record under the add-on's prefix."""
        assert api.portal.get_registry_record(SETTINGS + name) == default

    def test_secret_key_record(self, portal):
        """The secret key is a registry record, sealed (the test layer sets it)."""
        from niteoweb.clickbank.settings import get_settings
        from niteoweb.clickbank.testing import SECRET_KEY

        stored = api.portal.get_registry_record(SETTINGS + "secret_key")
        assert stored.startswith("sealed:")
        assert SECRET_KEY not in stored
        assert get_settings().secret_keys == (SECRET_KEY,)

    @pytest.mark.parametrize(
        "name",
        ["product_id", "affiliate", "last_purchase_id", "last_purchase_timestamp"],
    )
    def test_member_data_fields(self, portal, name):
        """The 2010 member data fields exist on members."""
        memberdata = api.portal.get_tool("portal_memberdata")
        assert memberdata.hasProperty(name)

    def test_self_registration_disabled(self, portal):
        """Anonymous visitors cannot register themselves."""
        assert api.portal.get_registry_record("plone.enable_self_reg") is False
        roles = [
            r["name"]
            for r in portal.rolesOfPermission("Add portal member")
            if r["selected"]
        ]
        assert "Anonymous" not in roles

    def test_email_is_login(self, portal):
        """Members log in with their email address, lower-cased."""
        assert api.portal.get_registry_record("plone.use_email_as_login") is True
        assert api.portal.get_tool("acl_users").login_transform == "lower"

    def test_storage_created(self, portal):
        """The notification log exists right after installation."""
        from niteoweb.clickbank.storage.root import get_storage

        assert get_storage(portal, create=False) is not None


class TestUninstall:
    """What the uninstall profile removes."""

    @pytest.fixture(autouse=True)
    def uninstalled(self, portal, installer):
        setRoles(portal, TEST_USER_ID, ["Manager"])
        installer.uninstall_product(PACKAGE)

    def test_product_uninstalled(self, installer):
        """The add-on shows as not installed."""
        assert installer.is_product_installed(PACKAGE) is False

    def test_browserlayer_removed(self, browser_layers):
        """The browser layer is gone."""
        from niteoweb.clickbank.interfaces import IClickBankLayer

        assert IClickBankLayer not in browser_layers

    def test_configlet_removed(self, controlpanel_actions):
        """The configlet is gone from Site Setup."""
        assert "clickbank" not in controlpanel_actions

    def test_registry_records_removed(self, portal):
        """No registry record under the add-on's prefix is left."""
        registry = api.portal.get_tool("portal_registry")
        assert [n for n in registry.records if n.startswith(SETTINGS)] == []

    def test_sealing_keyring_removed(self, portal):
        """The keyring that sealed the secret keys is gone with them."""
        from plone.keyring.interfaces import IKeyManager
        from zope.component import getUtility

        from niteoweb.clickbank.secretkeys import RING

        assert RING not in getUtility(IKeyManager)
        assert "_system" in getUtility(IKeyManager)

    def test_log_kept(self, portal):
        """Payment records survive an uninstall."""
        from niteoweb.clickbank.storage.root import get_storage

        assert get_storage(portal, create=False) is not None
