"""The entitlement state machine, without Plone."""

from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from niteoweb.clickbank.lifecycle import TRANSACTION_TYPES
from niteoweb.clickbank.lifecycle import Action
from niteoweb.clickbank.lifecycle import Event
from niteoweb.clickbank.lifecycle import State
from niteoweb.clickbank.lifecycle import Terms
from niteoweb.clickbank.lifecycle import action_for
from niteoweb.clickbank.lifecycle import derive
from niteoweb.clickbank.lifecycle import grants_access

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
NOW = datetime(2026, 1, 20, tzinfo=UTC)
MONTHLY = Terms(recurring=True, billing_days=30, grace_days=3)


def at(days: float, action: Action, receipt="R1", next_payment=None) -> Event:
    return Event(T0 + timedelta(days=days), action, receipt, next_payment)


class TestTransactionTypes:
    """The one table of transaction types."""

    @pytest.mark.parametrize(
        "transaction_type,action,is_test",
        [
            ("SALE", Action.PURCHASE, False),
            ("BILL", Action.RENEW, False),
            ("RFND", Action.REFUND, False),
            ("CGBK", Action.CHARGEBACK, False),
            ("INSF", Action.UNPAID, False),
            ("CANCEL-REBILL", Action.CANCEL, False),
            ("UNCANCEL-REBILL", Action.UNCANCEL, False),
            ("TEST", Action.TEST, True),
            ("TEST_SALE", Action.PURCHASE, True),
            ("TEST_BILL", Action.RENEW, True),
            ("TEST_RFND", Action.REFUND, True),
            ("CANCEL-TEST-REBILL", Action.CANCEL, True),
            ("UNCANCEL-TEST-REBILL", Action.UNCANCEL, True),
            ("TEST_CANCEL-REBILL", Action.CANCEL, True),
        ],
    )
    def test_known_types(self, transaction_type, action, is_test):
        """Every documented type maps to its action and test flag."""
        assert action_for(transaction_type) == (action, is_test)

    @pytest.mark.parametrize("transaction_type", ["ABANDONED_ORDER", "JV_SALE", ""])
    def test_unknown_types_have_no_action(self, transaction_type):
        """Unknown types do nothing (they are only recorded)."""
        assert action_for(transaction_type) == (None, False)

    def test_test_variants_mirror_live_types(self):
        """Each test-card variant acts like a live type."""
        live = {a for a, test in TRANSACTION_TYPES.values() if not test}
        for action, is_test in TRANSACTION_TYPES.values():
            if is_test and action is not Action.TEST:
                assert action in live


