"""The encryption of ClickBank notifications (INS v6 and later).

ClickBank POSTs ``{"notification": base64(ciphertext), "iv": base64(iv)}``; the
ciphertext is AES-256-CBC over PKCS#7-padded UTF-8 JSON, keyed with the first 32
hex digits of SHA-1(secret key). CBC has no MAC: "decrypts with valid padding to a
JSON object with a receipt and a transaction type" is the authentication, and
every failure raises the same :class:`POSTVerificationFailedError`.
"""

import base64
import hashlib
import json
import string
from collections.abc import Sequence
from secrets import choice
from typing import Any

from Crypto.Cipher import AES
from Crypto.Util.Padding import pad
from Crypto.Util.Padding import unpad

from niteoweb.clickbank.errors import BodyTooLargeError
from niteoweb.clickbank.errors import NotConfiguredError
from niteoweb.clickbank.errors import POSTVerificationFailedError

MAX_BODY_SIZE = 256 * 1024
"""Largest POST body :func:`decrypt` accepts, in bytes (real ones are a few KiB)."""

_IV_ALPHABET = string.ascii_letters + string.digits
_NO_WHITESPACE = str.maketrans("", "", " \t\n\r\f\v")


def derive_key(secret: str) -> bytes:
    """Return the AES-256 key of ``secret``, a key as typed in ClickBank's settings.

    :returns: the first 32 lowercase hex digits of SHA-1(UTF-8 ``secret``), as bytes.
    """
    digest = hashlib.sha1(secret.encode("utf-8"))  # noqa: S324 - ClickBank's scheme
    return digest.hexdigest()[:32].encode("ascii")


def encrypt(
    payload: dict[str, Any] | str | bytes, secret: str, iv: bytes | None = None
) -> bytes:
    """Return the JSON envelope ClickBank would POST for ``payload``, as UTF-8 bytes.

    :param payload: a notification dict (sent as UTF-8 JSON), a JSON text, or
        plaintext bytes sent as they are.
    :param iv: 16 bytes; by default 16 random printable ASCII ones, like ClickBank's.
    :raises NotConfiguredError: for an empty ``secret``.
    :raises ValueError: for an IV that is not 16 bytes.
    :raises TypeError: for a payload of another type.
    """
    if not secret:
        raise NotConfiguredError("No ClickBank secret key to encrypt with.")
    if isinstance(payload, dict):
        payload = json.dumps(payload, ensure_ascii=False)
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    if not isinstance(payload, bytes | bytearray):
        raise TypeError("payload must be a dict, a str or bytes.")
    if iv is None:
        iv = "".join(choice(_IV_ALPHABET) for _ in range(AES.block_size)).encode()
    cipher = AES.new(derive_key(secret), AES.MODE_CBC, iv)
    ciphertext = cipher.encrypt(pad(payload, AES.block_size, style="pkcs7"))
    envelope = {
        "notification": base64.b64encode(ciphertext).decode("ascii"),
        "iv": base64.b64encode(iv).decode("ascii"),
    }
    return json.dumps(envelope).encode("utf-8")


def decrypt(body: bytes, secrets: str | Sequence[str]) -> dict[str, Any]:
    """Return the decrypted JSON object of a raw ClickBank POST body.

    :param secrets: one secret key or several, tried in order (the current key,
        then the previous one while rotating); the first that opens a JSON
        object with a ``receipt`` and a ``transactionType`` wins.
    :raises BodyTooLargeError: for a body of more than :data:`MAX_BODY_SIZE` bytes.
    :raises NotConfiguredError: without a non-empty secret key.
    :raises POSTVerificationFailedError: for anything else that is wrong.
    """
    if len(body) > MAX_BODY_SIZE:
        raise BodyTooLargeError("body too large")
    candidates = [secrets] if isinstance(secrets, str) else secrets or ()
    keys = [key for key in candidates if isinstance(key, str) and key.strip()]
    if not keys:
        raise NotConfiguredError("No ClickBank secret key is configured.")
    ciphertext, iv = _read_envelope(body)
    for secret in dict.fromkeys(keys):
        payload, reason = _open(secret, ciphertext, iv)
        if payload is not None:
            return payload
    raise POSTVerificationFailedError(reason)


def _read_envelope(body: bytes) -> tuple[bytes, bytes]:
    """Return (ciphertext, iv) from the POSTed JSON envelope, checked for shape."""
    try:
        envelope = json.loads(body)
    except (ValueError, RecursionError):  # raised below, without the context
        envelope = None
    if not isinstance(envelope, dict):
        raise POSTVerificationFailedError("envelope is not a JSON object")
    ciphertext = _b64decode(envelope.get("notification"))
    iv = _b64decode(envelope.get("iv"))
    if ciphertext is None or iv is None:
        raise POSTVerificationFailedError("notification or iv is not base64 text")
    if len(iv) != AES.block_size:
        raise POSTVerificationFailedError("iv is not 16 bytes")
    if not ciphertext or len(ciphertext) % AES.block_size:
        raise POSTVerificationFailedError("ciphertext is not whole AES blocks")
    return ciphertext, iv


def _b64decode(value: Any) -> bytes | None:
    """Return base64 ``value`` decoded, despite white space and missing "="; or None."""
    if not isinstance(value, str):
        return None
    compact = value.translate(_NO_WHITESPACE)
    try:
        return base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)
    except ValueError:
        return None


def _open(secret: str, ciphertext: bytes, iv: bytes) -> tuple[dict | None, str]:
    """Return (payload, "") when ``secret`` opens a notification, else (None, why)."""
    padded = AES.new(derive_key(secret), AES.MODE_CBC, iv).decrypt(ciphertext)
    try:
        plaintext = unpad(padded, AES.block_size, style="pkcs7")
    except ValueError:
        # A Test notification ClickBank published in 2015 came padded with 1-15
        # NULs instead (its PHP sample strips trailing control characters).
        plaintext = padded.rstrip(b"\0")
        if not 0 < len(padded) - len(plaintext) < AES.block_size:
            return None, "bad padding"
    try:
        text = plaintext.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = plaintext.decode("latin-1")
    try:
        payload = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        return None, "plaintext is not JSON"
    if not isinstance(payload, dict):
        return None, "plaintext is not a JSON object"
    for name in ("receipt", "transactionType"):
        if not isinstance(payload.get(name), str) or not payload[name].strip():
            return None, f"plaintext has no {name}"
    return payload, ""


def _no_constant(name: str) -> None:
    """Refuse NaN and Infinity, which are not JSON."""
    raise ValueError(name)
