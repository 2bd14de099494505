"""The welcome mail's text per order language, and the settings that change it.

The built-in texts are ``emails/welcome-<language>.txt``: a ``Subject: …`` line,
an empty line, the body. An admin may replace subject and body per language
(the fields of :class:`IClickBankMailSettings`, part of the settings schema).
Each is a :class:`string.Template`: ``${name}`` or ``$name`` is replaced, ``$$``
is a dollar sign. Orders in a language without a mail get the English one.
"""

import functools
import re
from pathlib import Path
from string import Template

from plone.supermodel import model
from zope import schema

from niteoweb.clickbank import _
from niteoweb.clickbank import logger
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
    """Validate a mail text; raise :class:`SettingsInvalid` saying what is wrong."""
    if not text or not text.strip():
        return True  # empty: the built-in text is used
    names, malformed = placeholders(text)
    unknown = [f"${{{name}}}" for name in sorted(names - set(PLACEHOLDERS))]
    if unknown or malformed:
        raise SettingsInvalid(
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
        raise SettingsInvalid(
            _(
                "The text must contain ${placeholder}: without this link the "
                "buyer cannot choose a password and log in.",
                mapping={"placeholder": f"${{{required}}}"},
            )
        )
    return True


def mail_language(language: str | None) -> str:
    """The order language (``de`` → ``DE``) if it has a mail, else ``EN``."""
    code = (language or "").strip().upper()
    return code if code in LANGUAGES else "EN"


def field_names(language: str) -> tuple[str, str]:
    """Names of the ``(subject, body)`` fields of an order language, e.g. ``DE``."""
    code = mail_language(language).lower()
    return f"welcome_subject_{code}", f"welcome_body_{code}"


def builtin(language: str | None) -> tuple[str, str]:
    """The built-in ``(subject, body)`` templates of an order language."""
    return _read_builtin(mail_language(language))


@functools.cache
def _read_builtin(language: str) -> tuple[str, str]:
    """Read ``emails/welcome-<language>.txt`` once per process."""
    path = Path(__file__).parent / "emails" / f"welcome-{language.lower()}.txt"
    head, _, body = path.read_text(encoding="utf-8").partition("\n\n")
    return head.removeprefix("Subject:").strip(), body


def welcome(language: str | None, admin_texts: dict, values: dict) -> tuple[str, str]:
    """The welcome mail's ``(subject, body)``, its placeholders filled in.

    ``admin_texts``: the admin's texts by field name (:func:`field_names`); an
    empty or unusable one means the built-in text. ``values``: a value for each
    of :data:`PLACEHOLDERS`.
    """
    subject_field, body_field = field_names(language)
    subject, body = builtin(language)
    subject = _usable(admin_texts, subject_field) or subject
    body = _usable(admin_texts, body_field, REQUIRED_IN_BODY) or body
    subject = Template(subject).safe_substitute(values)
    # One line whatever the values hold: no header injection through a name.
    return " ".join(subject.split()), Template(body).safe_substitute(values)


def _usable(admin_texts: dict, field: str, required: str | None = None) -> str | None:
    """The admin's text of ``field``; None if it is empty or broken."""
    text = admin_texts.get(field)
    if not text or not text.strip():
        return None
    try:
        check_template(text, required)
    except SettingsInvalid as error:
        # Set around the form (records keep no constraint): never send it broken.
        logger.warning("%s ignored, the built-in text is used: %s", field, error)
        return None
    return text.replace("\r\n", "\n")  # browsers send textareas with CRLF


def _fields(language: str) -> tuple[schema.TextLine, schema.Text]:
    """The subject and the body field of an order language."""
    values = {
        "language": LANGUAGES[language],
        "placeholders": _LISTED,
        "required": f"${{{REQUIRED_IN_BODY}}}",
    }
    subject = schema.TextLine(
        title=_("Welcome mail subject (${language})", mapping=values),
        description=_(
            "Leave empty to use the built-in subject. Placeholders: ${placeholders}.",
            mapping=values,
        ),
        constraint=check_template,
        required=False,
    )
    body = schema.Text(
        title=_("Welcome mail text (${language})", mapping=values),
        description=_(
            "Leave empty to use the built-in text. Placeholders: ${placeholders}. "
            "The text must contain ${required}, the buyer's one-time link to "
            "choose a password.",
            mapping=values,
        ),
        constraint=functools.partial(check_template, required=REQUIRED_IN_BODY),
        required=False,
    )
    return subject, body


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

    welcome_subject_en, welcome_body_en = _fields("EN")
    welcome_subject_de, welcome_body_de = _fields("DE")
    welcome_subject_es, welcome_body_es = _fields("ES")
    welcome_subject_fr, welcome_body_fr = _fields("FR")
    welcome_subject_it, welcome_body_it = _fields("IT")
    welcome_subject_pt, welcome_body_pt = _fields("PT")
