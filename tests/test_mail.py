"""The welcome mail: language, admin texts, placeholders, encoding, translations."""

import ast
import email
import email.policy
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import transaction
from plone import api
from plone.app.testing import SITE_OWNER_NAME
from plone.app.testing import SITE_OWNER_PASSWORD
from plone.testing.zope import Browser
from pythongettext.msgfmt import Msgfmt
from zope.component import getGlobalSiteManager
from zope.component import queryUtility
from zope.i18n import translate
from zope.i18n.gettextmessagecatalog import GettextMessageCatalog
from zope.i18n.interfaces import ITranslationDomain
from zope.i18n.translationdomain import TranslationDomain
from zope.interface import Invalid

from helpers import notification
from niteoweb.clickbank import _
from niteoweb.clickbank import cron
from niteoweb.clickbank import mail
from niteoweb.clickbank import members
from niteoweb.clickbank import processing
from niteoweb.clickbank import spool
from niteoweb.clickbank import sweep
from niteoweb.clickbank.interfaces import IClickBankSettings
from niteoweb.clickbank.mailsettings import LANGUAGES
from niteoweb.clickbank.mailsettings import IClickBankMailSettings
from niteoweb.clickbank.mailsettings import placeholders
from niteoweb.clickbank.settings import get_settings

RECORD = "niteoweb.clickbank."
LOCALES = Path(mail.__file__).parent / "locales"
DOMAIN = "niteoweb.clickbank"
CATALOGS = ("de", "pt", "pt_BR")

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


def gone_pid() -> int:
    """The id of a process that has ended (killed while sending, say)."""
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(finished.stdout)


def parse(message) -> email.message.EmailMessage:
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
        subject, _body = mail.render_welcome(buyer, language)
        assert subject.startswith(SUBJECTS["DE"])

    @pytest.mark.parametrize("language", ["", None, "NL", "JA", "ENG", "pt-BR"])
    def test_other_languages_get_english(self, buyer, language):
        """Unknown or empty order languages get the English mail."""
        subject, body = mail.render_welcome(buyer, language)
        assert subject.startswith(SUBJECTS["EN"])
        assert "Your login name is: buyer@example.com" in body

    @pytest.mark.parametrize("language", sorted(LANGUAGES))
    def test_builtin_texts_share_placeholders(self, language):
        """Every built-in mail uses the placeholders of the English one, validly."""
        subject, body = mail.builtin_template(language)
        english = mail.builtin_template("EN")
        assert placeholders(subject) == placeholders(english[0])
        assert placeholders(body) == placeholders(english[1])
        validate(f"welcome_subject_{language.lower()}", subject)
        validate(f"welcome_body_{language.lower()}", body)

    def test_builtin_subjects_differ(self):
        """Each language has its own subject."""
        subjects = {mail.builtin_template(code)[0] for code in LANGUAGES}
        assert len(subjects) == len(LANGUAGES)


class TestAdminTexts:
    """Texts set in Site Setup → ClickBank → Welcome mails."""

    def test_admin_subject_and_body_are_used(self, buyer):
        """The admin's subject and body for the order language replace the built-in."""
        set_text("welcome_subject_de", "Willkommen bei ${site_title}")
        set_text("welcome_body_de", BODY)
        subject, body = mail.render_welcome(buyer, "DE")
        assert subject == "Willkommen bei Plone site"
        assert body.startswith("Hi José Müller, your login is buyer@example.com.\n")

    def test_placeholders_are_filled(self, buyer, portal):
        """Both ``$name`` and ``${name}`` are replaced; the link is a reset link."""
        set_text("welcome_body_en", BODY)
        _subject, body = mail.render_welcome(buyer, "EN")
        link = body.splitlines()[1]
        assert link.startswith(
            portal.absolute_url() + "/@@clickbank-set-password?token="
        )
        assert body.splitlines()[2] == "Plone site"
        assert "$" not in body

    def test_other_languages_keep_builtin_text(self, buyer):
        """A German text does not change the French or English mail."""
        set_text("welcome_subject_de", "Willkommen")
        assert mail.render_welcome(buyer, "FR")[0].startswith(SUBJECTS["FR"])
        assert mail.render_welcome(buyer, "EN")[0].startswith(SUBJECTS["EN"])

    def test_subject_alone_keeps_builtin_body(self, buyer):
        """Subject and body are replaced independently."""
        set_text("welcome_subject_it", "Benvenuto")
        subject, body = mail.render_welcome(buyer, "IT")
        assert subject == "Benvenuto"
        assert "Il Suo nome utente è: buyer@example.com" in body

    @pytest.mark.parametrize("blank", ["", "   ", None])
    def test_blank_text_means_builtin(self, buyer, blank):
        """An empty (or blank) field uses the built-in text."""
        set_text("welcome_subject_es", blank)
        set_text("welcome_body_es", blank)
        subject, body = mail.render_welcome(buyer, "ES")
        assert subject.startswith(SUBJECTS["ES"])
        assert "Su nombre de usuario es: buyer@example.com" in body

    def test_browser_line_ends_are_normalised(self, buyer):
        """A textarea's CRLF line ends become plain newlines in the mail."""
        set_text("welcome_body_en", BODY.replace("\n", "\r\n"))
        assert "\r" not in mail.render_welcome(buyer, "EN")[1]

    def test_double_dollar_is_a_dollar_sign(self, buyer):
        """``$$`` gives one dollar sign."""
        set_text("welcome_body_en", "Paid: $$49.\n${set_password_url}\n")
        assert mail.render_welcome(buyer, "EN")[1].startswith("Paid: $49.\n")

    def test_broken_record_is_ignored(self, buyer):
        """A body set around the form without the link is not sent."""
        set_text("welcome_body_en", "Welcome, no link for you.")
        assert "/@@clickbank-set-password?token=" in mail.render_welcome(buyer, "EN")[1]

    def test_subject_is_one_line(self, buyer, portal):
        """Whatever the values hold, the subject stays one header line."""
        portal.setTitle("Evil\nBcc: victim@example.com")
        subject, _body = mail.render_welcome(buyer, "EN")
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


