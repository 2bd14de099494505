"""A real server killed with SIGKILL in the middle of a burst of notifications.

ClickBank re-delivers what got no 2xx answer (in any order) and sometimes what
did; once it has, the site must be exactly where a crash-free run leaves it.
The welcome mails of committed sales are in the MailHost's queue and are
delivered after the restart. Run by ``make stress``; the instances live in
pytest's temporary directory.
"""

import queue
import random
import threading
import time
from collections import Counter
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest

from instances import SECRET_KEY
from instances import Instance
from instances import MailSink
from instances import post
from instances import running
from instances import status as status_of
from niteoweb.clickbank import testing
from niteoweb.clickbank.ins.crypto import encrypt
from niteoweb.clickbank.ins.parse import parse
from niteoweb.clickbank.scripts.notify import build_notification
from niteoweb.clickbank.storage import log

pytestmark = pytest.mark.slow

BUYERS = 120
CLIENTS = 4
KILL_AFTER = 80  # answers received before the server is killed
DUPLICATES = 30  # delivered notifications ClickBank sends once more
PRODUCTS = "1 | Gold\n2 | Silver"
START = datetime.now(UTC).replace(microsecond=0) - timedelta(days=20)


def buyer(index: int) -> str:
    """The email address of buyer ``index``."""
    return f"buyer{index:03d}@example.com"


def notify(kind: str, index: int, days: float, receipt: str = "") -> dict:
    """A notification of buyer ``index``, ``days`` after :data:`START`."""
    return build_notification(
        transaction_type=kind,
        receipt=receipt or f"CR{index:06d}",
        email=buyer(index),
        first_name="Buyer",
        last_name=f"No{index}",
        items=("1",) if index % 2 else ("2",),
        recurring=index % 3 != 0,
        transaction_time=START + timedelta(days=days, minutes=index),
        next_payment_date=START + timedelta(days=45 if kind == "BILL" else 30),
    )


def notifications() -> list[dict]:
    """200 notifications in the order of their transaction times.

    120 sales; then a rebill for 40 subscriptions, 15 cancellations and 25
    refunds (some of a rebilled or cancelled subscription).
    """
    subscriptions = [i for i in range(BUYERS) if i % 3 != 0]
    sales = [notify("SALE", i, 0) for i in range(BUYERS)]
    bills = [
        notify("BILL", i, 15, receipt=f"CR{i:06d}-B002") for i in subscriptions[:40]
    ]
    cancels = [notify("CANCEL-REBILL", i, 16) for i in subscriptions[30:45]]
    refunds = [notify("RFND", i, 17) for i in range(0, BUYERS, 4)][:25]
    return sales + bills + cancels + refunds


def deliver(url: str, bodies: list[bytes], clients: int, on_answer=None) -> dict:
    """Post every body once from ``clients`` threads; status (or None) per index."""
    todo = queue.Queue()
    for index in range(len(bodies)):
        todo.put(index)
    statuses = {}

    def client():
        while True:
            try:
                index = todo.get_nowait()
            except queue.Empty:
                return
            status = status_of(post(url, bodies[index]))
            statuses[index] = status
            if status is not None and on_answer is not None:
                on_answer()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def redeliver(url: str, bodies: list[bytes], indexes: list[int]) -> Counter:
    """Re-deliver like ClickBank until each answer is 2xx; counts every status."""
    seen = Counter()
    pending = list(indexes)
    for _attempt in range(10):
        statuses = deliver(url, [bodies[i] for i in pending], CLIENTS)
        seen.update(statuses.values())
        pending = [i for n, i in enumerate(pending) if not _ok(statuses[n])]
        if not pending:
            break
    assert pending == []
    return seen


def _ok(status) -> bool:
    """Whether ClickBank counts the answer as delivered."""
    return status is not None and 200 <= status < 300


