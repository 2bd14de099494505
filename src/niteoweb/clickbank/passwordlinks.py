"""The "choose your password" links of the welcome mail: signed, nothing stored.

A sale must write as little as possible. So making a link writes nothing: not
Plone's password-reset tool (one site-wide object that every request rewrites,
on which concurrent sales would conflict) and not the add-on's storage either (a
stored token cost every sale a BTree bucket). The link carries all it needs::

    @@clickbank-set-password?token=<sealed user id>.<expiry>.<state>.<signature>

The user id (on a site with email login: the buyer's email) is sealed:
encrypted with AES-256-CTR under a random 12-byte nonce, with a key derived
from the signing secret, so the link does not put the buyer's address into
access logs, proxy logs or browser histories. The state is a short digest,
keyed like the signature, of what Plone changes when the member chooses a
password or logs in: the member's password hash and its ``login_time``. The
signature is an HMAC-SHA256 over a fixed purpose string, the sealed user id,
the expiry (epoch seconds) and the state, exactly as they appear in the token
(encrypt, then sign), so changing any of them breaks it, and a signature made
here is worth nothing to any other use of the same secret. The secret is the
current one of the ``_system`` ring of Plone's keyring (``plone.keyring``). A
link is checked against every secret of that ring, so links already mailed
survive a rotation: plone.protect rotates the ring at most weekly (on a login)
and it keeps five secrets, so a secret verifies for at least four weeks after
its last use, well beyond the default one-week lifetime of a link (a reset
expiry set longer than that may end links early). Clearing the ring
(plone.session's "clear secrets") voids every link.

When the buyer opens the link, ``@@clickbank-set-password`` checks it and that
the member's state is still the one the link was made for, then asks Plone for
a reset request for that user (reusing one still valid for a while) and sends
the buyer on to Plone's own password form. Opening the link changes neither
password nor login time, so a mail scanner opening it first does not spoil it
for the buyer; choosing a password on Plone's form (which also removes the
reset request used) or logging in ends it: the link is used once, with nothing
stored. A link made again for a member who has logged in before works until
the next login or password change. A deleted member's link is refused.

Links made before links carried the state (one part fewer:
``<sealed user id>.<expiry>.<signature>``) and links of version 1 of this
format (the user id only base64url-encoded, signed under the purpose string
``… link v1``) are still accepted until they expire, but only while the member
has never logged in: they cannot tell that a password was chosen.

Links of the previous development version (``<11-digit expiry>-<random>``,
stored in the storage's ``password_tokens``) keep working until they expire on
sites that still have that tree, with the same rule on login; the expiry sweep
still deletes them from it. New storages have no such tree and nothing here
creates it.
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
from Products.CMFPlone.browser.login.utils import has_logged_in
from zope.component import getUtility

from niteoweb.clickbank.storage.root import get_storage

VIEW = "@@clickbank-set-password"
PURPOSE = b"niteoweb.clickbank set-password link v2"
#: Links mailed by version 1.0.0.dev0 before the user id was sealed.
PURPOSE_V1 = b"niteoweb.clickbank set-password link v1"
#: Bytes of the random nonce in front of a sealed user id.
NONCE_BYTES = 12
#: Bytes of the digest of the member's state in a link.
STATE_BYTES = 12
RING = "_system"
MAX_TOKEN_LENGTH = 2000
# A Plone reset request is reused only if it stays valid at least this long.
REUSE_MARGIN = timedelta(hours=1)

# Both formats are signed under PURPOSE; the number of dots tells them apart.
_BOUND = re.compile(
    r"([A-Za-z0-9_-]{1,1400})\.([0-9]{1,12})\.([A-Za-z0-9_-]{16})\.([A-Za-z0-9_-]{43})"
)
#: Links without the state: of version 1, or made before the state was added.
_SIGNED = re.compile(r"([A-Za-z0-9_-]{1,1400})\.([0-9]{1,12})\.([A-Za-z0-9_-]{43})")
_OLD = re.compile(r"([0-9]{11})-[A-Za-z0-9_-]{1,100}")


def lifetime_hours() -> int:
    """How long a link works: Plone's password-reset expiry, in hours."""
    tool = api.portal.get_tool("portal_password_reset")
    return int(tool.getExpirationTimeout() or 0) * 24 or 168


def _ring():
    return getUtility(IKeyManager)[RING]


def _key(secret: str | bytes) -> bytes:
    return secret if isinstance(secret, bytes) else secret.encode("utf-8")


def _signature(secret: str | bytes, payload: str, purpose: bytes = PURPOSE) -> str:
    message = purpose + b"\n" + payload.encode("ascii")
    digest = hmac.new(_key(secret), message, hashlib.sha256).digest()
    return _b64encode(digest)


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _cipher(secret: str | bytes, nonce: bytes):
    """AES-256-CTR under a key of its own, derived from the ring's ``secret``."""
    key = hmac.new(_key(secret), PURPOSE + b"\nuser id", hashlib.sha256).digest()
    return AES.new(key, AES.MODE_CTR, nonce=nonce)


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


def _member(userid: str):
    return api.portal.get_tool("portal_membership").getMemberById(userid)


