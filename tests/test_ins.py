"""Decrypting and parsing ClickBank Instant Notifications (no Plone needed)."""

import base64
import copy
import dataclasses
import hashlib
import inspect
import json
import math
import pickle
import re
import string
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from datetime import timezone
from decimal import Decimal
from unittest import mock

import pytest
from Crypto.Cipher import AES
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from niteoweb.clickbank import ins
from niteoweb.clickbank import nesting
from niteoweb.clickbank import parsing
from niteoweb.clickbank.errors import BodyTooLargeError
from niteoweb.clickbank.errors import NotConfiguredError
from niteoweb.clickbank.errors import POSTVerificationFailedError
from niteoweb.clickbank.notification import _quick_init

SECRET = "MYSECRETKEY123"
OTHER_SECRET = "SOMEOTHERKEY456"
IV = b"0123456789abcdef"
INVALID = "Invalid ClickBank notification."

# The v6 sample from ClickBank's documentation, with the commas it lacks added and
# the invalid JSON number 0000 written as 0.
SAMPLE_V6 = """{
    "transactionTime": "2016-06-05T13:47:51-06:00",
    "receipt": "CWOGBZLN",
    "transactionType": "SALE",
    "vendor": "testacct",
    "affiliate": "affiliate1",
    "role": "VENDOR",
    "totalAccountAmount": 0.00,
    "paymentMethod": "VISA",
    "totalOrderAmount": 0.00,
    "totalTaxAmount": 0.00,
    "totalShippingAmount": 0.00,
    "currency": "USD",
    "orderLanguage": "EN",
    "trackingCodes": [
        "tracking_code"
    ],
    "lineItems": [
        {
            "itemNo": "1",
            "productTitle": "Product Title",
            "shippable": false,
            "recurring": false,
            "accountAmount": 5.00,
            "quantity": 1,
            "downloadUrl": "<download_url>",
            "lineItemType": "CART"
        },
        {
            "itemNo": "2",
            "productTitle": "Second Product",
            "shippable": false,
            "recurring": true,
            "accountAmount": 2.99,
            "quantity": 1,
            "downloadUrl": "<download_url>",
            "lineItemType": "CART"
        }
    ],
    "customer": {
        "shipping": {
            "firstName": "TEST",
            "lastName": "GUY",
            "fullName": "Test Guy",
            "phoneNumber": "",
            "email": "test@example.net",
            "address": {
                "address1": "12 Test Lane",
                "address2": "Suite 100",
                "city": "LAS VEGAS",
                "county": "LAS VEGAS",
                "state": "NV",
                "postalCode": "89101",
                "country": "US"
            }
        },
        "billing": {
            "firstName": "TEST",
            "lastName": "GUY",
            "fullName": "Test Guy",
            "phoneNumber": "",
            "email": "test@example.net",
            "address": {
                "state": "NV",
                "postalCode": "89101",
                "country": "US"
            }
        }
    },
    "upsell": {
        "upsellOriginalReceipt": "XXXXXXXX",
        "upsellFlowId": 55,
        "upsellSession": "VVVVVVVVVV",
        "upsellPath": "upsell_path"
    },
    "hopfeed": {
        "hopfeedClickId": "hopfeed_click",
        "hopfeedApplicationId": 0,
        "hopfeedCreativeId": 0,
        "hopfeedApplicationPayout": 0.00,
        "hopfeedVendorPayout": 0.00
    },
    "version": 6.0,
    "attemptCount": 1,
    "vendorVariables": {
        "v1": "variable1",
        "v2": "variable2"
    }
}
"""


def sample(**changes) -> dict:
    """Return the v6 sample as a dict, with top-level ``changes`` applied."""
    payload = json.loads(SAMPLE_V6)
    payload.update(changes)
    return payload


def minimal(**changes) -> dict:
    """Return the smallest notification ``parse`` accepts, with ``changes``."""
    payload = {
        "transactionTime": "2016-06-05T13:47:51-06:00",
        "receipt": "CWOGBZLN",
        "transactionType": "SALE",
    }
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


def test_derive_key_is_first_32_hex_digits_of_sha1_of_the_secret():
    """The AES key is the first 32 lowercase hex digits of SHA-1(secret)."""
    expected = clickbank_key("MYSECRETKEY123")
    assert ins.derive_key("MYSECRETKEY123") == expected
    # printf MYSECRETKEY123 | sha1sum | cut -c1-32
    assert expected == b"9782bfbc9e04111c197f1ecdb78e7dff"
    assert len(expected) == 32


def test_derive_key_hashes_the_utf8_bytes_of_the_secret():
    """A non-ASCII secret is hashed as UTF-8."""
    assert ins.derive_key("GEHEIMÜ") == clickbank_key("GEHEIMÜ")
    assert ins.derive_key("GEHEIMÜ") != clickbank_key("GEHEIMU")


def test_encrypt_with_fixed_iv_is_plain_aes_256_cbc_with_pkcs7():
    """An independent AES-256-CBC decryption reads what encrypt wrote."""
    body = json.loads(ins.encrypt(SAMPLE_V6, SECRET, iv=IV))
    assert set(body) == {"notification", "iv"}
    assert base64.b64decode(body["iv"]) == IV
    padded = AES.new(clickbank_key(SECRET), AES.MODE_CBC, IV).decrypt(
        base64.b64decode(body["notification"])
    )
    pad = padded[-1]
    assert 1 <= pad <= 16
    assert padded[-pad:] == bytes([pad]) * pad
    assert padded[:-pad].decode("utf-8") == SAMPLE_V6


def test_encrypt_with_fixed_iv_is_deterministic():
    """The same payload, key and IV always give the same body."""
    assert ins.encrypt(sample(), SECRET, iv=IV) == ins.encrypt(sample(), SECRET, iv=IV)


