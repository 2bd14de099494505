"""ClickBank's Instant Notification Service (INS v6 and later), without Plone.

:mod:`~niteoweb.clickbank.ins.crypto` opens the POSTed envelope (and makes one
for the ``clickbank-notify`` simulator), :mod:`~niteoweb.clickbank.ins.parse`
reads the decrypted JSON into the :mod:`~niteoweb.clickbank.ins.model`, a
:class:`~niteoweb.clickbank.ins.model.Notification`. Pure Python (stdlib and
pycryptodome): usable from tests, scripts and a ``zconsole`` shell alike.
"""

from collections.abc import Sequence

from niteoweb.clickbank.ins import crypto
from niteoweb.clickbank.ins import model
from niteoweb.clickbank.ins import parse


def decode(
    body: bytes, secrets: str | Sequence[str], max_size: int = crypto.MAX_BODY_SIZE
) -> model.Notification:
    """Return the Notification in a raw ClickBank POST body.

    :param body: the POST body, the JSON envelope.
    :param secrets: one secret key, or several tried in order.
    :param max_size: the largest body accepted, in bytes.
    :raises: the errors of :func:`~niteoweb.clickbank.ins.crypto.decrypt` and
        :func:`~niteoweb.clickbank.ins.parse.parse`.
    """
    return parse.parse(crypto.decrypt(body, secrets, max_size=max_size))
