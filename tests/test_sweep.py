"""The expiry sweep of sweep.py, and @@clickbank-expire and clickbank-expire.

The view and the command run both sweeps; the retention sweep on its own
(sweep.blank_old_payloads) is tested in test_sweep_retention.py.
"""

import dataclasses
import json
import logging
import os
import subprocess
import sys
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path

import pytest
import transaction
from AccessControl.SecurityManagement import getSecurityManager
from plone import api
from plone.app.testing import TEST_USER_NAME
from plone.app.testing import TEST_USER_PASSWORD
from ZODB.POSException import ConflictError
from zope.component import getGlobalSiteManager

from helpers import T0
from helpers import Counting
from helpers import notification
from helpers import payload
from niteoweb.clickbank import members
from niteoweb.clickbank import processing
from niteoweb.clickbank import sweep
from niteoweb.clickbank.events import IClickBankEvent
from niteoweb.clickbank.events import MemberDisabledEvent
from niteoweb.clickbank.ins.parse import parse
from niteoweb.clickbank.lifecycle import Action
from niteoweb.clickbank.scripts import expire
from niteoweb.clickbank.settings import get_settings
from niteoweb.clickbank.storage import expiry
from niteoweb.clickbank.storage import orders
from niteoweb.clickbank.storage.root import get_storage
from niteoweb.clickbank.testing import install_mock_mailhost

BUYER = "buyer@example.com"
#: A cancelled monthly subscription bought at T0 is paid until T0 + 30 days.
AFTER_PERIOD = T0 + timedelta(days=31)
FAR_FUTURE = T0 + timedelta(days=3650)
GRACE = timedelta(days=3)  # the add-on's default grace days


def _key(moment: datetime, receipt: str = "AAAA1111") -> tuple:
    return (int(moment.timestamp()), receipt, "1")


#: Expiry keys of the monthly subscription of :func:`subscription_with_rebill`:
#: paid to day 30 by the sale, to day 60 by the rebill (each plus grace).
SALE_KEY = _key(T0 + timedelta(days=30) + GRACE)
BILL_KEY = _key(T0 + timedelta(days=60) + GRACE)
#: The key the sale of :func:`cancelled_subscription` had before the cancellation.
CANCELLED_SALE_KEY = SALE_KEY
BIN = Path(sys.executable).parent


def cancelled_subscription(receipt="AAAA1111", email=BUYER, start=0, **kwargs):
    """Buy a monthly subscription ``start`` days after T0 and cancel it 5 days on."""
    for kind, days in (("SALE", start), ("CANCEL-REBILL", start + 5)):
        n = notification(kind, receipt, days, email=email, recurring=True, **kwargs)
        processing.handle(n, get_settings(), now=n.transaction_time)


def subscription_with_rebill():
    """A monthly subscription sold at T0 and rebilled on day 30."""
    for kind, receipt, days in (("SALE", "AAAA1111", 0), ("BILL", "AAAA1111-B002", 30)):
        n = notification(kind, receipt, days, email=BUYER, recurring=True)
        processing.handle(n, get_settings(), now=n.transaction_time)


def has_access(email=BUYER) -> bool:
    """Whether the buyer's member holds the member role."""
    member = members.find(email)
    return member is not None and "Member" in api.user.get_roles(user=member)


def state(receipt="AAAA1111", item_no="1") -> str:
    """The state of an entitlement."""
    return orders.get_entitlement(get_storage(), receipt, item_no).state


def calls(monkeypatch, module, name) -> list:
    """Wrap ``module.name`` so that its calls are recorded in the returned list."""
    original = getattr(module, name)
    recorded = []

    def wrapper(*args, **kwargs):
        recorded.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapper)
    return recorded


@pytest.fixture
def events():
    """ClickBank events fired during the test."""
    fired = []
    sm = getGlobalSiteManager()
    sm.registerHandler(fired.append, (IClickBankEvent,))
    yield fired
    sm.unregisterHandler(fired.append, (IClickBankEvent,))


