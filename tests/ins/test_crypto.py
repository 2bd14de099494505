"""The encryption of ClickBank notifications: keys, envelope, AES, padding.

ClickBank's documented v6 sample (``clickbank-v6-sample.json``, with the commas
it lacks added and the invalid JSON number 0000 written as 0) is the plaintext.
No Plone needed.
"""

import base64
import hashlib
import json
from pathlib import Path

import pytest
from Crypto.Cipher import AES
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from niteoweb.clickbank import ins
from niteoweb.clickbank.errors import BodyTooLargeError
from niteoweb.clickbank.errors import NotConfiguredError
from niteoweb.clickbank.errors import POSTVerificationFailedError
from niteoweb.clickbank.ins.crypto import MAX_BODY_SIZE
from niteoweb.clickbank.ins.crypto import decrypt
from niteoweb.clickbank.ins.crypto import derive_key
from niteoweb.clickbank.ins.crypto import encrypt
from niteoweb.clickbank.ins.parse import parse

SAMPLE_V6 = Path(__file__).with_name("clickbank-v6-sample.json").read_text()
SECRET = "MYSECRETKEY123"
OTHER_SECRET = "SOMEOTHERKEY456"
IV = b"0123456789abcdef"
INVALID = "Invalid ClickBank notification."

# The Test notification ClickBank published in 2015 (it came zero-padded).
TEST_BUTTON_2015 = {
    "transactionTime": "2015-07-16T06:30:24-07:00",
    "receipt": "********",
    "transactionType": "TEST",
    "vendor": "numerology",
    "affiliate": "",
    "role": "VENDOR",
    "totalAccountAmount": 0.0,
    "paymentMethod": "VISA",
    "totalOrderAmount": 0.0,
    "totalTaxAmount": 0.0,
    "totalShippingAmount": 0.0,
    "currency": "USD",
    "orderLanguage": "EN",
    "trackingCodes": [],
    "lineItems": [],
    "customer": {},
    "version": 6.0,
    "attemptCount": 1,
}


def sample(**changes) -> dict:
    """Return the v6 sample as a dict, with top-level ``changes`` applied."""
    payload = json.loads(SAMPLE_V6)
    payload.update(changes)
    return payload


def envelope(ciphertext: bytes, iv: bytes = IV) -> bytes:
    """Return a POST body carrying ``ciphertext`` and ``iv`` as ClickBank does."""
    return json.dumps(
        {
            "notification": base64.b64encode(ciphertext).decode(),
            "iv": base64.b64encode(iv).decode(),
        }
    ).encode()


def clickbank_key(secret: str) -> bytes:
    """Return ClickBank's AES key for ``secret``, computed independently of ins."""
    digest = hashlib.sha1(secret.encode("utf-8"))  # noqa: S324 - ClickBank's scheme
    return digest.hexdigest()[:32].encode("ascii")


def raw_cbc(padded: bytes, secret: str = SECRET, iv: bytes = IV) -> bytes:
    """Return a POST body of ``padded`` (already block-aligned) encrypted as is."""
    key = clickbank_key(secret)
    return envelope(AES.new(key, AES.MODE_CBC, iv).encrypt(padded), iv)


def aligned(text: bytes, room: int) -> bytes:
    """Return ``text`` padded with spaces so that ``room`` more bytes end a block."""
    return text + b" " * (-(len(text) + room) % 16)


class TestKeys:
    """The AES key, the key list and key rotation."""

    def test_derive_key_is_first_32_hex_digits_of_sha1_of_the_secret(self):
        """The AES key is the first 32 lowercase hex digits of SHA-1(secret)."""
        expected = clickbank_key("MYSECRETKEY123")
        assert derive_key("MYSECRETKEY123") == expected
        # printf MYSECRETKEY123 | sha1sum | cut -c1-32
        assert expected == b"9782bfbc9e04111c197f1ecdb78e7dff"

    def test_derive_key_hashes_the_utf8_bytes_of_the_secret(self):
        """A non-ASCII secret is hashed as UTF-8."""
        assert derive_key("GEHEIMÜ") == clickbank_key("GEHEIMÜ")
        assert derive_key("GEHEIMÜ") != clickbank_key("GEHEIMU")

    def test_wrong_key_is_rejected(self):
        """A notification for another secret key does not decrypt."""
        with pytest.raises(POSTVerificationFailedError):
            decrypt(encrypt(sample(), OTHER_SECRET, iv=IV), SECRET)

    def test_previous_key_is_accepted_while_rotating(self):
        """A notification still encrypted with the previous key is accepted."""
        body = encrypt(sample(), OTHER_SECRET)
        assert decrypt(body, [SECRET, OTHER_SECRET])["receipt"] == "CWOGBZLN"

    def test_current_key_is_accepted_with_empty_previous_key(self):
        """Empty entries in the key list are skipped."""
        assert decrypt(encrypt(sample(), SECRET), ["", SECRET, ""])["receipt"]

    @pytest.mark.parametrize("secrets", ["", [], ["", "   "], None])
    def test_no_key_raises_not_configured(self, secrets):
        """Without a non-empty key nothing can be verified: NotConfiguredError."""
        with pytest.raises(NotConfiguredError):
            decrypt(encrypt(sample(), SECRET), secrets)


