"""What a log record and an order keep of a notification (no Plone layer)."""

from datetime import UTC
from datetime import datetime
from datetime import timedelta
from datetime import timezone

from helpers import T0
from helpers import notification
from helpers import payload
from niteoweb.clickbank.ins.parse import parse
from niteoweb.clickbank.lifecycle import Action
from niteoweb.clickbank.settings import Settings
from niteoweb.clickbank.storage import orders
from niteoweb.clickbank.storage.log import NotificationRecord
from niteoweb.clickbank.storage.log import first_record_id
from niteoweb.clickbank.storage.root import ClickBankStorage

PST = timezone(timedelta(hours=-8))
VENDOR_TIME = datetime(2026, 3, 1, 2, 0, 0, 250000, tzinfo=PST)


def record(detail="", **kwargs) -> NotificationRecord:
    n = parse({**payload(**kwargs), "transactionTime": VENDOR_TIME.isoformat()})
    record_id = first_record_id(T0) + 7
    return NotificationRecord(record_id, "ab" * 32, n, "created", detail)


class TestNotificationRecord:
    """A record shows the notification as it came."""

    def test_keeps_the_transaction_time_with_its_offset(self):
        """The vendor's time, offset and microseconds included."""
        kept = record().transaction_time
        assert kept == VENDOR_TIME
        assert kept.utcoffset() == timedelta(hours=-8)

    def test_received_is_the_time_of_its_id(self):
        """The time of receipt is the record id's, in UTC."""
        assert record().received == T0

    def test_detail_is_empty_unless_given(self):
        assert record().detail == ""
        assert record("unknown item").detail == "unknown item"

    def test_payload_is_kept_and_can_be_blanked(self):
        """The decrypted notification comes back whole until retention blanks it."""
        kept = record(first_name="José")
        assert kept.payload["customer"]["billing"]["firstName"] == "José"
        kept.payload = None
        assert kept.payload is None


class TestOrders:
    """An order's entitlements and its newest payment."""

    def apply(self, storage, n, action=Action.PURCHASE):
        order = orders.get_order(storage, n.original_receipt, create=True)
        return order, orders.add_event(storage, order, n, action, "buyer@example.com")

    def test_newest_payment_of_a_buyers_orders(self):
        """The latest payment of any order wins, whatever the arrival order."""
        storage = ClickBankStorage()
        rebill = notification("BILL", "AAAA1111-B001", 30, affiliate="aff")
        first, _ = self.apply(storage, rebill, Action.RENEW)
        second, _ = self.apply(storage, notification("SALE", "BBBB2222", 2))
        self.apply(storage, notification("SALE", "AAAA1111", 0))
        payment = orders.newest_payment([first, second])
        assert (payment.receipt, payment.affiliate) == ("AAAA1111-B001", "aff")
        assert payment.time == rebill.transaction_time.isoformat()

    def test_a_refund_is_no_payment(self):
        storage = ClickBankStorage()
        order, _ = self.apply(storage, notification("RFND"), Action.REFUND)
        assert orders.newest_payment([order]) is None

    def test_an_entitlements_end_is_a_moment_in_utc(self):
        """valid_until is the same moment as the notification's, in UTC."""
        storage = ClickBankStorage()
        order, (entitlement,) = self.apply(storage, notification(recurring=True))
        orders.refresh(storage, order, entitlement, Settings(grace_days=0), T0)
        assert entitlement.valid_until == T0 + timedelta(days=30)
        assert entitlement.valid_until.tzinfo is UTC
