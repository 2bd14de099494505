"""Parse a decrypted notification object into a :class:`Notification`.

Lenient with what real traffic omits (empty or missing optional fields), strict
with what would make the notification meaningless (no receipt, type or time).
"""

import re
from dataclasses import fields
from datetime import UTC
from datetime import date
from datetime import datetime
from decimal import Decimal
from decimal import InvalidOperation
from itertools import chain
from typing import Any

from niteoweb.clickbank.errors import POSTVerificationFailedError
from niteoweb.clickbank.ins.model import Address
from niteoweb.clickbank.ins.model import Contact
from niteoweb.clickbank.ins.model import Customer
from niteoweb.clickbank.ins.model import LineItem
from niteoweb.clickbank.ins.model import Notification
from niteoweb.clickbank.ins.model import PaymentPlan

#: Deepest JSON nesting accepted in a notification (real ones have about 4).
MAX_DEPTH = 32
_INTEGER = re.compile(r"[+-]?\d{1,18}")


def parse(payload: dict[str, Any]) -> Notification:
    """Return the Notification of a decrypted notification object.

    Missing, empty or null optional fields become "", None, () or {}; unknown
    fields stay in ``payload``.

    :param payload: the decrypted JSON object.
    :raises POSTVerificationFailedError: without a ``receipt``, a
        ``transactionType`` or a valid zone-aware ``transactionTime``, for a
        field of the wrong type (e.g. ``lineItems`` that is not a list) and for
        an object nested deeper than :data:`MAX_DEPTH`.
    """
    if not isinstance(payload, dict):
        raise POSTVerificationFailedError("wrong shape: payload")
    if _nested_deeper(payload, MAX_DEPTH):
        # A very deep object cannot even be stored (pickle recursion).
        raise POSTVerificationFailedError("plaintext is nested too deeply")
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

    :param value: ISO 8601 with a zone, as :meth:`datetime.fromisoformat`
        reads it: RFC 3339 (``2016-06-05T13:47:51-06:00``, ``Z``, fractional
        seconds) and the basic form (``20220810T162015-0700``).
    :raises POSTVerificationFailedError: for anything else, times without a
        zone and years outside 1970-2999 included.
    """
    moment = _moment(value)
    if moment is None:
        raise POSTVerificationFailedError("missing or invalid transactionTime")
    return moment


def _moment(value: Any, allow_date: bool = False) -> datetime | None:
    """Return ``value`` as an aware datetime (a date alone as UTC midnight), or None.

    A time without a zone is None: never guess the vendor's time zone.
    """
    if not isinstance(value, str):
        return None
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None and allow_date:
            date.fromisoformat(text)  # raises unless ``text`` is a date alone
            moment = moment.replace(tzinfo=UTC)
    except ValueError:
        return None
    # Far-off years overflow date arithmetic (UTC conversion, + grace days).
    if moment.tzinfo is None or not 1970 <= moment.year <= 2999:
        return None
    return moment


def _nested_deeper(payload: dict[str, Any], limit: int) -> bool:
    """Whether JSON object ``payload`` nests more than ``limit`` containers deep."""
    level = [payload]
    for _ in range(limit):
        children = chain.from_iterable(
            value.values() if isinstance(value, dict) else value for value in level
        )
        level = [child for child in children if isinstance(child, dict | list)]
        if not level:
            return False
    return True


def _text(data: dict[str, Any], key: str) -> str:
    """Return ``data[key]`` stripped; "" for missing or null; an integer as digits."""
    value = data.get(key)
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise POSTVerificationFailedError(f"wrong shape: {key}")


def _amount(data: dict[str, Any], key: str) -> Decimal | None:
    """Return ``data[key]`` as an exact Decimal (2.99 → Decimal('2.99')), or None.

    str() of a float is its shortest repr, so the Decimal has the digits sent.
    """
    value = data.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise POSTVerificationFailedError(f"wrong shape: {key}")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        amount = None  # refused below, outside the except block
    if amount is None or not amount.is_finite():
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
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", ""):
        return value.strip().lower() == "true"
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
    address = Address(**_texts(_typed(data, "address", dict), Address))
    return Contact(**_texts(data, Contact), address=address)


def _texts(data: dict[str, Any], kind: type) -> dict[str, str]:
    """Return the str fields of dataclass ``kind``, each read from its camelCase key."""
    return {
        field.name: _text(
            data, re.sub("_(.)", lambda hump: hump[1].upper(), field.name)
        )
        for field in fields(kind)
        if field.type is str
    }


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
        next_payment_date=_moment(data.get("nextPaymentDate"), allow_date=True),
    )
