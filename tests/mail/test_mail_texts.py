"""The welcome mail's text: order language, the admin's texts, placeholders."""

import email
import email.policy

import pytest
import requests
import transaction
from plone import api
from plone.app.testing import SITE_OWNER_NAME
from plone.app.testing import SITE_OWNER_PASSWORD
from plone.testing.zope import Browser
from zope.i18n import translate
from zope.interface import Invalid

from helpers import notification
from niteoweb.clickbank import members
from niteoweb.clickbank import processing
from niteoweb.clickbank.interfaces import IClickBankSettings
from niteoweb.clickbank.mail import send
from niteoweb.clickbank.mail import texts
from niteoweb.clickbank.settings import get_settings

RECORD = "niteoweb.clickbank."

SUBJECTS = {
    "EN": "Your access to",
    "DE": "Ihr Zugang zu",
    "ES": "Su acceso a",
    "FR": "Votre accès à",
    "IT": "Il Suo accesso a",
    "PT": "Seu acesso a",
}
BODY = "Hi $fullname, your login is ${login}.\n${set_password_url}\n${site_title}\n"


@pytest.fixture
def buyer(portal):
    """A member as a sale creates it, with an accented name."""
    return members.create("buyer@example.com", "José Müller")


def parse(message):
    """A message as the MailHost got it, parsed."""
    raw = message if isinstance(message, bytes) else message.encode("utf-8")
    return email.message_from_bytes(raw, policy=email.policy.default)


def set_text(field: str, value: str | None):
    """Store a mail text as the control panel would (no constraint check)."""
    api.portal.get_tool("portal_registry")[RECORD + field] = value


def validate(field: str, value: str):
    """Validate ``value`` as the control panels do."""
    IClickBankSettings[field].bind(None).validate(value)


def error_text(error: Invalid) -> str:
    """The message an admin reads for ``error`` (English)."""
    return translate(error.args[0], target_language="en")


class TestLanguage:
    """The order's language chooses the built-in mail; English otherwise."""

    @pytest.mark.parametrize("language", sorted(SUBJECTS))
    def test_order_language_chooses_mail(self, portal, mails, language):
        """A sale in each ClickBank order language gets the mail in that language."""
        processing.handle(notification(language=language), get_settings())
        (message,) = mails
        assert str(parse(message)["Subject"]).startswith(SUBJECTS[language])

    @pytest.mark.parametrize("language", ["de", "De", " DE "])
    def test_language_is_case_insensitive(self, buyer, language):
        """``de`` is ``DE``."""
        subject, _body = send.render(buyer, language)
        assert subject.startswith(SUBJECTS["DE"])

    @pytest.mark.parametrize("language", ["", None, "NL", "JA", "ENG", "pt-BR"])
    def test_other_languages_get_english(self, buyer, language):
        """Unknown or empty order languages get the English mail."""
        subject, body = send.render(buyer, language)
        assert subject.startswith(SUBJECTS["EN"])
        assert "Your login name is: buyer@example.com" in body

    @pytest.mark.parametrize("language", sorted(texts.LANGUAGES))
    def test_builtin_texts_share_placeholders(self, language):
        """Every built-in mail uses the placeholders of the English one, validly."""
        subject, body = texts.builtin(language)
        english = texts.builtin("EN")
        assert texts.placeholders(subject) == texts.placeholders(english[0])
        assert texts.placeholders(body) == texts.placeholders(english[1])
        validate(f"welcome_subject_{language.lower()}", subject)
        validate(f"welcome_body_{language.lower()}", body)

    def test_builtin_subjects_differ(self):
        """Each language has its own subject."""
        subjects = {texts.builtin(code)[0] for code in texts.LANGUAGES}
        assert len(subjects) == len(texts.LANGUAGES)


