"""The 1001 → 1002 upgrade moves a first-layout storage to orders and buyers.

The first layout is rebuilt here from a storage made by real notifications, the
way the previous development version stored them (eight indexes, persistent
entitlements of a class that no longer exists), committed, and read back in a
new connection, where the old entitlements arrive as broken objects.
"""

import transaction
from BTrees.Length import Length
from BTrees.LLBTree import LLTreeSet
from BTrees.LOBTree import LOBTree
from BTrees.OOBTree import OOBTree
from BTrees.OOBTree import OOTreeSet
from persistent import Persistent
from zope.annotation.interfaces import IAnnotations
from zope.component.hooks import getSite
from zope.component.hooks import setSite

from helpers import earlier_entitlement_state
from helpers import earlier_record_state
from helpers import notification
from niteoweb.clickbank import entitlements
from niteoweb.clickbank import ins
from niteoweb.clickbank import ledger
from niteoweb.clickbank import processing
from niteoweb.clickbank.migration import migrate
from niteoweb.clickbank.settings import get_settings
from niteoweb.clickbank.storage import ANNOTATION_KEY
from niteoweb.clickbank.storage import LAYOUT
from niteoweb.clickbank.storage import ClickBankStorage
from niteoweb.clickbank.storage import get_storage
from niteoweb.clickbank.testing import install_mock_mailhost

HISTORY = [
    notification("SALE", "AAAA1111", email="a@example.com", recurring=True),
    notification("BILL", "AAAA1111-B001", days=30, email="a@example.com"),
    notification("SALE", "BBBB2222", email="b@example.com"),
    notification("RFND", "BBBB2222", days=3, email="b@example.com"),
    notification("SALE", "CCCC3333", email="a@example.com"),
    notification("SALE", "DDDD4444", email="c@example.com", role="AFFILIATE"),
]


class FirstLayoutEntitlement(Persistent):
    """Pickled under the first layout's class name (see ``first_layout``)."""


FirstLayoutEntitlement.__module__ = "niteoweb.clickbank.entitlements"
FirstLayoutEntitlement.__name__ = "Entitlement"
FirstLayoutEntitlement.__qualname__ = "Entitlement"


def first_layout(storage: ClickBankStorage) -> ClickBankStorage:
    """The same data as the first development layout stored it."""
    old = ClickBankStorage.__new__(ClickBankStorage)
    old.records, old.record_count = LOBTree(), Length(storage.record_count())
    old.by_key, old.by_email, old.by_receipt = OOBTree(), OOBTree(), OOBTree()
    old.entitlements, old.entitlements_by_email = OOBTree(), OOBTree()
    old.receipt_events, old.buyers = OOBTree(), OOBTree()
    old.expiry, old.password_tokens = OOTreeSet(), OOBTree()
    old.password_tokens["99999999999-mailed-before"] = ("someone", None)
    for record_id, record in storage.records.items():
        state = earlier_record_state(record)
        state["payload"] = record.payload
        del state["_payload"]
        record.__setstate__(state)
        record._p_changed = True
        old.records[record_id] = record
        old.by_key[record.key] = record_id
        indexes = {old.by_email: record.email, old.by_receipt: record.original_receipt}
        for tree, value in indexes.items():
            if value:
                tree.setdefault(value, LLTreeSet()).add(record_id)
    for receipt, order in storage.orders.items():
        if order.events:
            old.receipt_events[receipt] = order.events
        for item_no, entitlement in order.items.items():
            persistent = FirstLayoutEntitlement()
            persistent.__dict__.update(earlier_entitlement_state(entitlement))
            old.entitlements[(receipt, item_no)] = persistent
            if entitlement.email:
                keys = old.entitlements_by_email.setdefault(
                    entitlement.email, OOTreeSet()
                )
                keys.insert((receipt, item_no))
    for key in storage.expiry:
        old.expiry.insert(key)
    old.retention_cursor = 12345
    return old


def snapshot(storage) -> dict:
    """What the add-on reads from a storage, through its functions."""
    emails = ("a@example.com", "b@example.com", "c@example.com", "x@example.com")
    return {
        "owned": {
            email: [
                (e.key, e.email, e.state, e.valid_until, e.events, e.product_title)
                for e in entitlements.for_buyer(storage, email)
            ]
            for email in emails
        },
        "history": {
            email: [r.id for r in ledger.history(storage, email)] for email in emails
        },
        "receipts": {
            receipt: [r.id for r in ledger.for_receipt(storage, receipt)]
            for receipt in ("AAAA1111", "BBBB2222", "DDDD4444")
        },
        "payloads": [r.payload for r in storage.records.values()],
        "records": [
            (r.transaction_time, r.detail, r.outcome) for r in storage.records.values()
        ],
        "expiry": list(storage.expiry),
        "count": storage.record_count(),
    }


def test_first_layout_is_migrated_without_loss(functional_portal, monkeypatch):
    portal = functional_portal
    install_mock_mailhost(portal)
    settings = get_settings()
    for n in HISTORY:
        processing.handle(n, settings)
    before = snapshot(get_storage())
    monkeypatch.setattr(entitlements, "Entitlement", FirstLayoutEntitlement, False)
    IAnnotations(portal)[ANNOTATION_KEY] = first_layout(get_storage())
    transaction.commit()
    monkeypatch.undo()  # the class is gone again, as after the update

    site = getSite()
    # A connection of its own, with its own transactions: one transaction must
    # not commit through two connections of one database.
    manager = transaction.TransactionManager()
    connection = portal._p_jar.db().open(transaction_manager=manager)
    try:
        again = connection.root()["Application"][portal.getId()]
        setSite(again)
        storage = IAnnotations(again)[ANNOTATION_KEY]
        old_entitlement = next(iter(storage.entitlements.values()))
        assert type(old_entitlement).__name__ == "Entitlement"
        assert hasattr(old_entitlement, "__Broken_state__")

        new = migrate(again)
        manager.commit()
        assert new is IAnnotations(again)[ANNOTATION_KEY]
        assert new.layout == LAYOUT
        assert snapshot(new) == before
        assert new.retention_cursor == 12345
        assert "99999999999-mailed-before" in new.password_tokens
        assert not hasattr(new, "by_key") and not hasattr(new, "entitlements")
        # a notification received before the upgrade is still a repeat after it
        for n in HISTORY:
            found = ledger.find(new, ins.idempotency_key(n), n.original_receipt)
            assert found is not None
            assert processing.handle(n, settings).duplicate
        assert migrate(again) is None  # a second run changes nothing
    finally:
        manager.abort()
        setSite(site)
        connection.close()
