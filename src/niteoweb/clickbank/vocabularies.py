"""Vocabularies of the settings form."""

from plone import api
from zope.interface import provider
from zope.schema.interfaces import IVocabularyFactory
from zope.schema.vocabulary import SimpleTerm
from zope.schema.vocabulary import SimpleVocabulary

from niteoweb.clickbank.settings import is_grantable_role


@provider(IVocabularyFactory)
def grantable_roles(context):
    """Roles of the site that a notification may give: none that manage the site."""
    try:
        portal = api.portal.get()
    except api.exc.CannotGetPortalError:
        return SimpleVocabulary([SimpleTerm("Member", "Member", "Member")])
    roles = sorted(r for r in portal.validRoles() if is_grantable_role(r, portal))
    if "Member" not in roles:
        roles.insert(0, "Member")
    return SimpleVocabulary([SimpleTerm(r, r, r) for r in roles])
