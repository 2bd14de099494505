"""The welcome mail: made here, delivered by the site's MailHost.

With the MailHost's queue on, the mail is handed over inside the transaction
(``immediate=False``): zope.sendmail writes it to the queue at commit, nothing
on abort, and its queue thread delivers it (:mod:`.queue`). With the queue off,
it is sent after the commit, and a failure is logged: the buyer still has
"Forgot your password?", and a site manager can send it again from the buyer
page. Either way the sale never depends on the mail, the password is never
mailed and no log line shows the buyer's address.
"""

from email.charset import QP
from email.charset import Charset
from email.mime.text import MIMEText
from email.policy import compat32

import transaction
from plone import api

from niteoweb.clickbank import logger
from niteoweb.clickbank.mail import links
from niteoweb.clickbank.mail import texts
from niteoweb.clickbank.settings import record_name

# SMTP wants CRLF line ends; servers may refuse bare LF (RFC 5321).
SMTP_POLICY = compat32.clone(linesep="\r\n")

# Quoted-printable keeps the mostly-ASCII source of a mail readable.
UTF8 = Charset("utf-8")
UTF8.body_encoding = QP


def render(member, language: str | None = None) -> tuple[str, str]:
    """The ``(subject, body)`` of ``member``'s welcome mail (see :mod:`.texts`)."""
    admin_texts = {
        name: api.portal.get_registry_record(record_name(name), default=None)
        for name in texts.field_names(language)
    }
    url, hours = links.new_link(member)
    values = {
        "fullname": member.getProperty("fullname", "") or member.getUserName(),
        "login": member.getUserName(),
        "set_password_url": url,
        "expires_hours": str(hours),
        "site_title": api.portal.get().Title(),
    }
    return texts.welcome(language, admin_texts, values)


def welcome(member, language: str | None = None) -> bool:
    """Hand the welcome mail for ``member`` to the site's MailHost.

    :param member: [required] the buyer's member, with its email address.
    :param language: the ClickBank order language, e.g. ``DE``.
    :returns: False (and a warning in the log) when the site has no sender
        address; True when the mail was handed over. A failure to deliver is
        logged, never raised.
    """
    if not api.portal.get_registry_record("plone.email_from_address", default=""):
        logger.warning("Welcome mail not sent: the site has no sender address.")
        return False
    subject, body = render(member, language)
    mail = {
        "recipient": member.getProperty("email"),
        "subject": subject,
        # A message, not a string: MailHost would parse a string's first lines
        # as headers ("Note: …" would vanish from the text).
        "body": MIMEText(body, "plain", UTF8, policy=SMTP_POLICY),
    }
    if api.portal.get_tool("MailHost").smtp_queue:
        _hand_over(mail, immediate=False)
    else:
        transaction.get().addAfterCommitHook(_send_if_committed, (mail,))
    return True


def _send_if_committed(committed: bool, mail: dict) -> None:
    if committed:
        _hand_over(mail, immediate=True)


def _hand_over(mail: dict, immediate: bool) -> None:
    """Give ``mail`` to the MailHost; log a failure by its kind alone."""
    try:
        api.portal.send_email(immediate=immediate, **mail)
    except Exception as error:  # noqa: BLE001 - the sale stands; only log
        # The error's text may hold the address: only its kind is logged.
        logger.warning(
            "Welcome mail could not be sent (%s); the member was created. "
            "Send it again from the buyer page, or the buyer uses 'Forgot "
            "your password?'.",
            type(error).__name__,
        )
