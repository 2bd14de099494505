"""Settings of the buyer mails: subject and body per order language.

Each text is a :class:`string.Template`: ``${name}`` (or ``$name``) is replaced,
``$$`` is a literal dollar sign. An empty field means the built-in text of
``emails/welcome-<language>.txt``.
"""

import re
from string import Template

from plone.supermodel import model
from zope import schema

from niteoweb.clickbank import _
from niteoweb.clickbank.products import SettingsInvalid

#: ClickBank order languages with a built-in welcome mail, by their own names.
LANGUAGES = {
    "EN": "English",
    "DE": "Deutsch",
    "ES": "Español",
    "FR": "Français",
    "IT": "Italiano",
    "PT": "Português",
}

#: Placeholders a welcome mail may use.
PLACEHOLDERS = ("fullname", "login", "set_password_url", "site_title", "expires_hours")

#: The placeholder every body needs: without the link nobody can log in.
REQUIRED_IN_BODY = "set_password_url"

#: A ``${`` that does not open a valid placeholder, up to its ``}`` or a space.
_MALFORMED = re.compile(r"\$\{[^}\s]*\}?")

_LISTED = ", ".join(f"${{{name}}}" for name in PLACEHOLDERS)


class PlaceholderError(SettingsInvalid):
    """A mail text uses placeholders it must not, or lacks the required one."""


def placeholders(text: str) -> tuple[set[str], list[str]]:
    """Return the placeholder names in ``text`` and the malformed ones, as written.

    ``$$`` is a literal dollar; a ``$`` before a space or a digit is left as it is
    (``US$ 10``, ``$5``); ``${`` without a valid name and ``}`` is malformed.
    """
    names, malformed = set(), []
    for match in Template.pattern.finditer(text or ""):
        name = match.group("named") or match.group("braced")
        if name:
            names.add(name)
        elif match.group("invalid") is not None:
            written = _MALFORMED.match(text, match.start())
            if written:
                malformed.append(written.group())
    return names, malformed


def check_template(text: str, required: str | None = None) -> bool:
    """Validate a mail text; raise :class:`PlaceholderError` saying what is wrong."""
    if not text or not text.strip():
        return True  # empty: the built-in text is used
    names, malformed = placeholders(text)
    unknown = [f"${{{name}}}" for name in sorted(names - set(PLACEHOLDERS))]
    if unknown or malformed:
        raise PlaceholderError(
            _(
                "Unknown placeholder(s): ${unknown}. Allowed are ${allowed}; "
                "write $$ for a dollar sign.",
                mapping={
                    "unknown": ", ".join(unknown + malformed),
                    "allowed": _LISTED,
                },
            )
        )
    if required and required not in names:
        raise PlaceholderError(
            _(
                "The text must contain ${placeholder}: without this link the "
                "buyer cannot choose a password and log in.",
                mapping={"placeholder": f"${{{required}}}"},
            )
        )
    return True


def valid_subject(text: str) -> bool:
    """Constraint of the subject fields."""
    return check_template(text)


def valid_body(text: str) -> bool:
    """Constraint of the body fields: known placeholders and the password link."""
    return check_template(text, required=REQUIRED_IN_BODY)


def _subject(language: str) -> schema.TextLine:
    return schema.TextLine(
        title=_(
            "Welcome mail subject (${language})",
            mapping={"language": LANGUAGES[language]},
        ),
        description=_(
            "Leave empty to use the built-in subject. Placeholders: ${placeholders}.",
            mapping={"placeholders": _LISTED},
        ),
        constraint=valid_subject,
        required=False,
    )


def _body(language: str) -> schema.Text:
    return schema.Text(
        title=_(
            "Welcome mail text (${language})",
            mapping={"language": LANGUAGES[language]},
        ),
        description=_(
            "Leave empty to use the built-in text. Placeholders: ${placeholders}. "
            "The text must contain ${required}, the buyer's one-time link to "
            "choose a password.",
            mapping={"placeholders": _LISTED, "required": f"${{{REQUIRED_IN_BODY}}}"},
        ),
        constraint=valid_body,
        required=False,
    )


def field_names(language: str) -> tuple[str, str]:
    """Names of the ``(subject, body)`` fields of an order language, e.g. ``DE``."""
    code = language.lower()
    return f"welcome_subject_{code}", f"welcome_body_{code}"


class IClickBankMailSettings(model.Schema):
    """Welcome mail texts, per ClickBank order language (empty: built-in text)."""

    model.fieldset(
        "mails",
        label=_("Welcome mails"),
        description=_(
            "The mail a new buyer receives, in the language of the order. Orders "
            "in other languages get the English mail."
        ),
        fields=[name for code in LANGUAGES for name in field_names(code)],
    )

    welcome_subject_en = _subject("EN")
    welcome_body_en = _body("EN")
    welcome_subject_de = _subject("DE")
    welcome_body_de = _body("DE")
    welcome_subject_es = _subject("ES")
    welcome_body_es = _body("ES")
    welcome_subject_fr = _subject("FR")
    welcome_body_fr = _body("FR")
    welcome_subject_it = _subject("IT")
    welcome_body_it = _body("IT")
    welcome_subject_pt = _subject("PT")
    welcome_body_pt = _body("PT")
