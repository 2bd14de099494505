"""The Plone baseline and the statistics of the benchmark instance."""

import json
import secrets
from collections import Counter
from email.charset import QP
from email.charset import Charset
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import formataddr

from plone import api
from plone.protect.interfaces import IDisableCSRFProtection
from Products.Five.browser import BrowserView
from zope.interface import alsoProvides

# The form of a welcome mail: UTF-8 text, quoted-printable, CRLF line ends.
UTF8 = Charset("utf-8")
UTF8.body_encoding = QP
SMTP_POLICY = compat32.clone(linesep="\r\n")
FILLER = (
    "Thank you for your purchase. An account was created for you on this site. "
    "After that, log in with your login name and the password you chose.\n"
)


def mail_text(chars: int, fullname: str, login: str, link: str) -> str:
    """A welcome text of exactly ``chars`` characters (name, login, link first)."""
    head = (
        f"Hello {fullname},\n\nYour login name is: {login}\n\n"
        f"Choose your password here:\n\n{link}\n\n"
    )
    return (head + FILLER * (chars // len(FILLER) + 1))[:chars]


class PloneView(BrowserView):
    """What Plone itself does for the same notification, with plone.api.

    Takes the buyer's data as plain JSON: nothing to decrypt, no ledger, no
    entitlements. ``sale``: create the member as the add-on does (login = email,
    a random password, the buyer's properties), grant it ``Member`` and, unless
    ``mail`` is false, hand a mail of ``mail_chars`` characters (subject of
    ``subject_chars``) to the site's MailHost with ``immediate=False``, as the
    add-on hands its welcome mail. ``bill``: update the member's purchase
    properties (no mail). Like ``@@clickbank``, it needs no CSRF token.
    """

    def __call__(self):
        self.request.stdin.seek(0)
        data = json.loads(self.request.stdin.read())
        alsoProvides(self.request, IDisableCSRFProtection)
        email = data["email"].strip().lower()
        purchase = {
            "product_id": data["item"],
            "last_purchase_id": data["receipt"],
            "last_purchase_timestamp": data["time"],
        }
        if data["kind"] == "sale":
            properties = {"fullname": data["fullname"],
                          "affiliate": data["affiliate"], **purchase}  # fmt: skip
            user = api.user.create(email=email, username=email, roles=(),
                                   password=secrets.token_urlsafe(32),
                                   properties=properties)  # fmt: skip
            api.user.grant_roles(user=user, roles=["Member"])
            if data["mail"]:
                self.send_mail(data, email)
        else:
            user = api.user.get(username=email)
            user.setMemberProperties(mapping=purchase)
        self.request.response.setHeader("Content-Type", "application/json")
        return json.dumps({"status": "ok", "kind": data["kind"]})

    def send_mail(self, data: dict, email: str) -> None:
        portal = api.portal.get()
        link = f"{portal.absolute_url()}/@@set-password?token="
        link += secrets.token_urlsafe(48)
        text = mail_text(data["mail_chars"], data["fullname"], email, link)
        subject = f"Your access to {portal.Title()}".ljust(data["subject_chars"], ".")
        sender = formataddr((
            api.portal.get_registry_record("plone.email_from_name"),
            api.portal.get_registry_record("plone.email_from_address"),
        ))  # fmt: skip
        message = MIMEText(text, "plain", UTF8, policy=SMTP_POLICY)
        api.portal.get_tool("MailHost").send(
            message, mto=email, mfrom=sender, subject=subject[: data["subject_chars"]],
            charset="utf-8", immediate=False,
        )  # fmt: skip


#: Requests Zope retried after a ConflictError, by error and class in conflict.
retries = Counter()


def count_retry(event) -> None:
    """Subscriber of IPubBeforeAbort: count the aborts that Zope will retry."""
    if event.retry:
        error = event.exc_info[1]
        name = (getattr(error, "class_name", None) or "?").rsplit(".", 1)[-1]
        retries[f"{type(error).__name__} {name}"] += 1


class StatsView(BrowserView):
    """Conflict retries so far, and the mode of the site's MailHost."""

    def __call__(self):
        self.request.response.setHeader("Content-Type", "application/json")
        return json.dumps({
            "retries": sum(retries.values()),
            "retries_by_class": dict(retries),
            "smtp_queue": bool(api.portal.get_tool("MailHost").smtp_queue),
        })  # fmt: skip