class TestEncrypt:
    """What ``encrypt`` (and so ``clickbank-notify``) sends."""

    def test_with_fixed_iv_is_plain_aes_256_cbc_with_pkcs7(self):
        """An independent AES-256-CBC decryption reads what encrypt wrote."""
        body = json.loads(encrypt(SAMPLE_V6, SECRET, iv=IV))
        assert set(body) == {"notification", "iv"}
        assert base64.b64decode(body["iv"]) == IV
        padded = AES.new(clickbank_key(SECRET), AES.MODE_CBC, IV).decrypt(
            base64.b64decode(body["notification"])
        )
        pad = padded[-1]
        assert 1 <= pad <= 16
        assert padded[-pad:] == bytes([pad]) * pad
        assert padded[:-pad].decode("utf-8") == SAMPLE_V6

    def test_with_fixed_iv_is_deterministic(self):
        """The same payload, key and IV always give the same body."""
        assert encrypt(sample(), SECRET, iv=IV) == encrypt(sample(), SECRET, iv=IV)

    def test_draws_a_fresh_printable_ascii_iv(self):
        """Without an IV, each body gets 16 random printable ASCII bytes."""
        first = base64.b64decode(json.loads(encrypt(sample(), SECRET))["iv"])
        second = base64.b64decode(json.loads(encrypt(sample(), SECRET))["iv"])
        assert len(first) == 16
        assert first.decode("ascii").isprintable()
        assert first != second

    def test_refuses_an_iv_that_is_not_16_bytes(self):
        """An IV of the wrong length is a programming error."""
        with pytest.raises(ValueError):
            encrypt(sample(), SECRET, iv=b"short")

    def test_refuses_a_payload_that_is_not_text_bytes_or_dict(self):
        """Anything else is a programming error."""
        with pytest.raises(TypeError):
            encrypt(5, SECRET)

    def test_refuses_an_empty_secret(self):
        """Nothing is encrypted without a key."""
        with pytest.raises(NotConfiguredError):
            encrypt(sample(), "")