class TestDerive:
    """State and end of access from a set of events."""

    def test_one_off_sale_is_lifetime(self):
        """A one-off product with no access days never expires."""
        assert derive([at(0, Action.PURCHASE)], Terms(), NOW) == (State.ACTIVE, None)

    def test_one_off_with_access_days(self):
        """Access days count from the sale."""
        state, until = derive([at(0, Action.PURCHASE)], Terms(access_days=30), NOW)
        assert (state, until) == (State.ACTIVE, T0 + timedelta(days=30))

    def test_one_off_access_days_over_is_expired(self):
        """After the access days the entitlement is expired."""
        state, _ = derive([at(0, Action.PURCHASE)], Terms(access_days=10), NOW)
        assert state is State.EXPIRED

    def test_subscription_uses_next_payment_date(self):
        """A rebill's nextPaymentDate (plus grace) ends the paid period."""
        due = T0 + timedelta(days=31)
        state, until = derive([at(0, Action.PURCHASE, next_payment=due)], MONTHLY, NOW)
        assert (state, until) == (State.ACTIVE, due + timedelta(days=3))

    def test_subscription_without_rebill_expires_after_grace(self):
        """No BILL after the period plus grace days: expired."""
        later = NOW + timedelta(days=40)
        assert derive([at(0, Action.PURCHASE)], MONTHLY, later)[0] is State.EXPIRED

    def test_bill_extends_and_reactivates(self):
        """A BILL extends access, also after it had expired."""
        events = [at(0, Action.PURCHASE), at(45, Action.RENEW)]
        state, until = derive(events, MONTHLY, T0 + timedelta(days=50))
        assert state is State.ACTIVE
        assert until == T0 + timedelta(days=45 + 30 + 3)

    def test_refund_revokes(self):
        """A refund takes access away at once."""
        events = [at(0, Action.PURCHASE), at(2, Action.REFUND)]
        assert derive(events, Terms(), NOW) == (State.REFUNDED, T0 + timedelta(days=2))

    def test_chargeback_revokes(self):
        """A chargeback takes access away at once."""
        events = [at(0, Action.PURCHASE), at(2, Action.CHARGEBACK)]
        assert derive(events, Terms(), NOW)[0] is State.CHARGEBACK

    def test_refund_before_sale_still_wins(self):
        """A refund that is older than nothing else still wins over a sale."""
        events = [at(5, Action.PURCHASE), at(1, Action.REFUND)]
        assert derive(events, Terms(), NOW)[0] is State.REFUNDED

    def test_replayed_sale_never_reopens_refund(self):
        """A later copy of the sale does not undo the refund."""
        events = [at(0, Action.PURCHASE), at(2, Action.REFUND), at(9, Action.PURCHASE)]
        assert derive(events, Terms(), NOW)[0] is State.REFUNDED

    def test_cancel_keeps_access_to_end_of_period(self):
        """A cancelled subscription runs to the end of the paid period, no grace."""
        due = T0 + timedelta(days=31)
        events = [at(0, Action.PURCHASE, next_payment=due), at(10, Action.CANCEL)]
        assert derive(events, MONTHLY, NOW) == (State.CANCELLED, due)
        assert derive(events, MONTHLY, due)[0] is State.EXPIRED

    def test_cancel_without_known_period_ends_now(self):
        """With no next payment date and no billing days, cancel ends access."""
        events = [at(0, Action.PURCHASE), at(10, Action.CANCEL)]
        state, until = derive(events, Terms(recurring=True), NOW)
        assert (state, until) == (State.EXPIRED, T0 + timedelta(days=10))

    def test_uncancel_restores(self):
        """An un-cancel after a cancel makes the subscription active again."""
        events = [at(0, Action.PURCHASE), at(5, Action.CANCEL), at(6, Action.UNCANCEL)]
        assert derive(events, MONTHLY, NOW)[0] is State.ACTIVE

    def test_bounced_payment_expires_until_next_bill(self):
        """INSF after the last payment expires; a later BILL re-activates."""
        events = [at(0, Action.PURCHASE), at(3, Action.UNPAID)]
        assert derive(events, MONTHLY, NOW)[0] is State.EXPIRED
        events.append(at(4, Action.RENEW))
        assert derive(events, MONTHLY, NOW)[0] is State.ACTIVE

    def test_no_payment_is_pending(self):
        """Events without any payment give no access."""
        assert derive([at(0, Action.CANCEL)], MONTHLY, NOW) == (State.PENDING, None)

    @pytest.mark.parametrize("state", list(State))
    def test_only_active_and_cancelled_grant_access(self, state):
        """Access is held in the active and cancelled states only."""
        assert grants_access(state) is (state in (State.ACTIVE, State.CANCELLED))


HISTORY_ACTIONS = st.sampled_from(
    [
        Action.PURCHASE,
        Action.RENEW,
        Action.RENEW,
        Action.CANCEL,
        Action.UNCANCEL,
        Action.REFUND,
        Action.CHARGEBACK,
        Action.UNPAID,
    ]
)


@st.composite
def histories(draw):
    """A sale followed by any mix of later events, as (in order, delivered)."""
    actions = draw(st.lists(HISTORY_ACTIONS, max_size=8))
    events = [at(0, Action.PURCHASE)] + [
        at(i + 1, action) for i, action in enumerate(actions)
    ]
    delivered = draw(st.permutations(events))
    repeats = draw(st.lists(st.sampled_from(events), max_size=4))
    return events, list(delivered) + repeats


@pytest.mark.property
@settings(max_examples=300)
@given(histories(), st.sampled_from([Terms(), MONTHLY, Terms(access_days=5)]))
def test_order_and_repeats_do_not_change_the_result(history, terms):
    """Any delivery order, with repeats, derives the in-order result."""
    in_order, delivered = history
    assert derive(delivered, terms, NOW) == derive(in_order, terms, NOW)
