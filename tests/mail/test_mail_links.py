"""The set-password link of the welcome mail: signed, single-use, stored nowhere."""

import base64
import hashlib
import hmac
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from types import SimpleNamespace
from urllib.parse import parse_qs
from urllib.parse import quote
from urllib.parse import urlsplit

import pytest
import transaction
from hypothesis import given
from hypothesis import strategies as st
from plone import api
from plone.keyring.interfaces import IKeyManager
from Products.CMFPlone.PasswordResetTool import InvalidRequestError
from zope.component import getUtility

from niteoweb.clickbank import members
from niteoweb.clickbank.mail import links

NOW = datetime(2026, 5, 1, tzinfo=UTC)
SOON = NOW + timedelta(hours=1)
EMAIL = "buyer@example.com"


def token_of(link: str) -> str:
    return link.split("token=", 1)[1]


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


def sign(secret: str, payload: str, purpose: bytes = links.PURPOSE) -> str:
    message = purpose + b"\n" + payload.encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def form_prefix(portal) -> str:
    return portal.absolute_url() + "/passwordreset/"


def nobody(userid: str) -> SimpleNamespace:
    """A member object for a user id no one has."""
    return SimpleNamespace(getId=lambda: userid, getProperty=lambda _, default: default)


def log_in(portal, member) -> None:
    """What Plone's login form does once the password checked out."""
    with api.env.adopt_user(user=member):
        portal.portal_membership.loginUser()


@pytest.fixture
def member(portal):
    return members.create(EMAIL, "Buyer")


@pytest.fixture
def token(member) -> str:
    link, _ = links.new_link(member, NOW)
    return token_of(link)


class TestNewLink:
    def test_sale_writes_nothing(self, portal, member):
        """Making a link registers no object with the connection: no write at all."""
        connection = portal._p_jar
        transaction.savepoint()  # what the sale wrote so far (the member)
        assert connection._registered_objects == []
        link, hours = links.new_link(member, NOW)
        assert hours == 168
        assert connection._registered_objects == []
        assert not connection._added
        assert portal.portal_password_reset._p_changed is False

    def test_one_url_safe_token_parameter(self, portal, member):
        """``?token=<sealed id>.<expiry>.<state>.<signature>``, nothing to escape."""
        link, hours = links.new_link(member, NOW)
        parts = urlsplit(link)
        assert f"{parts.scheme}://{parts.netloc}{parts.path}" == (
            portal.absolute_url() + "/" + links.VIEW
        )
        query = parse_qs(parts.query, strict_parsing=True)
        assert list(query) == ["token"]
        (token,) = query["token"]
        assert quote(token, safe="") == token
        sealed, expires, state, signature = token.split(".")
        assert int(expires) == int((NOW + timedelta(hours=hours)).timestamp())
        assert len(state) == 16
        assert len(signature) == 43
        # 12 bytes of nonce, then as many bytes as the user id has.
        data = base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4))
        assert len(data) == links.NONCE_BYTES + len(member.getId())

    def test_link_does_not_show_the_buyer(self, portal, member):
        """Access logs see the link: neither the email nor its base64 is in it."""
        made = {links.new_link(member, NOW)[0] for _ in range(20)}
        assert len(made) == 20  # a new nonce each time
        for link in made:
            token = token_of(link)
            sealed = token.split(".")[0]
            data = base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4))
            assert EMAIL.encode() not in data
            for shown in (EMAIL, b64(EMAIL), "buyer", b64("buyer")[:6]):
                assert shown not in link
            assert links.reset_url(token, SOON)

    def test_signed_with_current_system_secret_and_purpose(self, portal, token):
        """The signature is HMAC-SHA256 under the purpose string, keyed by the ring."""
        payload, signature = token.rsplit(".", 1)
        secret = getUtility(IKeyManager).secret("_system")
        assert hmac.compare_digest(sign(secret, payload), signature)
        assert sign(secret, payload, purpose=b"") != signature

    def test_lifetime_follows_plone_reset_expiry(self, portal, member):
        """Plone's reset timeout (days) gives the link's lifetime."""
        portal.portal_password_reset.setExpirationTimeout(2)
        link, hours = links.new_link(member, NOW)
        assert hours == 48
        token = token_of(link)
        assert links.reset_url(token, NOW + timedelta(hours=47))
        assert links.reset_url(token, NOW + timedelta(hours=48)) is None


