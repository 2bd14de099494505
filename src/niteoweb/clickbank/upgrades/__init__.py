"""Upgrade steps of niteoweb.clickbank; one function per step."""

from plone.registry.interfaces import IRegistry
from zope.component import getUtility

from niteoweb.clickbank import logger
from niteoweb.clickbank.secretkeys import SECRET_RECORDS
from niteoweb.clickbank.secretkeys import is_sealed
from niteoweb.clickbank.secretkeys import seal

PROFILE_ID = "profile-niteoweb.clickbank:default"


def reload_registry(context):
    """Re-import the registry records, adding fields new in this version."""
    context.runImportStepFromProfile(PROFILE_ID, "plone.app.registry")
    logger.info("niteoweb.clickbank: registry records updated")


def upgrade_to_1003(context):
    """Add the records of this version and seal secret keys stored in clear."""
    reload_registry(context)
    registry = getUtility(IRegistry)
    for name in SECRET_RECORDS.values():
        value = registry.get(name)
        if value and not is_sealed(value):
            registry[name] = seal(value)
            logger.info("niteoweb.clickbank: %s sealed", name)