def test_encrypt_draws_a_fresh_printable_ascii_iv():
    """Without an IV, each body gets 16 random printable ASCII bytes."""
    first = base64.b64decode(json.loads(ins.encrypt(sample(), SECRET))["iv"])
    second = base64.b64decode(json.loads(ins.encrypt(sample(), SECRET))["iv"])
    assert len(first) == 16
    assert first.decode("ascii").isprintable()
    assert first != second


def test_encrypt_refuses_an_iv_that_is_not_16_bytes():
    """An IV of the wrong length is a programming error."""
    with pytest.raises(ValueError):
        ins.encrypt(sample(), SECRET, iv=b"short")


def test_encrypt_refuses_a_payload_that_is_not_text_bytes_or_dict():
    """Anything else is a programming error."""
    with pytest.raises(TypeError):
        ins.encrypt(5, SECRET)


def test_sample_round_trips_with_every_field():
    """The documented v6 sample decrypts to a fully typed Notification."""
    notification = ins.decode(ins.encrypt(SAMPLE_V6, SECRET), SECRET)
    assert notification.transaction_time == datetime(
        2016, 6, 5, 13, 47, 51, tzinfo=timezone(timedelta(hours=-6))
    )
    assert notification.receipt == "CWOGBZLN"
    assert notification.transaction_type == "SALE"
    assert notification.vendor == "testacct"
    assert notification.affiliate == "affiliate1"
    assert notification.role == "VENDOR"
    assert notification.total_account_amount == Decimal("0")
    assert notification.payment_method == "VISA"
    assert notification.currency == "USD"
    assert notification.order_language == "EN"
    assert notification.tracking_codes == ("tracking_code",)
    assert notification.upsell["upsellFlowId"] == 55
    assert notification.hopfeed["hopfeedClickId"] == "hopfeed_click"
    assert notification.vendor_variables == {"v1": "variable1", "v2": "variable2"}
    assert notification.version == Decimal("6.0")
    assert notification.attempt_count == 1
    assert notification.payload == json.loads(SAMPLE_V6)


def test_sample_cart_keeps_every_line_item_with_exact_amounts():
    """Both cart items survive, and 2.99 is exactly Decimal('2.99')."""
    notification = ins.decode(ins.encrypt(SAMPLE_V6, SECRET), SECRET)
    first, second = notification.line_items
    assert notification.item_numbers == ("1", "2")
    assert first.product_title == "Product Title"
    assert first.account_amount == Decimal("5.0")
    assert first.recurring is False
    assert first.shippable is False
    assert first.quantity == 1
    assert first.download_url == "<download_url>"
    assert first.line_item_type == "CART"
    assert first.payment_plan is None
    assert second.account_amount == Decimal("2.99")
    assert str(second.account_amount) == "2.99"
    assert second.recurring is True


def test_sample_customer_has_shipping_and_billing_contacts():
    """Shipping and billing contacts and addresses are mapped field by field."""
    customer = ins.decode(ins.encrypt(SAMPLE_V6, SECRET), SECRET).customer
    assert customer.shipping.address == ins.Address(
        address1="12 Test Lane",
        address2="Suite 100",
        city="LAS VEGAS",
        county="LAS VEGAS",
        state="NV",
        postal_code="89101",
        country="US",
    )
    assert customer.billing.address == ins.Address(
        state="NV", postal_code="89101", country="US"
    )
    assert customer.billing.first_name == "TEST"
    assert customer.email == "test@example.net"
    assert customer.full_name == "Test Guy"


def test_payload_stays_plain_json():
    """The kept payload holds floats, not Decimals, so it serialises again."""
    notification = ins.decode(ins.encrypt(SAMPLE_V6, SECRET), SECRET)
    assert json.loads(json.dumps(notification.payload)) == json.loads(SAMPLE_V6)


def test_non_ascii_names_round_trip_as_utf8():
    """José Müller arrives intact."""
    customer = {"billing": {"firstName": "José", "lastName": "Müller"}}
    notification = ins.decode(ins.encrypt(sample(customer=customer), SECRET), SECRET)
    assert notification.customer.full_name == "José Müller"
    assert notification.customer.billing.first_name == "José"


def test_latin1_plaintext_is_decoded_as_a_fallback():
    """Plaintext that is not UTF-8 is read as Latin-1."""
    payload = sample(customer={"billing": {"fullName": "José Müller"}})
    plaintext = json.dumps(payload, ensure_ascii=False).encode("latin-1")
    notification = ins.decode(ins.encrypt(plaintext, SECRET), SECRET)
    assert notification.customer.full_name == "José Müller"


def test_json_with_newlines_and_indentation_is_accepted():
    """Pretty-printed plaintext is fine."""
    text = json.dumps(sample(), indent=4)
    assert ins.decode(ins.encrypt(text, SECRET), SECRET).receipt == "CWOGBZLN"


@pytest.mark.parametrize(
    "value, expected",
    [
        (
            "2016-06-05T13:47:51-06:00",
            datetime(2016, 6, 5, 19, 47, 51, tzinfo=UTC),
        ),
        ("2016-06-05T19:47:51Z", datetime(2016, 6, 5, 19, 47, 51, tzinfo=UTC)),
        (
            "2016-06-05T13:47:51.25-06:00",
            datetime(2016, 6, 5, 19, 47, 51, 250000, tzinfo=UTC),
        ),
        (
            "2016-06-05T19:47:51.123456789Z",
            datetime(2016, 6, 5, 19, 47, 51, 123456, tzinfo=UTC),
        ),
        ("20220810T162015-0700", datetime(2022, 8, 10, 23, 20, 15, tzinfo=UTC)),
        ("20220810T162015Z", datetime(2022, 8, 10, 16, 20, 15, tzinfo=UTC)),
        ("20220810T162015+0530", datetime(2022, 8, 10, 10, 50, 15, tzinfo=UTC)),
    ],
)
def test_transaction_time_formats_are_parsed_timezone_aware(value, expected):
    """RFC 3339 and the basic form, with offsets, Z and fractions, are accepted."""
    parsed = ins.parse_transaction_time(value)
    assert parsed.tzinfo is not None
    assert parsed == expected


