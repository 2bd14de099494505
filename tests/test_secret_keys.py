"""The secret keys: sealed in the registry, or set by the server configuration.

No generic Plone screen, service or export shows a key in clear; the add-on
still opens them for the notifications. Over real HTTP against the acceptance
layer, as the site owner.
"""

import io
import tarfile

import pytest
import requests
import transaction
from App.config import getConfiguration
from plone import api
from plone.app.testing import SITE_OWNER_NAME
from plone.app.testing import SITE_OWNER_PASSWORD
from plone.keyring.interfaces import IKeyManager
from zope.component import getUtility

from helpers import fresh
from helpers import payload
from helpers import post
from niteoweb.clickbank.ins.crypto import derive_key
from niteoweb.clickbank.ins.crypto import encrypt
from niteoweb.clickbank.settings import get_settings
from niteoweb.clickbank.testing import SECRET_KEY

RECORD = "niteoweb.clickbank."
KEY = "SEALEDKEY123456"
PREVIOUS_KEY = "PREVIOUSKEY9876"
SERVER_KEY = "SERVERKEY424242"
KEY_FIELDS = ("secret_key", "previous_secret_key")
MANAGER = (SITE_OWNER_NAME, SITE_OWNER_PASSWORD)
JSON = {"Accept": "application/json"}
#: Text that must appear in no answer and no export.
SECRETS = {
    "secret key": KEY,
    "previous key": PREVIOUS_KEY,
    "AES key of the secret key": derive_key(KEY).decode(),
    "AES key of the previous key": derive_key(PREVIOUS_KEY).decode(),
}


@pytest.fixture
def portal(acceptance):
    return acceptance["portal"]


@pytest.fixture
def server_config(monkeypatch):
    """The ``<product-config niteoweb.clickbank>`` section of zope.conf."""
    section = {}
    monkeypatch.setattr(
        getConfiguration(),
        "product_config",
        {"niteoweb.clickbank": section},
        raising=False,
    )
    return section


def token(site_url) -> str:
    """plone.protect's ``_authenticator`` token of the site owner."""
    return requests.get(
        site_url + "/@@authenticator/token", auth=MANAGER, timeout=30
    ).text.strip()


def get(site_url, path, headers=None) -> requests.Response:
    return requests.get(f"{site_url}/{path}", auth=MANAGER, headers=headers, timeout=60)


def send(site_url, secret, receipt="AAAA1111") -> requests.Response:
    """Post a SALE encrypted with ``secret`` to the webhook."""
    body = encrypt(payload(receipt=receipt), secret)
    return post(site_url + "/@@clickbank", body)


def patch(site_url, path, data) -> requests.Response:
    return requests.patch(
        f"{site_url}/{path}", json=data, auth=MANAGER, headers=JSON, timeout=30
    )