class TestMessage:
    """The mail as it leaves the site."""

    def test_plain_text_utf8_with_names_intact(self, portal, mails):
        """text/plain; charset=utf-8; accents intact in name, subject and body."""
        portal.setTitle("Café Über")
        processing.handle(
            notification(first_name="José", last_name="Müller"), get_settings()
        )
        message = parse(mails[0])
        assert message.get_content_type() == "text/plain"
        assert message.get_content_charset() == "utf-8"
        assert str(message["Subject"]) == "Your access to Café Über"
        assert message.get_content().startswith("Hello José Müller,\r\n")
        assert message["To"] == "buyer@example.com"

    def test_header_like_first_line_stays_in_body(self, buyer, mails):
        """A body starting 'Note: …' is not mistaken for a mail header."""
        set_text("welcome_body_en", "Note: welcome!\n\n${set_password_url}\n")
        assert mail.send_welcome(buyer, "EN")
        message = parse(mails[0])
        assert message.get_content().startswith("Note: welcome!\r\n")
        assert message["Note"] is None

    def test_password_is_never_mailed(self, portal, mails, monkeypatch):
        """The password the account was created with appears nowhere in the mail."""
        passwords = []
        create = api.user.create

        def spy(**kwargs):
            passwords.append(kwargs["password"])
            return create(**kwargs)

        monkeypatch.setattr(members.api.user, "create", spy)
        processing.handle(notification(), get_settings())
        (password,) = passwords
        (raw,) = mails
        assert password.encode() not in raw
        assert password not in parse(raw).get_content()

    def test_failure_to_send_is_logged_not_raised(self, buyer, mails, caplog):
        """A mail server that fails after the commit is logged; nothing raises."""

        def fail(*args, **kwargs):
            raise ConnectionRefusedError("SMTP down")

        api.portal.get_tool("MailHost").send = fail
        assert mail.send_welcome(buyer, "EN") is True
        assert "Welcome mail could not be sent (ConnectionRefusedError)" in caplog.text
        assert "buyer@example.com" not in caplog.text

    def test_no_sender_address_is_reported(self, buyer, mails):
        """Without a sender address no mail is prepared: False, the member stays."""
        api.portal.set_registry_record("plone.email_from_address", "")
        assert mail.send_welcome(buyer, "EN") is False
        assert mails == []


