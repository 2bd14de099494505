"""A ClickBank notification: typed, immutable model and its mapping from JSON.

:func:`parse` turns a decrypted notification object into a :class:`Notification`;
:mod:`niteoweb.clickbank.ins` decrypts the POST body and re-exports all of this.
Pure Python, no Plone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from datetime import timezone
from decimal import Decimal
from decimal import InvalidOperation
from typing import Any

from niteoweb.clickbank.errors import POSTVerificationFailedError

# The receipt ClickBank's "Test" button sends on its settings page.
TEST_RECEIPT = "********"

# Rebills carry the original receipt plus "-B" and a counter: ABCD1234-B002.
_REBILL_RECEIPT = re.compile(r"(?P<original>.+)-B\d+")
# RFC 3339 (2016-06-05T13:47:51-06:00) and basic ISO 8601 (20220810T162015-0700).
_TIMESTAMP = re.compile(
    r"(\d{4})-?(\d{2})-?(\d{2})"
    r"(?:[Tt ](\d{2}):?(\d{2}):?(\d{2})(?:[.,](\d{1,9}))?([Zz]|[+-]\d{2}:?\d{2})?)?"
)
#: Years a ClickBank time may have; others are refused as garbage.
MIN_YEAR, MAX_YEAR = 1970, 2999
_INTEGER = re.compile(r"[+-]?\d{1,18}")


def _normalize_space(text: str) -> str:
    """Return ``text`` with runs of whitespace collapsed to one space, stripped."""
    return " ".join(text.split())


@dataclass(frozen=True, slots=True)
class Address:
    """A postal address; any part may be empty."""

    address1: str = ""
    address2: str = ""
    city: str = ""
    county: str = ""
    state: str = ""
    postal_code: str = ""
    country: str = ""


@dataclass(frozen=True, slots=True)
class Contact:
    """A shipping or billing contact, in the case ClickBank sent it."""

    first_name: str = ""
    last_name: str = ""
    full_name: str = ""
    phone_number: str = ""
    email: str = ""
    address: Address = field(default_factory=Address)

    @property
    def display_name(self) -> str:
        """Return ``fullName``, else "first last", whitespace-normalized; or ""."""
        return _normalize_space(self.full_name) or _normalize_space(
            f"{self.first_name} {self.last_name}"
        )


@dataclass(frozen=True, slots=True)
class Customer:
    """The buyer: a shipping and a billing contact, either possibly empty."""

    shipping: Contact = field(default_factory=Contact)
    billing: Contact = field(default_factory=Contact)

    @property
    def email(self) -> str:
        """Return the billing email, else the shipping email, lower-cased; or ""."""
        return (self.billing.email.strip() or self.shipping.email.strip()).lower()

    @property
    def full_name(self) -> str:
        """Return the billing name, else the shipping name; or ""."""
        return self.billing.display_name or self.shipping.display_name


@dataclass(frozen=True, slots=True)
class PaymentPlan:
    """The rebill schedule of a recurring line item."""

    rebill_status: str = ""
    rebill_frequency: str = ""
    rebill_amount: Decimal | None = None
    payments_processed: int | None = None
    payments_remaining: int | None = None
    next_payment_date: datetime | None = None


@dataclass(frozen=True, slots=True)
class LineItem:
    """One product of an order: the original item, a cart item, a bump, etc."""

    item_no: str = ""
    product_title: str = ""
    shippable: bool = False
    recurring: bool = False
    account_amount: Decimal | None = None
    quantity: int | None = None
    download_url: str = ""
    line_item_type: str = ""
    payment_plan: PaymentPlan | None = None


@dataclass(frozen=True, slots=True)
class Notification:
    """One decrypted ClickBank notification (INS v6 or later).

    ``payload`` is the full decrypted JSON object, unknown fields included, with
    plain JSON types (floats, not Decimals) so it can be stored or re-serialised.
    """

    transaction_time: datetime
    receipt: str
    transaction_type: str
    vendor: str = ""
    affiliate: str = ""
    role: str = ""
    total_account_amount: Decimal | None = None
    payment_method: str = ""
    total_order_amount: Decimal | None = None
    total_tax_amount: Decimal | None = None
    total_shipping_amount: Decimal | None = None
    currency: str = ""
    order_language: str = ""
    tracking_codes: tuple[str, ...] = ()
    line_items: tuple[LineItem, ...] = ()
    # Customer data and free-form blocks stay out of repr(), so out of logs.
    customer: Customer = field(default_factory=Customer, repr=False)
    upsell: dict[str, Any] = field(default_factory=dict, hash=False, repr=False)
    hopfeed: dict[str, Any] = field(default_factory=dict, hash=False, repr=False)
    vendor_variables: dict[str, Any] = field(
        default_factory=dict, hash=False, repr=False
    )
    version: Decimal | None = None
    attempt_count: int | None = None
    payload: dict[str, Any] = field(default_factory=dict, hash=False, repr=False)

    @property
    def original_receipt(self) -> str:
        """Return the receipt of the first sale: ``ABCD1234`` for ``ABCD1234-B002``."""
        match = _REBILL_RECEIPT.fullmatch(self.receipt)
        return match["original"] if match else self.receipt

    @property
    def is_test(self) -> bool:
        """Return True for the settings-page test and for test-card transactions."""
        kind = self.transaction_type
        return (
            kind == "TEST"
            or self.receipt == TEST_RECEIPT
            or kind.startswith("TEST_")
            or "-TEST-" in kind
        )

    @property
    def item_numbers(self) -> tuple[str, ...]:
        """Return the ``itemNo`` of every line item, in order."""
        return tuple(line_item.item_no for line_item in self.line_items)


def parse(payload: dict[str, Any]) -> Notification:
    """Return a Notification for a decrypted notification object.

    Missing, empty or null optional fields become "", None, () or {}; unknown
    fields stay in ``payload``. Raises POSTVerificationFailedError without a
    ``receipt``, a ``transactionType`` or a valid zone-aware ``transactionTime``,
    and for a field of the wrong type (e.g. ``lineItems`` that is not a list).
    """
    if not isinstance(payload, dict):
        raise POSTVerificationFailedError("wrong shape: payload")
    receipt = _text(payload, "receipt")
    transaction_type = _text(payload, "transactionType").upper()
    if not receipt or not transaction_type:
        raise POSTVerificationFailedError("missing receipt or transactionType")
    customer = _typed(payload, "customer", dict)
    codes = _typed(payload, "trackingCodes", list)
    return Notification(
        transaction_time=parse_transaction_time(payload.get("transactionTime")),
        receipt=receipt,
        transaction_type=transaction_type,
        vendor=_text(payload, "vendor"),
        affiliate=_text(payload, "affiliate"),
        role=_text(payload, "role").upper(),
        total_account_amount=_amount(payload, "totalAccountAmount"),
        payment_method=_text(payload, "paymentMethod"),
        total_order_amount=_amount(payload, "totalOrderAmount"),
        total_tax_amount=_amount(payload, "totalTaxAmount"),
        total_shipping_amount=_amount(payload, "totalShippingAmount"),
        currency=_text(payload, "currency"),
        order_language=_text(payload, "orderLanguage").upper(),
        tracking_codes=tuple(c.strip() for c in codes if isinstance(c, str) and c),
        line_items=tuple(map(_line_item, _typed(payload, "lineItems", list))),
        customer=Customer(
            shipping=_contact(customer, "shipping"),
            billing=_contact(customer, "billing"),
        ),
        upsell=_typed(payload, "upsell", dict),
        hopfeed=_typed(payload, "hopfeed", dict),
        vendor_variables=_typed(payload, "vendorVariables", dict),
        version=_amount(payload, "version"),
        attempt_count=_integer(payload, "attemptCount"),
        payload=payload,
    )


def parse_transaction_time(value: str) -> datetime:
    """Return the timezone-aware datetime of a ClickBank ``transactionTime``.

    Accepts RFC 3339 (``2016-06-05T13:47:51-06:00``, ``Z``, fractional seconds)
    and the basic form (``20220810T162015-0700``, ``Z``, ``+0530``). Raises
    POSTVerificationFailedError for anything else, including times without a zone.
    """
    parsed = _match_time(value, allow_date=False)
    if parsed is None:
        raise POSTVerificationFailedError("missing or invalid transactionTime")
    return parsed


def _match_time(value: Any, allow_date: bool) -> datetime | None:
    """Return ``value`` as an aware datetime (a date as UTC midnight), or None."""
    match = _TIMESTAMP.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    if hour is None and allow_date:
        hour, minute, second, zone = "0", "0", "0", "Z"
    if zone is None:  # naive: never guess the vendor's time zone
        return None
    if zone.upper() == "Z":
        tzinfo = UTC
    else:
        hours, minutes = int(zone[1:3]), int(zone[-2:])
        if hours > 23 or minutes > 59:
            return None
        sign = -1 if zone[0] == "-" else 1
        tzinfo = timezone(sign * timedelta(hours=hours, minutes=minutes))
    microsecond = int((fraction or "0")[:6].ljust(6, "0"))
    parts = map(int, (year, month, day, hour, minute, second))
    try:
        moment = datetime(*parts, microsecond, tzinfo=tzinfo)
    except ValueError:
        return None
    # Far-off years overflow date arithmetic (UTC conversion, + grace days).
    return moment if MIN_YEAR <= moment.year <= MAX_YEAR else None


def _text(data: dict[str, Any], key: str) -> str:
    """Return ``data[key]`` stripped; "" for missing or null; an integer as digits."""
    value = data.get(key)
    if value is None or isinstance(value, str):
        return (value or "").strip()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise POSTVerificationFailedError(f"wrong shape: {key}")


def _amount(data: dict[str, Any], key: str) -> Decimal | None:
    """Return ``data[key]`` as an exact Decimal (2.99 → Decimal('2.99')), or None."""
    value = data.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise POSTVerificationFailedError(f"wrong shape: {key}")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        amount = Decimal("NaN")  # rejected below, outside the except block
    if not amount.is_finite():
        raise POSTVerificationFailedError(f"wrong shape: {key}")
    return amount


def _integer(data: dict[str, Any], key: str) -> int | None:
    """Return ``data[key]`` as an int (1, 1.0 and "1" alike), or None."""
    value = data.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        return int(value)
    raise POSTVerificationFailedError(f"wrong shape: {key}")


def _flag(data: dict[str, Any], key: str) -> bool:
    """Return ``data[key]`` as a bool (true, "true"; missing or null is False)."""
    value = data.get(key)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", ""):
        return value.strip().lower() == "true"
    if value is None or isinstance(value, bool):
        return bool(value)
    raise POSTVerificationFailedError(f"wrong shape: {key}")


def _typed(data: dict[str, Any], key: str, kind: type) -> Any:
    """Return ``data[key]`` if it is a ``kind`` (dict or list); empty if null."""
    value = data.get(key)
    if value is None:
        return kind()
    if isinstance(value, kind):
        return value
    raise POSTVerificationFailedError(f"wrong shape: {key}")


def _contact(customer: dict[str, Any], key: str) -> Contact:
    """Return the Contact ``customer.shipping`` or ``customer.billing``."""
    data = _typed(customer, key, dict)
    address = _typed(data, "address", dict)
    return Contact(
        first_name=_text(data, "firstName"),
        last_name=_text(data, "lastName"),
        full_name=_text(data, "fullName"),
        phone_number=_text(data, "phoneNumber"),
        email=_text(data, "email"),
        address=Address(
            address1=_text(address, "address1"),
            address2=_text(address, "address2"),
            city=_text(address, "city"),
            county=_text(address, "county"),
            state=_text(address, "state"),
            postal_code=_text(address, "postalCode"),
            country=_text(address, "country"),
        ),
    )


def _line_item(data: Any) -> LineItem:
    """Return the LineItem of one ``lineItems`` entry."""
    if not isinstance(data, dict):
        raise POSTVerificationFailedError("wrong shape: lineItems")
    plan = _typed(data, "paymentPlan", dict)
    return LineItem(
        item_no=_text(data, "itemNo"),
        product_title=_text(data, "productTitle"),
        shippable=_flag(data, "shippable"),
        recurring=_flag(data, "recurring"),
        account_amount=_amount(data, "accountAmount"),
        quantity=_integer(data, "quantity"),
        download_url=_text(data, "downloadUrl"),
        line_item_type=_text(data, "lineItemType").upper(),
        payment_plan=_payment_plan(plan) if plan else None,
    )


def _payment_plan(data: dict[str, Any]) -> PaymentPlan:
    """Return the PaymentPlan of a recurring line item; a bad date becomes None."""
    return PaymentPlan(
        rebill_status=_text(data, "rebillStatus"),
        rebill_frequency=_text(data, "rebillFrequency"),
        rebill_amount=_amount(data, "rebillAmount"),
        payments_processed=_integer(data, "paymentsProcessed"),
        payments_remaining=_integer(data, "paymentsRemaining"),
        next_payment_date=_match_time(data.get("nextPaymentDate"), allow_date=True),
    )