class TestResetUrl:
    def test_valid_token_leads_to_plone_form(self, portal, member, token):
        """A valid token gives Plone's password form for the member."""
        url = links.reset_url(token, SOON)
        assert url.startswith(form_prefix(portal))
        randomstring = url.rsplit("/", 1)[1]
        tool = portal.portal_password_reset
        tool.verifyKey(randomstring)
        assert tool._requests[randomstring][0] == member.getId()

    def test_link_works_more_than_once(self, portal, token):
        """A second visit (or a mail scanner's first) leads to the same form."""
        url = links.reset_url(token, SOON)
        assert links.reset_url(token, SOON + timedelta(hours=2)) == url
        assert len(portal.portal_password_reset._requests) == 1

    def test_link_dies_once_the_password_is_chosen(self, portal, member, token):
        """Plone's form sets the password: the link and its reset request are dead."""
        url = links.reset_url(token, SOON)
        randomstring = url.rsplit("/", 1)[1]
        tool = portal.portal_password_reset
        tool.resetPassword(EMAIL, randomstring, "Chosen-Password-2026")
        assert links.reset_url(token, SOON) is None
        with pytest.raises(InvalidRequestError):
            tool.verifyKey(randomstring)
        assert not tool._requests

    def test_link_dies_at_login(self, portal, member, token):
        """A member who has logged in uses "Forgot your password?" instead."""
        assert links.reset_url(token, SOON)
        log_in(portal, member)
        assert links.reset_url(token, SOON) is None

    def test_link_made_after_a_login_works_until_the_next(self, portal, member):
        """Mailed again to a member who logged in before: works until the next login."""
        log_in(portal, member)
        link, _ = links.new_link(api.user.get(userid=member.getId()), NOW)
        assert links.reset_url(token_of(link), SOON)
        log_in(portal, member)
        assert links.reset_url(token_of(link), SOON) is None

    def test_used_request_is_replaced(self, portal, token):
        """Once Plone consumed its reset request, the link asks for a new one."""
        url = links.reset_url(token, SOON)
        del portal.portal_password_reset._requests[url.rsplit("/", 1)[1]]
        again = links.reset_url(token, SOON)
        assert again.startswith(form_prefix(portal))
        assert again != url

    def test_expiry(self, member, token):
        """Valid up to its expiry second, not at it nor after."""
        expires = datetime.fromtimestamp(int(token.split(".")[1]), UTC)
        assert links.reset_url(token, expires - timedelta(seconds=1))
        assert links.reset_url(token, expires) is None
        assert links.reset_url(token, expires + timedelta(days=1)) is None

    def test_deleted_member_gets_nothing(self, portal, member, token):
        """A member deleted after the mail: the link (even used before) is dead."""
        assert links.reset_url(token, SOON)
        with api.env.adopt_roles(["Manager"]):
            api.user.delete(user=member)
        assert links.reset_url(token, SOON) is None

    def test_unknown_user_id_gets_nothing(self, portal, member):
        """A token for a user id that never existed leads nowhere."""
        link, _ = links.new_link(nobody("ghost"), NOW)
        assert links.reset_url(token_of(link), SOON) is None

    def test_non_ascii_user_id_round_trips(self, portal, monkeypatch):
        """Any user id survives in the URL: the link asks Plone for that user."""
        userid = "jöşé@exämple.com/ü?&=."
        link, _ = links.new_link(nobody(userid), NOW)
        token = token_of(link)
        assert quote(token, safe="") == token
        asked = []
        tool = portal.portal_password_reset
        monkeypatch.setattr(tool, "requestReset", asked.append)
        assert links.reset_url(token, SOON) is None  # Plone knows no such user
        assert asked == [userid]


class TestTampering:
    def test_any_changed_character_is_refused(self, portal, token):
        """Changing, dropping or adding any one character breaks the link."""
        assert links.reset_url(token, SOON)
        for i, char in enumerate(token):
            other = "B" if char == "A" else "A"
            if char.isdigit():
                other = "1" if char == "0" else "0"
            assert links.reset_url(token[:i] + other + token[i + 1 :], SOON) is None
            assert links.reset_url(token[:i] + token[i + 1 :], SOON) is None
            assert links.reset_url(token[:i] + "A" + token[i:], SOON) is None
        assert links.reset_url(token + "A", SOON) is None

    def test_other_user_with_my_signature_is_refused(self, portal, member, token):
        """Swapping in another member's id (or a longer expiry) voids the signature."""
        members.create("other@example.com", "Other")
        encoded, expires, state, signature = token.split(".")
        forged = f"{b64('other@example.com')}.{expires}.{state}.{signature}"
        assert links.reset_url(forged, SOON) is None
        later = f"{encoded}.{int(expires) + 86400}.{state}.{signature}"
        assert links.reset_url(later, NOW + timedelta(days=7, hours=1)) is None

    def test_unknown_secret_or_other_purpose_is_refused(self, portal, member, token):
        """Signed with a secret not in the ring, or without the purpose: refused."""
        payload = token.rsplit(".", 1)[0]
        secret = getUtility(IKeyManager).secret("_system")
        assert links.reset_url(f"{payload}.{sign(secret, payload)}", SOON)
        bad_key = f"{payload}.{sign('x' * 64, payload)}"
        assert links.reset_url(bad_key, SOON) is None
        no_purpose = f"{payload}.{sign(secret, payload, purpose=b'')}"
        assert links.reset_url(no_purpose, SOON) is None

    def test_padded_or_non_canonical_parts_are_refused(self, portal, token):
        """Only the exact signed text counts: no padding, no leading zeros."""
        encoded, expires, state, signature = token.split(".")
        variants = [
            f"{encoded}=.{expires}.{state}.{signature}",
            f"{encoded}.0{expires}.{state}.{signature}",
            f"{encoded}.{expires}.{state}=.{signature}",
            f"{encoded}.{expires}.{state}.{signature}=",
            f"{encoded}.{expires}.{state}.{signature[:-1]}",
            f" {token}",
            f"{token}\n",
            token.replace(".", "-"),
        ]
        for variant in variants:
            assert links.reset_url(variant, SOON) is None