def test_transaction_time_keeps_the_vendor_offset():
    """The parsed time keeps the offset it was sent with."""
    parsed = ins.parse_transaction_time("20220810T162015-0700")
    assert parsed.utcoffset() == timedelta(hours=-7)


@pytest.mark.parametrize(
    "value",
    [
        "2016-06-05T13:47:51",
        "20220810T162015",
        "2016-06-05",
        "2016-13-05T13:47:51Z",
        "2016-06-05T13:47:51+25:00",
        "yesterday",
        "",
        None,
        1465156071,
    ],
)
def test_transaction_time_without_zone_or_malformed_is_rejected(value):
    """Naive, date-only or malformed times cannot be ordered, so they fail."""
    with pytest.raises(POSTVerificationFailedError):
        ins.parse_transaction_time(value)


def test_missing_transaction_time_is_rejected():
    """transactionTime is required: idempotency depends on it."""
    payload = sample()
    del payload["transactionTime"]
    with pytest.raises(POSTVerificationFailedError):
        ins.decode(ins.encrypt(payload, SECRET), SECRET)


@pytest.mark.parametrize(
    "value, expected",
    [
        ("2016-07-05T13:47:51-06:00", datetime(2016, 7, 5, 19, 47, 51, tzinfo=UTC)),
        ("2016-07-05", datetime(2016, 7, 5, tzinfo=UTC)),
        ("20160705T134751Z", datetime(2016, 7, 5, 13, 47, 51, tzinfo=UTC)),
        ("next month", None),
        ("2016-07-05T13:47:51", None),
        ("", None),
        (None, None),
    ],
)
def test_next_payment_date_is_parsed_leniently(value, expected):
    """A payment plan's date may be a date; an unreadable one becomes None."""
    plan = {"rebillStatus": "ACTIVE", "rebillAmount": 2.99, "nextPaymentDate": value}
    item = {"itemNo": "2", "recurring": True, "paymentPlan": plan}
    notification = ins.parse(minimal(lineItems=[item]))
    payment_plan = notification.line_items[0].payment_plan
    assert payment_plan.next_payment_date == expected
    assert payment_plan.rebill_amount == Decimal("2.99")


@pytest.mark.parametrize(
    "padded",
    [
        pytest.param(aligned(SAMPLE_V6.encode(), 0), id="no-padding-at-all"),
        pytest.param(
            aligned(SAMPLE_V6.encode(), 3) + b"\x01\x02\x03", id="inconsistent-bytes"
        ),
        pytest.param(aligned(SAMPLE_V6.encode(), 16) + b"\x00" * 16, id="16-NULs"),
        pytest.param(aligned(SAMPLE_V6.encode(), 17) + b"\x11" * 17, id="pad-17"),
    ],
)
def test_bad_pkcs7_padding_is_rejected(padded):
    """Padding is stripped strictly, never trimmed leniently."""
    with pytest.raises(POSTVerificationFailedError) as caught:
        ins.decode(raw_cbc(padded), SECRET)
    assert caught.value.reason == "bad padding"


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


@pytest.mark.parametrize("nuls", range(1, 16))
@pytest.mark.parametrize(
    "plaintext",
    [
        pytest.param(json.dumps(TEST_BUTTON_2015).encode(), id="TEST"),
        pytest.param(SAMPLE_V6.encode(), id="SALE"),
    ],
)
def test_zero_padding_up_to_the_block_boundary_is_accepted(plaintext, nuls):
    """1-15 NUL bytes instead of PKCS#7, as a Test notification of 2015 came."""
    notification = ins.decode(raw_cbc(aligned(plaintext, nuls) + b"\0" * nuls), SECRET)
    assert notification.transaction_type == json.loads(plaintext)["transactionType"]
    assert notification.receipt == json.loads(plaintext)["receipt"]


def test_zero_padded_plaintext_that_is_no_notification_is_refused_alike():
    """NUL padding opens nothing but the INS JSON object, with the one message."""
    with pytest.raises(POSTVerificationFailedError) as caught:
        ins.decode(raw_cbc(aligned(b'{"a": 1}', 5) + b"\0" * 5), SECRET)
    assert str(caught.value) == INVALID


def test_a_full_block_of_padding_is_accepted():
    """Plaintext filling whole blocks carries a full block of 16s."""
    padded = aligned(SAMPLE_V6.encode(), 0) + b"\x10" * 16
    assert ins.decode(raw_cbc(padded), SECRET).receipt == "CWOGBZLN"


def test_wrong_key_is_rejected():
    """A notification for another secret key does not decrypt."""
    with pytest.raises(POSTVerificationFailedError):
        ins.decode(ins.encrypt(sample(), OTHER_SECRET, iv=IV), SECRET)


def test_previous_key_is_accepted_while_rotating():
    """A notification still encrypted with the previous key is accepted."""
    body = ins.encrypt(sample(), OTHER_SECRET)
    assert ins.decode(body, [SECRET, OTHER_SECRET]).receipt == "CWOGBZLN"


def test_current_key_is_accepted_with_empty_previous_key():
    """Empty entries in the key list are skipped."""
    assert ins.decode(ins.encrypt(sample(), SECRET), ["", SECRET, ""]).receipt


@pytest.mark.parametrize("secrets", ["", [], ["", "   "], None])
def test_no_key_raises_not_configured(secrets):
    """Without a non-empty key nothing can be verified: NotConfiguredError."""
    with pytest.raises(NotConfiguredError):
        ins.decode(ins.encrypt(sample(), SECRET), secrets)


