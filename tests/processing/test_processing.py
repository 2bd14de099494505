"""What each notification does to members, entitlements, the log, mail and events."""

import dataclasses
from datetime import timedelta

import pytest
from plone import api
from zope.component import getGlobalSiteManager

from helpers import T0
from helpers import Counting
from helpers import notification
from helpers import payload
from niteoweb.clickbank import processing
from niteoweb.clickbank import sweep
from niteoweb.clickbank.events import IClickBankEvent
from niteoweb.clickbank.events import MemberDisabledEvent
from niteoweb.clickbank.ins.parse import parse
from niteoweb.clickbank.settings import get_settings
from niteoweb.clickbank.storage.orders import for_buyer
from niteoweb.clickbank.storage.queries import history
from niteoweb.clickbank.storage.root import get_storage

NOW = T0 + timedelta(days=1)
RECORD = "niteoweb.clickbank."


@pytest.fixture
def handle(portal):
    """Apply a notification as the webhook does, at :data:`NOW` unless told."""

    def handle(n, now=NOW):
        return processing.handle(n, get_settings(), now=now)

    return handle


@pytest.fixture
def events():
    """ClickBank events fired during the test."""
    fired = []
    sm = getGlobalSiteManager()
    handler = fired.append
    sm.registerHandler(handler, (IClickBankEvent,))
    yield fired
    sm.unregisterHandler(handler, (IClickBankEvent,))


def member(email="buyer@example.com"):
    from niteoweb.clickbank import members

    return members.find(email)


def has_access(email="buyer@example.com", role="Member") -> bool:
    found = member(email)
    return found is not None and role in api.user.get_roles(user=found)


class TestSale:
    """SALE: a new buyer becomes a member with access."""

    def test_creates_member_with_email_login(self, handle):
        """Login is the lower-cased, trimmed email; the role is Member."""
        result = handle(notification(email="  Buyer@Example.COM "))
        assert result.outcome == "created"
        found = member()
        assert found.getUserName() == "buyer@example.com"
        assert has_access()

    def test_full_name_from_billing(self, handle):
        """The full name comes from the billing contact, accents intact."""
        handle(notification(first_name="José", last_name="Müller"))
        assert member().getProperty("fullname") == "José Müller"

    def test_member_data_mirrors_purchase(self, handle):
        """Product id, affiliate, last receipt and purchase time are stored."""
        handle(notification(items=("gold",), affiliate="aff1"))
        found = member()
        assert found.getProperty("product_id") == "gold"
        assert found.getProperty("affiliate") == "aff1"
        assert found.getProperty("last_purchase_id") == "AAAA1111"
        assert found.getProperty("last_purchase_timestamp") == T0.isoformat()

    def test_welcome_mail_has_login_and_set_password_link(self, handle, mails):
        """One mail with the login name and a one-time password link, no password."""
        handle(notification(first_name="José", last_name="Müller"))
        assert len(mails) == 1
        message = mails[0].decode("utf-8") if isinstance(mails[0], bytes) else mails[0]
        import email

        parsed = email.message_from_string(message)
        body = parsed.get_payload(decode=True).decode(parsed.get_content_charset())
        assert parsed["To"].endswith("buyer@example.com")
        assert "buyer@example.com" in body
        assert "/@@clickbank-set-password?token=" in body
        assert "José Müller" in body

    @pytest.mark.parametrize("stored", ["2010-08-18 10:00:00", "garbage", ""])
    def test_old_style_purchase_timestamp_is_replaced(self, handle, stored):
        """Timestamps written by older versions (naive, odd) do not break payments."""
        handle(notification(receipt="AAAA1111"))
        member().setMemberProperties(mapping={"last_purchase_timestamp": stored})
        assert handle(notification(receipt="BBBB2222", days=1)).outcome == "updated"
        assert member().getProperty("last_purchase_id") == "BBBB2222"

    def test_existing_member_is_not_created_again(self, handle, mails):
        """A second order of the same buyer grants, no second welcome mail."""
        handle(notification(receipt="AAAA1111"))
        result = handle(notification(receipt="BBBB2222", days=1))
        assert result.outcome == "updated"
        assert len(mails) == 1
        assert member().getProperty("last_purchase_id") == "BBBB2222"

    def test_every_line_item_is_an_entitlement(self, handle, portal):
        """Cart and bump items each get an entitlement."""
        handle(notification(items=("a", "b", "c")))
        owned = for_buyer(get_storage(), "buyer@example.com")
        assert sorted(e.item_no for e in owned) == ["a", "b", "c"]

    def test_product_groups_are_granted(self, handle):
        """Groups mapped to the bought products are given."""
        api.portal.set_registry_record(RECORD + "products", ["gold | Gold, Extra"])
        handle(notification(items=("gold",)))
        groups = {g.getId() for g in api.group.get_groups(user=member())}
        assert {"Gold", "Extra"} <= groups

    def test_invalid_email_is_rejected_not_retried(self, handle):
        """A sale without a usable email is logged as rejected (no member)."""
        result = handle(notification(email="not-an-email"))
        assert result.outcome == "rejected"
        assert member("not-an-email") is None

    def test_non_ascii_email_is_rejected(self, handle):
        """An address Plone refuses is rejected instead of failing forever."""
        assert handle(notification(email="josé@exämple.com")).outcome == "rejected"