class TestKeyring:
    def test_token_survives_rotation(self, portal, member, token):
        """Links mailed before a rotation work while their secret is in the ring."""
        manager = getUtility(IKeyManager)
        manager.rotate()
        assert links.reset_url(token, SOON)
        link, _ = links.new_link(member, NOW)
        assert token_of(link) != token  # signed with the new current secret
        assert links.reset_url(token_of(link), SOON)

    def test_token_dies_when_its_secret_leaves_the_ring(self, portal, token):
        """Rotated out (or the ring cleared), the secret no longer verifies."""
        manager = getUtility(IKeyManager)
        for _ in range(len(manager["_system"]) - 1):
            manager.rotate()
        assert links.reset_url(token, SOON)
        manager.rotate()
        assert links.reset_url(token, SOON) is None

    def test_cleared_ring_voids_links(self, portal, token):
        """plone.session's "clear secrets" clears and rotates: every link dies."""
        manager = getUtility(IKeyManager)
        manager.clear()
        manager.rotate()
        assert links.reset_url(token, SOON) is None


GARBAGE = [
    "",
    ".",
    "..",
    "...",
    "a.b.c",
    "a.1",
    "a.1.",
    ".1.",
    "a..b",
    "a.1.b.c",
    "ü.1.ü",
    "ünïcödé",
    "\x00",
    "A" * 100_000,
    "A.1." + "A" * 43 + ".extra",
    "A.1." + "A" * 42,
    "A.1." + "A" * 44,
    "A.99999999999999999999." + "A" * 43,
    "A.-1." + "A" * 43,
    "A.１２３." + "A" * 43,  # full-width digits
    "!!!!.1." + "A" * 43,
    "A" * 5 + ".1." + "A" * 43,  # base64 of impossible length
    "00000000001-made-up",
    "99999999999-" + "A" * 32,
    "1-" + "A" * 32,
    "token=x",
]


class TestGarbage:
    @pytest.mark.parametrize("garbage", GARBAGE)
    def test_garbage_gives_nothing(self, portal, garbage):
        assert links.reset_url(garbage, NOW) is None

    @pytest.mark.parametrize("garbage", [None, 123, b"abc", ["a", "b"], {"a": 1}])
    def test_non_text_gives_nothing(self, portal, garbage):
        """A query string can give a list (repeated parameter) or a record."""
        assert links.reset_url(garbage, NOW) is None

    @given(st.text(max_size=300))
    def test_any_text_gives_nothing(self, portal, garbage):
        assert links.reset_url(garbage, NOW) is None

    @given(
        st.from_regex(
            r"[A-Za-z0-9_=-]{0,60}\.[0-9]{0,14}\.[A-Za-z0-9_=-]{0,50}(\.[a-z]*)?",
            fullmatch=True,
        )
    )
    def test_token_shaped_text_gives_nothing(self, portal, garbage):
        assert links.reset_url(garbage, NOW) is None


class TestView:
    """``@@clickbank-set-password`` through the publisher."""

    @pytest.fixture
    def link(self, functional_portal) -> str:
        member = members.create(EMAIL, "Buyer")
        link, _ = links.new_link(member)
        transaction.commit()
        return link

    def test_valid_link_opens_plone_form(self, browser, link):
        browser.open(link)
        assert "/passwordreset/" in browser.url
        assert 'name="pwreset_action"' in browser.contents

    @pytest.mark.parametrize(
        "query", ["", "?token=", "?token=a.1.b", "?token=x&token=y", "?token:list=x"]
    )
    def test_bad_link_leads_to_forgot_password(self, browser, link, query):
        """The friendly page: a warning and the "Forgot your password?" form."""
        base = link.split("?", 1)[0]
        browser.open(base + query)
        assert browser.url.endswith("/mail_password_form")
        assert "This link has expired or was already used" in browser.contents