def test_whitespace_and_newlines_inside_base64_are_ignored():
    """Base64 wrapped over lines, or with spaces, still decodes."""
    body = json.loads(ins.encrypt(sample(), SECRET))
    text = body["notification"]
    wrapped = "\r\n".join(text[i : i + 76] for i in range(0, len(text), 76))
    body["notification"] = " " + wrapped + "\n"
    body["iv"] = body["iv"][:8] + "\t" + body["iv"][8:]
    assert ins.decode(json.dumps(body).encode(), SECRET).receipt == "CWOGBZLN"


def test_missing_base64_padding_is_accepted():
    """Base64 without its trailing '=' still decodes."""
    body = json.loads(ins.encrypt(sample(), SECRET))
    assert body["iv"].endswith("=")
    body["iv"] = body["iv"].rstrip("=")
    body["notification"] = body["notification"].rstrip("=")
    assert ins.decode(json.dumps(body).encode(), SECRET).receipt == "CWOGBZLN"


def test_a_string_body_is_accepted_too():
    """Text bodies work like their UTF-8 bytes."""
    assert ins.decode(ins.encrypt(sample(), SECRET).decode(), SECRET).receipt


def change_envelope(**changes) -> bytes:
    """Return a valid body for the sample with envelope fields replaced."""
    body = json.loads(ins.encrypt(sample(), SECRET, iv=IV))
    body.update(changes)
    return json.dumps({k: v for k, v in body.items() if v is not None}).encode()


def good_ciphertext() -> bytes:
    """Return the ciphertext of the sample under SECRET and IV."""
    return base64.b64decode(
        json.loads(ins.encrypt(sample(), SECRET, iv=IV))["notification"]
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
    "wrong key": lambda: ins.encrypt(sample(), OTHER_SECRET, iv=IV),
    "bad padding": lambda: raw_cbc(aligned(b'{"receipt": "X"}', 0)),
    "plaintext not JSON": lambda: ins.encrypt(b"receipt=CWOGBZLN", SECRET),
    "plaintext with NaN": lambda: ins.encrypt(
        SAMPLE_V6.replace('"receipt"', '"extra": NaN, "receipt"'), SECRET
    ),
    "plaintext JSON array": lambda: ins.encrypt("[1, 2, 3]", SECRET),
    "plaintext JSON string": lambda: ins.encrypt('"SALE"', SECRET),
    "missing receipt": lambda: ins.encrypt(
        {k: v for k, v in sample().items() if k != "receipt"}, SECRET
    ),
    "empty receipt": lambda: ins.encrypt(sample(receipt=" "), SECRET),
    "receipt not a string": lambda: ins.encrypt(sample(receipt=123), SECRET),
    "missing transactionType": lambda: ins.encrypt(
        {k: v for k, v in sample().items() if k != "transactionType"}, SECRET
    ),
    "naive transactionTime": lambda: ins.encrypt(
        sample(transactionTime="2016-06-05T13:47:51"), SECRET
    ),
    "lineItems not a list": lambda: ins.encrypt(sample(lineItems="1"), SECRET),
}


@pytest.mark.parametrize("make_body", FAILURES.values(), ids=FAILURES.keys())
def test_every_failure_raises_the_same_error_and_message(make_body):
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
def test_failures_do_not_chain_the_decoder_error(make_body):
    """No inner exception (which could hold plaintext) rides along."""
    with pytest.raises(POSTVerificationFailedError) as caught:
        ins.decode(make_body(), SECRET)
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None


def test_body_larger_than_the_limit_is_rejected_as_too_large():
    """Bodies over MAX_BODY_SIZE raise BodyTooLargeError, with the same message."""
    body = b" " * (ins.MAX_BODY_SIZE + 1)
    with pytest.raises(BodyTooLargeError) as caught:
        ins.decode(body, SECRET)
    assert isinstance(caught.value, POSTVerificationFailedError)
    assert str(caught.value) == INVALID


def test_body_size_limit_can_be_lowered():
    """max_size applies to the raw body, before anything is parsed."""
    body = ins.encrypt(sample(), SECRET)
    with pytest.raises(BodyTooLargeError):
        ins.decode(body, SECRET, max_size=len(body) - 1)
    assert ins.decode(body, SECRET, max_size=len(body)).receipt == "CWOGBZLN"


def test_decrypt_returns_the_plain_json_object():
    """decrypt gives the plaintext object; decode is parse(decrypt(...))."""
    body = ins.encrypt(SAMPLE_V6, SECRET)
    payload = ins.decrypt(body, SECRET)
    assert payload == json.loads(SAMPLE_V6)
    assert ins.parse(payload) == ins.decode(body, SECRET)


def test_unknown_fields_are_kept_in_payload():
    """Newer versions add fields; they are ignored but kept."""
    payload = sample(version=8.0, trackingData={"clickId": "abc"})
    payload["lineItems"][0]["taxAmount"] = 0.5
    notification = ins.decode(ins.encrypt(payload, SECRET), SECRET)
    assert notification.version == Decimal("8.0")
    assert notification.payload["trackingData"] == {"clickId": "abc"}
    assert notification.payload["lineItems"][0]["taxAmount"] == 0.5


def test_missing_optional_fields_are_tolerated():
    """Only receipt, transactionType and transactionTime are required."""
    notification = ins.parse(minimal())
    assert notification.vendor == ""
    assert notification.role == ""
    assert notification.order_language == ""
    assert notification.total_account_amount is None
    assert notification.tracking_codes == ()
    assert notification.line_items == ()
    assert notification.customer == ins.Customer()
    assert notification.customer.email == ""
    assert notification.customer.full_name == ""
    assert notification.upsell == {}
    assert notification.version is None
    assert notification.attempt_count is None


