"""``clickbank-notify``: send a notification encrypted the way ClickBank does.

A development and test tool, without Plone, that never talks to ClickBank: it
builds an INS v6 notification (or reads one from a JSON file), encrypts it and
POSTs it to a ``@@clickbank`` URL, or prints the envelope (docs/simulator.rst).
"""

import argparse
import json
import os
import string
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from secrets import choice
from typing import Any

from niteoweb.clickbank.errors import POSTVerificationFailedError
from niteoweb.clickbank.ins.crypto import encrypt
from niteoweb.clickbank.ins.parse import parse_transaction_time

KEY_VARIABLE = "CLICKBANK_SECRET_KEY"
"""Environment variable read when ``--secret`` is not given."""

_SCHEMES = ("http", "https")  # the only URLs post() ever opens
# The options that are not parameters of build_notification.
_SENDING = ("url", "secret", "json", "print_payload", "timeout")
_RECEIPT_ALPHABET = string.ascii_uppercase + string.digits


def build_notification(
    *,
    transaction_type: str = "SALE",
    receipt: str | None = None,
    vendor: str = "testvendor",
    affiliate: str = "",
    role: str = "VENDOR",
    language: str = "EN",
    email: str = "buyer@example.com",
    first_name: str = "TEST",
    last_name: str = "GUY",
    items: Sequence[str] = ("1",),
    transaction_time: datetime | str | None = None,
    recurring: bool = False,
    next_payment_date: datetime | str | None = None,
    amount: float = 5.0,
    attempt_count: int = 1,
) -> dict[str, Any]:
    """Return a plaintext INS v6 notification shaped like ClickBank's sample.

    The first of ``items`` is the ``ORIGINAL`` line item, further ones are
    ``BUMP`` items, each costing ``amount``. ``recurring`` gives every item a
    monthly payment plan whose next payment is ``next_payment_date`` (default:
    30 days after the transaction time, which must then be valid). Times are
    RFC 3339 strings; a string is sent as given, so malformed values can be
    tested too. ``receipt`` defaults to 8 random upper-case letters and digits,
    like ClickBank's; ``transaction_time`` to now.
    """
    when = transaction_time or datetime.now(UTC).replace(microsecond=0)
    if recurring and next_payment_date is None:
        start = when if isinstance(when, datetime) else parse_transaction_time(when)
        next_payment_date = start + timedelta(days=30)
    line_items = []
    for index, item_no in enumerate(items):
        line_item = {
            "itemNo": str(item_no),
            "productTitle": f"Product {item_no}",
            "shippable": False,
            "recurring": recurring,
            "accountAmount": amount,
            "quantity": 1,
            "downloadUrl": f"https://{vendor}.example.com/download/{item_no}",
            "lineItemType": "BUMP" if index else "ORIGINAL",
        }
        if recurring:
            line_item["paymentPlan"] = {
                "rebillStatus": "ACTIVE",
                "rebillFrequency": "MONTHLY",
                "rebillAmount": amount,
                "paymentsProcessed": 1,
                "paymentsRemaining": 11,
                "nextPaymentDate": _time_text(next_payment_date),
            }
        line_items.append(line_item)
    total = round(amount * len(line_items), 2)
    contact = {
        "firstName": first_name,
        "lastName": last_name,
        "fullName": f"{first_name} {last_name}".strip(),
        "phoneNumber": "",
        "email": email,
    }
    return {
        "transactionTime": _time_text(when),
        "receipt": receipt or "".join(choice(_RECEIPT_ALPHABET) for _ in range(8)),
        "transactionType": transaction_type,
        "vendor": vendor,
        "affiliate": affiliate,
        "role": role,
        "totalAccountAmount": total,
        "paymentMethod": "TEST" if "TEST" in transaction_type.upper() else "VISA",
        "totalOrderAmount": total,
        "totalTaxAmount": 0.0,
        "totalShippingAmount": 0.0,
        "currency": "USD",
        "orderLanguage": language,
        "trackingCodes": [],
        "lineItems": line_items,
        "customer": {
            "shipping": {
                **contact,
                "address": {
                    "address1": "12 Test Lane",
                    "address2": "Suite 100",
                    "city": "LAS VEGAS",
                    "county": "LAS VEGAS",
                    "state": "NV",
                    "postalCode": "89101",
                    "country": "US",
                },
            },
            # Billing addresses usually carry only these three parts.
            "billing": {
                **contact,
                "address": {"state": "NV", "postalCode": "89101", "country": "US"},
            },
        },
        "upsell": {},
        "hopfeed": {},
        "version": 6.0,
        "attemptCount": attempt_count,
        "vendorVariables": {},
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``clickbank-notify`` with ``argv``; return the exit code.

    0 when the envelope was printed or the POST got a 2xx answer, 1 for any
    other answer or no answer at all, 2 for a usage error.
    """
    parser = _parser()
    try:
        args = parser.parse_args(argv)
        if not args.secret:
            parser.error(f"a secret key is required: --secret or ${KEY_VARIABLE}")
        if args.url and urllib.parse.urlsplit(args.url).scheme not in _SCHEMES:
            parser.error("--url must be an http:// or https:// URL")
    except SystemExit as stop:  # argparse exits on --help and usage errors
        return stop.code
    payload = args.json
    if payload is None:
        given = {key: value for key, value in vars(args).items() if key not in _SENDING}
        payload = build_notification(**given)
    envelope = encrypt(payload, args.secret)
    if args.print_payload:
        print(json.dumps(payload, indent=2, ensure_ascii=False), file=sys.stderr)
    if not args.url:
        print(envelope.decode("utf-8"))
        return 0
    try:
        status, text = post(args.url, envelope, timeout=args.timeout)
    except OSError as error:
        print(f"clickbank-notify: no answer from {args.url}: {error}", file=sys.stderr)
        return 1
    print(f"HTTP {status}")
    if text:
        print(text)
    return 0 if 200 <= status < 300 else 1


def post(url: str, body: bytes, timeout: float = 10.0) -> tuple[int, str]:
    """POST ``body`` as JSON to ``url``; return the HTTP status and response text.

    Redirects are not followed: only a 2xx answer counts as delivered for
    ClickBank, so a redirect (e.g. to a login form) shows up as its 3xx.

    :raises ValueError: for a URL that is not http(s).
    :raises OSError: when nothing answers.
    """
    if urllib.parse.urlsplit(url).scheme not in _SCHEMES:
        raise ValueError(f"Not an http(s) URL: {url!r}")
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read().decode("utf-8", "replace")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Turn every redirect into an HTTPError carrying the 3xx status."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        """Refuse to follow the redirect."""
        return None


def _time_text(value: datetime | str) -> str:
    """Return an RFC 3339 string for ``value``; a string is returned unchanged."""
    return value if isinstance(value, str) else value.isoformat(timespec="seconds")


def _parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``clickbank-notify``."""
    parser = argparse.ArgumentParser(
        prog="clickbank-notify",
        description="Send (or print) a notification encrypted like ClickBank's. "
        f"The secret key defaults to ${KEY_VARIABLE}.",
        # Options not given are left out, so build_notification's defaults apply.
        argument_default=argparse.SUPPRESS,
    )
    parser.set_defaults(url=None, json=None, print_payload=False)
    add = parser.add_argument
    add("--url", help="POST here (e.g. .../Plone/@@clickbank); else print it")
    add("--secret", default=os.environ.get(KEY_VARIABLE), help="secret key")
    add("--type", dest="transaction_type", type=str.upper, metavar="TYPE")
    add("--email", help="buyer email")
    add("--first-name", help="buyer first name")
    add("--last-name", help="buyer last name")
    add("--item", dest="items", action="append", metavar="ITEM_NO", help="repeatable")
    add("--receipt", help="receipt (default: 8 random characters)")
    add("--vendor", help="vendor nickname")
    add("--role", type=str.upper, help="VENDOR, AFFILIATE, ...")
    add("--language", type=str.upper, help="order language")
    add("--affiliate", help="affiliate nickname")
    add("--time", dest="transaction_time", type=_zoned_time, metavar="TIME")
    add("--recurring", action="store_true", help="make the items subscriptions")
    add("--next-payment-date", metavar="TIME", help="with --recurring (30 days on)")
    add("--json", type=_json_object, metavar="FILE", help="send this ('-': stdin)")
    add("--print-payload", action="store_true", help="print the plaintext to stderr")
    add("--timeout", type=float, default=10.0, help="seconds to wait for an answer")
    return parser


def _zoned_time(text: str) -> str:
    """Return ``text`` if it is a time with a zone: the type of ``--time``."""
    try:
        parse_transaction_time(text)
    except POSTVerificationFailedError:
        raise argparse.ArgumentTypeError("needs a time zone, e.g. +00:00") from None
    return text


def _json_object(name: str) -> dict[str, Any]:
    """Return the JSON object in file ``name`` ('-': stdin): the type of ``--json``."""
    try:
        if name == "-":
            payload = json.load(sys.stdin)
        else:
            with open(name, encoding="utf-8") as stream:
                payload = json.load(stream)
    except (OSError, ValueError) as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    if not isinstance(payload, dict):
        raise argparse.ArgumentTypeError("not a JSON object")
    return payload


if __name__ == "__main__":
    sys.exit(main())
