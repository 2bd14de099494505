"""Upgrade steps of niteoweb.clickbank; one function per step."""

from niteoweb.clickbank import logger

PROFILE_ID = "profile-niteoweb.clickbank:default"


def reload_registry(context):
    """Re-import the registry records, adding fields new in this version."""
    context.runImportStepFromProfile(PROFILE_ID, "plone.app.registry")
    logger.info("niteoweb.clickbank: registry records updated")