def test_null_and_empty_optional_fields_are_tolerated():
    """Nulls and empty strings read as missing."""
    optional = "vendor affiliate role totalAccountAmount orderLanguage trackingCodes"
    optional += (
        " lineItems customer upsell hopfeed vendorVariables version attemptCount"
    )
    nulls = dict.fromkeys(optional.split())
    notification = ins.parse(minimal(**nulls, totalOrderAmount=""))
    assert notification.total_order_amount is None
    assert notification.line_items == ()
    item = {"itemNo": "1", "shippable": None, "quantity": None, "paymentPlan": None}
    billing = {"firstName": None, "email": None, "address": None}
    notification = ins.parse(
        minimal(lineItems=[item], customer={"shipping": None, "billing": billing})
    )
    assert notification.line_items[0].payment_plan is None
    assert notification.line_items[0].shippable is False
    assert notification.customer.billing.address == ins.Address()


@pytest.mark.parametrize(
    "changes",
    [
        {"lineItems": "1"},
        {"lineItems": {"itemNo": "1"}},
        {"lineItems": [1]},
        {"lineItems": [None]},
        {"lineItems": [{"itemNo": ["1"]}]},
        {"lineItems": [{"accountAmount": "five"}]},
        {"lineItems": [{"accountAmount": [5]}]},
        {"lineItems": [{"quantity": "one"}]},
        {"lineItems": [{"recurring": "maybe"}]},
        {"lineItems": [{"paymentPlan": []}]},
        {"totalAccountAmount": "abc"},
        {"totalAccountAmount": True},
        {"totalOrderAmount": {"value": 1}},
        {"customer": "test@example.net"},
        {"customer": {"billing": ["TEST", "GUY"]}},
        {"customer": {"billing": {"address": "12 Test Lane"}}},
        {"customer": {"billing": {"email": {"address": "x"}}}},
        {"trackingCodes": "tracking_code"},
        {"upsell": []},
        {"vendorVariables": "v1=variable1"},
        {"attemptCount": 1.5},
        {"version": "six"},
    ],
)
def test_fields_of_the_wrong_type_are_rejected(changes):
    """A notification of the wrong shape fails verification."""
    with pytest.raises(POSTVerificationFailedError) as caught:
        ins.parse(minimal(**changes))
    assert str(caught.value) == INVALID


@pytest.mark.parametrize("payload", [[], "SALE", None, 1])
def test_parse_rejects_a_payload_that_is_not_an_object(payload):
    """parse takes a dict and nothing else."""
    with pytest.raises(POSTVerificationFailedError):
        ins.parse(payload)


def test_numbers_sent_as_strings_are_read():
    """Amounts and counts as strings, and item numbers as integers, are accepted."""
    item = {"itemNo": 7, "accountAmount": "2.99", "quantity": "2", "recurring": "true"}
    notification = ins.parse(minimal(lineItems=[item], attemptCount=2.0))
    assert notification.line_items[0].item_no == "7"
    assert notification.line_items[0].account_amount == Decimal("2.99")
    assert notification.line_items[0].quantity == 2
    assert notification.line_items[0].recurring is True
    assert notification.attempt_count == 2


def test_codes_are_normalized():
    """Type, role and language are upper-cased; text fields are stripped."""
    notification = ins.parse(
        minimal(
            transactionType=" cancel-rebill ",
            role="jv_vendor",
            orderLanguage="de",
            vendor=" testacct ",
        )
    )
    assert notification.transaction_type == "CANCEL-REBILL"
    assert notification.role == "JV_VENDOR"
    assert notification.order_language == "DE"
    assert notification.vendor == "testacct"


@pytest.mark.parametrize(
    "billing, shipping, email, full_name",
    [
        ({"email": " Buyer@Example.COM "}, {}, "buyer@example.com", ""),
        ({}, {"email": "Ship@Example.com"}, "ship@example.com", ""),
        ({"email": "b@example.com"}, {"email": "s@example.com"}, "b@example.com", ""),
        ({"fullName": "  Test   Guy "}, {}, "", "Test Guy"),
        ({"firstName": "TEST", "lastName": "GUY"}, {}, "", "TEST GUY"),
        ({"lastName": "GUY"}, {"fullName": "Test Guy"}, "", "GUY"),
        (
            {"address": {"state": "NV"}},
            {"firstName": "José", "lastName": "Müller"},
            "",
            "José Müller",
        ),
    ],
)
def test_customer_email_and_name_prefer_billing(billing, shipping, email, full_name):
    """Email and name come from billing, else shipping, normalized."""
    customer = {"billing": billing, "shipping": shipping}
    notification = ins.parse(minimal(customer=customer))
    assert notification.customer.email == email
    assert notification.customer.full_name == full_name


def test_contact_email_keeps_its_case():
    """Only Customer.email lower-cases; the contact keeps what was sent."""
    notification = ins.parse(minimal(customer={"billing": {"email": " A@B.COM "}}))
    assert notification.customer.billing.email == "A@B.COM"


@pytest.mark.parametrize(
    "receipt, original",
    [
        ("ABCD1234-B002", "ABCD1234"),
        ("ABCD1234-B12", "ABCD1234"),
        ("ABCD1234", "ABCD1234"),
        ("ABCD1234-B", "ABCD1234-B"),
        ("ABCD-B002X", "ABCD-B002X"),
        ("********", "********"),
    ],
)
def test_original_receipt_strips_the_rebill_suffix(receipt, original):
    """Rebill receipts belong to the receipt of the first sale."""
    assert ins.parse(minimal(receipt=receipt)).original_receipt == original


