"""The set-password link of the welcome mail: signed, single-use, nothing stored.

A sale writes as little as possible, so making a link writes nothing: neither
Plone's password-reset tool (one site-wide object, on which concurrent sales
would conflict) nor the add-on's storage. The link carries all it needs::

    @@clickbank-set-password?token=<sealed user id>.<expiry>.<state>.<signature>

- The user id (the buyer's email, on a site with email login) is sealed:
  AES-256-CTR under a random 12-byte nonce, so that access logs, proxies and
  browser histories do not learn the buyer's address.
- The expiry is in epoch seconds; the lifetime is Plone's password-reset expiry.
- The state is a digest of what Plone changes when the member chooses a
  password or logs in: the password hash and ``login_time``. A link whose state
  is no longer the member's has been used.
- The signature is an HMAC-SHA256 over the other three, exactly as written.

Every key is derived from the current secret of the ``_system`` ring of Plone's
keyring under a purpose string of its own, so a signature made here is worth
nothing to any other use of that secret. A link is checked against every secret
of the ring: links already mailed survive a rotation (plone.protect rotates at
most weekly and keeps five secrets, well beyond the default one-week lifetime
of a link); clearing the ring voids every link.

Opening the link (``@@clickbank-set-password``) changes neither password nor
login time, so a mail scanner opening it first does not spoil it for the buyer.
It asks Plone for a reset request (reusing one still valid for a while) and
sends the buyer on to Plone's own password form; choosing a password there, or
logging in, ends the link.
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
MAX_TOKEN_LENGTH = 2000
#: A Plone reset request is reused only if it stays valid at least this long.
REUSE_MARGIN = timedelta(hours=1)
TOKEN = re.compile(
    r"([A-Za-z0-9_-]{1,1400})\.([0-9]{1,12})\.([A-Za-z0-9_-]{16})\.([A-Za-z0-9_-]{43})"
)


def lifetime_hours() -> int:
    """How long a link works: Plone's password-reset expiry, in hours."""
    tool = api.portal.get_tool("portal_password_reset")
    return int(tool.getExpirationTimeout() or 0) * 24 or 168


def new_link(member, now: datetime | None = None) -> tuple[str, int]:
    """The link for ``member`` and its lifetime in hours; writes nothing.

    The link works until it expires, the member chooses a password or the
    member logs in, whichever comes first. Raises ``LookupError`` if Plone's
    keyring has no current secret.
    """
    now = now or datetime.now(UTC)
    hours = lifetime_hours()
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
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
        return None
    match = TOKEN.fullmatch(token)
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


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _cipher(secret: str | bytes, nonce: bytes):
    """AES-256-CTR under a key of its own, derived from the ring's ``secret``."""
    return AES.new(_mac(secret, b"user id"), AES.MODE_CTR, nonce=nonce)


def _seal(secret: str | bytes, userid: str) -> str:
    """``userid`` encrypted (random nonce first), as base64url without padding."""
    nonce = token_bytes(NONCE_BYTES)
    return _b64encode(nonce + _cipher(secret, nonce).encrypt(userid.encode("utf-8")))


def _unseal(secret: str | bytes, sealed: str) -> str | None:
    data = _b64decode(sealed)
    if len(data) <= NONCE_BYTES:
        return None
    nonce, ciphertext = data[:NONCE_BYTES], data[NONCE_BYTES:]
    return _cipher(secret, nonce).decrypt(ciphertext).decode("utf-8")


def _state(secret: str | bytes, userid: str, member) -> str:
    """A digest of what choosing a password or logging in changes for ``member``.

    ``member`` is the member of ``userid``, or None if there is none.
    """
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
            try:
                userid = _unseal(secret, sealed)
            except ValueError:  # binascii.Error, UnicodeDecodeError
                return None
            if not userid:
                return None
            current = _state(secret, userid, api.user.get(userid=userid))
            return userid if hmac.compare_digest(current, state) else None
    return None


def _reusable_request(tool, userid: str) -> str | None:
    """A reset request of ``userid`` Plone accepts for a while yet, if any.

    Reusing it spares a write of the site-wide tool on a repeated visit and
    leads a second visit to the same form. Plone's ``requestReset`` reads every
    request anyway (to clear old ones), so this scan costs no more.
    """
    requests = getattr(tool, "_requests", None)
    if requests is None:
        return None
    soon = datetime.now(UTC).replace(tzinfo=None) + REUSE_MARGIN
    best = None
    for randomstring, record in requests.items():
        try:
            owner, expiry = record
            if owner != userid or expiry <= soon:
                continue
        except (TypeError, ValueError):  # not the record layout we know
            continue
        if (best is None or expiry > best[1]) and _usable(tool, randomstring):
            best = (randomstring, expiry)
    return best[0] if best else None


def _usable(tool, randomstring: str) -> bool:
    """Whether Plone still accepts the reset request ``randomstring``."""
    try:
        tool.verifyKey(randomstring)
    except Exception:  # noqa: BLE001 - Invalid/ExpiredRequestError, no such user
        return False
    return True
