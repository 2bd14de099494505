"""The events niteoweb.clickbank fires, for other add-ons to subscribe to."""

from zope.interface import Attribute
from zope.interface import implementer
from zope.interface.interfaces import IObjectEvent
from zope.interface.interfaces import ObjectEvent


class IClickBankEvent(IObjectEvent):
    """An event fired by niteoweb.clickbank; ``object`` is the member (or None)."""

    notification = Attribute("The decoded ClickBank notification.")
    entitlement = Attribute("The entitlement concerned, or None.")


class IMemberCreatedEvent(IClickBankEvent):
    """A new member was created for a ClickBank buyer."""

    username = Attribute("Login name of the new member.")


class IMemberEnabledEvent(IClickBankEvent):
    """A member was given access (role and groups)."""


class IMemberDisabledEvent(IClickBankEvent):
    """A member lost access: refund, chargeback, expiry or cancellation."""


class INotificationReceivedEvent(IClickBankEvent):
    """An authentic, new notification was received (any transaction type)."""

    outcome = Attribute("The outcome recorded in the log.")


@implementer(IClickBankEvent)
class ClickBankEvent(ObjectEvent):
    """Base class of the events of this add-on."""

    def __init__(self, member, notification=None, entitlement=None):
        super().__init__(member)
        self.notification = notification
        self.entitlement = entitlement

    @property
    def member(self):
        """The member the event is about (same as ``object``)."""
        return self.object


@implementer(IMemberCreatedEvent)
class MemberCreatedEvent(ClickBankEvent):
    """A new member was created (the 2010 name, kept)."""

    def __init__(self, member, notification=None, entitlement=None, username=None):
        super().__init__(member, notification, entitlement)
        self.username = username or (member.getUserName() if member else None)


@implementer(IMemberEnabledEvent)
class MemberEnabledEvent(ClickBankEvent):
    """A member was given access."""


@implementer(IMemberDisabledEvent)
class MemberDisabledEvent(ClickBankEvent):
    """A member lost access."""


@implementer(INotificationReceivedEvent)
class NotificationReceivedEvent(ClickBankEvent):
    """An authentic notification was received and recorded."""

    def __init__(self, member, notification=None, entitlement=None, outcome=""):
        super().__init__(member, notification, entitlement)
        self.outcome = outcome