class TestRepeats:
    """A notification is applied once, whatever ClickBank retries."""

    def test_duplicate_changes_nothing(self, handle, mails, portal):
        """The same notification again is a duplicate: no mail, no record."""
        first = handle(notification())
        again = handle(notification())
        assert again.duplicate is True
        assert again.record_id == first.record_id
        assert len(mails) == 1
        assert len(get_storage().records) == 1

    def test_retry_with_other_attempt_count_is_duplicate(self, handle):
        """attemptCount is not part of the identity of a notification."""
        handle(notification(attempt_count=1))
        assert handle(notification(attempt_count=2)).duplicate is True


class TestRevocation:
    """Refunds, chargebacks and bounced payments take access away."""

    @pytest.mark.parametrize(
        "kind,state", [("RFND", "refunded"), ("CGBK", "chargeback")]
    )
    def test_refund_and_chargeback_revoke(self, handle, kind, state):
        """The member keeps existing but loses the role."""
        handle(notification())
        result = handle(notification(kind, days=1))
        assert result.outcome == "revoked"
        assert member() is not None
        assert not has_access()
        (owned,) = for_buyer(get_storage(), "buyer@example.com")
        assert owned.state == state

    def test_refund_removes_product_groups(self, handle):
        """Groups of the refunded product are taken away, others kept."""
        api.portal.set_registry_record(RECORD + "products", ["gold | Gold"])
        api.group.create(groupname="Other")
        handle(notification(items=("gold",)))
        api.group.add_user(groupname="Other", user=member())
        handle(notification("RFND", days=1, items=("gold",)))
        groups = {g.getId() for g in api.group.get_groups(user=member())}
        assert "Gold" not in groups
        assert "Other" in groups

    def test_refund_of_one_order_keeps_access_from_another(self, handle):
        """Access stays while another entitlement still grants it."""
        handle(notification(receipt="AAAA1111"))
        handle(notification(receipt="BBBB2222", days=1))
        handle(notification("RFND", receipt="AAAA1111", days=2))
        assert has_access()

    def test_refund_before_sale_wins(self, handle, mails):
        """A refund that arrives first: the later sale gives no access, no mail."""
        assert handle(notification("RFND", days=1)).outcome == "recorded"
        handle(notification("SALE"))
        assert member() is not None
        assert not has_access()
        assert mails == []

    def test_new_sale_after_refund_gives_access_back(self, handle):
        """A new order (new receipt) restores access."""
        handle(notification(receipt="AAAA1111"))
        handle(notification("RFND", receipt="AAAA1111", days=1))
        assert handle(notification(receipt="CCCC3333", days=2)).outcome == "granted"
        assert has_access()

    def test_refund_without_line_items_covers_whole_order(self, handle):
        """A refund with no line items revokes every item of the receipt."""
        handle(notification(items=("a", "b")))
        handle(notification("RFND", days=1, items=()))
        assert not has_access()