class TestExpire:
    """sweep.expire: access ends when the paid period is over."""

    def test_revokes_only_due_entitlements(self, portal):
        """Only the subscription past its period expires; other buyers keep access."""
        cancelled_subscription("AAAA1111", "a@example.com")
        cancelled_subscription("BBBB2222", "b@example.com", start=10)
        processing.handle(
            notification("SALE", "CCCC3333", email="c@example.com"), get_settings(), T0
        )
        report = sweep.expire(get_settings(), now=AFTER_PERIOD)
        assert report.due == (("AAAA1111", "1"),)
        assert report.revoked == 1
        assert state("AAAA1111") == "expired"
        assert state("BBBB2222") == "cancelled"
        assert not has_access("a@example.com")
        assert has_access("b@example.com")
        assert has_access("c@example.com")

    def test_nothing_due_before_period_ends(self, portal):
        """Before valid_until the sweep finds nothing."""
        cancelled_subscription()
        report = sweep.expire(get_settings(), now=T0 + timedelta(days=29))
        assert report == sweep.SweepReport(now=T0 + timedelta(days=29))
        assert has_access()

    def test_dry_run_changes_nothing(self, portal):
        """A dry run lists what is due and changes no state, index or role."""
        cancelled_subscription()
        index = list(get_storage().expiry)
        report = sweep.expire(get_settings(), now=AFTER_PERIOD, dry_run=True)
        assert (report.due, report.revoked, report.dry_run) == (
            (("AAAA1111", "1"),),
            0,
            True,
        )
        assert state() == "cancelled"
        assert list(get_storage().expiry) == index
        assert has_access()

    def test_member_disabled_event_fired(self, portal, events):
        """Losing the role fires MemberDisabledEvent with the entitlement."""
        cancelled_subscription()
        events.clear()
        sweep.expire(get_settings(), now=AFTER_PERIOD)
        (event,) = events
        assert isinstance(event, MemberDisabledEvent)
        assert event.member.getUserName() == BUYER
        assert event.entitlement.key == ("AAAA1111", "1")
        assert event.notification is None

    def test_buyer_with_two_due_items_is_synced_once(self, portal, monkeypatch):
        """Two due items of one buyer: one sync, one revocation."""
        cancelled_subscription(items=("1", "2"))
        syncs = calls(monkeypatch, members, "sync")
        report = sweep.expire(get_settings(), now=AFTER_PERIOD)
        assert len(report.due) == 2
        assert (len(syncs), report.revoked) == (1, 1)

    def test_buyer_with_another_product_keeps_access(self, portal, events):
        """An expired subscription does not revoke a lifetime product's access."""
        cancelled_subscription()
        processing.handle(
            notification("SALE", "LIFE0001", email=BUYER), get_settings(), T0
        )
        events.clear()
        report = sweep.expire(get_settings(), now=AFTER_PERIOD)
        assert (report.due, report.revoked) == ((("AAAA1111", "1"),), 0)
        assert state() == "expired"
        assert has_access()
        assert events == []

    def test_protected_account_untouched_but_entitlement_expires(self, portal, events):
        """A Site Administrator buyer keeps the role; the entitlement still expires."""
        cancelled_subscription()
        member = members.find(BUYER)
        api.user.grant_roles(user=member, roles=["Site Administrator"])
        events.clear()
        report = sweep.expire(get_settings(), now=AFTER_PERIOD)
        assert report.revoked == 0
        assert state() == "expired"
        assert expiry.due(get_storage(), FAR_FUTURE)[0] == []
        assert list(get_storage().expiry) == [CANCELLED_SALE_KEY]
        roles = set(api.user.get_roles(user=member))
        assert {"Member", "Site Administrator"} <= roles
        assert events == []

    def test_logs_receipt_but_no_customer_data(self, portal, caplog):
        """Revocations are logged at INFO with receipt and item, no email or name."""
        cancelled_subscription(
            email="jane.roe@example.com", first_name="Jane", last_name="Roe"
        )
        caplog.clear()
        caplog.set_level(logging.INFO, logger="niteoweb.clickbank")
        sweep.expire(get_settings(), now=AFTER_PERIOD)
        messages = [r.getMessage() for r in caplog.records]
        assert any("AAAA1111/1" in m and "expired" in m for m in messages)
        assert any("AAAA1111/1" in m and "lost role:Member" in m for m in messages)
        assert not [m for m in messages if "jane" in m.lower() or "roe" in m.lower()]

    def test_second_sweep_finds_nothing(self, portal):
        """An expired entitlement leaves the expiry index."""
        cancelled_subscription()
        sweep.expire(get_settings(), now=AFTER_PERIOD)
        assert sweep.expire(get_settings(), now=AFTER_PERIOD).due == ()

    def test_naive_now_is_refused(self, portal):
        """A datetime without time zone is an error, not a guess."""
        with pytest.raises(ValueError, match="timezone-aware"):
            sweep.expire(get_settings(), now=datetime(2026, 1, 1))


