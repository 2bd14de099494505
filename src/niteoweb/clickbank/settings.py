"""The settings read from the registry, and the roles and groups buyers may get."""

from dataclasses import dataclass
from dataclasses import field

from AccessControl.PermissionRole import rolesForPermissionOn
from plone import api
from plone.registry.interfaces import IRegistry
from zope.component import getUtility
from zope.interface import Invalid

from niteoweb.clickbank import _
from niteoweb.clickbank.interfaces import REGISTRY_PREFIX
from niteoweb.clickbank.interfaces import IClickBankSettings
from niteoweb.clickbank.products import ProductRule
from niteoweb.clickbank.products import SettingsInvalid
from niteoweb.clickbank.products import parse_product_lines
from niteoweb.clickbank.secretkeys import read_keys

#: Roles that manage the site or its content: never granted by a notification,
#: whatever the registry says.
FORBIDDEN_ROLES = frozenset(
    {
        "Manager",
        "Site Administrator",
        "Owner",
        "Editor",
        "Reviewer",
        "Contributor",
        "Reader",
        "Authenticated",
        "Anonymous",
    }
)

#: Groups that manage the site: never given to buyers, whatever a product says.
FORBIDDEN_GROUPS = frozenset(
    {"Administrators", "Site Administrators", "Reviewers", "AuthenticatedUsers"}
)

#: Permissions whose holders manage the site: a role holding one is never granted.
MANAGING_PERMISSIONS = (
    "Manage portal",
    "Manage users",
    "Plone Site Setup: Overview",
    "View management screens",
    "Modify portal content",
)


@dataclass(frozen=True)
class Settings:
    """A snapshot of the registry records, read once per notification.

    ``secret_keys`` are the keys in clear, newest first: not in the ``repr``, so
    that a logged snapshot does not show them.
    """

    secret_keys: tuple[str, ...] = field(default=(), repr=False)
    vendors: frozenset[str] = frozenset()
    member_role: str = "Member"
    products: dict[str, ProductRule] = field(default_factory=dict)
    process_test_transactions: bool = False
    grace_days: int = 3
    log_retention_days: int = 365

    def product(self, item_no: str) -> ProductRule:
        """Return the rule for ``item_no`` (an empty rule if it is not listed)."""
        return self.products.get(item_no) or ProductRule(item_no=item_no)

    @property
    def mapped_groups(self) -> frozenset[str]:
        """Every group some product gives: the groups this add-on manages."""
        return frozenset(g for rule in self.products.values() for g in rule.groups)


def record_name(field_name: str) -> str:
    """Full registry record name of a settings field, e.g. ``...secret_key``."""
    if field_name not in IClickBankSettings:
        raise KeyError(f"IClickBankSettings has no field {field_name!r}")
    return f"{REGISTRY_PREFIX}.{field_name}"


def get_settings() -> Settings:
    """Read the settings from the registry of the current site.

    The secret keys are those of the server configuration, else the registry's,
    opened (see :mod:`niteoweb.clickbank.secretkeys`).
    """
    records = getUtility(IRegistry).forInterface(
        IClickBankSettings, prefix=REGISTRY_PREFIX
    )
    try:
        products = parse_product_lines(records.products)
    except Invalid:
        # A bad record (set around the form) must not stop notifications.
        products = {}
    return Settings(
        secret_keys=tuple(key for _source, key in read_keys().values() if key),
        vendors=frozenset(
            v.strip().lower() for v in records.vendors or () if v.strip()
        ),
        member_role=records.member_role,
        products=products,
        process_test_transactions=bool(records.process_test_transactions),
        grace_days=records.grace_days,
        log_retention_days=records.log_retention_days,
    )


def is_grantable_role(role: str, portal=None) -> bool:
    """Whether a notification may give ``role``: never one that manages the site."""
    if not role or role in FORBIDDEN_ROLES:
        return False
    portal = portal if portal is not None else api.portal.get()
    if role not in portal.validRoles():
        return False
    # rolesForPermissionOn reads one permission; rolesOfPermission walks them all.
    return not any(
        role in rolesForPermissionOn(permission, portal)
        for permission in MANAGING_PERMISSIONS
    )


def is_grantable_group(group_id: str, member_role: str) -> bool:
    """Whether buyers may be put in ``group_id``: never a group that manages the site.

    A group is refused when it is one of Plone's managing groups or holds a global
    role beyond Member, Authenticated and the buyers' role. A group that does not
    exist yet is fine: it is created without roles.
    """
    if not group_id or group_id in FORBIDDEN_GROUPS:
        return False
    group = api.group.get(groupname=group_id)
    if group is None:
        return True
    return not set(group.getRoles()) - {"Member", "Authenticated", member_role}


def check_product_groups(products, member_role: str) -> list[str]:
    """Check the groups the product lines give; one rule for both control panels.

    :param products: [required] the product lines, already valid.
    :param member_role: [required] the role buyers get.
    :returns: the groups named that do not exist yet, sorted.
    :raises SettingsInvalid: when a group manages the site.
    """
    rules = parse_product_lines(products).values()
    wanted = sorted({group for rule in rules for group in rule.groups})
    managing = [g for g in wanted if not is_grantable_group(g, member_role)]
    if managing:
        raise SettingsInvalid(
            _(
                "These groups manage the site and are never given to buyers: "
                "${groups}.",
                mapping={"groups": ", ".join(managing)},
            )
        )
    return [g for g in wanted if api.group.get(groupname=g) is None]
