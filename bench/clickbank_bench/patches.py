"""Proposed fixes of what the profile shows, measured side by side with the code.

Each fix replaces one function of the add-on by a chooser that runs the fix
only while :func:`switched_on` is active (in ``@@clickbank-bench-patched`` and
patched sweeps) and the add-on's own code otherwise, so that both run in turns
in the same process. Nothing here is used by a real site: these are the
experiments behind the findings in ``docs/performance.rst``.
"""

import contextlib
import queue
import smtplib
import threading
from functools import lru_cache

import transaction
from AccessControl.PermissionRole import rolesForPermissionOn
from plone import api

from niteoweb.clickbank import logger
from niteoweb.clickbank import mail
from niteoweb.clickbank import members
from niteoweb.clickbank import settings as settings_module

_state = threading.local()
APPLIED: list[str] = []


def active() -> bool:
    return getattr(_state, "on", False)


@contextlib.contextmanager
def switched_on():
    """Run the fixes in this thread for the duration of the block."""
    _state.on = True
    try:
        yield
    finally:
        _state.on = False


def _dispatch(module, name: str, improved) -> None:
    original = getattr(module, name, None)
    if original is None or getattr(original, "bench_patch", False):
        return

    def chooser(*args, **kwargs):
        return (improved if active() else original)(*args, **kwargs)

    chooser.bench_patch = True
    chooser.__wrapped__ = original
    setattr(module, name, chooser)
    APPLIED.append(f"{module.__name__}.{name}")


def is_grantable_role(role: str, portal=None) -> bool:
    """Fix 1: the same test reading each permission's roles directly.

    ``rolesOfPermission`` walks every permission of the site five times per
    call; ``rolesForPermissionOn`` reads one attribute (acquired roles count
    too, which is stricter).
    """
    if not role or role in settings_module.FORBIDDEN_ROLES:
        return False
    portal = portal if portal is not None else api.portal.get()
    if role not in portal.validRoles():
        return False
    return not any(
        role in (rolesForPermissionOn(permission, portal) or ())
        for permission in settings_module.MANAGING_PERMISSIONS
    )


def find(email: str):
    """Fix 2: one PAS lookup instead of two (``getUser``, then ``api.user.get``)."""
    login = members.normalize_email(email)
    if not login:
        return None
    user = api.portal.get_tool("acl_users").getUser(login)
    if user is None:
        return None
    return api.portal.get_tool("portal_membership").wrapUser(user)


def set_password_url(member) -> tuple[str, int]:
    """Fix 3: the reset request without ``requestReset``'s side costs.

    ``requestReset`` looks the user up again, scans every pending request
    (``clearExpired``: O(pending)) and marks the tool itself changed, so that
    any two concurrent SALEs conflict. Inserting into the request BTree alone
    is O(log n) and conflict-free; expired requests belong to the daily sweep.
    """
    tool = api.portal.get_tool("portal_password_reset")
    userid = member.getId()
    key = tool.uniqueString(userid)
    tool._requests[key] = (userid, tool.expirationDate())
    hours = int(tool.getExpirationTimeout() or 0) * 24
    return f"{api.portal.get().absolute_url()}/passwordreset/{key}", hours


def _group_ids(member) -> set[str]:
    return set(member.getUser().getGroups())


def _grantable_group(group_id: str, role: str) -> bool:
    check = getattr(members, "is_grantable_group", None)
    return True if check is None else check(group_id, role)


def is_protected(member, settings) -> bool:
    """Fix 4a: group ids from the user at hand; only foreign groups looked up."""
    allowed = members._PLAIN_ROLES | {settings.member_role}
    if members._direct_roles(member) - allowed:
        return True
    managed = settings.mapped_groups
    for group_id in _group_ids(member):
        if group_id == "AuthenticatedUsers":
            continue
        if group_id in managed and _grantable_group(group_id, settings.member_role):
            continue
        group = api.group.get(groupname=group_id)
        if group is not None and set(api.group.get_roles(group=group)) - allowed:
            return True
    return False