class TestExpiryIndex:
    """The index holds a key of every entitlement no later than its end."""

    def test_rebill_writes_no_key(self, portal):
        """A BILL moves the end on; the sale's earlier key still comes first."""
        subscription_with_rebill()
        assert list(get_storage().expiry) == [SALE_KEY]

    def test_sweep_files_a_rebilled_subscription_at_its_new_end(self, portal, events):
        """At the sale's key the buyer has paid on: nothing due, filed anew."""
        subscription_with_rebill()
        events.clear()
        report = sweep.expire(get_settings(), now=AFTER_PERIOD + timedelta(days=5))
        assert (report.due, report.revoked) == ((), 0)
        assert list(get_storage().expiry) == [BILL_KEY]
        assert state() == "active"
        assert has_access()
        assert events == []

    def test_rebilled_subscription_expires_at_its_new_end(self, portal):
        """Swept at the old end and again after the new one: access ends then."""
        subscription_with_rebill()
        sweep.expire(get_settings(), now=AFTER_PERIOD + timedelta(days=5))
        after_rebill = T0 + timedelta(days=60) + GRACE + timedelta(minutes=1)
        report = sweep.expire(get_settings(), now=after_rebill)
        assert (report.due, report.revoked) == ((("AAAA1111", "1"),), 1)
        assert state() == "expired"
        assert not has_access()
        assert list(get_storage().expiry) == []

    def test_one_sweep_after_both_ends_expires_once(self, portal, events):
        """Both keys reached by one sweep: due once, revoked once, index empty."""
        subscription_with_rebill()
        processing.handle(
            notification("SALE", "LATE0001", 59, email=BUYER, recurring=True),
            get_settings(),
            T0 + timedelta(days=59),
        )
        events.clear()
        report = sweep.expire(get_settings(), now=T0 + timedelta(days=64))
        assert report.due == (("AAAA1111", "1"),)
        assert state() == "expired"
        assert [key[1] for key in get_storage().expiry] == ["LATE0001"]

    def test_dry_run_files_nothing(self, portal):
        """A dry run writes nothing, not even a key filed anew."""
        subscription_with_rebill()
        report = sweep.expire(
            get_settings(), now=AFTER_PERIOD + timedelta(days=5), dry_run=True
        )
        assert report.due == ()
        assert list(get_storage().expiry) == [SALE_KEY]

    def test_refunded_order_is_never_reported_due(self, portal):
        """A refund leaves the key; at its time the sweep drops it, nothing more."""
        processing.handle(
            notification("SALE", "AAAA1111", 0, email=BUYER, recurring=True),
            get_settings(),
            T0,
        )
        refund = notification("RFND", "AAAA1111", 2, email=BUYER, recurring=True)
        processing.handle(refund, get_settings(), refund.transaction_time)
        assert state() == "refunded"
        assert not has_access()
        report = sweep.expire(get_settings(), now=FAR_FUTURE)
        assert report.due == ()
        assert list(get_storage().expiry) == []

    def test_renewal_after_access_ended_is_filed(self, portal):
        """A late BILL after the expiry gives access back, and it ends again."""
        processing.handle(
            notification("SALE", "AAAA1111", 0, email=BUYER, recurring=True),
            get_settings(),
            T0,
        )
        sweep.expire(get_settings(), now=AFTER_PERIOD + timedelta(days=5))
        assert state() == "expired"
        late = notification("BILL", "AAAA1111-B002", 40, email=BUYER, recurring=True)
        processing.handle(late, get_settings(), late.transaction_time)
        assert state() == "active"
        assert list(get_storage().expiry) == [_key(T0 + timedelta(days=70) + GRACE)]
        report = sweep.expire(get_settings(), now=T0 + timedelta(days=74))
        assert report.revoked == 1
        assert not has_access()