class TestSpool:
    """Mails wait in var/clickbank-outbox until they are sent."""

    @pytest.fixture(autouse=True)
    def _empty(self):
        for path in spool.directory().glob("*"):
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()

    def test_sent_mail_leaves_no_file(self, buyer, mails):
        assert mail.send_welcome(buyer, "EN") is True
        assert len(mails) == 1
        assert list(spool.directory().glob("*")) == []

    def test_mail_left_by_a_dead_process_is_sent_with_the_next(self, buyer, mails):
        """A file older than this process is sent along with the next mail."""
        left = spool.write(
            {
                "body": "Left behind",
                "recipient": "earlier@example.com",
                "sender": "shop@example.org",
                "subject": "Welcome",
            }
        )
        os.utime(left, (spool.STARTED - 60, spool.STARTED - 60))
        assert mail.send_welcome(buyer, "EN") is True
        recipients = [parse(m)["To"] for m in mails]
        assert recipients == ["buyer@example.com", "earlier@example.com"]
        assert not left.exists()

    def test_first_mail_makes_the_folder(self, buyer, mails, monkeypatch, tmp_path):
        """The outbox folder is made with the first mail, for its owner only."""
        folder = tmp_path / "var" / spool.DIRECTORY_NAME
        monkeypatch.setattr(spool, "directory", lambda: folder)
        stored = spool.write({"body": "Hello", "recipient": "a@example.com"})
        assert stored.parent == folder
        assert json.loads(stored.read_text())["body"] == "Hello"
        assert folder.stat().st_mode & 0o777 == 0o700
        assert stored.stat().st_mode & 0o777 == 0o600
        assert [p.name for p in folder.iterdir()] == [stored.name]

    def test_mail_that_cannot_be_stored_is_sent_all_the_same(
        self, buyer, mails, monkeypatch, caplog
    ):
        """A full disk: a warning, no half file left behind, the mail still sent."""

        def full_disk(descriptor, data):
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(spool.os, "write", full_disk)
        assert spool.write({"body": "Hello"}) is None
        assert "Welcome mail not stored" in caplog.text
        assert list(spool.directory().glob("*")) == []
        assert mail.send_welcome(buyer, "EN") is True
        assert [parse(m)["To"] for m in mails] == ["buyer@example.com"]
        assert list(spool.directory().glob("*")) == []

    WAITING = {
        "body": "Waiting",
        "recipient": "earlier@example.com",
        "sender": "shop@example.org",
        "subject": "Welcome",
    }

    def assert_sent_with_the_next_mail(self, buyer, mails):
        assert mail.send_welcome(buyer, "EN") is True
        recipients = [parse(m)["To"] for m in mails]
        assert recipients == ["buyer@example.com", "earlier@example.com"]
        assert list(spool.directory().glob("*")) == []

    def test_mail_given_up_is_sent_once_it_is_stale(self, buyer, mails, monkeypatch):
        """The SMTP server was down: a later mail takes it along after 15 min."""
        monkeypatch.setattr(spool, "STARTED", 0)  # all files are this process's
        waiting = spool.write(self.WAITING)
        recent = time.time() - spool.STALE_SECONDS + 60
        os.utime(waiting, (recent, recent))
        assert spool.left_over() == []  # maybe still in this outbox
        stale = time.time() - spool.STALE_SECONDS - 60
        os.utime(waiting, (stale, stale))
        self.assert_sent_with_the_next_mail(buyer, mails)

    def test_claimed_mail_is_not_sent_twice(self, portal, mails):
        """Another process (the sweep's command) claimed it: the outbox skips it."""
        waiting = spool.write(self.WAITING)
        sending = spool.claim(waiting)
        assert sending.suffix == ".sending"
        assert spool.claim(waiting) is None
        mailhost = api.portal.get_tool("MailHost")
        mail._send_stored(mailhost, self.WAITING, waiting)
        assert mails == []
        assert spool.left_over() == []  # claimed a moment ago
        spool.remove(sending)

    def claimed_by(self, pid: int):
        """A waiting mail, claimed by the process ``pid``."""
        sending = spool.claim(spool.write(self.WAITING))
        mine = f".{os.getpid()}."
        return sending.rename(sending.with_name(sending.name.replace(mine, f".{pid}.")))

    def test_mail_claimed_by_a_running_sender_is_left_to_it(self, portal, mails):
        """The ``clickbank-expire`` command sends it, say: nobody else does."""
        sending = self.claimed_by(os.getppid())  # alive: it started the tests
        assert spool.left_over() == []
        assert sending.exists()
        spool.remove(sending)

    def test_mail_of_a_killed_sender_is_sent_with_the_next(self, buyer, mails):
        """Its process is gone (killed while sending): no hour to wait."""
        self.claimed_by(gone_pid())
        self.assert_sent_with_the_next_mail(buyer, mails)

    def test_mail_claimed_before_a_restart_is_sent_again(
        self, buyer, mails, monkeypatch
    ):
        """This process has the sender's id (as in a container), but is newer."""
        monkeypatch.setattr(spool, "STARTED", time.time() - 120)
        sending = spool.claim(spool.write(self.WAITING))
        before = time.time() - 300
        os.utime(sending, (before, before))
        self.assert_sent_with_the_next_mail(buyer, mails)

    def test_mail_of_a_sender_that_died_is_sent_again(self, buyer, mails):
        """Claimed an hour ago and still there: its sender died while sending."""
        sending = spool.claim(spool.write(self.WAITING))
        old = time.time() - spool.ABANDONED_SECONDS - 60
        os.utime(sending, (old, old))
        self.assert_sent_with_the_next_mail(buyer, mails)

    def test_sweep_sends_what_waits(self, portal, mails):
        """After a crash, waiting mails do not wait for the next sale."""
        left = spool.write(self.WAITING)
        os.utime(left, (spool.STARTED - 60, spool.STARTED - 60))
        mine = spool.write({"body": "Mine", "recipient": "now@example.com"})
        assert sweep.run(get_settings(), dry_run=True).left_mails == 0
        assert mails == []
        report = sweep.run(get_settings())
        assert report.left_mails == 1
        assert [parse(m)["To"] for m in mails] == ["earlier@example.com"]
        assert not left.exists()
        assert mine.exists()  # this process's outbox has it
        summary = cron.summary(report)
        assert summary.endswith(", 1 waiting mail(s) handed to the outbox")
        assert sweep.run(get_settings()).left_mails == 0
        spool.remove(mine)

    def test_sweep_sends_a_mail_of_a_killed_sender(self, portal, mails):
        """Claimed after this process started, by a sender that is gone now."""
        self.claimed_by(gone_pid())
        assert sweep.run(get_settings()).left_mails == 1
        assert [parse(m)["To"] for m in mails] == ["earlier@example.com"]
        assert list(spool.directory().glob("*")) == []

    def test_sweep_removes_undeliverable_mails_after_the_retention(
        self, portal, mails, caplog
    ):
        """They hold the buyer's name and address: kept as long as the log's data."""
        caplog.set_level(logging.INFO, logger="niteoweb.clickbank")
        folder = spool.directory() / spool.UNDELIVERABLE_NAME
        folder.mkdir(mode=0o700)
        settings = get_settings()
        old, recent = folder / "1-old.json", folder / "2-recent.json"
        for path in (old, recent):
            path.write_text(json.dumps(self.WAITING))
        past = time.time() - (settings.log_retention_days + 1) * 86400
        os.utime(old, (past, past))
        assert sweep.forget_undeliverable_mails(settings, dry_run=True) == 1
        sweep.run(settings, dry_run=True)
        assert old.exists()
        sweep.run(settings)
        assert not old.exists()
        assert recent.exists()
        assert "1 undeliverable welcome mail(s) older than 365 day(s) removed" in (
            caplog.text
        )
        assert mails == []  # not sent either

    def test_mail_the_server_refuses_stays_for_later(self, buyer, mails, caplog):
        """A mail that cannot be sent keeps its file, for the next restart."""

        def fail(*args, **kwargs):
            raise ConnectionRefusedError("SMTP down")

        api.portal.get_tool("MailHost").send = fail
        assert mail.send_welcome(buyer, "EN") is True
        (kept,) = spool.directory().glob("*.json")
        assert json.loads(kept.read_text())["recipient"] == "buyer@example.com"
        kept.unlink()


