"""Records of the notification log, and entitlements, as JSON-ready values.

Shared by the log views, the CSV export and the REST services; the filtered,
paged reading of the log is in :mod:`niteoweb.clickbank.logquery`.
"""

import json
from datetime import datetime

from niteoweb.clickbank.ledger import NotificationRecord
from niteoweb.clickbank.orders import Entitlement


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def summary(record: NotificationRecord) -> dict:
    """A record as JSON-ready values, without the decrypted payload."""
    return {
        "id": record.id,
        "received": _iso(record.received),
        "transaction_time": _iso(record.transaction_time),
        "transaction_type": record.transaction_type,
        "receipt": record.receipt,
        "original_receipt": record.original_receipt,
        "email": record.email,
        "item_numbers": list(record.item_numbers),
        "outcome": record.outcome,
        "detail": record.detail,
    }


def payload_json(record: NotificationRecord) -> str | None:
    """The decrypted notification, pretty-printed; None once retention blanked it."""
    if not record.payload:
        return None
    return json.dumps(
        record.payload, indent=2, sort_keys=True, ensure_ascii=False, default=str
    )


def entitlement_summary(entitlement: Entitlement) -> dict:
    """An entitlement as JSON-ready values."""
    return {
        "receipt": entitlement.original_receipt,
        "item_no": entitlement.item_no,
        "product_title": entitlement.product_title,
        "state": entitlement.state,
        "valid_until": _iso(entitlement.valid_until),
        "recurring": bool(entitlement.recurring),
        "grants_access": entitlement.grants_access,
    }
