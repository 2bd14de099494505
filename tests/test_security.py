"""Security: who may see what, secrets, logs, roles, CSRF and the webhook's answers.

Everything runs over real HTTP against the acceptance layer's waitress server,
with basic auth, as an attacker (anonymous), a plain member or a site manager.
"""

import base64
import json
import logging
import re
import time
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path

import pytest
import requests
import transaction
from Crypto.Cipher import AES
from plone import api
from plone.app.testing import SITE_OWNER_NAME
from plone.app.testing import SITE_OWNER_PASSWORD
from plone.app.testing import TEST_USER_NAME
from plone.app.testing import TEST_USER_PASSWORD

from helpers import fresh
from helpers import payload
from helpers import post as post_to
from niteoweb import clickbank
from niteoweb.clickbank import members
from niteoweb.clickbank import processing
from niteoweb.clickbank.ins.crypto import derive_key
from niteoweb.clickbank.ins.crypto import encrypt
from niteoweb.clickbank.scripts.notify import build_notification
from niteoweb.clickbank.settings import get_settings
from niteoweb.clickbank.storage import log
from niteoweb.clickbank.storage.root import get_storage
from niteoweb.clickbank.testing import SECRET_KEY

RECORD = "niteoweb.clickbank."
PREVIOUS_KEY = "PREVKEY76543210"
TYPED_KEY = "TYPEDKEY5550001"
#: Every secret a response or a log line must never contain.
SECRETS = {
    "secret key": SECRET_KEY,
    "previous key": PREVIOUS_KEY,
    "AES key of the secret key": derive_key(SECRET_KEY).decode(),
    "AES key of the previous key": derive_key(PREVIOUS_KEY).decode(),
}
BUYER = {
    "email": "zebulon.quuxly@example.com",
    "first_name": "Zebulon",
    "last_name": "Quuxly",
}
ADDRESS = {"address1": "742 Evergreen Terrace", "city": "SPRINGFIELDVILLE"}
PHONE = "555-0199-4242"
#: Customer data that must never reach a log line at INFO or above.
CUSTOMER_DATA = (
    BUYER["email"],
    BUYER["first_name"],
    BUYER["last_name"],
    ADDRESS["address1"],
    ADDRESS["city"],
    PHONE,
)
#: Loggers of the test layer's own servers (aiosmtpd logs every SMTP command).
TEST_SERVERS = ("mail.log",)
ANONYMOUS = None
MEMBER = (TEST_USER_NAME, TEST_USER_PASSWORD)
MANAGER = (SITE_OWNER_NAME, SITE_OWNER_PASSWORD)
HTML = "text/html"
JSON = "application/json"
INVALID_ANSWER = {
    "error": {
        "type": "InvalidNotification",
        "message": "Invalid ClickBank notification.",
    }
}


# The add-on's pages and services, read from its ZCML, so that a view added
# later is covered without editing this table.
def registered_names() -> set[str]:
    """Names of the ``browser:page`` and ``plone:service`` the add-on registers."""
    package = Path(clickbank.__file__).parent
    names = set()
    for zcml in [*package.glob("browser/*.zcml"), *package.glob("services/*.zcml")]:
        text = zcml.read_text(encoding="utf-8")
        for element in re.findall(r"<(?:browser:page|plone:service)\b[^>]*>", text):
            names.update(re.findall(r'\bname="([^"]+)"', element))
    return names


#: Query or sub-path each page needs to show something; {record} is a record id.
PARAMETERS = {
    "clickbank-log-entry": "?id={record}",
    "clickbank-member": "?email={email}",
    "@clickbank-member": "/{email}",
}
#: The public pages: the webhook and the welcome mail's password link (the
#: token is the credential); every other name the add-on registers is for admins.
PUBLIC = {"clickbank", "clickbank-set-password"}
#: Admin paths that are not the add-on's own pages: REST control panel, registry.
EXTRA_PATHS = (
    "@controlpanels/clickbank",
    "@controlpanels",
    "@registry",
    f"@registry/{RECORD}secret_key",
)


