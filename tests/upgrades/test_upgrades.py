"""The upgrade step brings an earlier installation to the current profile."""

from plone import api
from plone.app.testing import TEST_USER_ID
from plone.app.testing import setRoles
from zope.globalrequest import getRequest

from niteoweb.clickbank.interfaces import REGISTRY_PREFIX
from niteoweb.clickbank.settings import get_settings

PROFILE = "niteoweb.clickbank:default"


def test_upgrade_reloads_missing_registry_records(portal, setup_tool):
    """A site missing a newer record gets it back with its default."""
    setRoles(portal, TEST_USER_ID, ["Manager"])
    registry = api.portal.get_tool("portal_registry")
    del registry.records[f"{REGISTRY_PREFIX}.grace_days"]
    setup_tool.setLastVersionForProfile(PROFILE, "1")
    assert setup_tool.listUpgrades(PROFILE)
    setup_tool.upgradeProfile(PROFILE)
    assert api.portal.get_registry_record(f"{REGISTRY_PREFIX}.grace_days") == 3
    assert setup_tool.getLastVersionForProfile(PROFILE) == ("1003",)
    assert setup_tool.listUpgrades(PROFILE) == []


def test_upgrade_keeps_existing_values(portal, setup_tool):
    """Reloading the records does not reset what the admin set."""
    setRoles(portal, TEST_USER_ID, ["Manager"])
    api.portal.set_registry_record(f"{REGISTRY_PREFIX}.grace_days", 9)
    setup_tool.setLastVersionForProfile(PROFILE, "1")
    setup_tool.upgradeProfile(PROFILE)
    assert api.portal.get_registry_record(f"{REGISTRY_PREFIX}.grace_days") == 9


def test_upgrade_adds_missing_mail_settings(portal, setup_tool):
    """A site without the welcome mail records gets them."""
    setRoles(portal, TEST_USER_ID, ["Manager"])
    registry = api.portal.get_tool("portal_registry")
    names = [n for n in registry.records if n.startswith(f"{REGISTRY_PREFIX}.welcome_")]
    assert len(names) == 12
    for name in names:
        del registry.records[name]
    setup_tool.setLastVersionForProfile(PROFILE, "1000")
    setup_tool.upgradeProfile(PROFILE)
    assert setup_tool.getLastVersionForProfile(PROFILE) == ("1003",)
    for name in names:
        assert name in registry.records
        assert registry[name] is None


def store_in_clear(name: str, key: str) -> None:
    """Write a key into its record in clear, as versions before 1003 did."""
    registry = api.portal.get_tool("portal_registry")
    registry.records._values[f"{REGISTRY_PREFIX}.{name}"] = key
    getRequest().other.pop("_plone_registry_cache", None)


def test_upgrade_seals_the_secret_keys(portal, setup_tool):
    """Keys stored in clear are sealed, and still open notifications."""
    setRoles(portal, TEST_USER_ID, ["Manager"])
    store_in_clear("secret_key", "CLEARKEY1234")
    store_in_clear("previous_secret_key", "OLDCLEARKEY9")
    setup_tool.setLastVersionForProfile(PROFILE, "1002")
    setup_tool.upgradeProfile(PROFILE)
    assert setup_tool.getLastVersionForProfile(PROFILE) == ("1003",)
    registry = api.portal.get_tool("portal_registry")
    for name, key in (
        ("secret_key", "CLEARKEY1234"),
        ("previous_secret_key", "OLDCLEARKEY9"),
    ):
        stored = registry.records[f"{REGISTRY_PREFIX}.{name}"].value
        assert stored.startswith("sealed:")
        assert key not in stored
    assert get_settings().secret_keys == ("CLEARKEY1234", "OLDCLEARKEY9")