class TestSubscriptions:
    """BILL, CANCEL-REBILL, UNCANCEL-REBILL and the expiry sweep."""

    def test_rebill_receipt_belongs_to_original(self, handle):
        """ABCD1234-B002 extends the entitlement of ABCD1234."""
        handle(notification(receipt="ABCD1234", recurring=True))
        handle(notification("BILL", receipt="ABCD1234-B002", days=30, recurring=True))
        owned = for_buyer(get_storage(), "buyer@example.com")
        assert [e.key for e in owned] == [("ABCD1234", "1")]
        assert member().getProperty("last_purchase_id") == "ABCD1234-B002"

    def test_cancel_keeps_access_until_next_payment_date(self, handle):
        """After CANCEL-REBILL access continues to the end of the paid period."""
        handle(notification(recurring=True))
        handle(notification("CANCEL-REBILL", days=5, recurring=True))
        assert has_access()
        (owned,) = for_buyer(get_storage(), "buyer@example.com")
        assert owned.state == "cancelled"
        assert owned.valid_until == T0 + timedelta(days=30)

    def test_uncancel_restores_active(self, handle):
        """UNCANCEL-REBILL makes the subscription active again."""
        handle(notification(recurring=True))
        handle(notification("CANCEL-REBILL", days=5, recurring=True))
        handle(notification("UNCANCEL-REBILL", days=6, recurring=True))
        (owned,) = for_buyer(get_storage(), "buyer@example.com")
        assert owned.state == "active"

    def test_sweep_revokes_after_paid_period(self, handle, events):
        """The expiry sweep takes access away when the period is over."""
        handle(notification(recurring=True))
        handle(notification("CANCEL-REBILL", days=5, recurring=True))
        assert sweep.expire(get_settings(), now=T0 + timedelta(days=10)).due == ()
        report = sweep.expire(get_settings(), now=T0 + timedelta(days=31))
        assert report.due == (("AAAA1111", "1"),)
        assert not has_access()
        assert any(isinstance(e, MemberDisabledEvent) for e in events)

    def test_sweep_dry_run_changes_nothing(self, handle):
        """dry_run lists what is due and changes nothing."""
        handle(notification(recurring=True))
        handle(notification("CANCEL-REBILL", days=5, recurring=True))
        later = T0 + timedelta(days=31)
        assert len(sweep.expire(get_settings(), now=later, dry_run=True).due) == 1
        assert has_access()

    def test_bill_reactivates_expired_subscription(self, handle):
        """A late BILL gives access back after expiry."""
        handle(notification(recurring=True))
        sweep.expire(get_settings(), now=T0 + timedelta(days=40))
        assert not has_access()
        later = T0 + timedelta(days=41)
        result = handle(
            notification("BILL", "AAAA1111-B002", 40, recurring=True), later
        )
        assert result.outcome == "granted"
        assert has_access()


def without_customer(transaction_type, receipt, days, **kwargs):
    """A notification whose ``customer`` block is empty, as rebills may come."""
    data = payload(transaction_type, receipt, days, recurring=True, **kwargs)
    data["customer"] = {}
    return parse(data)