def protected_paths() -> list[str]:
    """Every admin URL path (relative to the site) of the add-on, with parameters."""
    paths = []
    for name in sorted(registered_names() - PUBLIC):
        prefix = "" if name.startswith("@") else "@@"
        paths.append(prefix + name + PARAMETERS.get(name, ""))
    paths.append("@clickbank-log/{record}")
    paths.extend(EXTRA_PATHS)
    return paths


PROTECTED_PATHS = protected_paths()
#: Paths a manager may read; ``@registry`` is checked by its own test.
MANAGER_PATHS = [p for p in PROTECTED_PATHS if not p.startswith("@registry")] + [
    "@@clickbank-log?email={email}",
    "@@clickbank-expire?format=json",
    "@clickbank-member?email={email}",
]


@pytest.fixture
def portal(acceptance):
    return acceptance["portal"]


#: A subscription paid for this long (from the start of the current second).
PAID_PERIOD = timedelta(seconds=2)


def wait_until_due() -> None:
    """Sleep until a subscription sold now (see PAID_PERIOD) is due for the sweep."""
    time.sleep(PAID_PERIOD.total_seconds() + 0.2)


def post(site_url, body: bytes) -> requests.Response:
    return post_to(site_url + "/@@clickbank", body)


def send(
    site_url,
    transaction_type="SALE",
    receipt="AAAA1111",
    *,
    secret=SECRET_KEY,
    customise=None,
    **kwargs,
) -> requests.Response:
    """Encrypt a notification like ClickBank and post it; ``customise`` edits it."""
    if "transaction_time" in kwargs:
        data = build_notification(
            transaction_type=transaction_type, receipt=receipt, **kwargs
        )
    else:
        data = payload(transaction_type, receipt, **kwargs)
    if customise is not None:
        customise(data)
    return post(site_url, encrypt(data, secret))


def with_address(data: dict) -> None:
    """Give both contacts the distinctive address and phone of :data:`ADDRESS`."""
    for contact in data["customer"].values():
        contact["address"].update(ADDRESS)
        contact["phoneNumber"] = PHONE


def get(site_url, path, auth=ANONYMOUS, accept=HTML, **kwargs) -> requests.Response:
    return requests.get(
        f"{site_url}/{path}",
        auth=auth,
        headers={"Accept": accept},
        allow_redirects=False,
        timeout=30,
        **kwargs,
    )


def token(site_url, auth=MANAGER) -> str:
    """plone.protect's ``_authenticator`` token of ``auth``."""
    return requests.get(
        site_url + "/@@authenticator/token", auth=auth, timeout=30
    ).text.strip()


def latest_record_id(portal) -> int:
    fresh()
    return get_storage(portal).records.maxKey()


def expand(path: str, record_id) -> str:
    return path.format(record=record_id, email=BUYER["email"])


def secret_key() -> str:
    """The secret key in use, opened from its sealed record."""
    return get_settings().secret_keys[0]


def set_record(name: str, value) -> None:
    """Write a registry record around its field's validation (as a script could)."""
    api.portal.get_tool("portal_registry").records._values[RECORD + name] = value
    transaction.commit()


def refused(response: requests.Response) -> bool:
    """Whether the answer refuses access: a login redirect, 401, 403 or 404."""
    if response.status_code in (301, 302, 303, 307):
        location = response.headers.get("Location", "")
        return "require_login" in location or "insufficient-privileges" in location
    return response.status_code in (401, 403, 404)


def roles_of(user) -> set[str]:
    return set(api.user.get_roles(user=user))


def account_state(user, portal) -> dict:
    """What a notification must never change on a protected account."""
    properties = (
        "fullname",
        "email",
        "product_id",
        "affiliate",
        "last_purchase_id",
        "last_purchase_timestamp",
    )
    return {
        "roles": sorted(api.user.get_roles(user=user)),
        "local roles": sorted(api.user.get_roles(user=user, obj=portal)),
        "groups": sorted(g.getId() for g in api.group.get_groups(user=user)),
        "properties": {name: user.getProperty(name, None) for name in properties},
        "login": user.getUserName(),
    }


def password_works(login: str, password: str) -> bool:
    users = api.portal.get_tool("acl_users").source_users
    return bool(users.authenticateCredentials({"login": login, "password": password}))


