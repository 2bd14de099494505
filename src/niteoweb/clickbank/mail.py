"""The welcome mail: login name and a one-time link to choose a password.

Mail goes through Plone's MailHost, which hands it over only when the transaction
commits: a notification that fails and is rolled back sends nothing. The
password is never mailed; the link is Plone's own password-reset link.
"""

from pathlib import Path
from string import Template

from plone import api

from niteoweb.clickbank import logger

TEMPLATES = Path(__file__).parent / "emails"
DEFAULT_LANGUAGE = "EN"


def template_for(language: str) -> tuple[str, str]:
    """Return ``(subject, body)`` templates for a ClickBank order language."""
    path = TEMPLATES / f"welcome-{(language or '').lower()}.txt"
    if not path.is_file():
        path = TEMPLATES / f"welcome-{DEFAULT_LANGUAGE.lower()}.txt"
    head, _, body = path.read_text(encoding="utf-8").partition("\n\n")
    subject = head.removeprefix("Subject:").strip()
    return subject, body


def set_password_url(member) -> tuple[str, int]:
    """A one-time password-reset link for ``member`` and its lifetime in hours."""
    tool = api.portal.get_tool("portal_password_reset")
    reset = tool.requestReset(member.getId())
    portal_url = api.portal.get().absolute_url()
    hours = int(tool.getExpirationTimeout() or 0) * 24
    return f"{portal_url}/passwordreset/{reset['randomstring']}", hours


def render_welcome(member, language: str = DEFAULT_LANGUAGE) -> tuple[str, str]:
    """Return the ``(subject, body)`` of the welcome mail for ``member``."""
    url, hours = set_password_url(member)
    values = {
        "fullname": member.getProperty("fullname", "") or member.getUserName(),
        "login": member.getUserName(),
        "set_password_url": url,
        "expires_hours": str(hours),
        "site_title": api.portal.get().Title(),
    }
    subject, body = template_for(language)
    return Template(subject).safe_substitute(values), Template(body).safe_substitute(
        values
    )


def send_welcome(member, language: str = DEFAULT_LANGUAGE) -> bool:
    """Queue the welcome mail; it leaves when the transaction commits.

    Returns False (and logs why) when the site cannot send mail: the member is
    created all the same and can use "Forgot your password?".
    """
    subject, body = render_welcome(member, language)
    try:
        api.portal.send_email(
            recipient=member.getProperty("email"),
            subject=subject,
            body=body,
            immediate=False,
        )
    except Exception as error:  # noqa: BLE001 - a mail problem must not lose a sale
        logger.warning(
            "Welcome mail not sent (%s); the member was created.",
            type(error).__name__,
        )
        return False
    return True