class TestCost:
    """The sweep's work grows with what is due, not with the number of buyers."""

    def test_expire_reads_only_due_entitlements(self, portal, monkeypatch):
        """3000 members not due, 20 due: 20 refreshed, 20 buyers looked up."""
        storage, settings = get_storage(), get_settings()
        # PAS plugins directly: 3000 members in milliseconds, not minutes.
        acl_users = portal.acl_users
        for i in range(3000):
            acl_users.source_users.addUser(f"bulk{i}", f"bulk{i}@example.com", "pw")
            acl_users.portal_role_manager.assignRoleToPrincipal("Member", f"bulk{i}")
        sale = notification("SALE", "BULK0000", email="bulk@example.com")
        renewing = notification("SALE", "RENW0000", recurring=True)
        for i in range(3000):
            # 2000 lifetime (not in the index), 1000 renewing later (indexed).
            n = dataclasses.replace(sale if i < 2000 else renewing, receipt=f"B{i:07d}")
            email = f"bulk{i}@example.com"
            order = orders.get_order(storage, n.original_receipt, create=True)
            for entitlement in orders.add_event(
                storage, order, n, Action.PURCHASE, email
            ):
                orders.refresh(storage, order, entitlement, settings, T0)
        for i in range(20):
            cancelled_subscription(f"DUE{i:05d}", f"due{i}@example.com")
        assert sum(len(order.items) for order in storage.orders.values()) == 3020
        # 1000 renewing, 20 cancelled; and the 20 keys their sales had, not yet due
        assert len(storage.expiry) == 1040

        refreshed = calls(monkeypatch, orders, "refresh")
        found = calls(monkeypatch, members, "find")
        table = Counting(storage.orders)
        monkeypatch.setattr(storage, "orders", table)
        report = sweep.expire(settings, now=AFTER_PERIOD)
        assert (len(report.due), report.revoked) == (20, 20)
        assert len(refreshed) == 20
        assert sorted(args[0] for args in found) == sorted(
            f"due{i}@example.com" for i in range(20)
        )
        # each due entitlement's order once, found from the expiry index and
        # handed down; none of the other 3000
        assert table.reads == 20
        assert has_access("bulk0@example.com") and has_access("bulk2999@example.com")


def lapsed_subscription(title="Product 1", receipt="LAPS0001"):
    """A subscription whose paid period ended ten days ago (real time), committed."""
    start = (datetime.now(UTC) - T0).days - 40
    for kind, days in (("SALE", start), ("CANCEL-REBILL", start + 5)):
        data = payload(kind, receipt, days, recurring=True)
        data["lineItems"][0]["productTitle"] = title
        n = parse(data)
        processing.handle(n, get_settings(), now=n.transaction_time)
    transaction.commit()


def committed_state(receipt="LAPS0001") -> tuple[str, bool]:
    """State of the entitlement and the buyer's access, as committed."""
    transaction.begin()
    return state(receipt), has_access()