class TestDecrypt:
    """What ``decrypt`` reads: the envelope, the plaintext and its padding."""

    def test_returns_the_plain_json_object(self):
        """decrypt gives the plaintext object; decode is parse(decrypt(...))."""
        body = encrypt(SAMPLE_V6, SECRET)
        assert decrypt(body, SECRET) == json.loads(SAMPLE_V6)
        assert ins.decode(body, SECRET) == parse(json.loads(SAMPLE_V6))

    def test_latin1_plaintext_is_decoded_as_a_fallback(self):
        """Plaintext that is not UTF-8 is read as Latin-1."""
        payload = sample(customer={"billing": {"fullName": "José Müller"}})
        plaintext = json.dumps(payload, ensure_ascii=False).encode("latin-1")
        customer = decrypt(encrypt(plaintext, SECRET), SECRET)["customer"]
        assert customer["billing"]["fullName"] == "José Müller"

    def test_a_utf8_byte_order_mark_is_ignored(self):
        """A BOM before the JSON object does not spoil it."""
        plaintext = "\ufeff".encode() + SAMPLE_V6.encode()
        assert decrypt(encrypt(plaintext, SECRET), SECRET) == json.loads(SAMPLE_V6)

    @pytest.mark.parametrize(
        "layout",
        [
            '{{"notification":"{n}","iv":"{i}"}}',
            '{{"iv": "{i}", "notification": "{n}"}}',
            '{{"notification": "{n}", "iv": "{i}", "x": 1}}',
            ' {{\n  "notification" : "{n}",\n  "iv" : "{i}"\n}}\n',
        ],
    )
    def test_any_json_layout_of_the_envelope_is_read(self, layout):
        """Key order, white space, escaped slashes and extra keys do not matter."""
        body = json.loads(encrypt(sample(), SECRET, iv=IV))
        notification = body["notification"].replace("/", "\\/")
        text = layout.format(n=notification, i=body["iv"])
        assert decrypt(text.encode(), SECRET) == sample()

    def test_whitespace_and_newlines_inside_base64_are_ignored(self):
        """Base64 wrapped over lines, or with spaces, still decodes."""
        body = json.loads(encrypt(sample(), SECRET))
        text = body["notification"]
        wrapped = "\r\n".join(text[i : i + 76] for i in range(0, len(text), 76))
        body["notification"] = " " + wrapped + "\n"
        body["iv"] = body["iv"][:8] + "\t" + body["iv"][8:]
        assert decrypt(json.dumps(body).encode(), SECRET)["receipt"] == "CWOGBZLN"

    def test_missing_base64_padding_is_accepted(self):
        """Base64 without its trailing '=' still decodes."""
        body = json.loads(encrypt(sample(), SECRET))
        assert body["iv"].endswith("=")
        body["iv"] = body["iv"].rstrip("=")
        body["notification"] = body["notification"].rstrip("=")
        assert decrypt(json.dumps(body).encode(), SECRET)["receipt"] == "CWOGBZLN"

    def test_a_string_body_is_accepted_too(self):
        """Text bodies work like their UTF-8 bytes."""
        assert decrypt(encrypt(sample(), SECRET).decode(), SECRET)["receipt"]

    def test_a_full_block_of_padding_is_accepted(self):
        """Plaintext filling whole blocks carries a full block of 16s."""
        padded = aligned(SAMPLE_V6.encode(), 0) + b"\x10" * 16
        assert decrypt(raw_cbc(padded), SECRET)["receipt"] == "CWOGBZLN"

    @pytest.mark.parametrize(
        "padded",
        [
            pytest.param(aligned(SAMPLE_V6.encode(), 0), id="no-padding-at-all"),
            pytest.param(
                aligned(SAMPLE_V6.encode(), 3) + b"\x01\x02\x03",
                id="inconsistent-bytes",
            ),
            pytest.param(aligned(SAMPLE_V6.encode(), 16) + b"\x00" * 16, id="16-NULs"),
            pytest.param(aligned(SAMPLE_V6.encode(), 17) + b"\x11" * 17, id="pad-17"),
        ],
    )
    def test_bad_pkcs7_padding_is_rejected(self, padded):
        """Padding is stripped strictly, never trimmed leniently."""
        with pytest.raises(POSTVerificationFailedError) as caught:
            decrypt(raw_cbc(padded), SECRET)
        assert caught.value.reason == "bad padding"

    @pytest.mark.parametrize("nuls", range(1, 16))
    @pytest.mark.parametrize(
        "plaintext",
        [
            pytest.param(json.dumps(TEST_BUTTON_2015).encode(), id="TEST"),
            pytest.param(SAMPLE_V6.encode(), id="SALE"),
        ],
    )
    def test_zero_padding_up_to_the_block_boundary_is_accepted(self, plaintext, nuls):
        """1-15 NUL bytes instead of PKCS#7, as a Test notification of 2015 came."""
        body = raw_cbc(aligned(plaintext, nuls) + b"\0" * nuls)
        assert decrypt(body, SECRET) == json.loads(plaintext)

    def test_zero_padded_plaintext_that_is_no_notification_is_refused_alike(self):
        """NUL padding opens nothing but the INS JSON object, with the one message."""
        with pytest.raises(POSTVerificationFailedError) as caught:
            decrypt(raw_cbc(aligned(b'{"a": 1}', 5) + b"\0" * 5), SECRET)
        assert str(caught.value) == INVALID


def change_envelope(**changes) -> bytes:
    """Return a valid body for the sample with envelope fields replaced."""
    body = json.loads(encrypt(sample(), SECRET, iv=IV))
    body.update(changes)
    return json.dumps({k: v for k, v in body.items() if v is not None}).encode()


def good_ciphertext() -> bytes:
    """Return the ciphertext of the sample under SECRET and IV."""
    return base64.b64decode(
        json.loads(encrypt(sample(), SECRET, iv=IV))["notification"]
    )


