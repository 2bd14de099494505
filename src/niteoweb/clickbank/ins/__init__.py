"""ClickBank's Instant Notification Service (INS v6 and later), without Plone.

:mod:`~niteoweb.clickbank.ins.crypto` opens the POSTed envelope (and makes one
for the ``clickbank-notify`` simulator), :mod:`~niteoweb.clickbank.ins.parse`
reads the decrypted JSON into a :class:`~niteoweb.clickbank.ins.model.Notification`.
"""

from collections.abc import Sequence

from niteoweb.clickbank.ins import crypto
from niteoweb.clickbank.ins import model
from niteoweb.clickbank.ins import parse


def decode(body: bytes, secrets: str | Sequence[str]) -> model.Notification:
    """Return the Notification in a raw ClickBank POST body.

    :param secrets: one secret key, or several tried in order.
    :raises: the errors of :func:`~niteoweb.clickbank.ins.crypto.decrypt` and
        :func:`~niteoweb.clickbank.ins.parse.parse`.
    """
    return parse.parse(crypto.decrypt(body, secrets))
