"""Settings of the buyer mails: subject and body per order language."""

from zope.interface import Interface


class IClickBankMailSettings(Interface):
    """Welcome mail texts, per ClickBank order language (empty: built-in text)."""