FAILURES = {
    "empty body": lambda: b"",
    "non-JSON body": lambda: b"notification=abc&iv=def",
    "invalid UTF-8 body": lambda: b'{"notification": "\xff"}',
    "envelope is an array": lambda: b"[]",
    "envelope is a string": lambda: b'"hello"',
    "deeply nested envelope": lambda: b"[" * 100_000,
    "no iv": lambda: json.dumps({"notification": "AAAA"}).encode(),
    "no notification": lambda: json.dumps({"iv": "AAAA"}).encode(),
    "notification not a string": lambda: change_envelope(notification=1234),
    "bad base64": lambda: change_envelope(notification="not base64!!"),
    "non-ASCII base64": lambda: change_envelope(notification="AAAAé"),
    "bad base64 iv": lambda: change_envelope(iv="%%%%"),
    "iv of 15 bytes": lambda: envelope(good_ciphertext(), b"0123456789abcde"),
    "iv of 17 bytes": lambda: change_envelope(
        iv=base64.b64encode(b"0123456789abcdefg").decode()
    ),
    "empty ciphertext": lambda: change_envelope(notification=""),
    "ciphertext not a multiple of 16": lambda: envelope(good_ciphertext()[:-1]),
    "wrong key": lambda: encrypt(sample(), OTHER_SECRET, iv=IV),
    "bad padding": lambda: raw_cbc(aligned(b'{"receipt": "X"}', 0)),
    "plaintext not JSON": lambda: encrypt(b"receipt=CWOGBZLN", SECRET),
    "plaintext with NaN": lambda: encrypt(
        SAMPLE_V6.replace('"receipt"', '"extra": NaN, "receipt"'), SECRET
    ),
    "plaintext JSON array": lambda: encrypt("[1, 2, 3]", SECRET),
    "plaintext JSON string": lambda: encrypt('"SALE"', SECRET),
    "plaintext nested 100 000 deep": lambda: encrypt("[" * 100_000, SECRET),
    "missing receipt": lambda: encrypt(
        {k: v for k, v in sample().items() if k != "receipt"}, SECRET
    ),
    "empty receipt": lambda: encrypt(sample(receipt=" "), SECRET),
    "receipt not a string": lambda: encrypt(sample(receipt=123), SECRET),
    "missing transactionType": lambda: encrypt(
        {k: v for k, v in sample().items() if k != "transactionType"}, SECRET
    ),
    "naive transactionTime": lambda: encrypt(
        sample(transactionTime="2016-06-05T13:47:51"), SECRET
    ),
    "lineItems not a list": lambda: encrypt(sample(lineItems="1"), SECRET),
}


class TestFailures:
    """Every way a body can be wrong looks the same to the caller of ``decode``."""

    @pytest.mark.parametrize("make_body", FAILURES.values(), ids=FAILURES.keys())
    def test_every_failure_raises_the_same_error_and_message(self, make_body):
        """All decode failures look alike to the caller: no padding oracle."""
        with pytest.raises(POSTVerificationFailedError) as caught:
            ins.decode(make_body(), SECRET)
        assert type(caught.value) is POSTVerificationFailedError
        assert str(caught.value) == INVALID
        assert caught.value.args == (INVALID,)
        assert caught.value.reason
        assert "CWOGBZLN" not in caught.value.reason
        assert SECRET not in caught.value.reason

    @pytest.mark.parametrize("make_body", FAILURES.values(), ids=FAILURES.keys())
    def test_failures_do_not_chain_the_decoder_error(self, make_body):
        """No inner exception (which could hold plaintext) rides along."""
        with pytest.raises(POSTVerificationFailedError) as caught:
            ins.decode(make_body(), SECRET)
        assert caught.value.__cause__ is None
        assert caught.value.__context__ is None

    def test_body_larger_than_the_limit_is_rejected_as_too_large(self):
        """Bodies over MAX_BODY_SIZE raise BodyTooLargeError, with the same message."""
        with pytest.raises(BodyTooLargeError) as caught:
            ins.decode(b" " * (MAX_BODY_SIZE + 1), SECRET)
        assert isinstance(caught.value, POSTVerificationFailedError)
        assert str(caught.value) == INVALID

    @settings(max_examples=200, deadline=None)
    @given(body=st.binary(max_size=300))
    def test_arbitrary_bytes_only_ever_fail_verification(self, body):
        """Random bodies raise POSTVerificationFailedError and nothing else."""
        with pytest.raises(POSTVerificationFailedError):
            ins.decode(body, SECRET)

    @settings(max_examples=200, deadline=None)
    @given(
        ciphertext=st.integers(1, 8).flatmap(
            lambda n: st.binary(min_size=16 * n, max_size=16 * n)
        )
    )
    def test_random_ciphertext_only_ever_fails_verification(self, ciphertext):
        """Well-formed envelopes with random ciphertext fail verification cleanly."""
        with pytest.raises(POSTVerificationFailedError):
            ins.decode(envelope(ciphertext), SECRET)