class TestLaterNotificationsWithoutCustomer:
    """The order knows its buyer: its later notifications need no customer data."""

    SOLD = T0  # 65 days before NOW_65, rebilled 35 and 5 days before it
    NOW_65 = T0 + timedelta(days=65)

    def rebills(self, receipt="AAAA1111"):
        return [
            without_customer("BILL", f"{receipt}-B001", 30),
            without_customer("BILL", f"{receipt}-B002", 60),
        ]

    def assert_paid_up(self, now):
        """Access survives the expiry sweep at ``now``; paid to the last rebill."""
        sweep.expire(get_settings(), now=now)
        assert has_access()
        (owned,) = for_buyer(get_storage(), "buyer@example.com")
        assert owned.state == "active"
        paid_until = T0 + timedelta(days=60 + 30)  # the last rebill's next payment
        assert owned.valid_until == paid_until + timedelta(days=3)  # grace
        assert member().getProperty("last_purchase_id") == "AAAA1111-B002"
        records = history(get_storage(), "buyer@example.com")
        receipts = {"AAAA1111", "AAAA1111-B001", "AAAA1111-B002"}
        assert {r.receipt for r in records} == receipts

    def test_rebills_without_customer_keep_the_subscription_paid(self, handle):
        """Sold 65 days ago, rebilled 35 and 5 days ago: paid up, access now."""
        handle(notification(recurring=True), self.SOLD)
        for rebill in self.rebills():
            result = handle(rebill, rebill.transaction_time)
            assert (result.outcome, result.detail) == ("updated", "")
        records = history(get_storage(), "buyer@example.com")
        assert {r.email for r in records} == {"buyer@example.com"}
        self.assert_paid_up(self.NOW_65)

    def test_rebills_without_customer_before_their_sale(self, handle, mails):
        """Kept with the order until the sale names the buyer; then they count."""
        for rebill in reversed(self.rebills()):
            result = handle(rebill, self.NOW_65)
            assert (result.outcome, result.detail) == (
                "recorded",
                "no buyer known for this order yet",
            )
        assert member() is None
        assert handle(notification(recurring=True), self.NOW_65).outcome == "created"
        assert has_access()
        assert len(mails) == 1
        self.assert_paid_up(self.NOW_65)

    def test_early_rebill_of_a_members_new_order_is_mirrored(self, handle):
        """An existing member's second order: its early rebill counts on the sale."""
        handle(notification(receipt="AAAA1111"))
        rebill = without_customer("BILL", "BBBB2222-B001", 30)
        assert handle(rebill, self.NOW_65).outcome == "recorded"
        sale = notification(receipt="BBBB2222", days=1, recurring=True)
        assert handle(sale, self.NOW_65).outcome == "updated"
        assert member().getProperty("last_purchase_id") == "BBBB2222-B001"
        stamp = rebill.transaction_time.isoformat()
        assert member().getProperty("last_purchase_timestamp") == stamp

    def test_rebill_naming_another_email_goes_to_the_orders_buyer(self, handle):
        """The order's buyer wins: the other address gets no account, no order."""
        handle(notification(recurring=True))
        rebill = notification(
            "BILL", "AAAA1111-B001", 30, email="other@example.com", recurring=True
        )
        result = handle(rebill, T0 + timedelta(days=30))
        assert result.outcome == "updated"
        assert member("other@example.com") is None
        assert "other@example.com" not in get_storage().buyers
        assert history(get_storage(), "other@example.com") == []
        assert member().getProperty("last_purchase_id") == "AAAA1111-B001"
        sweep.expire(get_settings(), now=T0 + timedelta(days=45))
        assert has_access()

    @pytest.mark.parametrize("email", ["", "not-an-email"])
    @pytest.mark.parametrize(
        "kind,state", [("RFND", "refunded"), ("CGBK", "chargeback")]
    )
    def test_refund_without_customer_revokes_the_orders_buyer(
        self, handle, kind, state, email
    ):
        """Refunds and chargebacks of a known order need no (valid) email."""
        handle(notification(recurring=True))
        data = payload(kind, "AAAA1111", 1, recurring=True, email=email)
        if not email:
            data["customer"] = {}
        assert handle(parse(data)).outcome == "revoked"
        assert not has_access()
        (owned,) = for_buyer(get_storage(), "buyer@example.com")
        assert owned.state == state
        assert "not-an-email" not in get_storage().buyers

    def test_cancel_without_customer_ends_access_with_the_paid_period(self, handle):
        """CANCEL-REBILL without customer data cancels the buyer's subscription."""
        handle(notification(recurring=True))
        handle(without_customer("CANCEL-REBILL", "AAAA1111", 5))
        (owned,) = for_buyer(get_storage(), "buyer@example.com")
        assert owned.state == "cancelled"
        sweep.expire(get_settings(), now=T0 + timedelta(days=31))
        assert not has_access()

    def test_unknown_order_without_customer_is_kept_for_nobody(self, handle):
        """A rebill of an order never seen, without buyer: recorded, nobody gains."""
        result = handle(without_customer("BILL", "ZZZZ9999-B001", 30))
        assert result.outcome == "recorded"
        storage = get_storage()
        assert storage.orders["ZZZZ9999"].email == ""
        assert dict(storage.buyers) == {}
        report = sweep.expire(get_settings(), now=T0 + timedelta(days=90))
        assert report.due == (("ZZZZ9999", "1"),)
        assert report.revoked == 0

    def test_sale_without_customer_is_still_rejected(self, handle):
        """The sale is what names the buyer: without one it is rejected."""
        data = payload("SALE", "AAAA1111", 0)
        data["customer"] = {}
        assert handle(parse(data)).outcome == "rejected"
        assert get_storage().orders["AAAA1111"].items == {}


class TestIgnored:
    """Notifications that never touch members (but are logged)."""

    @pytest.mark.parametrize(
        "kwargs,outcome",
        [
            ({"transaction_type": "TEST"}, "ignored-test"),
            ({"receipt": "********"}, "ignored-test"),
            ({"transaction_type": "TEST_SALE"}, "ignored-test"),
            ({"role": "AFFILIATE"}, "ignored-role"),
            ({"role": "JV_VENDOR"}, "ignored-role"),
            ({"transaction_type": "ABANDONED_ORDER"}, "ignored-type"),
        ],
    )
    def test_ignored_and_logged(self, handle, kwargs, outcome):
        """No member is created; the log has the notification with its outcome."""
        result = handle(notification(**kwargs))
        assert result.outcome == outcome
        assert member() is None
        assert history(get_storage(), "buyer@example.com")[0].outcome == outcome

    def test_other_vendor_is_ignored(self, handle):
        """With vendor nicknames configured, other vendors are ignored."""
        api.portal.set_registry_record(RECORD + "vendors", ["myshop"])
        assert handle(notification(vendor="other")).outcome == "ignored-vendor"
        assert handle(notification(vendor="MyShop", days=1)).outcome == "created"

    def test_test_sale_processed_when_enabled(self, handle):
        """With test transactions switched on, TEST_SALE acts like SALE."""
        api.portal.set_registry_record(RECORD + "process_test_transactions", True)
        assert handle(notification("TEST_SALE")).outcome == "created"
        assert has_access()

    def test_test_button_never_acts_even_when_enabled(self, handle):
        """TEST (ClickBank's Test button) never creates a member."""
        api.portal.set_registry_record(RECORD + "process_test_transactions", True)
        assert handle(notification("TEST")).outcome == "ignored-test"
        assert member() is None


