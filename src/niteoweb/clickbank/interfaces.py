"""The browser layer and the settings schema, ``IClickBankSettings``."""

from zope import schema
from zope.publisher.interfaces.browser import IDefaultBrowserLayer

from niteoweb.clickbank import _
from niteoweb.clickbank.mail.texts import IClickBankMailSettings
from niteoweb.clickbank.products import parse_product_lines

#: Prefix of every registry record of this add-on.
REGISTRY_PREFIX = "niteoweb.clickbank"


class IClickBankLayer(IDefaultBrowserLayer):
    """Browser layer, active while the add-on is installed."""


def _valid_products(lines) -> bool:
    parse_product_lines(lines)  # raises Invalid with a message for the admin
    return True


class IClickBankSettings(IClickBankMailSettings):
    """Settings of the ClickBank integration, stored in the Plone registry."""

    secret_key = schema.Password(
        title=_("Secret key"),
        description=_(
            "The secret key set in your ClickBank account under Vendor Settings → "
            "My Site → Advanced Tools. Up to 16 upper-case letters and digits. "
            "It is never shown again: leave the field empty to keep the current key."
        ),
        required=False,
    )

    previous_secret_key = schema.Password(
        title=_("Previous secret key"),
        description=_(
            "While you change the key in ClickBank, notifications encrypted with the "
            "old key keep being accepted if you put it here. Like the secret key it "
            "is never shown; when the rotation is done, remove it with the button "
            "'Forget previous secret key'."
        ),
        required=False,
    )

    vendors = schema.List(
        title=_("Vendor nicknames"),
        description=_(
            "One ClickBank account nickname per line. Notifications for other "
            "vendors are logged and ignored. Leave empty to accept any vendor."
        ),
        value_type=schema.TextLine(),
        required=False,
        default=[],
        missing_value=[],
    )

    member_role = schema.Choice(
        title=_("Role given to buyers"),
        description=_(
            "Buyers hold this role while they have at least one paid product. "
            "Roles that can manage the site are never offered."
        ),
        vocabulary="niteoweb.clickbank.GrantableRoles",
        default="Member",
        required=True,
    )

    products = schema.List(
        title=_("Products"),
        description=_(
            "One ClickBank product per line: item number | groups (comma "
            "separated) | access days for one-off products | billing period days "
            "for recurring products. Example: 'premium | Premium Members | | 30'. "
            "Empty parts are allowed; only the item number is required."
        ),
        value_type=schema.TextLine(),
        constraint=_valid_products,
        required=False,
        default=[],
        missing_value=[],
    )

    process_test_transactions = schema.Bool(
        title=_("Process test transactions"),
        description=_(
            "Act on purchases made with a ClickBank test credit card (TEST_SALE, "
            "TEST_BILL, …) as if they were real. Off on a production site: test "
            "transactions are then only logged."
        ),
        default=False,
        required=False,
    )

    grace_days = schema.Int(
        title=_("Grace days"),
        description=_(
            "Days of access kept after a subscription's paid period ends, to "
            "allow for late rebills."
        ),
        default=3,
        min=0,
        max=365,
        required=True,
    )

    log_retention_days = schema.Int(
        title=_("Keep customer data in the log for (days)"),
        description=_(
            "Decrypted notifications older than this are blanked by the expiry "
            "sweep; receipt, type, outcome, time and the buyer's email (for the "
            "member's history) are kept."
        ),
        default=365,
        min=1,
        required=True,
    )