@pytest.fixture
def lapsed(functional_portal):
    """A lapsed subscription on the functional site; returns the view's URL."""
    install_mock_mailhost(functional_portal)
    lapsed_subscription("Gold <b>plan</b>")
    return functional_portal.absolute_url() + "/@@clickbank-expire"


class TestView:
    """@@clickbank-expire: Classic UI page and JSON for scripts."""

    def test_get_lists_due_and_changes_nothing(self, admin_browser, lapsed):
        """GET shows what is due, a token-carrying form, and changes nothing."""
        admin_browser.open(lapsed)
        assert admin_browser.headers["status"].startswith("200")
        assert "LAPS0001" in admin_browser.contents
        assert "Revoke expired access now" in admin_browser.contents
        assert admin_browser.getControl(name="_authenticator").value
        assert committed_state() == ("cancelled", True)

    def test_output_is_escaped(self, admin_browser, lapsed):
        """A product title with markup is shown as text."""
        admin_browser.open(lapsed)
        assert "Gold &lt;b&gt;plan&lt;/b&gt;" in admin_browser.contents
        assert "Gold <b>plan</b>" not in admin_browser.contents

    def test_post_with_token_revokes(self, admin_browser, lapsed):
        """The button (with its token) revokes the lapsed access."""
        admin_browser.open(lapsed)
        admin_browser.getControl(name="form.buttons.expire").click()
        assert "Sweep done" in admin_browser.contents
        assert committed_state() == ("expired", False)

    def test_post_dry_run_changes_nothing(self, admin_browser, lapsed):
        """The dry-run button reports and changes nothing."""
        admin_browser.open(lapsed)
        admin_browser.getControl(name="dry_run").click()
        assert "LAPS0001" in admin_browser.contents
        assert "Sweep done" not in admin_browser.contents
        assert committed_state() == ("cancelled", True)

    def test_post_without_token_is_refused(self, admin_browser, lapsed):
        """A POST without plone.protect's token is answered 403."""
        admin_browser.open(lapsed, data="form.buttons.expire=expire")
        assert admin_browser.headers["status"].startswith("403")
        assert committed_state() == ("cancelled", True)

    def test_anonymous_is_refused(self, browser, lapsed):
        """Anonymous visitors are sent to the login form, also on POST."""
        browser.open(lapsed)
        assert "/login" in browser.url
        assert "LAPS0001" not in browser.contents
        browser.open(lapsed, data="form.buttons.expire=expire")
        assert committed_state() == ("cancelled", True)

    def test_plain_member_is_refused(self, browser, lapsed):
        """A member without Manage portal cannot open it."""
        browser.addHeader(
            "Authorization", f"Basic {TEST_USER_NAME}:{TEST_USER_PASSWORD}"
        )
        browser.open(lapsed)
        assert browser.url.endswith("/insufficient-privileges")
        assert "LAPS0001" not in browser.contents

    def test_json_get_is_a_dry_run(self, admin_browser, lapsed):
        """?format=json answers the counts of a dry run."""
        admin_browser.open(lapsed + "?format=json")
        assert admin_browser.headers["Content-Type"].startswith("application/json")
        expected = {"due": 1, "revoked": 0, "dry_run": True, "blanked": 0}
        assert json.loads(admin_browser.contents) == expected

    def test_json_post_with_csrf_header_revokes(self, admin_browser, lapsed):
        """A script POSTs with the token of @@authenticator/token in a header."""
        admin_browser.open(
            lapsed.replace("@@clickbank-expire", "@@authenticator/token")
        )
        admin_browser.addHeader("X-CSRF-TOKEN", admin_browser.contents.strip())
        admin_browser.addHeader("Accept", "application/json")
        admin_browser.open(lapsed, data="go=1")
        expected = {"due": 1, "revoked": 1, "dry_run": False, "blanked": 0}
        assert json.loads(admin_browser.contents) == expected
        assert committed_state() == ("expired", False)

    def test_json_post_dry_run_changes_nothing(self, admin_browser, lapsed):
        """POST ?format=json with dry_run=1 reports and changes nothing."""
        token_url = lapsed.replace("@@clickbank-expire", "@@authenticator/token")
        admin_browser.open(token_url)
        admin_browser.addHeader("X-CSRF-TOKEN", admin_browser.contents.strip())
        admin_browser.open(lapsed + "?format=json", data="dry_run=1")
        expected = {"due": 1, "revoked": 0, "dry_run": True, "blanked": 0}
        assert json.loads(admin_browser.contents) == expected
        assert committed_state() == ("cancelled", True)

    def test_json_post_without_token_is_refused(self, admin_browser, lapsed):
        """Without the token a JSON POST gets 403 and an error body."""
        admin_browser.addHeader("Accept", "application/json")
        admin_browser.open(lapsed, data="go=1")
        assert admin_browser.headers["status"].startswith("403")
        assert json.loads(admin_browser.contents)["error"]["type"] == "Forbidden"
        assert committed_state() == ("cancelled", True)