def test_discovers_the_admin_views():
    """The ZCML scan finds the log, entry, CSV, member, sweep and REST views."""
    assert {
        "clickbank-controlpanel",
        "clickbank-log",
        "clickbank-log-entry",
        "clickbank-log.csv",
        "clickbank-member",
        "clickbank-expire",
        "@clickbank-log",
        "@clickbank-member",
    } <= registered_names()


class TestAccess:
    """Anonymous visitors and plain members reach none of the admin views."""

    @pytest.mark.parametrize("path", PROTECTED_PATHS)
    @pytest.mark.parametrize("auth", [ANONYMOUS, MEMBER], ids=["anonymous", "member"])
    def test_refused(self, site_url, portal, path, auth):
        """Every admin URL is refused, as HTML and as JSON, and shows no data."""
        assert send(site_url, customise=with_address, **BUYER).status_code == 200
        url = expand(path, latest_record_id(portal))
        for accept in (HTML, JSON):
            response = get(site_url, url, auth=auth, accept=accept)
            assert refused(response), (url, accept, response.status_code)
            for secret in SECRETS.values():
                assert secret not in response.text
            for value in CUSTOMER_DATA:
                assert value not in response.text

    def test_member_credentials_are_valid(self, site_url):
        """The plain member is really logged in (so the refusals above mean it)."""
        response = get(site_url, "@users/test_user_1_", auth=MEMBER, accept=JSON)
        assert response.status_code == 200

    @pytest.mark.parametrize("auth", [ANONYMOUS, MEMBER], ids=["anonymous", "member"])
    @pytest.mark.parametrize("accept", [HTML, JSON])
    def test_sweep_post_refused(self, site_url, portal, auth, accept):
        """Neither can run the expiry sweep."""
        response = requests.post(
            site_url + "/@@clickbank-expire",
            auth=auth,
            headers={"Accept": accept},
            allow_redirects=False,
            timeout=30,
        )
        assert refused(response)

    @pytest.mark.parametrize("auth", [ANONYMOUS, MEMBER], ids=["anonymous", "member"])
    def test_rest_controlpanel_patch_refused(self, site_url, auth):
        """Neither can change the settings over REST."""
        response = requests.patch(
            site_url + "/@controlpanels/clickbank",
            json={"secret_key": "HIJACKED1", "member_role": "Member"},
            auth=auth,
            headers={"Accept": JSON},
            timeout=30,
        )
        assert response.status_code in (401, 403)
        fresh()
        assert secret_key() == SECRET_KEY


