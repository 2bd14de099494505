"""Exceptions raised by niteoweb.clickbank, all derived from :class:`ClickBankError`."""


def error_body(kind: str, message: str) -> dict:
    """The JSON body of an error answer, in plone.restapi's shape.

    :param kind: the error's type, e.g. ``"BadRequest"``.
    """
    return {"error": {"type": kind, "message": message}}


class ClickBankError(Exception):
    """Base class of every error niteoweb.clickbank raises on purpose."""


class NotConfiguredError(ClickBankError):
    """No ClickBank secret key is set: the ``@@clickbank`` view answers 503, so
    that ClickBank retries until a site admin sets one."""


class POSTVerificationFailedError(ClickBankError):
    """A POST body is not a ClickBank notification encrypted with one of our keys.

    ``str()`` is always :attr:`message`, whatever check failed, so an answer
    built from it cannot act as a padding oracle; :attr:`reason` names the check,
    for logs (never plaintext or keys).
    """

    message = "Invalid ClickBank notification."

    def __init__(self, reason: str = "") -> None:
        super().__init__(self.message)
        self.reason = reason


class BodyTooLargeError(POSTVerificationFailedError):
    """The POST body is larger than the accepted maximum (the view answers 413)."""


class MemberCreationFailedError(ClickBankError):
    """A new member for a paid notification could not be created."""


class MemberUpdateFailedError(ClickBankError):
    """An existing member could not be updated for a notification."""