class TestStop:
    """SIGTERM, how process managers stop Zope, sends the waiting mails first."""

    def test_sigterm_waits_for_the_outbox_then_calls_the_earlier_handler(
        self, monkeypatch
    ):
        outbox = mail.Outbox()
        monkeypatch.setattr(mail, "OUTBOX", outbox)
        sent, calls = [], []
        earlier = signal.signal(
            signal.SIGTERM, lambda signum, frame: calls.append(list(sent))
        )
        try:
            mail.flush_on_terminate()
            mail.flush_on_terminate()  # installed once, not chained to itself
            outbox.put(lambda: (time.sleep(0.3), sent.append("welcome")))
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.01)  # the handler runs in this (the main) thread
        finally:
            signal.signal(signal.SIGTERM, earlier)
        assert calls == [["welcome"]]

    def test_sigterm_still_ends_the_process(self, tmp_path):
        """Python's default comes after the flush: the process ends by SIGTERM."""
        done = tmp_path / "sent"
        script = (
            "import os, signal, time\n"
            "from niteoweb.clickbank import mail\n"
            "mail.flush_on_terminate()\n"
            f"mail.OUTBOX.put(lambda: (time.sleep(0.3), open({str(done)!r}, 'w')))\n"
            "os.kill(os.getpid(), signal.SIGTERM)\n"
            "time.sleep(5)\n"
            "print('still running')\n"
        )
        finished = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
        )
        assert finished.returncode == -signal.SIGTERM, finished.stderr
        assert "still running" not in finished.stdout
        assert done.exists()


