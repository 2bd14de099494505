"""Reading a decrypted notification: the typed Notification and its parts.

ClickBank's documented v6 sample (``clickbank-v6-sample.json``) is the example.
No Plone needed.
"""

import copy
import json
import math
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from datetime import timezone
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from niteoweb.clickbank import ins
from niteoweb.clickbank.errors import POSTVerificationFailedError
from niteoweb.clickbank.ins.crypto import encrypt
from niteoweb.clickbank.ins.model import Address
from niteoweb.clickbank.ins.model import Customer
from niteoweb.clickbank.ins.model import Notification
from niteoweb.clickbank.ins.parse import MAX_DEPTH
from niteoweb.clickbank.ins.parse import parse
from niteoweb.clickbank.ins.parse import parse_transaction_time

SAMPLE_V6 = Path(__file__).with_name("clickbank-v6-sample.json").read_text()
SECRET = "MYSECRETKEY123"
INVALID = "Invalid ClickBank notification."


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


def decoded(payload) -> Notification:
    """Return ``payload`` (a dict, a JSON text or bytes) through encrypt and decode."""
    return ins.decode(encrypt(payload, SECRET), SECRET)


names = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40)


class TestSample:
    """ClickBank's v6 sample, field by field."""

    def test_round_trips_with_every_field(self):
        """The documented v6 sample decrypts to a fully typed Notification."""
        notification = decoded(SAMPLE_V6)
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

    def test_cart_keeps_every_line_item_with_exact_amounts(self):
        """Both cart items survive, and 2.99 is exactly Decimal('2.99')."""
        first, second = decoded(SAMPLE_V6).line_items
        assert first.item_no == "1"
        assert first.product_title == "Product Title"
        assert first.account_amount == Decimal("5.0")
        assert first.recurring is False
        assert first.shippable is False
        assert first.quantity == 1
        assert first.download_url == "<download_url>"
        assert first.line_item_type == "CART"
        assert first.payment_plan is None
        assert second.item_no == "2"
        assert second.account_amount == Decimal("2.99")
        assert str(second.account_amount) == "2.99"
        assert second.recurring is True

    def test_customer_has_shipping_and_billing_contacts(self):
        """Shipping and billing contacts and addresses are mapped field by field."""
        customer = decoded(SAMPLE_V6).customer
        assert customer.shipping.address == Address(
            address1="12 Test Lane",
            address2="Suite 100",
            city="LAS VEGAS",
            county="LAS VEGAS",
            state="NV",
            postal_code="89101",
            country="US",
        )
        assert customer.billing.address == Address(
            state="NV", postal_code="89101", country="US"
        )
        assert customer.billing.first_name == "TEST"
        assert customer.email == "test@example.net"
        assert customer.full_name == "Test Guy"

    def test_payload_stays_plain_json(self):
        """The kept payload holds floats, not Decimals, so it serialises again."""
        notification = decoded(SAMPLE_V6)
        assert json.loads(json.dumps(notification.payload)) == json.loads(SAMPLE_V6)

    def test_non_ascii_names_round_trip_as_utf8(self):
        """José Müller arrives intact."""
        customer = {"billing": {"firstName": "José", "lastName": "Müller"}}
        notification = decoded(sample(customer=customer))
        assert notification.customer.full_name == "José Müller"
        assert notification.customer.billing.first_name == "José"

    def test_json_with_newlines_and_indentation_is_accepted(self):
        """Pretty-printed plaintext is fine."""
        assert decoded(json.dumps(sample(), indent=4)).receipt == "CWOGBZLN"

    def test_unknown_fields_are_kept_in_payload(self):
        """Newer versions add fields; they are ignored but kept."""
        payload = sample(version=8.0, trackingData={"clickId": "abc"})
        payload["lineItems"][0]["taxAmount"] = 0.5
        notification = decoded(payload)
        assert notification.version == Decimal("8.0")
        assert notification.payload["trackingData"] == {"clickId": "abc"}
        assert notification.payload["lineItems"][0]["taxAmount"] == 0.5

    def test_parse_does_not_change_the_payload(self):
        """Parsing leaves its input as it was."""
        payload = sample()
        before = copy.deepcopy(payload)
        parse(payload)
        assert payload == before

    @settings(max_examples=50, deadline=None)
    @given(first=names, last=names)
    def test_any_unicode_name_round_trips(self, first, last):
        """Whatever the name, it comes back exactly as sent."""
        billing = {"firstName": first, "lastName": last}
        notification = decoded(sample(customer={"billing": billing}))
        assert notification.payload["customer"]["billing"] == billing
        assert notification.customer.billing.first_name == first.strip()