def _state(secret: str | bytes, userid: str, member) -> str:
    """A digest of what choosing a password or logging in changes for ``member``.

    ``member`` is the member of ``userid``, or None if there is none.
    """
    users = getattr(api.portal.get_tool("acl_users"), "source_users", None)
    # Plone records no time of a password change; the hash changes with it.
    password = getattr(users, "_user_passwords", {}).get(userid, "")
    login_time = None if member is None else member.getProperty("login_time", None)
    message = PURPOSE + f"\nstate\n{password}\n{login_time}".encode()
    digest = hmac.new(_key(secret), message, hashlib.sha256).digest()
    return _b64encode(digest[:STATE_BYTES])


def _has_logged_in(userid: str) -> bool:
    member = _member(userid)
    return member is not None and has_logged_in(member.getProperty("login_time", None))


def new_link(member, now: datetime | None = None) -> tuple[str, int]:
    """The link for ``member`` and its lifetime in hours; writes nothing.

    The link works until it expires, the member chooses a password or the
    member logs in, whichever comes first.
    """
    now = now or datetime.now(UTC)
    hours = lifetime_hours()
    expires = int((now + timedelta(hours=hours)).timestamp())
    secret = _ring().current
    if not secret:
        raise LookupError(f"Plone's keyring {RING!r} has no current secret")
    userid = member.getId()
    payload = f"{_seal(secret, userid)}.{expires}.{_state(secret, userid, member)}"
    token = f"{payload}.{_signature(secret, payload)}"
    return f"{api.portal.get().absolute_url()}/{VIEW}?token={token}", hours


def _verified_userid(token: str, now: datetime) -> str | None:
    """The user id of a valid ``token`` of any signed format; None otherwise."""
    match = _BOUND.fullmatch(token)
    if match is not None:
        return _bound_userid(*match.groups(), now)
    userid = _unbound_userid(token, now)
    return userid if userid and not _has_logged_in(userid) else None


def _bound_userid(
    sealed: str, expires: str, state: str, signature: str, now: datetime
) -> str | None:
    """The user id of a link whose member is still in the state it was made for."""
    if int(expires) <= now.timestamp():
        return None
    payload = f"{sealed}.{expires}.{state}"
    for secret in _ring():
        if secret and hmac.compare_digest(_signature(secret, payload), signature):
            try:
                userid = _unseal(secret, sealed)
            except ValueError:  # binascii.Error, UnicodeDecodeError
                return None
            if not userid:
                return None
            current = _state(secret, userid, _member(userid))
            return userid if hmac.compare_digest(current, state) else None
    return None


def _unbound_userid(token: str, now: datetime) -> str | None:
    """The user id of a signed, unexpired link without the state."""
    match = _SIGNED.fullmatch(token)
    if match is None:
        return None
    encoded, expires, signature = match.groups()
    if int(expires) <= now.timestamp():
        return None
    payload = f"{encoded}.{expires}"
    for secret in _ring():
        if not secret:
            continue
        try:
            if hmac.compare_digest(_signature(secret, payload), signature):
                return _unseal(secret, encoded) or None
            if hmac.compare_digest(_signature(secret, payload, PURPOSE_V1), signature):
                # A link of version 1: the user id only base64url-encoded.
                return _b64decode(encoded).decode("utf-8") or None
        except ValueError:  # binascii.Error, UnicodeDecodeError: not one of ours
            return None
    return None


def reset_url(token, now: datetime | None = None) -> str | None:
    """Plone's password form for a valid ``token``; None for any other input.

    Never raises on what a query string can hold: malformed, tampered, expired,
    signed with a secret no longer in the keyring, already used (the member
    chose a password or logged in since), or for a deleted member.
    """
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    now = now or datetime.now(UTC)
    if _OLD.fullmatch(token):
        return _old_reset_url(token, now)
    userid = _verified_userid(token, now)
    if userid is None:
        return None
    tool = api.portal.get_tool("portal_password_reset")
    randomstring = _reusable_request(tool, userid)
    if randomstring is None:
        reset = tool.requestReset(userid)
        if reset is None:  # the member was deleted
            return None
        randomstring = reset["randomstring"]
    return _form_url(randomstring)


def _form_url(randomstring: str) -> str:
    return f"{api.portal.get().absolute_url()}/passwordreset/{randomstring}"


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


# Links of the previous development version, stored in ``password_tokens``.


def _old_reset_url(token: str, now: datetime) -> str | None:
    """The previous version's lookup: read-only but for Plone's reset key."""
    storage = get_storage(create=False)
    tokens = getattr(storage, "password_tokens", None)
    entry = tokens.get(token) if tokens is not None else None
    if entry is None or int(token[:11]) <= now.timestamp():
        return None
    userid, randomstring = entry
    if _has_logged_in(userid):
        return None
    tool = api.portal.get_tool("portal_password_reset")
    if randomstring is None or not _usable(tool, randomstring):
        reset = tool.requestReset(userid)
        if reset is None:  # the member was deleted
            return None
        randomstring = reset["randomstring"]
        tokens[token] = (userid, randomstring)
    return _form_url(randomstring)


def forget_expired(storage, now: datetime, dry_run=False) -> int:
    """Delete the previous version's expired tokens; returns how many.

    Their keys start with the expiry, so expired ones are a key range. Storages
    without the old ``password_tokens`` tree have nothing to forget.
    """
    tokens = getattr(storage, "password_tokens", None)
    if tokens is None:
        return 0
    expired = list(tokens.keys(max=f"{int(now.timestamp()):011d}-"))
    if not dry_run:
        for token in expired:
            del tokens[token]
    return len(expired)
