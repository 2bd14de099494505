"""Two Zope instances on one ZEO server: concurrent notifications take effect once.

A ZEO server (FileStorage + blobs) and two instances serving the same site, each
with 4 threads; notifications are posted to both at the same moment (``slow``:
run by ``make stress``). The race between two transactions of one buyer is also
replayed step by step on two connections to the test database, as two instances
of a cluster would run it, and a new buyer's sale is checked for writes ZODB
cannot merge (fast, every ``make test``).
"""

import contextlib
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest
import transaction
from plone import api
from plone.app.testing import PLONE_SITE_ID
from Testing.makerequest import makerequest
from ZODB.POSException import ConflictError
from ZODB.utils import z64
from zope.component.hooks import setSite

from instances import SECRET_KEY
from instances import Instance
from instances import MailSink
from instances import ZeoServer
from instances import post
from instances import running
from instances import status
from niteoweb.clickbank import members
from niteoweb.clickbank import processing
from niteoweb.clickbank.ins.crypto import encrypt
from niteoweb.clickbank.ins.parse import parse
from niteoweb.clickbank.scripts.notify import build_notification
from niteoweb.clickbank.settings import get_settings
from niteoweb.clickbank.testing import delivered
from niteoweb.clickbank.testing import install_mock_mailhost

THREADS = 16
START = datetime.now(UTC).replace(microsecond=0) - timedelta(days=20)
#: Fixed times for the step-by-step tests: equal keys, equal BTree buckets.
FIXED_START = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
FIXED_NOW = FIXED_START + timedelta(days=20)
PRODUCTS = "1 | Gold"

#: Lifecycles of one receipt: transaction types and the days after the sale.
LIFECYCLES = {
    "refunded": (("SALE", 0), ("BILL", 15), ("CANCEL-REBILL", 16), ("RFND", 17)),
    "cancelled": (("SALE", 0), ("BILL", 15), ("CANCEL-REBILL", 16)),
    "uncancelled": (
        ("SALE", 0),
        ("BILL", 15),
        ("CANCEL-REBILL", 16),
        ("UNCANCEL-REBILL", 17),
    ),
    "unpaid": (("SALE", 0), ("BILL", 15), ("INSF", 18)),
}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A ZEO server, two serving instances and a third client to read the state."""
    home = tmp_path_factory.mktemp("zeo")
    with MailSink() as mail:
        zeo = ZeoServer(home / "zeo")
        first = Instance(home / "first", mail.port, zeo=zeo)
        second = Instance(home / "second", mail.port, zeo=zeo)
        reader = Instance(home / "reader", mail.port, zeo=zeo)
        with running(zeo, first, second):
            zeo.start()
            for instance in (first, second, reader):
                instance.create()
            first.create_site(products=PRODUCTS)
            first.start()
            second.start()
            yield {"instances": (first, second), "reader": reader, "mail": mail}


def notification(
    kind: str, receipt: str, email: str, days: float, start: datetime = START
) -> dict:
    """A subscription's notification, ``days`` after ``start``."""
    return build_notification(
        transaction_type=kind,
        receipt=f"{receipt}-B002" if kind == "BILL" else receipt,
        email=email,
        items=("1",),
        recurring=True,
        transaction_time=start + timedelta(days=days),
        next_payment_date=start + timedelta(days=45 if kind == "BILL" else 30),
    )


def encrypted(payload: dict, attempt: int = 1) -> bytes:
    """The body ClickBank posts on its ``attempt``-th try (a fresh IV each time)."""
    return encrypt({**payload, "attemptCount": attempt}, SECRET_KEY)


def at_once(deliveries: list[tuple[str, bytes]]) -> list:
    """Post ``(url, body)`` pairs, :data:`THREADS` at a time, each group at once."""
    responses = []
    for start in range(0, len(deliveries), THREADS):
        group = deliveries[start : start + THREADS]
        barrier = threading.Barrier(len(group))

        def deliver(delivery, barrier=barrier):
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait(timeout=30)
            return post(*delivery)

        with ThreadPoolExecutor(max_workers=len(group)) as pool:
            responses += pool.map(deliver, group)
    return responses


def buyer_state(state: dict, email: str, receipt: str) -> dict:
    """One buyer's member, entitlement and ledger, receipts made anonymous."""
    member = next(m for m in state["members"].values() if m["login"] == email)
    records = [r for r in state["ledger"]["records"] if r["email"] == email]
    entitlement = state["entitlements"][f"{receipt}/1"]
    return {
        "roles": member["roles"],
        "groups": member["groups"],
        "last_purchase_id": member["last_purchase_id"].replace(receipt, "R"),
        "last_purchase_timestamp": member["last_purchase_timestamp"],
        "state": entitlement["state"],
        "valid_until": entitlement["valid_until"],
        "events": entitlement["events"],
        "records": sorted((r["type"], r["time"]) for r in records),
    }