class TestSecretKey:
    """The secret keys are write-only: no answer and no log line holds them."""

    @pytest.fixture(autouse=True)
    def rotating(self, portal):
        """A key rotation is under way: both keys are set."""
        api.portal.set_registry_record(RECORD + "previous_secret_key", PREVIOUS_KEY)
        transaction.commit()

    def test_never_in_any_answer_to_a_manager(self, site_url, portal):
        """No page, CSV, JSON or webhook answer contains a key, even to a manager."""
        answers = [
            send(site_url, customise=with_address, **BUYER),
            send(site_url, secret=PREVIOUS_KEY, receipt="PREV0001", **BUYER),
            send(site_url, secret="WRONGKEY", receipt="WRNG0001"),
            post(site_url, b'{"notification": "!!", "iv": "??"}'),
        ]
        record_id = latest_record_id(portal)
        for path in MANAGER_PATHS:
            for accept in (HTML, JSON):
                answers.append(
                    get(site_url, expand(path, record_id), MANAGER, accept=accept)
                )
        for accept in (HTML, JSON):
            answers.append(
                requests.post(
                    site_url + "/@@clickbank-expire",
                    auth=MANAGER,
                    headers={"Accept": accept, "X-CSRF-TOKEN": token(site_url)},
                    data={"dry_run": "1"},
                    timeout=30,
                )
            )
        assert all(a.status_code < 500 for a in answers)
        assert sum(a.status_code == 200 for a in answers) >= len(MANAGER_PATHS)
        for answer in answers:
            for name, secret in SECRETS.items():
                assert secret not in answer.text, (name, answer.url)

    def test_not_echoed_by_a_refused_form(self, site_url):
        """A typed key is not shown back when the form is refused for another field."""
        response = requests.post(
            site_url + "/@@clickbank-controlpanel",
            auth=MANAGER,
            data={
                "_authenticator": token(site_url),
                "form.widgets.secret_key": TYPED_KEY,
                "form.widgets.previous_secret_key": TYPED_KEY,
                "form.widgets.products": "gold | Gold | x",
                "form.widgets.member_role:list": "Member",
                "form.widgets.grace_days": "3",
                "form.widgets.log_retention_days": "365",
                "form.buttons.save": "Save",
            },
            timeout=30,
        )
        assert "whole number of days" in response.text
        assert TYPED_KEY not in response.text
        assert SECRET_KEY not in response.text
        fresh()
        assert secret_key() == SECRET_KEY

    @pytest.mark.parametrize(
        "path", ["@registry", f"@registry/{RECORD}secret_key"], ids=["all", "one"]
    )
    def test_not_in_registry_service(self, site_url, path):
        """The generic ``@registry`` service does not give the keys away either."""
        response = get(site_url, path, MANAGER, accept=JSON)
        assert response.status_code in (200, 401, 403, 404)
        for secret in SECRETS.values():
            assert secret not in response.text

    def test_never_logged(self, site_url, portal, caplog, monkeypatch):
        """Notifications of every kind and saving new keys log no key."""
        caplog.set_level(logging.DEBUG)
        send(site_url, customise=with_address, **BUYER)
        send(site_url, secret=PREVIOUS_KEY, receipt="PREV0001", **BUYER)
        send(site_url, secret="WRONGKEY", receipt="WRNG0001")
        post(site_url, b"garbage")
        typed = form_fields(
            **{"form.widgets.secret_key": TYPED_KEY, "form.buttons.save": "1"},
            _authenticator=token(site_url),
        )
        requests.post(
            site_url + "/@@clickbank-controlpanel", auth=MANAGER, data=typed, timeout=30
        )
        requests.patch(
            site_url + "/@controlpanels/clickbank",
            json={"secret_key": SECRET_KEY, "previous_secret_key": PREVIOUS_KEY},
            auth=MANAGER,
            headers={"Accept": JSON},
            timeout=30,
        )
        monkeypatch.setattr(log, "idempotency_key", lambda n: 1 / 0)
        assert send(site_url, receipt="FAIL0001").status_code == 500
        monkeypatch.undo()
        record_id = latest_record_id(portal)
        for path in MANAGER_PATHS:
            get(site_url, expand(path, record_id), MANAGER)
        requests.post(
            site_url + "/@@clickbank-controlpanel",
            auth=MANAGER,
            data={"_authenticator": token(site_url), "form.buttons.send_test": "1"},
            timeout=30,
        )
        logged = [logged_text(record) for record in caplog.records]
        assert any("Invalid ClickBank notification" in line for line in logged)
        assert any("ZeroDivisionError" in line for line in logged)
        fresh()
        assert secret_key() == SECRET_KEY
        for line in logged:
            for name, secret in {**SECRETS, "typed key": TYPED_KEY}.items():
                assert secret not in line, (name, line[:200])


def logged_text(record: logging.LogRecord) -> str:
    """A log record as a handler would write it, traceback included."""
    text = record.getMessage()
    if record.exc_info:
        text += "\n" + logging.Formatter().formatException(record.exc_info)
    return text + (record.exc_text or "")


