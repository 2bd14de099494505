"""The secret keys: sealed in their registry records, or set by the server.

A key written to its record in clear, by whatever means, is replaced at once by
its sealed form (:func:`seal_written_key`): AES-GCM under a key derived from a
secret of the add-on's own keyring in plone.keyring, which no Plone screen,
service or export shows. Only :func:`read_keys` opens them. A key set in
zope.conf's ``<product-config niteoweb.clickbank>`` or the environment
(``CLICKBANK_SECRET_KEY``, ``CLICKBANK_PREVIOUS_SECRET_KEY``) replaces the
registry's key of the same name (see docs/configure.rst).
"""

import base64
import hashlib
import hmac
import os

from App.config import getConfiguration
from Crypto.Cipher import AES
from Crypto.Random import get_random_bytes
from plone.keyring.interfaces import IKeyManager
from plone.keyring.keyring import Keyring
from plone.registry.interfaces import IRegistry
from zope.component import getUtility

from niteoweb.clickbank.interfaces import REGISTRY_PREFIX

#: The settings fields that hold a secret key, newest first.
SECRET_FIELDS = ("secret_key", "previous_secret_key")
#: Registry record name of each secret field.
SECRET_RECORDS = {name: f"{REGISTRY_PREFIX}.{name}" for name in SECRET_FIELDS}
#: The keyring in Plone's key manager whose secret seals the keys. Not
#: ``_system``: plone.protect rotates that one every week.
RING = "niteoweb.clickbank"
#: How a sealed value starts; ``v1`` is AES-256-GCM, 12-byte nonce, 16-byte tag.
SEALED = "sealed:v1:"

#: Where a key comes from (see :func:`read_keys`).
SERVER = "server"
REGISTRY = "registry"
UNREADABLE = "unreadable"

_NONCE = 12
_TAG = 16


def _cipher_key(secret: str) -> bytes:
    """The AES key for sealing, derived from the ring's secret for this use only."""
    return hmac.new(
        secret.encode(), b"niteoweb.clickbank secret keys", hashlib.sha256
    ).digest()


def is_sealed(text) -> bool:
    """Whether ``text``, a registry value, has the form :func:`seal` gives."""
    return isinstance(text, str) and text.startswith(SEALED)


def seal(key: str) -> str:
    """Encrypt ``key`` with the site's sealing secret.

    :param key: [required] the secret key, in clear.
    :returns: text like ``sealed:v1:<base64url>``; each call gives another text.
    """
    manager = getUtility(IKeyManager)
    if RING not in manager:
        manager[RING] = Keyring(1)
    ring = manager[RING]
    if not ring.current:
        ring.fill()  # new or cleared: the keys sealed before are lost anyway
    nonce = get_random_bytes(_NONCE)
    cipher = AES.new(_cipher_key(ring.current), AES.MODE_GCM, nonce=nonce)
    sealed, tag = cipher.encrypt_and_digest(key.encode("utf-8"))
    return SEALED + base64.urlsafe_b64encode(nonce + sealed + tag).decode("ascii")


def unseal(text: str) -> str | None:
    """Open a text :func:`seal` gave.

    :param text: [required] a sealed key.
    :returns: the key, or None when ``text`` is not sealed, was altered, or the
        sealing secret is gone (a cleared or removed keyring).
    """
    ring = getUtility(IKeyManager).get(RING)
    if not is_sealed(text) or ring is None or not ring.current:
        return None
    try:
        raw = base64.urlsafe_b64decode(text[len(SEALED) :])
        nonce, sealed, tag = raw[:_NONCE], raw[_NONCE:-_TAG], raw[-_TAG:]
        cipher = AES.new(_cipher_key(ring.current), AES.MODE_GCM, nonce=nonce)
        return cipher.decrypt_and_verify(sealed, tag).decode("utf-8")
    except (ValueError, TypeError):  # bad base64, short text, wrong secret
        return None


def server_keys() -> dict[str, str]:
    """The keys set by the server configuration, by field name.

    :returns: ``{"secret_key": ..., "previous_secret_key": ...}`` with only the
        keys that are set, from zope.conf's ``<product-config niteoweb.clickbank>``
        or else from the environment.
    """
    config = getattr(getConfiguration(), "product_config", None) or {}
    section = config.get("niteoweb.clickbank") or {}
    keys = {}
    for name in SECRET_FIELDS:
        environ = os.environ.get(f"CLICKBANK_{name.upper()}")
        key = (section.get(name) or environ or "").strip()
        if key:
            keys[name] = key
    return keys


def read_keys() -> dict[str, tuple[str, str | None]]:
    """Every key that is set, by field name: ``(source, key)``.

    :returns: for each field with a key, its source -- :data:`SERVER`,
        :data:`REGISTRY` or :data:`UNREADABLE` -- and the key in clear (None
        when unreadable: sealed with a secret the site no longer has).
    """
    server = server_keys()
    registry = getUtility(IRegistry)
    keys = {}
    for name in SECRET_FIELDS:
        if name in server:
            keys[name] = (SERVER, server[name])
            continue
        stored = registry.get(SECRET_RECORDS[name])
        if not (stored or "").strip():
            continue
        # A value in clear was written around the registry's events (or is
        # this request's cache of one being sealed): it is the key itself.
        key = unseal(stored) if is_sealed(stored) else stored
        keys[name] = (REGISTRY, key.strip()) if key else (UNREADABLE, None)
    return keys


def seal_written_key(event) -> None:
    """Replace a key written in clear to its registry record by its sealed form.

    Subscriber of plone.registry's record events: every way of writing a
    record goes through them.
    """
    record = event.record
    if record.__name__ not in SECRET_RECORDS.values():
        return
    value = record.value
    if isinstance(value, str) and value.strip() and not is_sealed(value):
        record.value = seal(value)  # fires this event again, with a sealed value
