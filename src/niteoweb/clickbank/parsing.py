"""Parse a decrypted notification object into a :class:`Notification`.

Lenient with what real traffic omits (empty or missing optional fields), strict
with what would make the notification meaningless (no receipt, type or time).
Pure Python, no Plone.
"""

from __future__ import annotations

import re
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from datetime import timezone
from decimal import Decimal
from decimal import InvalidOperation
from typing import Any

from niteoweb.clickbank.errors import POSTVerificationFailedError
from niteoweb.clickbank.notification import Address
from niteoweb.clickbank.notification import Contact
from niteoweb.clickbank.notification import Customer
from niteoweb.clickbank.notification import LineItem
from niteoweb.clickbank.notification import Notification
from niteoweb.clickbank.notification import PaymentPlan

# RFC 3339 (2016-06-05T13:47:51-06:00) and basic ISO 8601 (20220810T162015-0700).
_TIMESTAMP = re.compile(
    r"(\d{4})-?(\d{2})-?(\d{2})"
    r"(?:[Tt ](\d{2}):?(\d{2}):?(\d{2})(?:[.,](\d{1,9}))?([Zz]|[+-]\d{2}:?\d{2})?)?"
)
# The RFC 3339 shape ClickBank sends, every field in range (ASCII digits, hours
# to 23, minutes and seconds to 59, one to six fraction digits). Such a string
# means the same to datetime.fromisoformat as to _TIMESTAMP (or both refuse it,
# e.g. February 30th), at a sixth of the cost. fromisoformat alone would also
# take week dates, "+05" or "+12:60" zones, naive times, any separator and, in
# later Pythons, "24:00".
_RFC3339 = re.compile(
    r"\d{4}-\d\d-\d\d[T ](?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d{1,6})?"
    r"(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)",
    re.ASCII,
)
#: Years a ClickBank time may have; others are refused as garbage.
MIN_YEAR, MAX_YEAR = 1970, 2999
_INTEGER = re.compile(r"[+-]?\d{1,18}")


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
    """Return ``value`` as an aware datetime (a date as UTC midnight), or None.

    Runs once per notification and once per recurring line item, so the usual
    RFC 3339 shape goes to the C parser; anything else (the basic form, dates,
    lower-case t or z, surrounding white space, February 30th) goes on to
    :func:`_match_any_time`, which gives the same result for the usual shape too.
    """
    if type(value) is str and _RFC3339.fullmatch(value):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:  # e.g. February 30th: the regex path says None too
            pass
        else:
            return moment if MIN_YEAR <= moment.year <= MAX_YEAR else None
    return _match_any_time(value, allow_date)


def _match_any_time(value: Any, allow_date: bool) -> datetime | None:
    """Return ``value`` as an aware datetime (a date as UTC midnight), or None.

    Every form parse accepts: RFC 3339, the basic form, dates (if
    ``allow_date``), lower-case separators and surrounding white space.
    """
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
    if type(value) is str:  # the usual case: one check, not three
        return value.strip()
    if value is None or isinstance(value, str):
        return (value or "").strip()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise POSTVerificationFailedError(f"wrong shape: {key}")


def _amount(data: dict[str, Any], key: str) -> Decimal | None:
    """Return ``data[key]`` as an exact Decimal (2.99 → Decimal('2.99')), or None.

    str() of a float is its shortest repr, so the Decimal has the digits sent.
    """
    value = data.get(key)
    if type(value) is float:  # what JSON amounts are: skip the checks for others
        amount = Decimal(str(value))
    elif value is None or value == "":
        return None
    elif isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise POSTVerificationFailedError(f"wrong shape: {key}")
    else:
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
    if type(value) is int:  # the usual case: one check
        return value
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
    if type(value) is bool:  # the usual case: one check
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false", ""):
        return value.strip().lower() == "true"
    if value is None or isinstance(value, bool):
        return bool(value)
    raise POSTVerificationFailedError(f"wrong shape: {key}")


def _typed(data: dict[str, Any], key: str, kind: type) -> Any:
    """Return ``data[key]`` if it is a ``kind`` (dict or list); empty if null."""
    value = data.get(key)
    if type(value) is kind:  # the usual case: one check
        return value
    if value is None:
        return kind()
    if isinstance(value, kind):
        return value
    raise POSTVerificationFailedError(f"wrong shape: {key}")


# The records below take their fields positionally, in declaration order (each
# JSON key names its field): keyword arguments would cost ~0.3 us more per record,
# and there are two records per line item.


def _contact(customer: dict[str, Any], key: str) -> Contact:
    """Return the Contact ``customer.shipping`` or ``customer.billing``."""
    data = _typed(customer, key, dict)
    address = _typed(data, "address", dict)
    return Contact(
        _text(data, "firstName"),
        _text(data, "lastName"),
        _text(data, "fullName"),
        _text(data, "phoneNumber"),
        _text(data, "email"),
        Address(
            _text(address, "address1"),
            _text(address, "address2"),
            _text(address, "city"),
            _text(address, "county"),
            _text(address, "state"),
            _text(address, "postalCode"),
            _text(address, "country"),
        ),
    )


def _line_item(data: Any) -> LineItem:
    """Return the LineItem of one ``lineItems`` entry."""
    if not isinstance(data, dict):
        raise POSTVerificationFailedError("wrong shape: lineItems")
    plan = _typed(data, "paymentPlan", dict)
    return LineItem(
        _text(data, "itemNo"),
        _text(data, "productTitle"),
        _flag(data, "shippable"),
        _flag(data, "recurring"),
        _amount(data, "accountAmount"),
        _integer(data, "quantity"),
        _text(data, "downloadUrl"),
        _text(data, "lineItemType").upper(),
        _payment_plan(plan) if plan else None,
    )


def _payment_plan(data: dict[str, Any]) -> PaymentPlan:
    """Return the PaymentPlan of a recurring line item; a bad date becomes None."""
    return PaymentPlan(
        _text(data, "rebillStatus"),
        _text(data, "rebillFrequency"),
        _amount(data, "rebillAmount"),
        _integer(data, "paymentsProcessed"),
        _integer(data, "paymentsRemaining"),
        _match_time(data.get("nextPaymentDate"), allow_date=True),
    )