class TestCustomerDataNotLogged:
    """Buyers' emails, names and addresses stay out of INFO and higher."""

    def test_nothing_personal_at_info_or_above(
        self, site_url, portal, caplog, monkeypatch
    ):
        """Sale, refund, rejected, duplicate and failing notifications; admin views."""
        caplog.set_level(logging.DEBUG)
        send(site_url, customise=with_address, **BUYER)
        send(site_url, customise=with_address, **BUYER)  # duplicate
        send(site_url, "RFND", customise=with_address, days=1, **BUYER)
        send(
            site_url,
            receipt="BAD00001",
            customise=with_address,
            email="not-an-email " + BUYER["email"],
            first_name=BUYER["first_name"],
            last_name=BUYER["last_name"],
        )
        send(site_url, secret="WRONGKEY", receipt="WRNG0001", **BUYER)
        send(site_url, "SALE", "AFFI0001", role="AFFILIATE", **BUYER)
        monkeypatch.setattr(processing.log, "record", lambda *a, **k: 1 / 0)
        failed = send(site_url, "SALE", "FAIL0001", customise=with_address, **BUYER)
        assert failed.status_code == 500
        monkeypatch.undo()
        record_id = latest_record_id(portal)
        for path in MANAGER_PATHS:
            get(site_url, expand(path, record_id), MANAGER)
        requests.post(
            site_url + "/@@clickbank-expire",
            auth=MANAGER,
            headers={"X-CSRF-TOKEN": token(site_url)},
            timeout=30,
        )
        visible = [
            r
            for r in caplog.records
            if r.levelno >= logging.INFO and not r.name.startswith(TEST_SERVERS)
        ]
        assert any("ClickBank SALE" in r.getMessage() for r in visible)
        for record in visible:
            line = logged_text(record)
            for value in CUSTOMER_DATA:
                assert value.lower() not in line.lower(), (record.name, line[:200])


# Accounts that hold roles beyond the buyer role: (direct roles, groups).
PROTECTED_ACCOUNTS = {
    "Manager": (["Manager"], []),
    "Site Administrator": (["Site Administrator"], []),
    "Editor": (["Editor"], []),
    "Reviewer": (["Reviewer"], []),
    "Manager through Administrators": ([], ["Administrators"]),
    "Site Administrator through group": ([], ["Site Administrators"]),
}


class TestProtectedAccounts:
    """A notification never changes an account that manages the site."""

    @pytest.mark.parametrize("kind", PROTECTED_ACCOUNTS)
    def test_account_left_unchanged(self, site_url, portal, smtp, kind):
        """Sale (any case), rebill, refund and chargeback leave it exactly as is."""
        roles, groups = PROTECTED_ACCOUNTS[kind]
        api.group.create(groupname="Gold")  # what buyers of "gold" join
        api.portal.set_registry_record(RECORD + "products", ["gold | Gold"])
        user = api.user.create(
            email="boss@example.com",
            password="b0ss-Secret!",
            properties={"fullname": "The Boss"},
        )
        if roles:
            api.user.grant_roles(user=user, roles=roles)
        for group in groups:
            api.group.add_user(groupname=group, user=user)
        transaction.commit()
        before = account_state(user, portal)
        deliveries = [
            ("SALE", "BOSS0001", 0, "  BOSS@Example.COM "),
            ("BILL", "BOSS0001-B001", 30, "boss@example.com"),
            ("SALE", "BOSS0002", 31, "Boss@example.com"),
            ("RFND", "BOSS0001", 32, "boss@example.com"),
            ("CGBK", "BOSS0002", 33, "boss@example.com"),
        ]
        for kind_, receipt, days, email in deliveries:
            response = send(
                site_url,
                kind_,
                receipt,
                days=days,
                email=email,
                first_name="Mallory",
                last_name="Takeover",
                affiliate="evil",
                items=("gold",),
            )
            assert response.status_code == 200
            assert response.json()["outcome"] == "protected"
        fresh()
        user = members.find("boss@example.com")
        assert account_state(user, portal) == before
        assert password_works("boss@example.com", "b0ss-Secret!")
        assert len(get_storage(portal).records) == len(deliveries)
        assert smtp.delivered()
        assert smtp.messages == []

    @pytest.mark.parametrize("fullname", ["Admin", "test_user_1_"])
    def test_name_of_an_existing_user_gets_a_new_id(self, site_url, portal, fullname):
        """A buyer named like an existing user id gets its own id and no roles."""
        first, _, last = fullname.partition(" ")
        send(site_url, email="namesake@example.com", first_name=first, last_name=last)
        fresh()
        buyer = members.find("namesake@example.com")
        assert buyer.getId() not in {SITE_OWNER_NAME, "test_user_1_"}
        assert roles_of(buyer) <= {"Member", "Authenticated"}
        local = set(api.user.get_roles(user=buyer, obj=portal))
        assert local <= {"Member", "Authenticated"}