class TestCron:
    """scripts/expire.py in-process: the site's sweep, commit and retries."""

    def test_sweep_site_commits(self, functional_app, functional_portal, lapsed):
        """sweep_site revokes, commits and restores the caller's security."""
        user = getSecurityManager().getUser()
        report = expire.sweep_site(functional_app, functional_portal.getId())
        assert (report.due, report.revoked) == ((("LAPS0001", "1"),), 1)
        assert getSecurityManager().getUser() is user
        assert committed_state() == ("expired", False)

    def test_dry_run_commits_nothing(self, functional_app, functional_portal, lapsed):
        """A dry run reports what is due and leaves the site alone."""
        report = expire.sweep_site(functional_app, functional_portal.getId(), True)
        assert (len(report.due), report.dry_run) == (1, True)
        assert committed_state() == ("cancelled", True)

    @pytest.mark.parametrize("conflicts,revoked", [(0, 1), (1, 1), (2, 1)])
    def test_conflicts_are_retried(
        self, functional_app, functional_portal, lapsed, monkeypatch, conflicts, revoked
    ):
        """Up to two conflicts are retried; the third attempt still counts."""
        real_run, attempts = sweep.run, []

        def flaky_run(*args, **kwargs):
            attempts.append(1)
            if len(attempts) <= conflicts:
                raise ConflictError()
            return real_run(*args, **kwargs)

        monkeypatch.setattr(sweep, "run", flaky_run)
        report = expire.sweep_site(functional_app, functional_portal.getId())
        assert (len(attempts), report.revoked) == (conflicts + 1, revoked)

    def test_gives_up_after_three_conflicts(
        self, functional_app, functional_portal, lapsed, monkeypatch
    ):
        """The third conflict is raised; nothing is saved."""
        attempts = []

        def conflicting_run(*args, **kwargs):
            attempts.append(1)
            raise ConflictError()

        monkeypatch.setattr(sweep, "run", conflicting_run)
        with pytest.raises(ConflictError):
            expire.sweep_site(functional_app, functional_portal.getId())
        assert len(attempts) == expire.ATTEMPTS == 3
        assert committed_state() == ("cancelled", True)

    def test_main_prints_summary(self, functional_app, lapsed, monkeypatch, capsys):
        """main() prints one line and returns 0."""
        monkeypatch.setattr(expire, "open_app", lambda conf: functional_app)
        monkeypatch.setattr(expire, "close_app", lambda app: None)
        assert expire.main(["--site", "plone", "zope.conf"]) == 0
        out = capsys.readouterr().out
        assert out == (
            "clickbank-expire: 1 entitlement(s) due, 1 member(s) lost access, "
            "0 log record(s) blanked\n"
        )

    def test_main_unknown_site_fails(self, functional_app, monkeypatch, capsys):
        """An unknown site id: a message on stderr and exit code 1."""
        monkeypatch.setattr(expire, "open_app", lambda conf: functional_app)
        monkeypatch.setattr(expire, "close_app", lambda app: None)
        assert expire.main(["--site", "nope", "zope.conf"]) == 1
        assert "no Plone site 'nope'" in capsys.readouterr().err


