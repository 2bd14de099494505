"""Concurrent deliveries to the real waitress server of the acceptance layer.

ClickBank retries, and its retries can overlap: copies of one notification, and
different notifications of one order, may be processed at the same moment by
different server threads. ZODB conflicts are retried by Zope; the final state
must be the one sequential delivery gives.
"""

import contextlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from plone import api
from zope.component import getGlobalSiteManager
from ZPublisher.interfaces import IPubFailure

from helpers import fresh
from helpers import payload
from helpers import post
from helpers import wait_for
from niteoweb.clickbank import members
from niteoweb.clickbank.ins.crypto import encrypt
from niteoweb.clickbank.storage.orders import for_buyer
from niteoweb.clickbank.storage.queries import for_receipt
from niteoweb.clickbank.storage.root import get_storage
from niteoweb.clickbank.testing import SECRET_KEY

THREADS = 16
COPIES = 50
ROUNDS = 5
#: One order's life, as sequential delivery would apply it (days after T0).
ORDER = (
    ("SALE", "", 0),
    ("BILL", "-B001", 30),
    ("CANCEL-REBILL", "", 40),
    ("RFND", "", 45),
)


@pytest.fixture
def portal(acceptance):
    return acceptance["portal"]


@pytest.fixture
def retries():
    """Requests Zope retried after a conflict during the test (one entry each)."""
    retried = []

    def count(event):
        if event.retry:
            retried.append(event.exc_info[0].__name__)

    registry = getGlobalSiteManager()
    registry.registerHandler(count, (IPubFailure,))
    yield retried
    registry.unregisterHandler(count, (IPubFailure,))


def post_at_once(webhook_url, bodies: list[bytes], threads: int = THREADS) -> list:
    """Post ``bodies`` from ``threads`` threads; the first ones start together."""
    barrier = threading.Barrier(min(threads, len(bodies)))

    def deliver(numbered):
        index, body = numbered
        if index < barrier.parties:
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait(timeout=10)
        return post(webhook_url, body)

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(deliver, enumerate(bodies)))


def order_bodies(email: str, receipt: str) -> list[bytes]:
    """The notifications of :data:`ORDER` for one buyer and receipt, encrypted."""
    return [
        encrypt(
            payload(kind, receipt + suffix, days, email=email, recurring=True),
            SECRET_KEY,
        )
        for kind, suffix, days in ORDER
    ]


def final_state(portal, email: str, receipt: str) -> dict:
    """Everything the order left behind, with the receipt's first letter dropped."""
    storage = get_storage(portal)
    member = members.find(email)
    return {
        "member": member is not None,
        "access": member is not None and "Member" in api.user.get_roles(user=member),
        "last purchase": member and member.getProperty("last_purchase_id")[1:],
        "last purchase time": member and member.getProperty("last_purchase_timestamp"),
        "entitlements": sorted(
            (e.item_no, e.state, e.valid_until) for e in for_buyer(storage, email)
        ),
        "records": sorted(
            (r.transaction_type, r.receipt[1:]) for r in for_receipt(storage, receipt)
        ),
    }


class TestConcurrentCopies:
    """Many copies of one notification at the same moment take effect once."""

    def test_fifty_copies_of_one_sale(
        self, webhook_url, portal, smtp, retries, record_property
    ):
        """50 copies from 16 threads: one member, one record, one mail, all 2xx."""
        body = encrypt(payload(first_name="Ada", last_name="Lovelace"), SECRET_KEY)
        started = time.monotonic()
        responses = post_at_once(webhook_url, [body] * COPIES)
        elapsed = time.monotonic() - started
        assert [r.status_code // 100 for r in responses] == [2] * COPIES
        statuses = [r.json()["status"] for r in responses]
        record_property("duplicates", statuses.count("duplicate"))
        record_property("seconds", round(elapsed, 2))
        record_property("retries", len(retries))
        print(
            f"{COPIES} copies: {statuses.count('duplicate')} duplicates, "
            f"{len(retries)} conflict retries, {elapsed:.1f}s"
        )
        assert statuses.count("ok") == 1
        assert statuses.count("duplicate") == COPIES - 1
        assert {r.json()["outcome"] for r in responses} == {"created"}
        fresh()
        assert len(get_storage(portal).records) == 1
        buyer = members.find("buyer@example.com")
        assert "Member" in api.user.get_roles(user=buyer)
        namesakes = [
            user.getId()
            for user in api.user.get_users()
            if user.getProperty("email") == "buyer@example.com"
        ]
        assert namesakes == [buyer.getId()]
        assert wait_for(lambda: smtp.messages)
        time.sleep(0.3)  # mail leaves on commit, before the answer: this is margin
        assert len(smtp.messages) == 1
        assert smtp.messages[0]["To"].addresses[0].addr_spec == "buyer@example.com"


class TestConflictingNotifications:
    """The notifications of one order delivered at once end as delivered in order."""

    def test_same_final_state_as_sequential_delivery(
        self, webhook_url, portal, retries, record_property
    ):
        """SALE, BILL, CANCEL-REBILL and RFND at once, thrice each: refunded."""
        for n in range(ROUNDS):
            in_order = (f"s{n}@example.com", f"S{n:07d}")
            at_once = (f"c{n}@example.com", f"C{n:07d}")
            for body in order_bodies(*in_order):
                assert post(webhook_url, body).status_code == 200
            bodies = order_bodies(*at_once) * 3
            responses = post_at_once(webhook_url, bodies, threads=len(bodies))
            assert [r.status_code for r in responses] == [200] * len(bodies)
            statuses = [r.json()["status"] for r in responses]
            assert statuses.count("ok") == len(ORDER)
            fresh()
            expected = final_state(portal, *in_order)
            assert expected["access"] is False
            assert {state for _, state, _ in expected["entitlements"]} == {"refunded"}
            assert len(expected["records"]) == len(ORDER)
            assert final_state(portal, *at_once) == expected
        record_property("retries", len(retries))
        print(f"{ROUNDS} rounds: {len(retries)} conflict retries")


class TestOneAtATime:
    """Notifications wait for each other in the process instead of conflicting."""

    def test_concurrent_sales_of_different_buyers_are_never_retried(
        self, webhook_url, portal, smtp, retries
    ):
        """40 new buyers from 8 threads at once: all 200, no conflict, no retry."""
        bodies = [
            encrypt(
                payload("SALE", f"ONE{i:05d}", email=f"one{i}@example.com"),
                SECRET_KEY,
            )
            for i in range(40)
        ]
        responses = post_at_once(webhook_url, bodies, 8)
        assert [r.status_code for r in responses] == [200] * 40
        assert retries == []
        fresh()
        assert all(members.find(f"one{i}@example.com") for i in range(40))