def registry_listing(site_url) -> list[requests.Response]:
    """The pages of Site Setup → Configuration Registry that list the key records.

    The listing shows 15 records a page in name order; its 200 pages take
    minutes, so only the pages holding the add-on's records are opened, and
    the filtered views.
    """
    fresh()
    names = list(api.portal.get_tool("portal_registry").records.keys())
    starts = sorted({names.index(RECORD + name) // 15 * 15 for name in KEY_FIELDS})
    paths = [f"portal_registry?b_start={start}" for start in starts]
    paths += [
        "portal_registry?q=clickbank",
        "portal_registry?q=secret_key",
        "portal_registry?qp=prefix:niteoweb.clickbank",
    ]
    return [get(site_url, path) for path in paths]


def registry_service(site_url) -> list[requests.Response]:
    """``@registry`` filtered to the add-on, and the keys' ``@registry/<record>``."""
    answers = [get(site_url, "@registry?q=niteoweb.clickbank", JSON)]
    for name in KEY_FIELDS:
        answers.append(get(site_url, f"@registry/{RECORD}{name}", JSON))
    return answers


def registry_exports(site_url) -> list[requests.Response]:
    """The record edit forms and the registry's XML exports."""
    answers = [
        get(site_url, f"portal_registry/edit/{RECORD}{name}") for name in KEY_FIELDS
    ]
    answers += [
        get(
            site_url,
            "portal_registry/@@configuration_registry_export_xml"
            "?interface=niteoweb.clickbank.interfaces.IClickBankSettings",
        ),
        get(
            site_url,
            "portal_registry/@@configuration_registry_export_xml"
            "?name=niteoweb.clickbank",
        ),
        requests.post(
            site_url + "/portal_registry",
            data={"button.exportregistry": "1"},
            auth=MANAGER,
            timeout=60,
        ),
    ]
    return answers


def generic_setup_export(portal) -> str:
    """The text of every file of portal_setup's export of the registry."""
    fresh()
    result = portal.portal_setup.runExportStep("plone.app.registry")
    with tarfile.open(fileobj=io.BytesIO(result["tarball"])) as tarball:
        return "\n".join(
            tarball.extractfile(member).read().decode("utf-8")
            for member in tarball.getmembers()
            if member.isfile()
        )


def stored(name: str) -> str:
    """The value the registry record of key ``name`` holds, as committed."""
    fresh()
    return api.portal.get_tool("portal_registry").records[RECORD + name].value


def forget_sealing_secret(how: str) -> None:
    """Lose the site secret the keys are sealed with."""
    from niteoweb.clickbank.secretkeys import RING

    manager = getUtility(IKeyManager)
    if how == "cleared":
        manager.clear(RING)
    else:
        del manager[RING]
    transaction.commit()


class TestNoGenericScreenShowsAKey:
    """Registry screens, ``@registry`` and the exports show no key in clear."""

    @pytest.fixture(autouse=True)
    def keys(self, site_url, portal):
        """One key set through the REST control panel, one through ``@registry``."""
        previous = {RECORD + "previous_secret_key": PREVIOUS_KEY}
        answers = [
            patch(site_url, "@controlpanels/clickbank", {"secret_key": KEY}),
            patch(site_url, "@registry", previous),
        ]
        assert [a.status_code for a in answers] == [204, 204]

    def test_no_page_or_service_shows_a_key(self, site_url):
        """Every page listing registry records, ``@registry`` and the panels."""
        answers = [
            *registry_listing(site_url),
            *registry_service(site_url),
            *registry_exports(site_url),
            get(site_url, "@controlpanels/clickbank", JSON),
            get(site_url, "@@clickbank-controlpanel"),
        ]
        assert all(a.status_code == 200 for a in answers), [
            (a.url, a.status_code) for a in answers if a.status_code != 200
        ]
        listed = [a for a in answers if f"{RECORD}secret_key" in a.text]
        assert len(listed) >= 5  # the pages really show the records
        for answer in answers:
            for name, secret in SECRETS.items():
                assert secret not in answer.text, (name, answer.url)

    def test_generic_setup_export_has_no_key(self, portal):
        """portal_setup's export of the registry writes the records, no key."""
        exported = generic_setup_export(portal)
        assert f"{RECORD}secret_key" in exported
        for name, secret in SECRETS.items():
            assert secret not in exported, name

    def test_notifications_still_open(self, site_url):
        """The webhook still accepts notifications encrypted with either key."""
        assert send(site_url, KEY).status_code == 200
        assert send(site_url, PREVIOUS_KEY, receipt="BBBB2222").status_code == 200
        assert send(site_url, SECRET_KEY, receipt="CCCC3333").status_code == 400


def write_with_plone_api(site_url):
    api.portal.set_registry_record(RECORD + "secret_key", KEY)
    transaction.commit()


def write_with_rest_controlpanel(site_url):
    assert patch(site_url, "@controlpanels/clickbank", {"secret_key": KEY}).ok


def write_with_registry_service(site_url):
    assert patch(site_url, "@registry", {RECORD + "secret_key": KEY}).ok


def write_with_classic_controlpanel(site_url):
    response = requests.post(
        site_url + "/@@clickbank-controlpanel",
        auth=MANAGER,
        data={
            "_authenticator": token(site_url),
            "form.widgets.secret_key": KEY,
            "form.widgets.member_role:list": "Member",
            "form.widgets.grace_days": "3",
            "form.widgets.log_retention_days": "365",
            "form.buttons.save": "Save",
        },
        timeout=30,
    )
    assert "Changes saved" in response.text


def write_with_record_edit_form(site_url):
    response = requests.post(
        f"{site_url}/portal_registry/edit/{RECORD}secret_key",
        auth=MANAGER,
        data={
            "_authenticator": token(site_url),
            "form.widgets.value": KEY,
            "form.buttons.save": "Save",
        },
        timeout=30,
    )
    assert response.ok


def import_registry_xml(site_url, record: str):
    """Import ``<registry>record</registry>`` in the Configuration Registry."""
    xml = f"<registry>{record}</registry>"
    response = requests.post(
        site_url + "/portal_registry",
        auth=MANAGER,
        data={"_authenticator": token(site_url), "button.importregistry": "1"},
        files={"file": ("registry.xml", xml.encode(), "text/xml")},
        timeout=30,
    )
    assert response.ok


def write_with_registry_import(site_url):
    import_registry_xml(
        site_url, f'<record name="{RECORD}secret_key"><value>{KEY}</value></record>'
    )


WRITERS = {
    "plone.api": write_with_plone_api,
    "REST control panel": write_with_rest_controlpanel,
    "PATCH @registry": write_with_registry_service,
    "Classic control panel": write_with_classic_controlpanel,
    "registry record form": write_with_record_edit_form,
    "registry import": write_with_registry_import,
}


class TestSealedOnEveryWrite:
    """However a key reaches the registry, its record holds it sealed."""

    @pytest.mark.parametrize("writer", WRITERS)
    def test_record_holds_the_key_sealed(self, site_url, portal, writer):
        """The record does not contain the key, and the add-on opens it."""
        WRITERS[writer](site_url)
        assert stored("secret_key").startswith("sealed:")
        assert KEY not in stored("secret_key")
        assert get_settings().secret_keys == (KEY,)
        assert send(site_url, KEY).status_code == 200

    def test_record_added_with_a_key_is_sealed(self, site_url, portal):
        """A registry import that creates the record with a key seals it too."""
        del api.portal.get_tool("portal_registry").records[RECORD + "secret_key"]
        transaction.commit()
        import_registry_xml(
            site_url,
            f'<record name="{RECORD}secret_key">'
            '<field type="plone.registry.field.Password">'
            "<title>Secret key</title><required>False</required></field>"
            f"<value>{KEY}</value></record>",
        )
        assert stored("secret_key").startswith("sealed:")
        assert get_settings().secret_keys == (KEY,)


class TestServerConfiguration:
    """A key in zope.conf or the environment replaces the registry's."""

    def test_zope_conf_key_wins(self, site_url, server_config):
        """``secret_key`` in the product-config section is the key in use."""
        server_config["secret_key"] = SERVER_KEY
        assert send(site_url, SERVER_KEY).status_code == 200
        assert send(site_url, SECRET_KEY, receipt="BBBB2222").status_code == 400

    def test_environment_key_wins(self, site_url, monkeypatch):
        """``CLICKBANK_SECRET_KEY`` in the server's environment is the key in use."""
        monkeypatch.setenv("CLICKBANK_SECRET_KEY", SERVER_KEY)
        monkeypatch.setenv("CLICKBANK_PREVIOUS_SECRET_KEY", PREVIOUS_KEY)
        assert send(site_url, SERVER_KEY).status_code == 200
        assert send(site_url, PREVIOUS_KEY, receipt="BBBB2222").status_code == 200
        assert send(site_url, SECRET_KEY, receipt="CCCC3333").status_code == 400

    def test_zope_conf_before_environment(self, site_url, server_config, monkeypatch):
        """With both set, zope.conf's key is the one in use."""
        server_config["secret_key"] = SERVER_KEY
        monkeypatch.setenv("CLICKBANK_SECRET_KEY", KEY)
        assert send(site_url, SERVER_KEY).status_code == 200
        assert send(site_url, KEY, receipt="BBBB2222").status_code == 400

    def test_panels_say_set_by_the_server(self, site_url, server_config):
        """The form does not offer the field; both panels say where the key is."""
        server_config["secret_key"] = SERVER_KEY
        page = get(site_url, "@@clickbank-controlpanel")
        assert "Secret key: set by the server configuration." in page.text
        assert 'name="form.widgets.secret_key"' not in page.text
        assert 'name="form.widgets.previous_secret_key"' in page.text
        answer = get(site_url, "@controlpanels/clickbank", JSON).json()
        assert answer["secret_keys_source"] == {
            "secret_key": "server",
            "previous_secret_key": None,
        }
        assert answer["secret_keys_set"]["secret_key"] is True
        assert SERVER_KEY not in page.text + str(answer)


class TestLostSealingSecret:
    """Without the site secret the keys were sealed with, the add-on waits for a key."""

    @pytest.mark.parametrize("how", ["cleared", "removed"])
    def test_webhook_answers_503(self, site_url, portal, how):
        """ClickBank is told to retry, not given a 500."""
        forget_sealing_secret(how)
        response = send(site_url, SECRET_KEY)
        assert response.status_code == 503
        assert response.json()["error"]["type"] == "NotConfigured"

    def test_panels_ask_for_the_key_again(self, site_url, portal):
        """Both panels say the stored key must be entered again."""
        forget_sealing_secret("cleared")
        page = get(site_url, "@@clickbank-controlpanel")
        assert "Secret key: the stored key can no longer be read" in page.text
        answer = get(site_url, "@controlpanels/clickbank", JSON).json()
        assert answer["secret_keys_source"]["secret_key"] == "unreadable"
        assert answer["secret_keys_set"]["secret_key"] is False

    def test_entering_the_key_again_works(self, site_url, portal):
        """A key saved after the loss is sealed anew and opens notifications."""
        forget_sealing_secret("removed")
        assert patch(site_url, "@controlpanels/clickbank", {"secret_key": KEY}).ok
        assert send(site_url, KEY).status_code == 200
