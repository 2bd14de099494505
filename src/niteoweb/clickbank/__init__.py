"""niteoweb.clickbank: paid Plone memberships through ClickBank notifications."""

import logging

from zope.i18nmessageid import MessageFactory

PACKAGE_NAME = "niteoweb.clickbank"

_ = MessageFactory(PACKAGE_NAME)
logger = logging.getLogger(PACKAGE_NAME)
