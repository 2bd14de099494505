"""Who buys what in the benchmark: emails, receipts and ClickBank notifications.

Shared by ``populate.py`` (run by zconsole inside the instance) and the runner,
so that a BILL finds the member its site was populated with. Notifications are
INS v6 dicts shaped like ClickBank's, encrypted with the add-on's public
``ins.encrypt``.
"""

import hashlib
from datetime import UTC
from datetime import datetime
from datetime import timedelta

from niteoweb.clickbank.ins.crypto import encrypt

SITES = ("small", "large")
SECRET_KEY = "BENCHSECRETKEY42"  # noqa: S105 - a throw-away instance's key
VENDOR = "benchvendor"
ITEM = "1"


def scatter(text: str) -> str:
    """Six hex digits that spread buyers over the BTrees as real names do.

    Sequential names would all land in the last bucket of every index and make
    concurrent requests conflict more than real buyers ever would.
    """
    return hashlib.sha1(text.encode()).hexdigest()[:6]  # noqa: S324 - not security


def member(index: int) -> tuple[str, str, str, str]:
    """Email, first and last name, receipt of populated member ``index``."""
    mark = scatter(f"member{index}")
    email = f"{mark}-{index:06d}@bench.example.com"
    return email, "Member", f"{mark}{index}", f"P{index:07d}"


def buyer(prefix: str, index: int) -> tuple[str, str, str, str]:
    """Email, first and last name, receipt of new buyer ``index`` of a series.

    ``prefix`` has two letters: receipts stay 8 characters long, like ClickBank's.
    """
    mark = scatter(f"{prefix}{index}")
    email = f"{mark}-{prefix.lower()}{index:06d}@bench.example.com"
    return email, "Buyer", mark + prefix, f"{prefix}{index:06d}"


def body(notification: dict) -> bytes:
    """The body ClickBank posts for ``notification``: encrypted, in its envelope."""
    return encrypt(notification, SECRET_KEY)


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def notification(kind: str, receipt: str, email: str, first_name: str,
                 last_name: str, when: datetime | None = None) -> dict:  # fmt: skip
    """An INS v6 notification: a monthly subscription of item ``ITEM``.

    Its next payment is years away: no expiry falls due during a run.
    """
    contact = {"firstName": first_name, "lastName": last_name, "phoneNumber": "",
               "fullName": f"{first_name} {last_name}", "email": email}  # fmt: skip
    address = {"state": "NV", "postalCode": "89101", "country": "US"}
    plan = {"rebillStatus": "ACTIVE", "rebillFrequency": "MONTHLY",
            "rebillAmount": 5.0, "paymentsProcessed": 1, "paymentsRemaining": 11,
            "nextPaymentDate": (now() + timedelta(days=2000)).isoformat()}  # fmt: skip
    item = {"itemNo": ITEM, "productTitle": f"Product {ITEM}", "shippable": False,
            "recurring": True, "accountAmount": 5.0, "quantity": 1,
            "downloadUrl": f"https://{VENDOR}.example.com/download/{ITEM}",
            "lineItemType": "ORIGINAL", "paymentPlan": plan}  # fmt: skip
    return {
        "transactionTime": (when or now()).isoformat(), "receipt": receipt,
        "transactionType": kind, "vendor": VENDOR, "affiliate": "benchaff",
        "role": "VENDOR", "totalAccountAmount": 5.0, "paymentMethod": "VISA",
        "totalOrderAmount": 5.0, "totalTaxAmount": 0.0, "totalShippingAmount": 0.0,
        "currency": "USD", "orderLanguage": "EN", "trackingCodes": [],
        "lineItems": [item],
        "customer": {
            "shipping": {**contact, "address": {**address, "city": "LAS VEGAS",
                                                "address1": "12 Test Lane"}},
            "billing": {**contact, "address": address},
        },
        "upsell": {}, "hopfeed": {}, "version": 6.0, "attemptCount": 1,
        "vendorVariables": {},
    }  # fmt: skip


def member_sale(index: int) -> dict:
    """The SALE, a day ago, that made populated member ``index``."""
    email, first_name, last_name, receipt = member(index)
    when = now() - timedelta(days=1)
    return notification("SALE", receipt, email, first_name, last_name, when)


def member_bill(index: int, number: int) -> dict:
    """Rebill ``number`` (2 for the first) of populated member ``index``."""
    email, first_name, last_name, receipt = member(index)
    return notification(
        "BILL", f"{receipt}-B{number:03d}", email, first_name, last_name
    )


def buyer_sale(prefix: str, index: int) -> dict:
    """The SALE to new buyer ``index`` of a series."""
    email, first_name, last_name, receipt = buyer(prefix, index)
    return notification("SALE", receipt, email, first_name, last_name)