@pytest.mark.parametrize(
    "transaction_type, receipt, expected",
    [
        ("TEST", "CWOGBZLN", True),
        ("SALE", "********", True),
        ("TEST_SALE", "CWOGBZLN", True),
        ("TEST_BILL", "CWOGBZLN", True),
        ("CANCEL-TEST-REBILL", "CWOGBZLN", True),
        ("UNCANCEL-TEST-REBILL", "CWOGBZLN", True),
        ("test_rfnd", "CWOGBZLN", True),
        ("SALE", "CWOGBZLN", False),
        ("BILL", "ABCD1234-B002", False),
        ("CANCEL-REBILL", "CWOGBZLN", False),
    ],
)
def test_is_test_recognises_test_notifications(transaction_type, receipt, expected):
    """The settings-page test and test-card transactions are test notifications."""
    notification = ins.parse(minimal(transactionType=transaction_type, receipt=receipt))
    assert notification.is_test is expected


def test_idempotency_key_is_equal_for_a_retried_notification():
    """A retry (new IV, higher attemptCount) has the same key."""
    first = ins.decode(ins.encrypt(sample(), SECRET), SECRET)
    retry = ins.decode(ins.encrypt(sample(attemptCount=2), SECRET), SECRET)
    assert ins.idempotency_key(first) == ins.idempotency_key(retry)
    assert len(ins.idempotency_key(first)) == 64


def test_idempotency_key_ignores_time_zone_item_order_and_vendor_case():
    """The same instant in another zone, reordered items, VENDOR case: same key."""
    payload = sample()
    other = sample(
        transactionTime="20160605T194751Z",
        lineItems=list(reversed(payload["lineItems"])),
        vendor="TESTACCT",
    )
    assert ins.idempotency_key(ins.parse(payload)) == ins.idempotency_key(
        ins.parse(other)
    )


@pytest.mark.parametrize(
    "changes",
    [
        {"transactionType": "RFND"},
        {"transactionTime": "2016-06-05T13:47:52-06:00"},
        {"transactionTime": "2016-06-05T13:47:51-07:00"},
        {"lineItems": [{"itemNo": "1"}]},
        {"lineItems": [{"itemNo": "1"}, {"itemNo": "3"}]},
        {"receipt": "CWOGBZLN-B002"},
        {"role": "AFFILIATE"},
        {"vendor": "othervendor"},
    ],
)
def test_idempotency_key_differs_for_a_different_notification(changes):
    """Another type, time, item set, receipt, role or vendor: another key."""
    assert ins.idempotency_key(ins.parse(sample())) != ins.idempotency_key(
        ins.parse(sample(**changes))
    )


def test_notification_is_hashable_and_hides_customer_data_in_repr():
    """Notifications can go in sets; repr() shows no customer data."""
    notification = ins.parse(sample())
    assert notification in {notification}
    assert "test@example.net" not in repr(notification)
    assert "CWOGBZLN" in repr(notification)


def test_parse_does_not_change_the_payload():
    """Parsing leaves its input as it was."""
    payload = sample()
    before = copy.deepcopy(payload)
    ins.parse(payload)
    assert payload == before


names = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40
)


@settings(max_examples=50, deadline=None)
@given(first=names, last=names)
def test_any_unicode_name_round_trips(first, last):
    """Whatever the name, it comes back exactly as sent."""
    payload = sample(customer={"billing": {"firstName": first, "lastName": last}})
    notification = ins.decode(ins.encrypt(payload, SECRET), SECRET)
    assert notification.payload["customer"]["billing"] == {
        "firstName": first,
        "lastName": last,
    }
    assert notification.customer.billing.first_name == first.strip()


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=300))
def test_arbitrary_bytes_only_ever_fail_verification(body):
    """Random bodies raise POSTVerificationFailedError and nothing else."""
    with pytest.raises(POSTVerificationFailedError):
        ins.decode(body, SECRET)


@settings(max_examples=200, deadline=None)
@given(
    ciphertext=st.integers(1, 8).flatmap(
        lambda n: st.binary(min_size=16 * n, max_size=16 * n)
    )
)
def test_random_ciphertext_only_ever_fails_verification(ciphertext):
    """Well-formed envelopes with random ciphertext fail verification cleanly."""
    with pytest.raises(POSTVerificationFailedError):
        ins.decode(envelope(ciphertext), SECRET)


# Fast paths (RFC 3339 times, the usual envelope, the bracket-depth bound, quick
# record constructors): each must give exactly what the general path gives.


def same_time(value, allow_date: bool) -> None:
    """The fast and the general time parser agree on ``value``, offset included."""
    fast = parsing._match_time(value, allow_date)
    general = parsing._match_any_time(value, allow_date)
    assert fast == general
    assert repr(fast) == repr(general)  # same zone object, not only the same instant


@pytest.mark.parametrize(
    "value",
    [
        "2016-06-05T13:47:51-06:00",
        "2016-06-05T13:47:51Z",
        "2016-06-05 13:47:51+05:30",
        "2016-06-05T13:47:51.5Z",
        "2016-06-05T13:47:51.123456-00:00",
        "2016-06-05T13:47:51.1234567Z",  # 7 digits: the general path
        "2016-06-05T13:47:51,5Z",
        "2016-06-05T13:47:51-00:00",
        "2016-06-05T13:47:51+00:00",
        "2016-06-05T13:47:51+23:59",
        "2016-06-05T13:47:51+24:00",
        "2016-06-05T13:47:51+12:60",
        "2016-06-05T13:47:51+05",
        "2016-06-05T24:00:00Z",
        "2016-06-05T23:59:60Z",
        "2016-02-30T13:47:51Z",
        "2016-06-05t13:47:51z",
        "2016-06-05X13:47:51Z",
        "2016-W22-7T13:47:51Z",
        "2016-06-05T13:47:51",
        " 2016-06-05T13:47:51Z ",
        "1969-12-31T23:59:59Z",
        "1970-01-01T00:00:00+01:00",
        "2999-12-31T23:59:59-12:00",
        "3000-01-01T00:00:00Z",
        "0000-01-01T00:00:00Z",
        "\u0662\u0660\u0661\u0666-06-05T13:47:51Z",  # Arabic-Indic digits
        "20220810T162015-0700",
        "2016-06-05",
    ],
)
@pytest.mark.parametrize("allow_date", [False, True])
def test_rfc3339_fast_path_matches_the_general_parser(value, allow_date):
    """fromisoformat only sees the usual shape, and reads it as the regex does."""
    same_time(value, allow_date)