@pytest.mark.slow
def test_copies_of_one_sale_on_two_instances_take_effect_once(cluster):
    """40 copies of a SALE from 16 threads to both instances: one member, one record."""
    urls = [instance.webhook for instance in cluster["instances"]]
    payload = notification("SALE", "ZCOPY001", "copies@example.com", 0)
    responses = at_once(
        [(urls[n % 2], encrypted(payload, attempt=n + 1)) for n in range(40)]
    )
    assert [status(r) for r in responses] == [200] * 40
    answers = Counter(r.json()["status"] for r in responses)
    assert answers == {"ok": 1, "duplicate": 39}
    state = cluster["reader"].dump()
    logins = [m["login"] for m in state["members"].values()]
    assert logins.count("copies@example.com") == 1
    records = [r for r in state["ledger"]["records"] if r["receipt"] == "ZCOPY001"]
    assert len(records) == 1
    assert "Member" in buyer_state(state, "copies@example.com", "ZCOPY001")["roles"]
    # Both instances deliver from the queue the site's MailHost names.
    queue = cluster["instances"][0].home / "var" / "mailqueue"
    assert delivered(queue, 60)
    assert cluster["mail"].recipients().count("copies@example.com") == 1


def lifecycle_of(lifecycle: str, prefix: str, n: int) -> tuple[str, str, list]:
    """Email, receipt and the notifications of one receipt, in time order."""
    receipt = f"Z{prefix}{lifecycle[:3].upper()}{n}"
    email = f"{prefix.lower()}-{lifecycle}{n}@example.com"
    steps = LIFECYCLES[lifecycle]
    payloads = [notification(kind, receipt, email, days) for kind, days in steps]
    return email, receipt, payloads


