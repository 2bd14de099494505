"""Install and uninstall steps that GenericSetup XML cannot express."""

from plone import api
from plone.base.interfaces import INonInstallable
from plone.keyring.interfaces import IKeyManager
from zope.component import getUtility
from zope.interface import implementer

from niteoweb.clickbank import logger
from niteoweb.clickbank.secretkeys import RING
from niteoweb.clickbank.storage.root import get_storage


@implementer(INonInstallable)
class HiddenProfiles:
    """Hide the uninstall profile from the add-ons control panel."""

    def getNonInstallableProfiles(self):
        """Profiles not offered for installation."""
        return ["niteoweb.clickbank:uninstall"]


def post_install(context):
    """Email login and closed registration: members come from ClickBank only.

    Set through the registry API so that Plone's own subscribers run: they make
    login names lower-case email addresses and take the "Add portal member"
    permission away from anonymous visitors.
    """
    api.portal.set_registry_record("plone.use_email_as_login", True)
    api.portal.set_registry_record("plone.enable_self_reg", False)
    get_storage()  # create the log now, not in the first notification


def uninstall(context):
    """Remove the keyring that sealed the secret keys.

    The uninstall profile's registry.xml removes the settings. The notification
    log, the entitlements (payment records) and the member data of buyers are
    kept, so that reinstalling loses nothing.
    """
    manager = getUtility(IKeyManager)
    if RING in manager:
        del manager[RING]
    logger.info("niteoweb.clickbank uninstalled: settings removed, log kept")