class TestAdminTexts:
    """Texts set in Site Setup → ClickBank → Welcome mails."""

    def test_admin_subject_and_body_are_used(self, buyer):
        """The admin's subject and body for the order language replace the built-in."""
        set_text("welcome_subject_de", "Willkommen bei ${site_title}")
        set_text("welcome_body_de", BODY)
        subject, body = send.render(buyer, "DE")
        assert subject == "Willkommen bei Plone site"
        assert body.startswith("Hi José Müller, your login is buyer@example.com.\n")

    def test_placeholders_are_filled(self, buyer, portal):
        """Both ``$name`` and ``${name}`` are replaced; the link is a reset link."""
        set_text("welcome_body_en", BODY)
        _subject, body = send.render(buyer, "EN")
        link = body.splitlines()[1]
        assert link.startswith(
            portal.absolute_url() + "/@@clickbank-set-password?token="
        )
        assert body.splitlines()[2] == "Plone site"
        assert "$" not in body

    def test_other_languages_keep_builtin_text(self, buyer):
        """A German text does not change the French or English mail."""
        set_text("welcome_subject_de", "Willkommen")
        assert send.render(buyer, "FR")[0].startswith(SUBJECTS["FR"])
        assert send.render(buyer, "EN")[0].startswith(SUBJECTS["EN"])

    def test_subject_alone_keeps_builtin_body(self, buyer):
        """Subject and body are replaced independently."""
        set_text("welcome_subject_it", "Benvenuto")
        subject, body = send.render(buyer, "IT")
        assert subject == "Benvenuto"
        assert "Il Suo nome utente è: buyer@example.com" in body

    @pytest.mark.parametrize("blank", ["", "   ", None])
    def test_blank_text_means_builtin(self, buyer, blank):
        """An empty (or blank) field uses the built-in text."""
        set_text("welcome_subject_es", blank)
        set_text("welcome_body_es", blank)
        subject, body = send.render(buyer, "ES")
        assert subject.startswith(SUBJECTS["ES"])
        assert "Su nombre de usuario es: buyer@example.com" in body

    def test_browser_line_ends_are_normalised(self, buyer):
        """A textarea's CRLF line ends become plain newlines in the mail."""
        set_text("welcome_body_en", BODY.replace("\n", "\r\n"))
        assert "\r" not in send.render(buyer, "EN")[1]

    def test_double_dollar_is_a_dollar_sign(self, buyer):
        """``$$`` gives one dollar sign."""
        set_text("welcome_body_en", "Paid: $$49.\n${set_password_url}\n")
        assert send.render(buyer, "EN")[1].startswith("Paid: $49.\n")

    def test_broken_record_is_ignored(self, buyer):
        """A body set around the form without the link is not sent."""
        set_text("welcome_body_en", "Welcome, no link for you.")
        assert "/@@clickbank-set-password?token=" in send.render(buyer, "EN")[1]

    def test_subject_is_one_line(self, buyer, portal):
        """Whatever the values hold, the subject stays one header line."""
        portal.setTitle("Evil\nBcc: victim@example.com")
        subject, _body = send.render(buyer, "EN")
        assert "\n" not in subject


class TestValidation:
    """What the control panels accept in the mail fields."""

    @pytest.mark.parametrize(
        "field", ["welcome_subject_en", "welcome_body_en", "welcome_body_pt"]
    )
    def test_unknown_placeholder_is_named(self, field):
        """A misspelt placeholder is refused, naming it."""
        with pytest.raises(Invalid) as raised:
            validate(field, "Hi ${fullname} ${passwrd} ${set_password_url}")
        assert "Unknown placeholder(s): ${passwrd}." in error_text(raised.value)

    @pytest.mark.parametrize(
        "text, named",
        [
            ("Hi $fulname", "${fulname}"),
            ("${Login}", "${Login}"),
            ("${password}", "${password}"),
            ("${pass word}", "${pass"),
            ("${}", "${}"),
            ("$USD 10", "${USD}"),
        ],
    )
    def test_every_bad_placeholder_form_is_named(self, text, named):
        """Short form, wrong case, the password, malformed braces: all named."""
        with pytest.raises(Invalid) as raised:
            validate("welcome_subject_de", text)
        assert named in error_text(raised.value)

    def test_message_lists_allowed_placeholders(self):
        """The error says what may be used and how to write a dollar sign."""
        with pytest.raises(Invalid) as raised:
            validate("welcome_subject_fr", "${x}")
        text = error_text(raised.value)
        assert "${fullname}, ${login}, ${set_password_url}, ${site_title}" in text
        assert "write $$ for a dollar sign" in text

    def test_body_without_link_is_refused(self):
        """A body without ``${set_password_url}`` is refused: nobody could log in."""
        with pytest.raises(Invalid) as raised:
            validate("welcome_body_de", "Hallo ${fullname}")
        assert error_text(raised.value) == (
            "The text must contain ${set_password_url}: without this link the buyer "
            "cannot choose a password and log in."
        )

    def test_subject_needs_no_link(self):
        """Subjects may leave out the link."""
        validate("welcome_subject_de", "Willkommen, ${fullname}")

    @pytest.mark.parametrize(
        "text",
        [
            "Only $$10! $set_password_url",
            "US$ 10, $5 off: ${set_password_url}",
            "${set_password_url} ${expires_hours} ${site_title} $login $fullname",
        ],
    )
    def test_dollar_signs_and_known_placeholders_pass(self, text):
        """``$$``, a ``$`` before a space or digit and known placeholders are fine."""
        validate("welcome_body_en", text)

    def test_error_reads_well_as_plain_string(self):
        """REST clients get ``str(error)``: English, placeholders filled in."""
        with pytest.raises(Invalid) as raised:
            validate("welcome_body_en", "${passwrd}")
        assert str(raised.value).startswith("Unknown placeholder(s): ${passwrd}.")