@pytest.mark.slow
@pytest.mark.parametrize("lifecycle", sorted(LIFECYCLES))
def test_lifecycle_at_once_on_both_instances_equals_sequential(cluster, lifecycle):
    """Each notification of 4 receipts, twice, at once to both: as if one by one."""
    urls = [instance.webhook for instance in cluster["instances"]]
    concurrent, sequential = [], []
    for n in range(4):
        *_, payloads = lifecycle_of(lifecycle, "C", n)
        concurrent += [(url, encrypted(p)) for p in payloads for url in urls]
        *_, payloads = lifecycle_of(lifecycle, "S", n)
        sequential += [(urls[0], encrypted(p)) for p in payloads]
    responses = at_once(concurrent)
    in_order = [post(url, body) for url, body in sequential]
    assert [status(r) for r in in_order] == [200] * len(in_order)
    assert [status(r) for r in responses] == [200] * len(concurrent)
    answers = Counter(r.json()["status"] for r in responses)
    assert answers == {"ok": len(concurrent) // 2, "duplicate": len(concurrent) // 2}
    state = cluster["reader"].dump()
    for n in range(4):
        email, receipt, _ = lifecycle_of(lifecycle, "C", n)
        other, other_receipt, _ = lifecycle_of(lifecycle, "S", n)
        assert buyer_state(state, email, receipt) == (
            buyer_state(state, other, other_receipt)
        )


def race(cluster, setup: list[dict], pairs: list[tuple[dict, dict]]) -> dict:
    """Deliver ``setup`` one by one, then each pair at once (one per instance)."""
    urls = [instance.webhook for instance in cluster["instances"]]
    for payload in setup:
        assert status(post(urls[0], encrypted(payload))) == 200
    for pair in pairs:
        responses = at_once(
            [(url, encrypted(payload)) for url, payload in zip(urls, pair, strict=True)]
        )
        assert [status(r) for r in responses] == [200, 200]
    return cluster["reader"].dump()


def has_access(state: dict, email: str) -> bool:
    """Whether the buyer holds the Member role or the group Gold."""
    member = next(m for m in state["members"].values() if m["login"] == email)
    return "Member" in member["roles"] or "Gold" in member["groups"]


@pytest.mark.slow
def test_refunds_of_two_orders_at_once_revoke_access(cluster):
    """32 buyers refund both their orders at once, one per instance: no access."""
    emails = [f"two-orders{n}@example.com" for n in range(32)]
    setup, pairs = [], []
    for n, email in enumerate(emails):
        orders = [f"Z2{order}{n:05d}" for order in "AB"]
        setup += [notification("SALE", receipt, email, 0) for receipt in orders]
        pairs.append(
            tuple(notification("RFND", receipt, email, 17) for receipt in orders)
        )
    state = race(cluster, setup, pairs)
    entitlements = state["entitlements"]
    states = {entitlements[f"Z2{o}{n:05d}/1"]["state"] for o in "AB" for n in range(32)}
    assert states == {"refunded"}
    kept = [email for email in emails if has_access(state, email)]
    print(f"\n{len(kept)} of {len(emails)} buyers kept access after both refunds")
    assert kept == []


@pytest.mark.slow
def test_new_order_and_refund_of_old_at_once_keep_access(cluster):
    """32 buyers buy again while their old order is refunded: all keep access."""
    emails = [f"swap{n}@example.com" for n in range(32)]
    setup, pairs = [], []
    for n, email in enumerate(emails):
        setup.append(notification("SALE", f"Z3A{n:05d}", email, 0))
        pairs.append(
            (
                notification("RFND", f"Z3A{n:05d}", email, 17),
                notification("SALE", f"Z3B{n:05d}", email, 17.5),
            )
        )
    state = race(cluster, setup, pairs)
    entitlements = state["entitlements"]
    for order, wanted in (("A", "refunded"), ("B", "active")):
        states = {entitlements[f"Z3{order}{n:05d}/1"]["state"] for n in range(32)}
        assert states == {wanted}
    lost = [email for email in emails if not has_access(state, email)]
    print(f"\n{len(lost)} of {len(emails)} buyers lost access with an active order")
    assert lost == []


#: Two transactions of one buyer: what is delivered first (one by one), the two
#: notifications that run at the same time, and whether the buyer has access.
RACES = {
    "two refunds": (["SALE A", "SALE B"], ("RFND A", "RFND B"), False),
    "refund and new sale": (["SALE A"], ("RFND A", "SALE B"), True),
    "new sale and refund": (["SALE A"], ("SALE B", "RFND A"), True),
    "refunds, new sale first": (["SALE A", "SALE B"], ("SALE C", "RFND A"), True),
}


def race_payload(step: str) -> dict:
    """``"RFND A"``: the RFND of the buyer's order A."""
    kind, order = step.split()
    days = {"SALE": {"A": 0, "B": 17.5, "C": 17.6}[order], "RFND": 17}[kind]
    receipt = f"ZR{order}00001"
    return notification(kind, receipt, "racer@example.com", days, FIXED_START)


@pytest.fixture
def no_mail(functional):
    """Welcome mails go to a MailHost that keeps them, not over SMTP."""
    install_mock_mailhost(functional["portal"])
    transaction.commit()


@pytest.fixture
def connections(functional):
    """Open the test site on more connections, each with its own transactions."""
    portal = functional["portal"]
    db = portal._p_jar.db()
    opened = []

    def open_site():
        manager = transaction.TransactionManager()
        connection = db.open(transaction_manager=manager)
        opened.append((manager, connection))
        manager.begin()
        return manager, makerequest(connection.root()["Application"])[PLONE_SITE_ID]

    yield open_site
    for manager, connection in opened:
        manager.abort()
        connection.close()
    setSite(portal)


def handle(payload: dict) -> None:
    """Process a notification in the current site, at :data:`FIXED_NOW`."""
    processing.handle(parse(payload), get_settings(), now=FIXED_NOW)


def handle_in(site, payload: dict) -> None:
    """Process a notification in ``site`` (of some connection) as the view does."""
    setSite(site)
    handle(payload)


def commit_or_retry(manager, site, payload: dict) -> None:
    """Commit; on a conflict, retry the notification as Zope would (3 times)."""
    for _retry in range(3):
        try:
            manager.commit()
            return
        except ConflictError:
            manager.abort()
            manager.begin()
            handle_in(site, payload)
    manager.commit()


@pytest.mark.parametrize("race", sorted(RACES))
def test_two_transactions_of_one_buyer_as_if_one_after_the_other(
    functional, connections, no_mail, race
):
    """Two notifications of one buyer interleaved on two connections: sequential."""
    portal = functional["portal"]
    api.portal.set_registry_record("niteoweb.clickbank.products", [PRODUCTS])
    api.group.create(groupname="Gold")
    setup, (first, second), access = RACES[race]
    # Other buyers before and after in every index, few enough for one bucket
    # each: only what the two notifications do can make them conflict.
    others = [
        notification("SALE", f"Z{c}{n:06d}", f"{c}{n}@example.com", 0, FIXED_START)
        for c in "QS"
        for n in range(10)
    ]
    for payload in others + [race_payload(step) for step in setup]:
        handle(payload)
    transaction.commit()

    one, site_one = connections()
    two, site_two = connections()
    handle_in(site_one, race_payload(first))
    handle_in(site_two, race_payload(second))
    one.commit()
    commit_or_retry(two, site_two, race_payload(second))

    setSite(portal)
    transaction.begin()
    member = members.find("racer@example.com")
    assert ("Member" in api.user.get_roles(user=member)) is access
    groups = {g.getId() for g in api.group.get_groups(user=member)}
    assert ("Gold" in groups) is access


def test_sale_of_new_buyer_changes_only_objects_zodb_can_merge(functional, no_mail):
    """A new buyer's SALE changes BTrees and counters only: no site-wide object."""
    portal = functional["portal"]
    for n in range(20):
        handle(notification("SALE", f"ZM{n:06d}", f"m{n}@x.org", 0, FIXED_START))
    transaction.commit()
    handle(notification("SALE", "ZN000001", "newcomer@x.org", 0, FIXED_START))
    # Objects stored before this transaction, changed by it: what can conflict.
    changed = [obj for obj in portal._p_jar._registered_objects if obj._p_serial != z64]
    assert changed
    unmergeable = {
        type(obj).__name__ for obj in changed if not hasattr(obj, "_p_resolveConflict")
    }
    assert unmergeable == set()
