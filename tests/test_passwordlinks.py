"""The welcome mail's password links: stored by the add-on, expiring, swept."""

from datetime import UTC
from datetime import datetime
from datetime import timedelta

from niteoweb.clickbank import members
from niteoweb.clickbank import passwordlinks
from niteoweb.clickbank.storage import get_storage

NOW = datetime(2026, 5, 1, tzinfo=UTC)


def token_of(link: str) -> str:
    return link.split("token=", 1)[1]


def test_new_link_does_not_touch_plone_reset_tool(portal):
    """Making a link writes only the add-on's BTree, not the site-wide tool."""
    member = members.create("buyer@example.com", "Buyer")
    tool = portal.portal_password_reset
    tool._p_changed = False
    link, hours = passwordlinks.new_link(member, NOW)
    assert hours == 168
    assert tool._p_changed is False
    assert token_of(link) in get_storage().password_tokens


def test_valid_token_leads_to_plone_form(portal):
    """A valid token gives Plone's password form for the member."""
    member = members.create("buyer@example.com", "Buyer")
    link, _ = passwordlinks.new_link(member, NOW)
    url = passwordlinks.reset_url(token_of(link), NOW + timedelta(hours=1))
    assert url.startswith(portal.absolute_url() + "/passwordreset/")
    assert passwordlinks.reset_url(token_of(link), NOW + timedelta(hours=2)) == url


def test_expired_or_unknown_token_gives_nothing(portal):
    """After its lifetime, or made up, a token leads nowhere."""
    member = members.create("buyer@example.com", "Buyer")
    link, hours = passwordlinks.new_link(member, NOW)
    later = NOW + timedelta(hours=hours, seconds=1)
    assert passwordlinks.reset_url(token_of(link), later) is None
    assert passwordlinks.reset_url("00000000001-made-up", NOW) is None
    assert passwordlinks.reset_url("", NOW) is None


def test_sweep_forgets_only_expired_tokens(portal):
    """Expired tokens are deleted by key range; valid ones stay."""
    member = members.create("buyer@example.com", "Buyer")
    old, hours = passwordlinks.new_link(member, NOW)
    new, _ = passwordlinks.new_link(member, NOW + timedelta(days=30))
    when = NOW + timedelta(hours=hours + 1)
    assert passwordlinks.forget_expired(get_storage(), when, dry_run=True) == 1
    assert passwordlinks.forget_expired(get_storage(), when) == 1
    tokens = get_storage().password_tokens
    assert token_of(old) not in tokens
    assert token_of(new) in tokens