def test_usual_times_skip_the_regex_parser():
    """RFC 3339 with a zone, as ClickBank sends it, goes to fromisoformat."""
    with mock.patch.object(parsing, "_match_any_time", side_effect=AssertionError):
        for value in (
            "2016-06-05T13:47:51-06:00",
            "2016-06-05T19:47:51Z",
            "2016-06-05 13:47:51.25+05:30",
        ):
            assert parsing._match_time(value, allow_date=False).tzinfo is not None


def two_digits(low: int, high: int):
    return st.integers(low, high).map("{:02d}".format)


zones = st.one_of(
    st.sampled_from(["Z", "z", "", "+05", "-0000", "+0530"]),
    st.builds(
        "{}{}:{}".format, st.sampled_from("+-"), two_digits(0, 25), two_digits(0, 61)
    ),
)
timestamps = st.builds(
    "{}{}-{}-{}{}{}:{}:{}{}{}{}".format,
    st.sampled_from(["", " "]),
    st.integers(0, 9999).map("{:04d}".format),
    two_digits(0, 13),
    two_digits(0, 32),
    st.sampled_from(["T", "t", " ", "x"]),
    two_digits(0, 25),
    two_digits(0, 61),
    two_digits(0, 61),
    st.sampled_from(["", ".5", ".123456", ".1234567", ",5", "."]),
    zones,
    st.sampled_from(["", " "]),
)


@settings(max_examples=500, deadline=None)
@given(value=timestamps | st.text(alphabet="0123456789-:T+Z. ", max_size=30))
def test_generated_times_parse_alike_on_both_paths(value):
    """For any timestamp-like text, both parsers give the same result or None."""
    same_time(value, allow_date=False)
    same_time(value, allow_date=True)


@settings(max_examples=200, deadline=None)
@given(value=st.floats(allow_nan=True, allow_infinity=True))
def test_float_amounts_are_the_decimal_of_their_shortest_text(value):
    """A float amount is Decimal(str(value)); NaN and infinities are refused."""
    if not math.isfinite(value):
        with pytest.raises(POSTVerificationFailedError):
            parsing._amount({"amount": value}, "amount")
    else:
        amount = parsing._amount({"amount": value}, "amount")
        assert repr(amount) == repr(Decimal(str(value)))


def reference_b64decode(value):
    """ins._b64decode as it was, on base64.b64decode(validate=True)."""
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True)
    except ValueError:
        pass
    compact = re.sub(r"[ \t\n\r\f\v]+", "", value)
    try:
        return base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)
    except ValueError:
        return None


BASE64_TEXT = string.ascii_letters + string.digits + "+/="


@pytest.mark.parametrize(
    "value",
    ["QUJD", "QUI=", "QUI", "QQ", "Q", "QU JD\n", " QUI\t", "QUI==", "QU=I", "=QUI",
     "QUJD-_", "QUJDé", "QUJD\x00", "", "====", 1234, None],
)  # fmt: skip
def test_base64_on_binascii_matches_b64decode(value):
    """Strict a2b_base64 accepts and refuses what b64decode(validate=True) did."""
    assert ins._b64decode(value) == reference_b64decode(value)


@settings(max_examples=500, deadline=None)
@given(value=st.text(alphabet=BASE64_TEXT + " \n\t\r-_!é\x00", max_size=40))
def test_generated_base64_decodes_alike(value):
    """White space, missing padding, stray characters: same result as before."""
    assert ins._b64decode(value) == reference_b64decode(value)


def read_envelope_both_ways(body):
    """The outcome of ``_read_envelope`` with and without the usual-layout path."""
    outcomes = []
    for usual in (ins._read_usual_envelope, lambda body: None):
        with mock.patch.object(ins, "_read_usual_envelope", usual):
            try:
                outcomes.append(ins._read_envelope(body))
            except POSTVerificationFailedError as error:
                outcomes.append(error.reason)
    return outcomes


def test_usual_envelopes_skip_json_loads():
    """encrypt()'s layout and the compact one are read without a JSON parse."""
    body = ins.encrypt(sample(), SECRET, iv=IV)
    compact = json.dumps(json.loads(body), separators=(",", ":")).encode()
    for layout in (body, compact):
        assert ins._read_usual_envelope(layout) == (good_ciphertext(), IV)


# Base64 of whole AES blocks or of an IV, maybe spoilt by one escape, one white
# space or one character outside base64 somewhere.
envelope_texts = st.builds(
    lambda data, noise, where: data[:where] + noise + data[where:],
    st.sampled_from([16, 32, 48])
    .flatmap(lambda n: st.binary(min_size=n, max_size=n))
    .map(lambda data: base64.b64encode(data).decode()),
    st.sampled_from(["", "", " ", "\\n", "\\/", "\\u0041", "\n", "é", '\\"', "="]),
    st.integers(0, 70),
)
layouts = st.sampled_from(
    [
        '{{"notification": "{n}", "iv": "{i}"}}',
        '{{"notification":"{n}","iv":"{i}"}}',
        '{{"notification":  "{n}", "iv": "{i}"}}',
        '{{"iv": "{i}", "notification": "{n}"}}',
        '{{"notification": "{n}", "iv": "{i}", "x": 1}}',
        '{{"notification": "{n}", "iv": "{i}", "iv": "{n}"}}',
        '{{"notification": "{n}", "iv": "{i}"}} ',
        '\ufeff{{"notification": "{n}", "iv": "{i}"}}',
    ]
)


