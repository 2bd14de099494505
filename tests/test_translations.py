"""The German and Portuguese catalogs of the user interface."""

import ast
import re
from pathlib import Path

import pytest
from pythongettext.msgfmt import Msgfmt
from zope.component import getGlobalSiteManager
from zope.component import queryUtility
from zope.i18n import translate
from zope.i18n.gettextmessagecatalog import GettextMessageCatalog
from zope.i18n.interfaces import ITranslationDomain
from zope.i18n.translationdomain import TranslationDomain

import niteoweb.clickbank
from niteoweb.clickbank import _
from niteoweb.clickbank.interfaces import IClickBankSettings

LOCALES = Path(niteoweb.clickbank.__file__).parent / "locales"
DOMAIN = "niteoweb.clickbank"
CATALOGS = ("de", "pt", "pt_BR")


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