class TestTimes:
    """transactionTime and a payment plan's nextPaymentDate."""

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
            (" 2016-06-05T19:47:51Z\n", datetime(2016, 6, 5, 19, 47, 51, tzinfo=UTC)),
            ("1970-01-01T00:00:00Z", datetime(1970, 1, 1, tzinfo=UTC)),
            ("2999-12-31T23:59:59Z", datetime(2999, 12, 31, 23, 59, 59, tzinfo=UTC)),
        ],
    )
    def test_transaction_time_formats_are_parsed_timezone_aware(self, value, expected):
        """RFC 3339 and the basic form, with offsets, Z and fractions, are accepted."""
        parsed = parse_transaction_time(value)
        assert parsed.tzinfo is not None
        assert parsed == expected

    @settings(max_examples=300, deadline=None)
    @given(value=st.text(alphabet="0123456789-:T+Z.,W ", max_size=30) | st.text())
    def test_any_text_is_an_aware_time_in_range_or_refused(self, value):
        """Garbage never crashes: a zone-aware time of 1970-2999, or refused."""
        try:
            parsed = parse_transaction_time(value)
        except POSTVerificationFailedError:
            return
        assert parsed.tzinfo is not None
        assert 1970 <= parsed.year <= 2999
        assert parsed.astimezone(UTC) + timedelta(days=400) > parsed

    def test_transaction_time_keeps_the_vendor_offset(self):
        """The parsed time keeps the offset it was sent with."""
        parsed = parse_transaction_time("20220810T162015-0700")
        assert parsed.utcoffset() == timedelta(hours=-7)

    @pytest.mark.parametrize(
        "value",
        [
            "2016-06-05T13:47:51",
            "20220810T162015",
            "2016-06-05",
            "2016-13-05T13:47:51Z",
            "2016-02-30T13:47:51Z",
            "2016-06-05T13:47:51+25:00",
            "1969-12-31T23:59:59Z",
            "3000-01-01T00:00:00Z",
            "0000-01-01T00:00:00Z",
            "yesterday",
            "",
            None,
            1465156071,
            ["2016-06-05T13:47:51Z"],
        ],
    )
    def test_transaction_time_without_zone_or_malformed_is_rejected(self, value):
        """Naive, date-only, far-off or malformed times cannot be ordered: refused."""
        with pytest.raises(POSTVerificationFailedError):
            parse_transaction_time(value)

    def test_missing_transaction_time_is_rejected(self):
        """transactionTime is required: idempotency depends on it."""
        payload = sample()
        del payload["transactionTime"]
        with pytest.raises(POSTVerificationFailedError):
            parse(payload)

    @pytest.mark.parametrize(
        "value, expected",
        [
            (
                "2016-07-05T13:47:51-06:00",
                datetime(2016, 7, 5, 19, 47, 51, tzinfo=UTC),
            ),
            ("2016-07-05", datetime(2016, 7, 5, tzinfo=UTC)),
            ("20160705T134751Z", datetime(2016, 7, 5, 13, 47, 51, tzinfo=UTC)),
            ("next month", None),
            ("2016-07-05T13:47:51", None),
            ("3016-07-05", None),
            ("", None),
            (None, None),
            (20160705, None),
        ],
    )
    def test_next_payment_date_is_parsed_leniently(self, value, expected):
        """A payment plan's date may be a date; an unreadable one becomes None."""
        plan = {
            "rebillStatus": "ACTIVE",
            "rebillAmount": 2.99,
            "nextPaymentDate": value,
        }
        item = {"itemNo": "2", "recurring": True, "paymentPlan": plan}
        payment_plan = parse(minimal(lineItems=[item])).line_items[0].payment_plan
        assert payment_plan.next_payment_date == expected
        assert payment_plan.rebill_amount == Decimal("2.99")


