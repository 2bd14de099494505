"""Upgrade steps of niteoweb.clickbank; one function per step."""

from niteoweb.clickbank import logger

PROFILE_ID = "profile-niteoweb.clickbank:default"


def reload_registry(context):
    """Re-import the registry records, adding fields new in this version."""
    context.runImportStepFromProfile(PROFILE_ID, "plone.app.registry")
    logger.info("niteoweb.clickbank: registry records updated")


def migrate_storage(context):
    """Rebuild the payment log and entitlements in the storage layout of 1002."""
    from plone import api

    from niteoweb.clickbank.migration import migrate

    if migrate(api.portal.get()) is None:
        logger.info("niteoweb.clickbank: storage already up to date")
