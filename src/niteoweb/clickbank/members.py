"""Plone members of buyers: find, create, update, grant and revoke, via plone.api.

Safety rule: a notification never changes an account that holds a role beyond
what this add-on gives (directly or through a group it does not manage); it is
reported as *protected*, and its entitlements are still recorded.
"""

import re
import secrets
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime

from plone import api

from niteoweb.clickbank import logger
from niteoweb.clickbank.errors import MemberCreationFailedError
from niteoweb.clickbank.errors import MemberUpdateFailedError
from niteoweb.clickbank.settings import Settings
from niteoweb.clickbank.settings import is_grantable_group
from niteoweb.clickbank.settings import is_grantable_role

#: Member data properties, with the names of the 2010 add-on.
PRODUCT_ID = "product_id"
AFFILIATE = "affiliate"
LAST_PURCHASE_ID = "last_purchase_id"
LAST_PURCHASE_TIMESTAMP = "last_purchase_timestamp"

_EMAIL = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]+$")
#: Roles every member has anyway; they never make an account protected.
_PLAIN_ROLES = frozenset({"Member", "Authenticated"})


def normalize_email(email: str | None) -> str:
    """The login name for an email address: trimmed and lower-cased."""
    return (email or "").strip().lower()


def is_valid_email(email: str) -> bool:
    """Whether Plone accepts ``email`` (normalized) as a member's address."""
    if not email or len(email) > 254 or not _EMAIL.match(email):
        return False
    return bool(api.portal.get_tool("portal_registration").isValidEmail(email))


def find(email: str):
    """Return the member whose login name is ``email``, or None."""
    login = normalize_email(email)
    user = api.portal.get_tool("acl_users").getUser(login) if login else None
    if user is None:
        return None
    # Wrap the user PAS found: a second lookup by id would cost as much again.
    return api.portal.get_tool("portal_membership").wrapUser(user)


def create(email: str, full_name: str, properties: dict | None = None):
    """Create a member with login ``email`` and a random, never-shown password
    (the buyer sets one through the welcome mail's link).

    :raises MemberCreationFailedError: not a valid email, or Plone refused it.
    """
    login = normalize_email(email)
    if not is_valid_email(login):
        raise MemberCreationFailedError("not a valid email address")
    props = {"fullname": full_name or login, **(properties or {})}
    try:
        return api.user.create(
            email=login,
            username=login,
            password=secrets.token_urlsafe(32),
            roles=(),
            properties=props,
        )
    except Exception as error:  # noqa: BLE001 - PAS raises many kinds
        raise MemberCreationFailedError(f"could not create member: {error}") from error


@dataclass(frozen=True)
class Standing:
    """What an account holds before a notification changes it."""

    roles: frozenset[str]  # global roles: its own and its groups' (nested too)
    groups: frozenset[str]  # ids of the groups the user belongs to


def standing(member) -> Standing:
    """The member's global roles and groups, as PAS computed them with the user
    (roles of its groups, nested ones included): nothing is looked up again."""
    user = member.getUser()
    return Standing(frozenset(user.getRoles()), frozenset(user.getGroups()))


def is_protected(member, settings: Settings, held: Standing | None = None) -> bool:
    """Whether the account holds roles a notification must never touch: any
    global role beyond Member, Authenticated and the buyers' role, its own or a
    group's (the groups the add-on manages hold none)."""
    held = held or standing(member)
    return bool(held.roles - _PLAIN_ROLES - {settings.member_role})


def purchase_properties(payment) -> dict[str, str]:
    """The member data that mirror a payment (the 2010 add-on's names).

    :param payment: a :class:`~niteoweb.clickbank.storage.orders.Payment`.
    """
    properties = {
        LAST_PURCHASE_ID: payment.receipt,
        LAST_PURCHASE_TIMESTAMP: payment.time,
    }
    if payment.item_no:
        properties[PRODUCT_ID] = payment.item_no
    if payment.affiliate:
        properties[AFFILIATE] = payment.affiliate
    return properties


def update_purchase(member, payment) -> bool:
    """Mirror a payment into member data, unless a newer one is there already.

    :param payment: a :class:`~niteoweb.clickbank.storage.orders.Payment`.
    :returns: whether anything changed.
    :raises MemberUpdateFailedError: Plone refused the data.
    """
    current = member.getProperty(LAST_PURCHASE_TIMESTAMP, "") or ""
    if current and _parse(current) >= payment.moment:
        return False
    try:
        member.setMemberProperties(mapping=purchase_properties(payment))
    except Exception as error:  # noqa: BLE001
        raise MemberUpdateFailedError(f"could not update member: {error}") from error
    return True


def _parse(value: str) -> datetime:
    """A stored timestamp; unreadable or naive ones (the 2010 add-on's) as UTC."""
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return datetime.min.replace(tzinfo=UTC)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def sync(
    member,
    settings: Settings,
    access: bool,
    groups: set[str],
    held: Standing | None = None,
) -> tuple[set, set]:
    """Make the member's role and managed groups match its entitlements.

    :param access: whether at least one entitlement grants access.
    :param groups: the mapped groups of the granting entitlements (groups not
        mapped to any product are never touched).
    :param held: the member's :func:`standing`, if read already.
    :returns: ``(added, removed)`` role and group names.
    """
    held = held or standing(member)
    role = settings.member_role
    added, removed = set(), set()
    change = (role not in held.roles) if access else (role in held.roles)
    # Whether the role may be given is asked only when it would change.
    if change and not is_grantable_role(role):
        logger.error(
            "The configured member role %r may manage the site; not granted.", role
        )
    elif change and access:
        api.user.grant_roles(user=member, roles=[role])
        added.add(f"role:{role}")
    elif change:
        api.user.revoke_roles(user=member, roles=[role])
        removed.add(f"role:{role}")
    wanted = set()
    for group_id in sorted(groups) if access else ():
        if is_grantable_group(group_id, role):
            wanted.add(group_id)
        else:
            logger.error("Group %r manages the site; it is not given.", group_id)
    for group_id in sorted(wanted - held.groups):
        if api.group.get(groupname=group_id) is None:
            logger.warning(
                "Group %r of a product does not exist; creating it.", group_id
            )
            api.group.create(groupname=group_id, title=group_id)
        api.group.add_user(groupname=group_id, user=member)
        added.add(f"group:{group_id}")
    removable = {
        g for g in settings.mapped_groups & held.groups if is_grantable_group(g, role)
    }
    for group_id in sorted(removable - wanted):
        api.group.remove_user(groupname=group_id, user=member)
        removed.add(f"group:{group_id}")
    return added, removed
