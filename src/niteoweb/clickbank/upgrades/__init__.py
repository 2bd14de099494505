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


def seal_secret_keys(context):
    """Seal the secret keys that versions before 1003 stored in clear."""
    from plone.registry.interfaces import IRegistry
    from zope.component import getUtility

    from niteoweb.clickbank.secretkeys import SECRET_RECORDS
    from niteoweb.clickbank.secretkeys import is_sealed
    from niteoweb.clickbank.secretkeys import seal

    registry = getUtility(IRegistry)
    for name in SECRET_RECORDS.values():
        value = registry.get(name)
        if value and not is_sealed(value):
            registry[name] = seal(value)
            logger.info("niteoweb.clickbank: %s sealed", name)