def comparable(state: dict) -> dict:
    """What must not depend on crashes and delivery order (outcomes may)."""
    ledger = state["ledger"]
    return {
        "members": {m["login"]: m for m in state["members"].values()},
        "entitlements": state["entitlements"],
        "by_email": state["by_email"],
        "expiry": state["expiry"],
        "records": sorted(
            (r["receipt"], r["type"], r["time"], r["email"]) for r in ledger["records"]
        ),
        "sizes": (
            ledger["record_count"],
            ledger["keys"],
            ledger["seen_records"],
        ),
    }


def assert_consistent(state: dict, payloads: list[dict]) -> None:
    """Nothing half-written: every effect has its ledger record and vice versa."""
    ledger = state["ledger"]
    records = ledger["records"]
    assert ledger["record_count"] == len(records) == ledger["keys"]
    assert len({r["key"] for r in records}) == len(records)
    assert ledger["seen_records"] == len(records)
    assert state["expiry_missing"] == []  # the sweep would miss these
    assert state["buyer_receipts_stale"] == []  # decisions would miss orders
    paid = {r["email"] for r in records if r["type"] in ("SALE", "BILL")}
    assert {m["login"] for m in state["members"].values()} == paid
    receipts = {r["receipt"].split("-")[0] for r in records}
    assert {key.split("/")[0] for key in state["entitlements"]} == receipts
    known = {(p["receipt"], p["transactionType"]) for p in payloads}
    assert {(r["receipt"], r["type"]) for r in records} <= known


@pytest.fixture
def mail():
    """A real SMTP server the instances send their welcome mails to."""
    with MailSink() as sink:
        yield sink


def burst_with_crash(instance: Instance, bodies: list[bytes]) -> dict:
    """Post every body once in a shuffled order; SIGKILL after 80 answers.

    Returns the status (None: no answer) of every body, by index.
    """
    order = list(range(len(bodies)))
    random.Random(2026).shuffle(order)
    answers = threading.Semaphore(0)
    killer = threading.Thread(target=_kill_after, args=(instance, answers))
    killer.start()
    statuses = deliver(
        instance.webhook, [bodies[i] for i in order], CLIENTS, answers.release
    )
    killer.join()
    return {order[n]: status for n, status in statuses.items()}