class TestSettings:
    """The mail fields in the schema, the registry and the control panels."""

    NAMES = {
        f"welcome_{kind}_{code}"
        for kind in ("subject", "body")
        for code in ("en", "de", "es", "fr", "it", "pt")
    }

    def test_fields_per_language(self):
        """A subject and a body field per order language, none required."""
        assert set(texts.IClickBankMailSettings.names()) == self.NAMES
        for name in self.NAMES:
            assert name in IClickBankSettings
            assert IClickBankSettings[name].required is False

    def test_profile_registers_the_records(self, portal):
        """The default profile adds a record for every inherited mail field."""
        registry = api.portal.get_tool("portal_registry")
        for name in self.NAMES:
            assert RECORD + name in registry.records
            assert registry[RECORD + name] is None

    @pytest.fixture
    def admin_browser(self, functional_app, functional_portal):
        browser = Browser(functional_app)
        browser.handleErrors = True
        browser.raiseHttpErrors = False
        browser.addHeader(
            "Authorization", f"Basic {SITE_OWNER_NAME}:{SITE_OWNER_PASSWORD}"
        )
        browser.open(functional_portal.absolute_url() + "/@@clickbank-controlpanel")
        return browser

    def test_form_has_mails_fieldset(self, admin_browser):
        """The Classic control panel shows the fields on a 'Welcome mails' tab."""
        assert "Welcome mails" in admin_browser.contents
        assert "Welcome mail subject (Deutsch)" in admin_browser.contents
        assert 'id="fieldset-mails"' in admin_browser.contents
        assert "Placeholders: ${fullname}, ${login}" in admin_browser.contents
        for name in self.NAMES:
            assert admin_browser.getControl(name=f"form.widgets.{name}").value == ""

    def test_form_saves_text(self, admin_browser):
        """A valid text is saved."""
        admin_browser.getControl(name="form.widgets.welcome_body_fr").value = BODY
        admin_browser.getControl(name="form.buttons.save").click()
        assert "Changes saved" in admin_browser.contents
        transaction.begin()
        saved = api.portal.get_registry_record(RECORD + "welcome_body_fr")
        assert saved.strip() == BODY.strip()

    def test_form_refuses_unknown_placeholder(self, admin_browser):
        """The form shows which placeholder is unknown and saves nothing."""
        admin_browser.getControl(
            name="form.widgets.welcome_body_fr"
        ).value = "${passwrd} ${set_password_url}"
        admin_browser.getControl(name="form.buttons.save").click()
        assert "Unknown placeholder(s): ${passwrd}." in admin_browser.contents
        transaction.begin()
        assert api.portal.get_registry_record(RECORD + "welcome_body_fr") is None

    @pytest.fixture
    def rest(self, acceptance):
        """Call ``@controlpanels/clickbank`` over HTTP as the site owner."""
        url = f"http://{acceptance['host']}:{acceptance['port']}/plone"

        def call(method, **kwargs):
            return requests.request(
                method,
                url + "/@controlpanels/clickbank",
                headers={"Accept": "application/json"},
                auth=(SITE_OWNER_NAME, SITE_OWNER_PASSWORD),
                timeout=30,
                **kwargs,
            )

        return call

    def test_rest_schema_has_mails_fieldset(self, rest):
        """The REST control panel groups the mail fields in the 'mails' fieldset."""
        fieldsets = rest("GET").json()["schema"]["fieldsets"]
        (mails,) = [f for f in fieldsets if f["id"] == "mails"]
        assert mails["title"] == "Welcome mails"
        assert set(mails["fields"]) == self.NAMES

    def test_rest_refuses_body_without_link(self, rest):
        """PATCH answers 400 with the reason."""
        response = rest("PATCH", json={"welcome_body_de": "Hallo ${fullname}"})
        assert response.status_code == 400
        assert "must contain ${set_password_url}" in response.text
        transaction.begin()
        assert api.portal.get_registry_record(RECORD + "welcome_body_de") is None
