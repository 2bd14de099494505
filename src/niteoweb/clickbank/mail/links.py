"""The set-password link of the welcome mail: signed, single-use, nothing stored.

    @@clickbank-set-password?token=<sealed user id>.<expiry>.<state>.<signature>

Making a link writes nothing (concurrent sales would conflict on a shared
object). The user id is encrypted (AES-256-CTR) so that access logs do not
learn the address; the state digests what choosing a password or logging in
changes, which uses the link up; HMAC-SHA256 signs the rest. The keys derive
from the ``_system`` ring of Plone's keyring, every secret of which is tried:
a link survives rotations and dies when the ring is cleared. Opening a link
writes no password, so a mail scanner opening it first does not spoil it.
"""

import base64
import hashlib
import hmac
import re
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from secrets import token_bytes

from Crypto.Cipher import AES
from plone import api
from plone.keyring.interfaces import IKeyManager
from zope.component import getUtility

VIEW = "@@clickbank-set-password"
PURPOSE = b"niteoweb.clickbank set-password link v2"
#: Bytes of the random nonce in front of a sealed user id.
NONCE_BYTES = 12
#: Bytes of the digest of the member's state in a link.
STATE_BYTES = 12
RING = "_system"
#: A Plone reset request is reused only if it stays valid at least this long.
REUSE_MARGIN = timedelta(hours=1)
TOKEN = re.compile(
    r"([A-Za-z0-9_-]{1,1400})\.([0-9]{1,12})\.([A-Za-z0-9_-]{16})\.([A-Za-z0-9_-]{43})"
)


def new_link(member, now: datetime | None = None) -> tuple[str, int]:
    """The link for ``member`` and its lifetime in hours; writes nothing.

    The link works until it expires, the member chooses a password or the
    member logs in, whichever comes first. Raises ``LookupError`` if Plone's
    keyring has no current secret.
    """
    now = now or datetime.now(UTC)
    # As long as Plone's password reset: its expiry is in days (default 7).
    tool = api.portal.get_tool("portal_password_reset")
    hours = int(tool.getExpirationTimeout() or 0) * 24 or 168
    expires = int((now + timedelta(hours=hours)).timestamp())
    secret = getUtility(IKeyManager)[RING].current
    if not secret:
        raise LookupError(f"Plone's keyring {RING!r} has no current secret")
    userid = member.getId()
    payload = f"{_seal(secret, userid)}.{expires}.{_state(secret, userid, member)}"
    token = f"{payload}.{_b64encode(_mac(secret, payload.encode('ascii')))}"
    return f"{api.portal.get().absolute_url()}/{VIEW}?token={token}", hours


def reset_url(token, now: datetime | None = None) -> str | None:
    """Plone's password form for a valid ``token``; None for any other input.

    Never raises on what a query string can hold: malformed, tampered, expired,
    signed with a secret no longer in the keyring, already used (the member
    chose a password or logged in since), or for a deleted member.
    """
    match = TOKEN.fullmatch(token) if isinstance(token, str) else None
    if match is None:
        return None
    userid = _verified_userid(*match.groups(), now or datetime.now(UTC))
    if userid is None:
        return None
    tool = api.portal.get_tool("portal_password_reset")
    randomstring = _reusable_request(tool, userid)
    if randomstring is None:
        reset = tool.requestReset(userid)
        if reset is None:  # the member was deleted
            return None
        randomstring = reset["randomstring"]
    return f"{api.portal.get().absolute_url()}/passwordreset/{randomstring}"


def _mac(secret: str | bytes, message: bytes) -> bytes:
    """HMAC-SHA256 of ``message`` under ``secret``, for this purpose only."""
    key = secret if isinstance(secret, bytes) else secret.encode("utf-8")
    return hmac.new(key, PURPOSE + b"\n" + message, hashlib.sha256).digest()


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _cipher(secret: str | bytes, nonce: bytes):
    """AES-256-CTR under a key of its own, derived from the ring's ``secret``."""
    return AES.new(_mac(secret, b"user id"), AES.MODE_CTR, nonce=nonce)


def _seal(secret: str | bytes, userid: str) -> str:
    """``userid`` encrypted (random nonce first), as base64url without padding."""
    nonce = token_bytes(NONCE_BYTES)
    return _b64encode(nonce + _cipher(secret, nonce).encrypt(userid.encode("utf-8")))


def _unseal(secret: str | bytes, sealed: str) -> str:
    data = base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4))
    nonce, ciphertext = data[:NONCE_BYTES], data[NONCE_BYTES:]
    return _cipher(secret, nonce).decrypt(ciphertext).decode("utf-8")


def _state(secret: str | bytes, userid: str, member) -> str:
    """A digest of what choosing a password or logging in changes for ``member``."""
    users = getattr(api.portal.get_tool("acl_users"), "source_users", None)
    # Plone records no time of a password change; the hash changes with it.
    password = getattr(users, "_user_passwords", {}).get(userid, "")
    login_time = None if member is None else member.getProperty("login_time", None)
    digest = _mac(secret, f"state\n{password}\n{login_time}".encode())
    return _b64encode(digest[:STATE_BYTES])


def _verified_userid(
    sealed: str, expires: str, state: str, signature: str, now: datetime
) -> str | None:
    """The user id of a link whose member is still in the state it was made for."""
    if int(expires) <= now.timestamp():
        return None
    payload = f"{sealed}.{expires}.{state}".encode("ascii")
    for secret in getUtility(IKeyManager)[RING]:
        if secret and hmac.compare_digest(_b64encode(_mac(secret, payload)), signature):
            # Signed with our secret: the sealed part is a user id we sealed.
            userid = _unseal(secret, sealed)
            current = _state(secret, userid, api.user.get(userid=userid))
            return userid if hmac.compare_digest(current, state) else None
    return None


def _reusable_request(tool, userid: str) -> str | None:
    """A reset request of ``userid`` valid an hour yet: a new visit writes nothing."""
    soon = datetime.now(UTC).replace(tzinfo=None) + REUSE_MARGIN
    for randomstring, (owner, expiry) in getattr(tool, "_requests", {}).items():
        if owner == userid and expiry > soon:
            return randomstring
    return None
