"""The periodic sweep: expire lapsed access and blank old customer data.

Both sweeps read an ordered index from where their work starts, so that their
cost grows with the work to do, not with the number of buyers or records.
Customer data is never logged at INFO or above: receipts and item numbers only.
"""

from dataclasses import dataclass
from dataclasses import replace
from datetime import UTC
from datetime import datetime
from datetime import timedelta

from zope.event import notify

from niteoweb.clickbank import logger
from niteoweb.clickbank import members
from niteoweb.clickbank.events import MemberDisabledEvent
from niteoweb.clickbank.processing import buyer_access
from niteoweb.clickbank.settings import Settings
from niteoweb.clickbank.storage import expiry
from niteoweb.clickbank.storage import orders
from niteoweb.clickbank.storage.log import first_record_id
from niteoweb.clickbank.storage.root import get_storage


@dataclass(frozen=True)
class SweepReport:
    """What a sweep found and did.

    ``due``: keys ``(receipt, itemNo)`` of the entitlements whose access period
    was over; ``revoked``: members who lost the member role (always 0 in a dry
    run); ``blanked``: log records whose customer data was blanked (in a dry run:
    would be blanked).
    """

    now: datetime
    due: tuple[tuple[str, str], ...] = ()
    revoked: int = 0
    dry_run: bool = False
    blanked: int = 0


def _moment(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware, e.g. datetime.now(UTC)")
    return now


def expire(
    settings: Settings, now: datetime | None = None, dry_run: bool = False
) -> SweepReport:
    """Revoke the access whose paid period is over at ``now`` (default: now).

    Reads only the due entries of the expiry index, re-derives each entitlement
    and syncs each buyer concerned once; fires ``MemberDisabledEvent`` for every
    member who loses the member role. Accounts that manage the site are left
    unchanged (their entitlements are still updated). ``dry_run`` changes
    nothing. Raises ``ValueError`` for a naive ``now``.
    """
    now = _moment(now)
    storage = get_storage(create=not dry_run)
    due, reached = expiry.due(storage, now) if storage is not None else ([], {})
    report = SweepReport(now=now, due=tuple(e.key for _, e in due), dry_run=dry_run)
    if dry_run:
        return report

    buyers = {}  # email → (order, entitlement) first concerned, for the event
    for order, entitlement in due:
        if orders.refresh(storage, order, entitlement, settings, now):
            logger.info(
                "ClickBank expiry: %s/%s is %s",
                entitlement.original_receipt,
                entitlement.item_no,
                entitlement.state,
            )
        if entitlement.email:
            buyers.setdefault(entitlement.email, (order, entitlement))
    # Rebilled entitlements reached at their old end are filed at the new one.
    expiry.refile(storage, reached)
    if not due:
        return report

    revoked = 0
    role = f"role:{settings.member_role}"
    for email, (order, entitlement) in buyers.items():
        member = members.find(email)
        if member is None:
            continue
        held = members.standing(member)
        if members.is_protected(member, settings, held):
            logger.warning(
                "ClickBank expiry: the buyer of %s holds roles that manage the "
                "site; the account was left unchanged.",
                entitlement.original_receipt,
            )
            continue
        owned = orders.buyer_orders(storage, email, order, hold=True)
        access, groups = buyer_access(owned, settings)
        _, removed = members.sync(member, settings, access, groups, held)
        if role in removed:
            revoked += 1
            logger.info(
                "ClickBank expiry: the buyer of %s/%s lost %s",
                entitlement.original_receipt,
                entitlement.item_no,
                role,
            )
            notify(MemberDisabledEvent(member, None, entitlement))
    logger.info(
        "ClickBank expiry sweep: %d entitlement(s) due, %d member(s) lost access",
        len(due),
        revoked,
    )
    return replace(report, revoked=revoked)


def blank_old_payloads(
    settings: Settings, now: datetime | None = None, dry_run: bool = False
) -> int:
    """Blank the decrypted notifications older than ``log_retention_days``.

    Receipt, type, outcome, times and the buyer's email (the member's history)
    are kept. Returns how many records were blanked (with ``dry_run``: would be,
    nothing changes). Starts from the storage's ``retention_cursor``, the
    cutoff of the previous run, so that no record is visited twice. Raises
    ``ValueError`` for a naive ``now``.
    """
    now = _moment(now)
    storage = get_storage(create=not dry_run)
    if storage is None:
        return 0
    cursor = storage.retention_cursor
    cutoff = first_record_id(now - timedelta(days=settings.log_retention_days))
    if cutoff <= cursor:
        return 0
    blanked = 0
    for record in storage.records.values(min=cursor, max=cutoff, excludemax=True):
        if record.payload is not None:
            blanked += 1
            if not dry_run:
                record.payload = None
    if not dry_run:
        storage.retention_cursor = cutoff
        if blanked:
            logger.info(
                "ClickBank retention: customer data of %d log record(s) older "
                "than %d day(s) blanked",
                blanked,
                settings.log_retention_days,
            )
    return blanked


def run(
    settings: Settings, now: datetime | None = None, dry_run: bool = False
) -> SweepReport:
    """:func:`expire` and :func:`blank_old_payloads` at one ``now``; one report."""
    now = _moment(now)
    report = expire(settings, now=now, dry_run=dry_run)
    return replace(report, blanked=blank_old_payloads(settings, now, dry_run))