#: Roles a buyer must never get, through the role setting.
MANAGING_ROLES = [
    "Manager",
    "Site Administrator",
    "Editor",
    "Reviewer",
    "Contributor",
    "Owner",
    "Reader",
]


class TestBuyerRole:
    """The buyers' role can never be one that manages the site."""

    @pytest.mark.parametrize("role", MANAGING_ROLES)
    def test_rest_refuses_managing_role(self, site_url, role):
        """PATCH ``@controlpanels/clickbank`` with a managing role is a 400."""
        response = requests.patch(
            site_url + "/@controlpanels/clickbank",
            json={"member_role": role},
            auth=MANAGER,
            headers={"Accept": JSON},
            timeout=30,
        )
        assert response.status_code == 400
        fresh()
        assert api.portal.get_registry_record(RECORD + "member_role") == "Member"

    @pytest.mark.parametrize("role", ["Manager", "Site Administrator"])
    def test_form_refuses_managing_role(self, site_url, role):
        """The Classic form refuses a crafted managing role and saves nothing."""
        response = requests.post(
            site_url + "/@@clickbank-controlpanel",
            auth=MANAGER,
            data={
                "_authenticator": token(site_url),
                "form.widgets.member_role:list": role,
                "form.widgets.grace_days": "9",
                "form.widgets.log_retention_days": "365",
                "form.buttons.save": "Save",
            },
            timeout=30,
        )
        assert response.status_code == 200
        assert "There were some errors" in response.text
        assert "Changes saved" not in response.text
        fresh()
        assert api.portal.get_registry_record(RECORD + "member_role") == "Member"
        assert api.portal.get_registry_record(RECORD + "grace_days") == 3

    def test_custom_role_with_managing_permission_is_refused(self, site_url, portal):
        """A custom role holding 'Manage portal' is refused; a harmless one is not."""
        portal._addRole("Shopkeeper")
        portal._addRole("Customer")
        roles = [r["name"] for r in portal.rolesOfPermission("Manage portal")]
        selected = [
            r["name"]
            for r in portal.rolesOfPermission("Manage portal")
            if r["selected"]
        ]
        assert "Shopkeeper" in roles
        portal.manage_permission("Manage portal", selected + ["Shopkeeper"], 0)
        transaction.commit()
        url = site_url + "/@controlpanels/clickbank"
        shopkeeper, customer = (
            requests.patch(
                url,
                json={"member_role": role},
                auth=MANAGER,
                headers={"Accept": JSON},
                timeout=30,
            )
            for role in ("Shopkeeper", "Customer")
        )
        assert shopkeeper.status_code == 400
        assert customer.status_code == 204

    @pytest.mark.parametrize("role", ["Manager", "Site Administrator", "Editor"])
    def test_role_set_around_the_form_is_not_granted(self, site_url, role):
        """A managing role written straight into the registry is never granted."""
        set_record("member_role", role)
        assert send(site_url).status_code == 200
        fresh()
        buyer = members.find("buyer@example.com")
        assert role not in roles_of(buyer)
        assert roles_of(buyer) <= {"Member", "Authenticated"}


#: Groups that give roles which manage the site.
MANAGING_GROUPS = ["Administrators", "Site Administrators", "Reviewers"]


