"""ClickBank Instant Notification Service (INS v6+): encrypt, decrypt, parse.

ClickBank POSTs ``{"notification": base64(ciphertext), "iv": base64(iv)}``; the
ciphertext is AES-256-CBC over PKCS#7-padded UTF-8 JSON, keyed with the first 32
hex digits of SHA-1(secret key). CBC has no MAC: "decrypts with valid padding to a
JSON object with a receipt and a transaction type" is the authentication, and
every failure raises the same :class:`POSTVerificationFailedError`.

Pure Python (stdlib and pycryptodome), no Plone: usable from tests, the
``clickbank-notify`` simulator and a ``zconsole`` shell alike. The check that a
plaintext is not nested too deeply is in :mod:`niteoweb.clickbank.nesting`.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import re
import string
from collections.abc import Sequence
from datetime import UTC
from secrets import choice
from typing import Any

from Crypto.Cipher import AES
from Crypto.Util.Padding import pad
from Crypto.Util.Padding import unpad

from niteoweb.clickbank.errors import BodyTooLargeError
from niteoweb.clickbank.errors import NotConfiguredError
from niteoweb.clickbank.errors import POSTVerificationFailedError
from niteoweb.clickbank.nesting import MAX_DEPTH  # noqa: F401
from niteoweb.clickbank.nesting import _nested_too_deeply
from niteoweb.clickbank.notification import Address
from niteoweb.clickbank.notification import Contact
from niteoweb.clickbank.notification import Customer
from niteoweb.clickbank.notification import LineItem
from niteoweb.clickbank.notification import Notification
from niteoweb.clickbank.notification import PaymentPlan
from niteoweb.clickbank.parsing import parse
from niteoweb.clickbank.parsing import parse_transaction_time

__all__ = [
    "MAX_BODY_SIZE",
    "Address",
    "Contact",
    "Customer",
    "LineItem",
    "Notification",
    "PaymentPlan",
    "decode",
    "decrypt",
    "derive_key",
    "encrypt",
    "idempotency_key",
    "parse",
    "parse_transaction_time",
]

MAX_BODY_SIZE = 256 * 1024
"""Largest POST body :func:`decode` accepts, in bytes (real ones are a few KiB)."""

_IV_ALPHABET = string.ascii_letters + string.digits
_ASCII_WHITESPACE = re.compile(r"[ \t\n\r\f\v]+")
# The envelope as ClickBank and encrypt() lay it out, around the notification.
_USUAL_HEAD = re.compile(rb'\{"notification": ?"')
_USUAL_TAIL = re.compile(rb'", ?"iv": ?"([A-Za-z0-9+/=]*)"\}')


def derive_key(secret: str) -> bytes:
    """Return the AES-256 key for a ClickBank secret key.

    Takes the secret key as typed in ClickBank's settings; returns the first 32
    characters of the lowercase hex SHA-1 of its UTF-8 bytes, as 32 ASCII bytes.
    """
    digest = hashlib.sha1(secret.encode("utf-8"))  # noqa: S324 - ClickBank's scheme
    return digest.hexdigest()[:32].encode("ascii")


def encrypt(
    payload: dict[str, Any] | str | bytes, secret: str, iv: bytes | None = None
) -> bytes:
    """Return the JSON envelope ClickBank would POST for ``payload``, as UTF-8 bytes.

    ``payload`` is a notification dict (serialised as UTF-8 JSON), a JSON text, or
    plaintext bytes sent as they are. ``iv`` defaults to 16 random printable ASCII
    bytes, as ClickBank's are. Raises NotConfiguredError for an empty secret,
    ValueError for an IV that is not 16 bytes and TypeError for another payload.
    """
    if not secret:
        raise NotConfiguredError("No ClickBank secret key to encrypt with.")
    if isinstance(payload, dict):
        plaintext = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    elif isinstance(payload, str):
        plaintext = payload.encode("utf-8")
    elif isinstance(payload, bytes | bytearray):
        plaintext = bytes(payload)
    else:
        raise TypeError("payload must be a dict, a str or bytes.")
    if iv is None:
        iv = "".join(choice(_IV_ALPHABET) for _ in range(AES.block_size)).encode()
    if len(iv) != AES.block_size:
        raise ValueError("The IV must be 16 bytes long.")
    cipher = AES.new(derive_key(secret), AES.MODE_CBC, iv)
    ciphertext = cipher.encrypt(pad(plaintext, AES.block_size, style="pkcs7"))
    envelope = {
        "notification": base64.b64encode(ciphertext).decode("ascii"),
        "iv": base64.b64encode(iv).decode("ascii"),
    }
    return json.dumps(envelope).encode("utf-8")


def decrypt(
    body: bytes, secrets: str | Sequence[str], max_size: int = MAX_BODY_SIZE
) -> dict[str, Any]:
    """Return the decrypted JSON object of a raw ClickBank POST body.

    ``secrets`` is one secret key or several tried in order (current key, then the
    previous one while rotating); the first that yields a JSON object with a
    ``receipt`` and a ``transactionType`` wins. Raises BodyTooLargeError above
    ``max_size`` bytes, NotConfiguredError without a non-empty key, and
    POSTVerificationFailedError for anything else that is wrong.
    """
    if len(body) > max_size:
        raise BodyTooLargeError("body too large")
    keys = _keys(secrets)
    ciphertext, iv = _read_envelope(body)
    reason = ""
    for secret in keys:
        payload, reason = _decrypt_with(secret, ciphertext, iv)
        if payload is not None:
            return payload
    raise POSTVerificationFailedError(reason)


def decode(
    body: bytes, secrets: str | Sequence[str], max_size: int = MAX_BODY_SIZE
) -> Notification:
    """Return the Notification in a raw ClickBank POST body.

    Same arguments and errors as :func:`decrypt`, plus those of :func:`parse`.
    """
    return parse(decrypt(body, secrets, max_size=max_size))


def idempotency_key(notification: Notification) -> str:
    """Return a SHA-256 hex digest that is equal for retries of one notification.

    Covers receipt, transaction type, transaction time (as UTC), role, vendor
    (case-insensitive) and the item numbers (in any order); not the attempt count.
    """
    canonical = {
        "receipt": notification.receipt,
        "transactionType": notification.transaction_type,
        "transactionTime": notification.transaction_time.astimezone(UTC).isoformat(),
        "role": notification.role,
        "vendor": notification.vendor.lower(),
        "itemNumbers": sorted(notification.item_numbers),
    }
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _keys(secrets: str | Sequence[str] | None) -> list[str]:
    """Return the distinct non-empty secret keys, in order, or raise NotConfigured."""
    candidates = [secrets] if isinstance(secrets, str) else list(secrets or ())
    keys = [key for key in candidates if isinstance(key, str) and key.strip()]
    if not keys:
        raise NotConfiguredError("No ClickBank secret key is configured.")
    return list(dict.fromkeys(keys))


def _read_envelope(body: bytes) -> tuple[bytes, bytes]:
    """Return (ciphertext, iv) from the POSTed JSON envelope, checked for shape."""
    decoded = _read_usual_envelope(body)
    if decoded is None:
        try:
            envelope = json.loads(body)
        except (ValueError, RecursionError):  # raised below, without the context
            envelope = None
        if not isinstance(envelope, dict):
            raise POSTVerificationFailedError("envelope is not a JSON object")
        decoded = (
            _b64decode(envelope.get("notification")),
            _b64decode(envelope.get("iv")),
        )
    ciphertext, iv = decoded
    if ciphertext is None or iv is None:
        raise POSTVerificationFailedError("notification or iv is not base64 text")
    if len(iv) != AES.block_size:
        raise POSTVerificationFailedError("iv is not 16 bytes")
    if not ciphertext or len(ciphertext) % AES.block_size:
        raise POSTVerificationFailedError("ciphertext is not whole AES blocks")
    return ciphertext, iv


def _read_usual_envelope(body: Any) -> tuple[bytes, bytes] | None:
    """Return (ciphertext, iv) of a body laid out as usual, else None.

    Skips json.loads, which would scan and copy the 27 KB of base64 of a 20 KB
    notification once more. Only bodies that json.loads reads as the same two
    strings qualify: the usual layout, both strings strict base64 (no escapes,
    no white space). Anything else is left to the JSON path.
    """
    if type(body) is not bytes or (head := _USUAL_HEAD.match(body)) is None:
        return None
    end = body.find(b'"', head.end())
    tail = _USUAL_TAIL.fullmatch(body, end) if end > 0 else None
    if tail is None:
        return None
    with contextlib.suppress(ValueError):
        return (
            binascii.a2b_base64(body[head.end() : end], strict_mode=True),
            binascii.a2b_base64(tail[1], strict_mode=True),
        )
    return None


def _b64decode(value: Any) -> bytes | None:
    """Return base64 ``value`` decoded, ignoring whitespace and missing "="; or None."""
    if not isinstance(value, str):
        return None
    # base64.b64decode(value, validate=True) is this call (3.11+) in a wrapper.
    # Real envelopes have no white space: skip the regex unless decoding fails.
    with contextlib.suppress(ValueError):
        return binascii.a2b_base64(value, strict_mode=True)
    compact = _ASCII_WHITESPACE.sub("", value)
    try:
        padding = "=" * (-len(compact) % 4)
        return binascii.a2b_base64(compact + padding, strict_mode=True)
    except ValueError:
        return None


def _decrypt_with(
    secret: str, ciphertext: bytes, iv: bytes
) -> tuple[dict[str, Any] | None, str]:
    """Return (payload, "") when ``secret`` opens a notification, else (None, why)."""
    padded = AES.new(derive_key(secret), AES.MODE_CBC, iv).decrypt(ciphertext)
    try:
        plaintext = unpad(padded, AES.block_size, style="pkcs7")
    except ValueError:
        plaintext = _without_zero_padding(padded)
        if plaintext is None:
            return None, "bad padding"
    try:
        text = plaintext.decode("utf-8")
    except UnicodeDecodeError:
        text = plaintext.decode("latin-1")
    try:
        payload = _PLAINTEXT_DECODER.decode(text.removeprefix("\ufeff"))
    except (ValueError, RecursionError):
        return None, "plaintext is not JSON"
    if not isinstance(payload, dict):
        return None, "plaintext is not a JSON object"
    if _nested_too_deeply(plaintext, payload):
        # Real notifications are a few levels deep; a very deep one cannot even
        # be stored (pickle recursion), so it is refused like any other garbage.
        return None, "plaintext is nested too deeply"
    for name in ("receipt", "transactionType"):
        if not isinstance(payload.get(name), str) or not payload[name].strip():
            return None, f"plaintext has no {name}"
    return payload, ""


def _without_zero_padding(padded: bytes) -> bytes | None:
    """``padded`` without 1-15 trailing NUL bytes, or None if it has no such tail.

    A ClickBank Test notification published in 2015 came zero-padded instead of
    PKCS#7, and ClickBank's PHP sample strips trailing control characters, so
    handlers have always accepted both. The caller still requires the rest to be
    the INS JSON object.
    """
    plaintext = padded.rstrip(b"\0")
    return plaintext if 0 < len(padded) - len(plaintext) < AES.block_size else None


def _no_constant(name: str) -> None:
    """Reject NaN and Infinity, which are not JSON."""
    raise ValueError(name)


# One decoder for all calls: json.loads(..., parse_constant=...) builds a new one.
_PLAINTEXT_DECODER = json.JSONDecoder(parse_constant=_no_constant)