def sync(member, settings, access: bool, groups: set[str]) -> tuple[set, set]:
    """Fix 4b: roles and groups from the member at hand, not re-fetched.

    ``api.user.get_roles(user=…)`` fetches the member again through PAS and
    ``api.group.get_groups`` fetches every group; groups are not listed at all
    when no product maps to one.
    """
    role = settings.member_role
    added, removed = set(), set()
    if not members.is_grantable_role(role):
        logger.error("The configured member role %r may manage the site.", role)
    else:
        current = set(member.getUser().getRoles())
        direct = members._direct_roles(member)
        if access and role not in current:
            api.user.grant_roles(user=member, roles=[role])
            added.add(f"role:{role}")
        elif not access and role in direct:
            api.user.revoke_roles(user=member, roles=[role])
            removed.add(f"role:{role}")
    if not (access and groups) and not settings.mapped_groups:
        return added, removed
    member_groups = _group_ids(member)
    wanted = set()
    for group_id in sorted(groups) if access else ():
        if _grantable_group(group_id, role):
            wanted.add(group_id)
        else:
            logger.error("Group %r manages the site; it is not given.", group_id)
    for group_id in sorted(wanted - member_groups):
        if api.group.get(groupname=group_id) is None:
            api.group.create(groupname=group_id, title=group_id)
        api.group.add_user(groupname=group_id, user=member)
        added.add(f"group:{group_id}")
    removable = {
        g for g in settings.mapped_groups & member_groups if _grantable_group(g, role)
    }
    for group_id in sorted(removable - wanted):
        api.group.remove_user(groupname=group_id, user=member)
        removed.add(f"group:{group_id}")
    return added, removed


_outbox: queue.Queue = queue.Queue()


def _send_queued() -> None:
    while True:
        host, port, message, recipient, sender, subject = _outbox.get()
        for name, value in (("To", recipient), ("From", sender), ("Subject", subject)):
            del message[name]
            message[name] = value
        try:
            with smtplib.SMTP(host, port, timeout=30) as smtp:
                smtp.send_message(message)
        except OSError as error:
            logger.warning("bench mail queue: %s", error)


def after_commit(callback, *args) -> None:
    """Fix 6: the welcome mail leaves through a queue, not in the request.

    ``mail._deliver`` talks SMTP in the request thread after the commit (the
    ``immediate=True`` send also bypasses a MailHost queue); here the committed
    mail is handed to a background thread, as MailHost's ``smtp_queue`` (a
    zope.sendmail maildir and its queue processor thread) would do.
    """
    if getattr(callback, "__name__", "") != "_deliver":
        return _original_after_commit(callback, *args)
    mailhost, message, recipient, sender, subject = args
    host, port = mailhost.smtp_host, int(mailhost.smtp_port)

    def enqueue(committed):
        if committed:
            _outbox.put((host, port, message, recipient, sender, subject))

    transaction.get().addAfterCommitHook(enqueue)
    return None


_original_after_commit = getattr(mail, "after_commit", None)


def install() -> list[str]:
    """Put the choosers in place (once); returns what was patched."""
    _dispatch(members, "is_grantable_role", is_grantable_role)
    _dispatch(members, "find", find)
    _dispatch(members, "is_protected", is_protected)
    _dispatch(members, "sync", sync)
    _dispatch(mail, "set_password_url", set_password_url)
    if _original_after_commit is not None and not APPLIED.count("queue"):
        threading.Thread(target=_send_queued, name="bench-mail", daemon=True).start()
        APPLIED.append("queue")
        _dispatch(mail, "after_commit", after_commit)
    builtin = getattr(mail, "builtin_template", None)
    if builtin is not None:
        # Fix 5: the built-in template is read from disk once, not per SALE.
        _dispatch(mail, "builtin_template", lru_cache(maxsize=64)(builtin))
    return APPLIED