class TestProductGroups:
    """A product cannot give a group that manages the site."""

    @pytest.mark.parametrize("group", MANAGING_GROUPS)
    def test_rest_refuses_managing_group(self, site_url, group):
        """PATCH with a product giving a managing group is a 400, nothing saved."""
        response = requests.patch(
            site_url + "/@controlpanels/clickbank",
            json={"products": [f"gold | {group}"]},
            auth=MANAGER,
            headers={"Accept": JSON},
            timeout=30,
        )
        assert response.status_code == 400
        fresh()
        assert api.portal.get_registry_record(RECORD + "products") == []

    def test_form_refuses_managing_group(self, site_url):
        """The Classic form refuses a product giving the Administrators group."""
        requests.post(
            site_url + "/@@clickbank-controlpanel",
            auth=MANAGER,
            data={
                "_authenticator": token(site_url),
                "form.widgets.products": "gold | Administrators",
                "form.widgets.member_role:list": "Member",
                "form.widgets.grace_days": "3",
                "form.widgets.log_retention_days": "365",
                "form.buttons.save": "Save",
            },
            timeout=30,
        )
        fresh()
        assert api.portal.get_registry_record(RECORD + "products") == []

    @pytest.mark.parametrize("group", MANAGING_GROUPS)
    def test_managing_group_is_never_given(self, site_url, group):
        """Even if the registry maps a product to it, a buyer never joins it."""
        set_record("products", [f"gold | {group}"])
        assert send(site_url, items=("gold",)).status_code == 200
        fresh()
        buyer = members.find("buyer@example.com")
        assert group not in {g.getId() for g in api.group.get_groups(user=buyer)}
        assert roles_of(buyer) <= {"Member", "Authenticated"}

    def test_site_administrator_cannot_make_a_manager(self, site_url):
        """A Site Administrator cannot use the add-on to create a Manager."""
        user = api.user.create(email="siteadmin@example.com", password="S1te-adm1n")
        api.user.grant_roles(user=user, roles=["Site Administrator"])
        transaction.commit()
        patched = requests.patch(
            site_url + "/@controlpanels/clickbank",
            json={"products": ["gold | Administrators"], "secret_key": "ATTACKER1"},
            auth=("siteadmin@example.com", "S1te-adm1n"),
            headers={"Accept": JSON},
            timeout=30,
        )
        assert patched.status_code in (204, 400, 401, 403)
        send(site_url, secret="ATTACKER1", items=("gold",), email="sock@example.com")
        fresh()
        sock = members.find("sock@example.com")
        assert sock is None or "Manager" not in roles_of(sock)


def form_fields(**fields) -> dict:
    """A complete Classic control panel submission without the CSRF token."""
    data = {
        "form.widgets.member_role:list": "Member",
        "form.widgets.grace_days": "3",
        "form.widgets.log_retention_days": "365",
    }
    data.update(fields)
    return data


def settings_state(portal) -> dict:
    """What the control panel's buttons can change."""
    fresh()
    names = ("secret_key", "previous_secret_key", "grace_days", "products")
    state = {name: api.portal.get_registry_record(RECORD + name) for name in names}
    state["group Gold"] = api.group.get(groupname="Gold") is not None
    state["records"] = len(get_storage(portal).records)
    return state


#: One submission per button of the form (what a forged page would post).
SUBMISSIONS = {
    "save": form_fields(**{"form.widgets.grace_days": "9", "form.buttons.save": "1"}),
    "secret-key": form_fields(
        **{"form.widgets.secret_key": "HIJACKED1", "form.buttons.save": "1"}
    ),
    "create-groups": form_fields(
        **{
            "form.widgets.products": "x | Gold",
            "form.widgets.create_missing_groups:list": "selected",
            "form.buttons.save": "1",
        }
    ),
    "forget-previous": {"form.buttons.forget_previous": "1"},
    "send-test": {"form.buttons.send_test": "1"},
}


