"""A ClickBank notification: the typed, immutable model that ``parse`` builds."""

import re
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from decimal import Decimal
from typing import Any

TEST_RECEIPT = "********"
"""The receipt of the notification ClickBank's "Test" button sends."""

# Rebills carry the original receipt plus "-B" and a counter: ABCD1234-B002.
_REBILL_RECEIPT = re.compile(r"(?P<original>.+)-B\d+")


def original_receipt(receipt: str) -> str:
    """Return the receipt of the first sale: ``ABCD1234`` for ``ABCD1234-B002``."""
    match = _REBILL_RECEIPT.fullmatch(receipt)
    return match["original"] if match else receipt


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
        return " ".join(self.full_name.split()) or " ".join(
            f"{self.first_name} {self.last_name}".split()
        )


@dataclass(frozen=True, slots=True)
class Customer:
    """The buyer: a shipping and a billing contact, either possibly empty."""

    shipping: Contact = field(default_factory=Contact)
    billing: Contact = field(default_factory=Contact)

    @property
    def email(self) -> str:
        """Return the billing, else the shipping email, stripped and lower-cased."""
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
        return original_receipt(self.receipt)

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