@settings(max_examples=500, deadline=None)
@given(
    layout=layouts,
    notification=envelope_texts,
    iv=st.sampled_from([base64.b64encode(IV).decode(), "MDEyMzQ1Njc4OWFiY2RlZg"])
    | envelope_texts,
    kind=st.sampled_from([bytes, bytearray, str]),
)
def test_generated_envelopes_read_alike_with_and_without_json(
    layout, notification, iv, kind
):
    """Escapes, white space, key order, extra keys: the JSON path's outcome."""
    text = layout.format(n=notification, i=iv)
    body = text if kind is str else kind(text.encode("utf-8"))
    usual = ins._read_usual_envelope(body)
    if usual is not None:  # what the JSON path decodes, before any length check
        fields = json.loads(body)
        decoded = ins._b64decode(fields["notification"]), ins._b64decode(fields["iv"])
        assert usual == decoded
    with_usual, json_only = read_envelope_both_ways(body)
    assert with_usual == json_only


def nested(depth: int, text: str = "") -> dict:
    """A notification exactly ``depth`` containers deep, ``text`` at every level."""
    value = {"text": text}
    for level in range(depth - 3):
        value = [text, value] if level % 2 else {"text": text, "next": value}
    return sample(vendorVariables={"deep": value})


def decode_reason(payload) -> str:
    """Why ``payload`` (a dict or JSON text) is refused; "" if it decodes."""
    text = payload if isinstance(payload, str) else json.dumps(payload)
    try:
        ins.decode(ins.encrypt(text, SECRET), SECRET)
    except POSTVerificationFailedError as error:
        return error.reason
    return ""


# Strings with brackets would fool a count of the text's brackets: "]" lowers it
# before a deeper level, "[" raises it; quotes and backslashes come escaped.
@pytest.mark.parametrize(
    "text", ["", "]" * 40, "[" * 40, "}]" * 20, '"]]]]', "\\]]]]", '\\"]]', "é[["]
)
def test_nesting_of_32_is_accepted_and_33_refused(text):
    """MAX_DEPTH counts the containers, the notification object included."""
    assert nesting._depth(nested(32, text)) == 32
    assert decode_reason(nested(32, text)) == ""
    assert decode_reason(nested(33, text)) == "plaintext is nested too deeply"


def test_a_deep_value_dropped_by_a_duplicate_key_is_not_counted():
    """Only the parsed object counts: a deep duplicate that was replaced does not."""
    deep = json.dumps(nested(40)["vendorVariables"])
    text = json.dumps(sample())[:-1] + f', "x": {deep}, "x": 1}}'
    assert decode_reason(text) == ""
    assert decode_reason(text.replace('"x": 1', '"y": 1')).endswith("too deeply")


json_texts = st.text(alphabet='ab"\\[]{}é\u20ac\n ', max_size=8)
json_trees = st.recursive(
    st.none() | st.booleans() | st.integers() | json_texts,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(json_texts, children, max_size=3)
    ),
    max_leaves=40,
)


@settings(max_examples=500, deadline=None)
@given(
    tree=json_trees,
    ensure_ascii=st.booleans(),
    indent=st.sampled_from([None, 1]),
    encoding=st.sampled_from(["utf-8", "latin-1"]),
)
def test_text_nesting_is_the_object_nesting(tree, ensure_ascii, indent, encoding):
    """Without duplicate keys the text's bound is exact: a walk only to refuse."""
    payload = {"tree": tree}
    text = json.dumps(payload, ensure_ascii=ensure_ascii, indent=indent)
    try:
        plaintext = text.encode(encoding)
    except UnicodeEncodeError:
        plaintext = text.encode("utf-8")
    depth = nesting._depth(payload)
    for limit in range(depth):
        assert nesting._nested_too_deeply(plaintext, payload, limit)
    with mock.patch.object(nesting, "_depth", side_effect=AssertionError("walked")):
        for limit in range(depth, depth + 2):
            assert not nesting._nested_too_deeply(plaintext, payload, limit)


@pytest.mark.parametrize("cls", [ins.Address, ins.PaymentPlan, ins.LineItem])
def test_records_with_a_quick_init_behave_like_dataclasses(cls):
    """Same signature, defaults, equality, hash, immutability, replace and pickle."""
    fields = dataclasses.fields(cls)
    names = [field.name for field in fields]
    defaults = [field.default for field in fields]
    parameters = inspect.signature(cls).parameters.values()
    assert [(p.name, p.default, p.kind) for p in parameters] == [
        (name, default, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        for name, default in zip(names, defaults, strict=True)
    ]
    values = [f"value {index}" for index in range(len(names))]
    record = cls(*values)
    assert [getattr(record, name) for name in names] == values
    assert record == cls(**dict(zip(names, values, strict=True)))
    assert hash(record) == hash(cls(*values))
    assert cls() == cls(*defaults)
    assert dataclasses.replace(record, **{names[0]: "x"}) == cls("x", *values[1:])
    assert pickle.loads(pickle.dumps(record)) == record  # noqa: S301 - our own data
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(record, names[0], "x")
    with pytest.raises(TypeError):
        cls(*values, "one too many")
    with pytest.raises(TypeError):
        cls(no_such_field=1)


def test_quick_init_takes_only_fields_with_plain_defaults():
    """A required field or a default factory would need the dataclass __init__."""

    @dataclasses.dataclass(frozen=True, slots=True)
    class Required:
        name: str

    @dataclasses.dataclass(frozen=True, slots=True)
    class Factory:
        names: list = dataclasses.field(default_factory=list)

    for cls in (Required, Factory):
        with pytest.raises(TypeError):
            _quick_init(cls)