class TestCsrf:
    """State-changing POSTs need plone.protect's token."""

    @pytest.mark.parametrize("button", SUBMISSIONS)
    def test_control_panel_needs_token(self, site_url, portal, button):
        """Without ``_authenticator`` a button writes nothing; with it, it does."""
        api.portal.set_registry_record(RECORD + "previous_secret_key", PREVIOUS_KEY)
        transaction.commit()
        before = settings_state(portal)
        url = site_url + "/@@clickbank-controlpanel"
        fields = SUBMISSIONS[button]
        requests.post(url, auth=MANAGER, data=fields, timeout=30)
        assert settings_state(portal) == before
        signed = {**fields, "_authenticator": token(site_url)}
        requests.post(url, auth=MANAGER, data=signed, timeout=30)
        assert settings_state(portal) != before

    def test_member_with_own_token_cannot_save(self, site_url):
        """A plain member's valid token does not open the control panel."""
        fields = {
            **SUBMISSIONS["secret-key"],
            "_authenticator": token(site_url, MEMBER),
        }
        response = requests.post(
            site_url + "/@@clickbank-controlpanel",
            auth=MEMBER,
            data=fields,
            allow_redirects=False,
            timeout=30,
        )
        assert refused(response)
        fresh()
        assert secret_key() == SECRET_KEY

    def test_sweep_post_needs_token(self, site_url, portal):
        """Without the token the sweep revokes nothing; with it, it does."""
        api.portal.set_registry_record(RECORD + "grace_days", 0)
        transaction.commit()
        now = datetime.now(UTC).replace(microsecond=0)
        send(
            site_url,
            email="buyer@example.com",
            recurring=True,
            transaction_time=now,
            next_payment_date=now + PAID_PERIOD,
        )
        wait_until_due()
        url = site_url + "/@@clickbank-expire"
        html = requests.post(url, auth=MANAGER, timeout=30)
        as_json = requests.post(url, auth=MANAGER, headers={"Accept": JSON}, timeout=30)
        assert html.status_code == 403
        assert as_json.status_code == 403
        assert as_json.json()["error"]["type"] == "Forbidden"
        fresh()
        assert "Member" in roles_of(members.find("buyer@example.com"))
        done = requests.post(
            url,
            auth=MANAGER,
            headers={"Accept": JSON, "X-CSRF-TOKEN": token(site_url)},
            timeout=30,
        )
        assert done.json()["revoked"] == 1
        fresh()
        assert "Member" not in roles_of(members.find("buyer@example.com"))


def bad_padding_body() -> bytes:
    """Right key, a notification padded neither with PKCS#7 nor with NUL bytes."""
    plaintext = json.dumps(payload()).encode()
    plaintext += b" " * (-len(plaintext) % 16 or 16)
    iv = b"0123456789abcdef"
    cipher = AES.new(derive_key(SECRET_KEY), AES.MODE_CBC, iv)
    return json.dumps(
        {
            "notification": base64.b64encode(cipher.encrypt(plaintext)).decode(),
            "iv": base64.b64encode(iv).decode(),
        }
    ).encode()


def envelope(notification, iv="MDEyMzQ1Njc4OWFiY2RlZg==") -> bytes:
    return json.dumps({"notification": notification, "iv": iv}).encode()


def right_key(plaintext) -> bytes:
    return encrypt(plaintext, SECRET_KEY)


#: Bodies that fail at different steps of the verification.
FAILURES = {
    "wrong key": encrypt(payload(), "WRONGKEY"),
    "bad padding": bad_padding_body(),
    "bad base64 notification": envelope("not*base64*at*all"),
    "bad base64 iv": envelope(base64.b64encode(b"x" * 32).decode(), iv="%%%%"),
    "short iv": envelope(base64.b64encode(b"x" * 32).decode(), iv="MTIz"),
    "partial block": envelope(base64.b64encode(b"x" * 20).decode()),
    "not json envelope": b"notification=abc&iv=def",
    "envelope is a list": b"[]",
    "plaintext not json": right_key(b"receipt=AAAA1111&transactionType=SALE"),
    "plaintext is a list": right_key("[1, 2, 3]"),
    "no receipt": right_key({**payload(), "receipt": ""}),
    "receipt is a number": right_key({**payload(), "receipt": 12345678}),
    "lineItems not a list": right_key({**payload(), "lineItems": "gold"}),
    "no transaction time": right_key({**payload(), "transactionTime": None}),
}


class TestNoOracle:
    """Every kind of invalid body gets exactly the same answer."""

    def test_same_answer_for_every_failure(self, site_url, portal):
        """Status, headers and body are equal whatever check failed."""
        answers = {name: post(site_url, body) for name, body in FAILURES.items()}
        reference = answers["wrong key"]
        assert reference.status_code == 400
        assert reference.json() == INVALID_ANSWER
        for name, answer in answers.items():
            assert answer.status_code == reference.status_code, name
            assert answer.content == reference.content, name
            for header in ("Content-Type", "Content-Length", "Cache-Control"):
                assert answer.headers.get(header) == reference.headers.get(header), (
                    name,
                    header,
                )
        fresh()
        assert len(get_storage(portal).records) == 0