class TestSafety:
    """The webhook never grants more than configured."""

    def test_manager_account_is_left_alone(self, handle):
        """A sale for a Manager's email does not change that account."""
        api.user.create(email="boss@example.com", username="boss@example.com")
        role_manager = api.portal.get_tool("acl_users").portal_role_manager
        role_manager.assignRoleToPrincipal(
            "Manager", member("boss@example.com").getId()
        )
        boss = member("boss@example.com")
        before = sorted(api.user.get_roles(user=boss))
        assert handle(notification(email="boss@example.com")).outcome == "protected"
        assert handle(
            notification("RFND", days=1, email="boss@example.com")
        ).outcome == ("protected")
        assert sorted(api.user.get_roles(user=member("boss@example.com"))) == before

    @pytest.mark.parametrize("role", ["Manager", "Site Administrator", "Editor"])
    def test_forbidden_role_in_settings_is_not_granted(self, portal, role):
        """Even if the settings say Manager, a managing role is never granted."""
        settings = dataclasses.replace(get_settings(), member_role=role)
        processing.handle(notification(), settings, now=NOW)
        assert role not in api.user.get_roles(user=member())


class TestEventsAndLog:
    """Events for other add-ons, and the per-member history."""

    def test_sale_fires_created_enabled_and_received(self, handle, events):
        """A new buyer: MemberCreated, MemberEnabled, NotificationReceived."""
        handle(notification())
        kinds = [type(e).__name__ for e in events]
        assert kinds == [
            "MemberCreatedEvent",
            "MemberEnabledEvent",
            "NotificationReceivedEvent",
        ]
        assert events[0].username == "buyer@example.com"
        assert events[0].notification.receipt == "AAAA1111"

    def test_refund_fires_disabled(self, handle, events):
        """Losing access fires MemberDisabledEvent with the entitlement."""
        handle(notification())
        handle(notification("RFND", days=1))
        disabled = [e for e in events if isinstance(e, MemberDisabledEvent)]
        assert len(disabled) == 1
        assert disabled[0].entitlement.state == "refunded"

    def test_unknown_type_fires_received(self, handle, events):
        """Other add-ons can handle types this one ignores."""
        handle(notification("SUBSCRIPTION-CHG"))
        (received,) = events
        assert received.outcome == "ignored-type"

    def test_history_newest_first(self, handle):
        """A member's notifications are readable by code, newest first."""
        handle(notification(recurring=True))
        handle(
            notification("BILL", "AAAA1111-B002", 30, recurring=True),
            T0 + timedelta(days=30),
        )
        types = [
            r.transaction_type for r in history(get_storage(), "BUYER@example.com")
        ]
        assert types == ["BILL", "SALE"]


class TestBuyersOrders:
    """Each order keeps a copy of its buyer's receipts: rebills read no buyer."""

    def test_every_order_of_a_buyer_knows_the_others(self, handle):
        """A second order is added to the first order's copy too."""
        handle(notification("SALE", "AAAA1111"))
        handle(notification("SALE", "BBBB2222", days=1))
        storage = get_storage()
        assert storage.buyers["buyer@example.com"].receipts == ("AAAA1111", "BBBB2222")
        for receipt in ("AAAA1111", "BBBB2222"):
            assert storage.orders[receipt].buyer_receipts == ("AAAA1111", "BBBB2222")

    def test_rebill_of_a_known_order_reads_no_buyer(self, handle, monkeypatch):
        """A BILL finds the buyer's orders in its own order; the buyers are unread."""
        handle(notification("SALE", "AAAA1111", recurring=True))
        handle(notification("SALE", "BBBB2222", days=1))
        buyers = Counting(get_storage().buyers)
        monkeypatch.setattr(get_storage(), "buyers", buyers)
        rebill = notification("BILL", "AAAA1111-B002", days=30, recurring=True)
        assert handle(rebill).outcome == "updated"
        assert buyers.reads == 0
        assert has_access()