SEED = """
import runpy
from datetime import UTC, datetime, timedelta

import transaction
from plone import api
from zope.component.hooks import setSite

from niteoweb.clickbank import processing
from niteoweb.clickbank.ins.parse import parse
from niteoweb.clickbank.settings import get_settings
from niteoweb.clickbank.scripts.notify import build_notification

runpy.run_path(CREATE_SITE, init_globals={"app": app})
setSite(app.Plone)
# An existing member buys: no welcome mail to send from this test.
api.user.create(email="cron@example.com", password="a-long-Passw0rd-for-cron")
start = datetime.now(UTC) - timedelta(days=40)
for kind, days in (("SALE", 0), ("CANCEL-REBILL", 5)):
    when = start + timedelta(days=days)
    notification = parse(build_notification(
        transaction_type=kind, receipt="CRON0001", email="cron@example.com",
        transaction_time=when, recurring=True,
    ))
    processing.handle(notification, get_settings(), now=when)
transaction.commit()
"""


@pytest.fixture(scope="module")
def instance(tmp_path_factory):
    """A real Zope instance with a Plone site and one lapsed subscription."""
    home = tmp_path_factory.mktemp("instance")
    subprocess.run(
        [BIN / "mkwsgiinstance", "-d", home, "-u", "admin:admin"],
        check=True,
        capture_output=True,
    )
    conf = home / "etc" / "zope.conf"
    seed = home / "seed.py"
    create_site = Path(__file__).parent.parent / "scripts" / "create_site.py"
    seed.write_text(f"CREATE_SITE = {str(create_site)!r}\n" + SEED)
    env = {**os.environ, "SITE_ID": "Plone", "ADMIN_USER": "admin"}
    subprocess.run(
        [BIN / "zconsole", "run", conf, seed], check=True, capture_output=True, env=env
    )
    return conf


def expire_command(*args):
    """Run the ``clickbank-expire`` command (its module, as the script does)."""
    command = [sys.executable, "-m", "niteoweb.clickbank.scripts.expire", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


class TestCommand:
    """The clickbank-expire console script on a real instance."""

    def test_dry_run_then_run(self, instance):
        """--dry-run reports, a run revokes and commits, the next finds nothing."""
        dry = expire_command("--dry-run", "--site", "Plone", str(instance))
        assert (dry.returncode, dry.stdout) == (
            0,
            "clickbank-expire: dry run: 1 entitlement(s) due, 0 member(s) lost "
            "access, 0 log record(s) blanked\n",
        )
        done = expire_command("--verbose", "--site", "Plone", str(instance))
        assert done.returncode == 0
        assert "1 entitlement(s) due, 1 member(s) lost access" in done.stdout
        assert "CRON0001/1" in done.stderr
        assert "cron@example.com" not in done.stderr + done.stdout
        again = expire_command("--dry-run", str(instance))
        assert "dry run: 0 entitlement(s) due" in again.stdout

    def test_locked_file_storage_fails(self, instance):
        """While another process holds the FileStorage: exit 1 and why."""
        datafs = instance.parent.parent / "var" / "Data.fs"
        holder = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import sys, ZODB.FileStorage as F; held = F.FileStorage(sys.argv[1]); "
                "print('open', flush=True); sys.stdin.read()",
                datafs,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert holder.stdout.readline().strip() == "open"
            result = expire_command("--dry-run", str(instance))
        finally:
            holder.communicate("")
        assert result.returncode == 1
        assert "cannot open" in result.stderr
        assert "lock" in result.stderr.lower()