def test_kill_during_burst_then_redelivery_equals_crash_free_run(tmp_path, mail):
    """SIGKILL after 80 of 200 answers; retries and duplicates; same final state."""
    started = time.monotonic()
    payloads = notifications()
    bodies = [encrypt(p, SECRET_KEY) for p in payloads]
    crashed = Instance(tmp_path / "crashed", mail.port)
    reference = Instance(tmp_path / "reference", mail.port)
    with running(crashed, reference):
        for instance in (crashed, reference):
            instance.create()
            instance.create_site(products=PRODUCTS)

        crashed.start()
        burst = burst_with_crash(crashed, bodies)
        delivered = [i for i, status in burst.items() if _ok(status)]
        undelivered = [i for i, status in burst.items() if not _ok(status)]
        answered = [i for i, status in burst.items() if status is not None]
        assert KILL_AFTER <= len(answered) < len(bodies)

        # What the crash left: every 2xx is there, nothing else but in-flight ones.
        after_crash = crashed.dump()
        assert_consistent(after_crash, payloads)
        keys = {r["key"] for r in after_crash["ledger"]["records"]}
        delivered_keys = {_key(payloads[i]) for i in delivered}
        assert delivered_keys <= keys
        in_flight = keys - delivered_keys  # committed, but no answer came back
        assert len(in_flight) <= CLIENTS

        # ClickBank retries, out of order, and repeats some delivered ones.
        retries = undelivered + random.Random(7).sample(delivered, DUPLICATES)
        random.Random(11).shuffle(retries)
        crashed.start()
        retried = redeliver(crashed.webhook, bodies, retries)
        # A mail being sent at the kill waits for its lock to age (RETRY_SECONDS).
        assert testing.delivered(mail_queue(crashed), 300)
        crashed.stop()
        final = crashed.dump()
        crash_mails = Counter(mail.recipients())
        mail.inbox.messages.clear()

        # The crash-free run: everything once, in order.
        reference.start()
        in_order = deliver(reference.webhook, bodies, 1)
        assert all(_ok(status) for status in in_order.values())
        assert testing.delivered(mail_queue(reference), 60)
        reference.stop()
        expected = reference.dump()
        reference_mails = Counter(mail.recipients())

    assert_consistent(final, payloads)
    assert_consistent(expected, payloads)
    assert len(final["ledger"]["records"]) == len(payloads)
    assert len(final["members"]) == BUYERS
    assert comparable(final) == comparable(expected)
    # One welcome mail per account created with access; only a crash between
    # the database's commit and the queue's may lose one.
    welcomed = welcomed_buyers(final)
    assert set(crash_mails) <= welcomed
    assert set(crash_mails.values()) == {1}
    lost = welcomed - set(crash_mails)
    assert lost <= {
        r["email"] for r in final["ledger"]["records"] if r["key"] in in_flight
    }
    assert reference_mails == Counter(welcomed_buyers(expected))
    assert len(reference_mails) == BUYERS
    print(
        f"\ncrash test: {len(bodies)} notifications, 1 SIGKILL after "
        f"{len(answered)} answers; burst statuses {Counter(burst.values())}; "
        f"{len(keys)} records after the crash ({len(in_flight)} unanswered); "
        f"{len(retries)} re-deliveries ({len(undelivered)} undelivered + "
        f"{DUPLICATES} duplicates), statuses {retried}; welcome mails: "
        f"{sum(crash_mails.values())} crashed run ({len(lost)} lost), "
        f"{sum(reference_mails.values())} crash-free run; outcomes differing: "
        f"{_outcome_differences(final, expected)}; "
        f"{time.monotonic() - started:.0f} s"
    )


def mail_queue(instance: Instance):
    """The MailHost queue of ``instance``'s site (``scripts/create_site.py``)."""
    return instance.home / "var" / "mailqueue"


def test_mails_queued_before_a_kill_are_delivered_after_the_restart(
    tmp_path, mail, monkeypatch
):
    """Zope delivers what its queue holds when it starts, without a new sale."""
    instance = Instance(tmp_path / "restarted", mail.port)
    buyers = [buyer(index) for index in range(3)]
    with running(instance):
        instance.create()
        instance.create_site()
        # Queued, not sent: this Zope starts no queue thread.
        monkeypatch.setenv("MAILHOST_QUEUE_ONLY", "1")
        instance.start()
        for index in range(len(buyers)):
            payload = notify("SALE", index, 0)
            body = encrypt(payload, SECRET_KEY)
            assert status_of(post(instance.webhook, body)) == 200
        assert len(testing.queued(mail_queue(instance))) == len(buyers)
        instance.kill()
        monkeypatch.delenv("MAILHOST_QUEUE_ONLY")
        instance.start()
        assert testing.delivered(mail_queue(instance), 60)
    assert sorted(mail.recipients()) == buyers


def welcomed_buyers(state: dict) -> set[str]:
    """Buyers whose account was created with access (they get a welcome mail)."""
    return {
        r["email"]
        for r in state["ledger"]["records"]
        if r["outcome"] == "created" and "+role:Member" in r["detail"]
    }


def _kill_after(instance: Instance, answers: threading.Semaphore) -> None:
    for _ in range(KILL_AFTER):
        answers.acquire(timeout=300)
    instance.kill()


def _key(payload: dict) -> str:
    return log.idempotency_key(parse(payload))


def _outcome_differences(state: dict, other: dict) -> int:
    outcomes = {r["key"]: r["outcome"] for r in other["ledger"]["records"]}
    return sum(
        outcomes.get(r["key"]) != r["outcome"] for r in state["ledger"]["records"]
    )