class TestSettings:
    """The mail fields in the schema, the registry and the control panels."""

    NAMES = {
        f"welcome_{kind}_{code}"
        for kind in ("subject", "body")
        for code in ("en", "de", "es", "fr", "it", "pt")
    }

    def test_fields_per_language(self):
        """A subject and a body field per order language, none required."""
        assert set(IClickBankMailSettings.names()) == self.NAMES
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


def msgids(path: Path) -> set[str]:
    """The msgids of a .pot or .po file (the header's empty one left out)."""
    found, current = set(), None
    for line in path.read_text(encoding="utf-8").splitlines() + [""]:
        if line.startswith("msgid "):
            current = ast.literal_eval(line[6:])
        elif line.startswith('"') and current is not None:
            current += ast.literal_eval(line)
        elif current is not None:
            if current:
                found.add(current)
            current = None
    return found


@pytest.fixture(scope="module")
def translations(tmp_path_factory):
    """The .po files compiled (in a temp dir) and registered as the domain."""
    target = tmp_path_factory.mktemp("mo")
    domain = TranslationDomain(DOMAIN)
    for language in CATALOGS:
        po = LOCALES / language / "LC_MESSAGES" / f"{DOMAIN}.po"
        mo = target / f"{language}.mo"
        with po.open("rb") as source:
            mo.write_bytes(Msgfmt(source, DOMAIN).get())
        domain.addCatalog(GettextMessageCatalog(language, DOMAIN, str(mo)))
    sm = getGlobalSiteManager()
    previous = queryUtility(ITranslationDomain, DOMAIN)
    sm.registerUtility(domain, ITranslationDomain, DOMAIN)
    yield domain
    sm.unregisterUtility(domain, ITranslationDomain, DOMAIN)
    if previous is not None:
        sm.registerUtility(previous, ITranslationDomain, DOMAIN)


class TestTranslations:
    """German and Portuguese catalogs of the user interface."""

    @pytest.mark.parametrize("language", CATALOGS)
    def test_every_msgid_is_translated(self, language):
        """Each catalog translates every message of the .pot (none fuzzy)."""
        po = LOCALES / language / "LC_MESSAGES" / f"{DOMAIN}.po"
        with po.open("rb") as source:
            catalog = Msgfmt(source, DOMAIN)
            catalog.read()
        assert msgids(LOCALES / f"{DOMAIN}.pot") - set(catalog.messages) == set()

    @pytest.mark.parametrize("language", CATALOGS)
    def test_translations_keep_placeholders(self, language):
        """A translation has exactly the ``${...}`` of its msgid."""
        po = LOCALES / language / "LC_MESSAGES" / f"{DOMAIN}.po"
        with po.open("rb") as source:
            catalog = Msgfmt(source, DOMAIN)
            catalog.read()
        for msgid, msgstr in catalog.messages.items():
            if msgid:
                assert sorted(re.findall(r"\$\{\w+\}", msgstr)) == sorted(
                    re.findall(r"\$\{\w+\}", msgid)
                ), msgid

    @pytest.mark.parametrize(
        "language, text",
        [
            ("de", "Geheimer Schlüssel"),
            ("pt", "Chave secreta"),
            ("pt_BR", "Chave secreta"),
        ],
    )
    def test_secret_key_label(self, translations, language, text):
        """The control panel's first label in German and Portuguese."""
        assert translate(_("Secret key"), target_language=language) == text

    @pytest.mark.parametrize(
        "language, text",
        [
            ("de", "Betreff der Willkommens-E-Mail (Deutsch)"),
            ("pt", "Assunto do e-mail de boas-vindas (Deutsch)"),
        ],
    )
    def test_mail_field_title(self, translations, language, text):
        """Mail field titles are translated with the language name filled in."""
        title = IClickBankSettings["welcome_subject_de"].title
        assert translate(title, target_language=language) == text

    @pytest.mark.parametrize("language", CATALOGS)
    def test_every_control_panel_label_is_translated(self, translations, language):
        """Every field title and description of the settings has a translation."""
        for name, field in IClickBankSettings.namesAndDescriptions(all=True):
            for text in (field.title, field.description):
                if text:
                    assert translate(text, target_language=language) != translate(
                        text, target_language="en"
                    ), name