class TestShape:
    """Missing, null, odd and wrong fields."""

    def test_missing_optional_fields_are_tolerated(self):
        """Only receipt, transactionType and transactionTime are required."""
        notification = parse(minimal())
        assert notification.vendor == ""
        assert notification.role == ""
        assert notification.order_language == ""
        assert notification.total_account_amount is None
        assert notification.tracking_codes == ()
        assert notification.line_items == ()
        assert notification.customer == Customer()
        assert notification.customer.email == ""
        assert notification.customer.full_name == ""
        assert notification.upsell == {}
        assert notification.version is None
        assert notification.attempt_count is None

    def test_null_and_empty_optional_fields_are_tolerated(self):
        """Nulls and empty strings read as missing."""
        optional = "vendor affiliate role totalAccountAmount orderLanguage"
        optional += " trackingCodes lineItems customer upsell hopfeed"
        optional += " vendorVariables version attemptCount"
        nulls = dict.fromkeys(optional.split())
        notification = parse(minimal(**nulls, totalOrderAmount=""))
        assert notification.total_order_amount is None
        assert notification.line_items == ()
        item = {"itemNo": "1", "shippable": None, "quantity": None, "paymentPlan": None}
        billing = {"firstName": None, "email": None, "address": None}
        notification = parse(
            minimal(lineItems=[item], customer={"shipping": None, "billing": billing})
        )
        assert notification.line_items[0].payment_plan is None
        assert notification.line_items[0].shippable is False
        assert notification.customer.billing.address == Address()

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
            {"attemptCount": True},
            {"version": "six"},
        ],
    )
    def test_fields_of_the_wrong_type_are_rejected(self, changes):
        """A notification of the wrong shape fails verification."""
        with pytest.raises(POSTVerificationFailedError) as caught:
            parse(minimal(**changes))
        assert str(caught.value) == INVALID

    @pytest.mark.parametrize("payload", [[], "SALE", None, 1])
    def test_parse_rejects_a_payload_that_is_not_an_object(self, payload):
        """parse takes a dict and nothing else."""
        with pytest.raises(POSTVerificationFailedError):
            parse(payload)

    def test_numbers_sent_as_strings_are_read(self):
        """Amounts and counts as strings, and item numbers as integers, are read."""
        item = {"itemNo": 7, "accountAmount": "2.99", "quantity": "2"}
        item["recurring"] = "true"
        notification = parse(minimal(lineItems=[item], attemptCount=2.0))
        assert notification.line_items[0].item_no == "7"
        assert notification.line_items[0].account_amount == Decimal("2.99")
        assert notification.line_items[0].quantity == 2
        assert notification.line_items[0].recurring is True
        assert notification.attempt_count == 2

    @settings(max_examples=200, deadline=None)
    @given(value=st.floats(allow_nan=True, allow_infinity=True))
    def test_float_amounts_are_the_decimal_of_their_shortest_text(self, value):
        """A float amount is Decimal(str(value)); NaN and infinities are refused."""
        if not math.isfinite(value):
            with pytest.raises(POSTVerificationFailedError):
                parse(minimal(totalAccountAmount=value))
        else:
            amount = parse(minimal(totalAccountAmount=value)).total_account_amount
            assert repr(amount) == repr(Decimal(str(value)))

    def test_codes_are_normalized(self):
        """Type, role and language are upper-cased; text fields are stripped."""
        notification = parse(
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


def nested(depth: int, text: str = "") -> dict:
    """A notification exactly ``depth`` containers deep, ``text`` at every level."""
    value = {"text": text}
    for level in range(depth - 3):
        value = [text, value] if level % 2 else {"text": text, "next": value}
    return sample(vendorVariables={"deep": value})


def depth(value) -> int:
    """The nesting depth of JSON ``value``, counted independently of parse."""
    if isinstance(value, dict):
        value = list(value.values())
    if not isinstance(value, list):
        return 0
    return 1 + max(map(depth, value), default=0)


def refusal(payload) -> str:
    """Why ``payload`` (a dict or JSON text) is refused; "" if it decodes."""
    try:
        decoded(payload if isinstance(payload, str) else json.dumps(payload))
    except POSTVerificationFailedError as error:
        return error.reason
    return ""


class TestNesting:
    """A notification nested deeper than MAX_DEPTH is refused as invalid."""

    @pytest.mark.parametrize("text", ["", "]" * 40, "[" * 40, '"]]]]', "\\]]]]"])
    def test_nesting_of_32_is_accepted_and_33_refused(self, text):
        """MAX_DEPTH counts the containers, the notification object included."""
        assert MAX_DEPTH == 32
        assert depth(nested(32, text)) == 32
        assert refusal(nested(32, text)) == ""
        assert refusal(nested(33, text)) == "plaintext is nested too deeply"

    def test_a_deep_value_dropped_by_a_duplicate_key_is_not_counted(self):
        """Only the parsed object counts, not a deep duplicate that was replaced."""
        deep = json.dumps(nested(40)["vendorVariables"])
        text = json.dumps(sample())[:-1] + f', "x": {deep}, "x": 1}}'
        assert refusal(text) == ""
        assert refusal(text.replace('"x": 1', '"y": 1')).endswith("too deeply")

    def test_a_notification_nested_thousands_deep_is_refused(self):
        """Deeper than the JSON reader goes: refused like any other garbage."""
        text = json.dumps(sample())[:-1] + ', "x": ' + "[" * 5000 + "]" * 5000 + "}"
        assert refusal(text)


class TestModel:
    """The derived properties of a Notification and its Customer."""

    @pytest.mark.parametrize(
        "billing, shipping, email, full_name",
        [
            ({"email": " Buyer@Example.COM "}, {}, "buyer@example.com", ""),
            ({}, {"email": "Ship@Example.com"}, "ship@example.com", ""),
            (
                {"email": "b@example.com"},
                {"email": "s@example.com"},
                "b@example.com",
                "",
            ),
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
    def test_customer_email_and_name_prefer_billing(
        self, billing, shipping, email, full_name
    ):
        """Email and name come from billing, else shipping, normalized."""
        customer = {"billing": billing, "shipping": shipping}
        notification = parse(minimal(customer=customer))
        assert notification.customer.email == email
        assert notification.customer.full_name == full_name

    def test_contact_email_keeps_its_case(self):
        """Only Customer.email lower-cases; the contact keeps what was sent."""
        notification = parse(minimal(customer={"billing": {"email": " A@B.COM "}}))
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
    def test_original_receipt_strips_the_rebill_suffix(self, receipt, original):
        """Rebill receipts belong to the receipt of the first sale."""
        assert parse(minimal(receipt=receipt)).original_receipt == original

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
    def test_is_test_recognises_test_notifications(
        self, transaction_type, receipt, expected
    ):
        """The settings-page test and test-card transactions are test notifications."""
        payload = minimal(transactionType=transaction_type, receipt=receipt)
        assert parse(payload).is_test is expected

    def test_notification_is_hashable_and_hides_customer_data_in_repr(self):
        """Notifications can go in sets; repr() shows no customer data."""
        notification = parse(sample())
        assert notification in {notification}
        assert "test@example.net" not in repr(notification)
        assert "CWOGBZLN" in repr(notification)
