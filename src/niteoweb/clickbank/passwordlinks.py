"""One-time "choose your password" links of the welcome mail.

A sale must not write Plone's password-reset tool: it is one site-wide object
(every request rewrites it and scans all open requests), so concurrent sales of
new buyers would all conflict on it. The webhook instead stores a random token
in the add-on's BTrees, which merge concurrent inserts. When the buyer opens the
link, ``@@clickbank-set-password`` asks Plone for a reset request and sends the
buyer on to Plone's own password form; that form accepts it once.

Token keys start with their expiry time, so expired tokens are a key range the
expiry sweep deletes without looking at the others.
"""

import secrets
from datetime import UTC
from datetime import datetime
from datetime import timedelta

from BTrees.OOBTree import OOBTree
from plone import api

from niteoweb.clickbank.storage import ClickBankStorage
from niteoweb.clickbank.storage import get_storage

VIEW = "@@clickbank-set-password"


def _tokens(storage: ClickBankStorage) -> OOBTree:
    tokens = getattr(storage, "password_tokens", None)
    if tokens is None:  # a storage created by an earlier development version
        tokens = storage.password_tokens = OOBTree()
    return tokens


def lifetime_hours() -> int:
    """How long a link works: Plone's password-reset expiry, in hours."""
    tool = api.portal.get_tool("portal_password_reset")
    return int(tool.getExpirationTimeout() or 0) * 24 or 168


def new_link(member, now: datetime | None = None) -> tuple[str, int]:
    """Store a token for ``member``; return the link and its lifetime in hours."""
    now = now or datetime.now(UTC)
    hours = lifetime_hours()
    expires = int((now + timedelta(hours=hours)).timestamp())
    token = f"{expires:011d}-{secrets.token_urlsafe(24)}"
    _tokens(get_storage())[token] = (member.getId(), None)
    return f"{api.portal.get().absolute_url()}/{VIEW}?token={token}", hours


def reset_url(token: str, now: datetime | None = None) -> str | None:
    """Plone's password form for a valid ``token``; None if unknown or expired.

    The first use asks Plone for a reset request; later uses of the same link
    (a mail scanner opening it first, a second click) reuse that request.
    """
    now = now or datetime.now(UTC)
    tokens = _tokens(get_storage())
    entry = tokens.get(token) if isinstance(token, str) else None
    if entry is None or int(token.split("-", 1)[0]) <= now.timestamp():
        return None
    userid, randomstring = entry
    tool = api.portal.get_tool("portal_password_reset")
    if randomstring is None or not _usable(tool, randomstring):
        reset = tool.requestReset(userid)
        if reset is None:  # the member was deleted
            return None
        randomstring = reset["randomstring"]
        tokens[token] = (userid, randomstring)
    return f"{api.portal.get().absolute_url()}/passwordreset/{randomstring}"


def _usable(tool, randomstring: str) -> bool:
    """Whether Plone still accepts the reset request ``randomstring``."""
    try:
        tool.verifyKey(randomstring)
    except Exception:  # noqa: BLE001 - Invalid/ExpiredRequestError, no such user
        return False
    return True


def forget_expired(storage: ClickBankStorage, now: datetime, dry_run=False) -> int:
    """Delete expired tokens (a key range below ``now``); returns how many."""
    tokens = _tokens(storage)
    expired = list(tokens.keys(max=f"{int(now.timestamp()):011d}-"))
    if not dry_run:
        for token in expired:
            del tokens[token]
    return len(expired)
