"""Who the benchmark's buyers are, on which site, and when they fall due.

Shared by ``populate.py`` (run by zconsole inside Zope) and ``run.py``. The
instance holds two Plone sites, ``small`` and ``large``, measured side by side;
one place decides the emails, receipts and ``nextPaymentDate`` of every
populated member, so that the sweeps find exactly 100 and 1 000 due.
"""

import hashlib
from datetime import UTC
from datetime import datetime
from datetime import timedelta

SITES = ("small", "large")
#: Entitlements due in the sweeps: 100 (both sites), then 1 000 (large site).
SWEEP_FEW = 100
SWEEP_MANY = 1000
#: Populated members that fall due during the run; the rest is due much later.
#: On the large site: 100, 1 000, 100 profiled.
SWEPT = {"small": SWEEP_FEW, "large": 2 * SWEEP_FEW + SWEEP_MANY}
#: Grace days of the benchmark sites (the add-on's default).
GRACE_DAYS = 3
SECRET_KEY = "BENCHSECRETKEY42"  # noqa: S105 - a throw-away instance's key
VENDOR = "benchvendor"
ITEM = "1"


def scatter(text: str) -> str:
    """Six hex digits that spread buyers over the BTrees as real names do.

    Sequential names would all land in the last bucket of every index and make
    concurrent requests conflict more than real buyers ever would.
    """
    return hashlib.sha1(text.encode()).hexdigest()[:6]  # noqa: S324 - not security


def member_email(index: int) -> str:
    """Email (and login) of populated member ``index``."""
    return f"{scatter(f'member{index}')}-{index:06d}@bench.example.com"


def member_name(index: int) -> tuple[str, str]:
    """First and last name of populated member ``index``."""
    return "Member", f"{scatter(f'member{index}')}{index}"


def member_receipt(index: int) -> str:
    """Original receipt of populated member ``index``: 8 characters, like ClickBank."""
    return f"P{index:07d}"


def buyer(prefix: str, index: int) -> tuple[str, str, str]:
    """Email, first and last name of new buyer ``index`` of a series."""
    mark = scatter(f"{prefix}{index}")
    return (
        f"{mark}-{prefix.lower()}{index:06d}@bench.example.com",
        "Buyer",
        mark + prefix,
    )


def next_payment(base: datetime, index: int) -> datetime:
    """The ``nextPaymentDate`` populated member ``index`` is sold with.

    Member ``index`` < 1 200 falls due ``index`` minutes after ``base``; the
    others ten thousand minutes later, after every sweep of the run.
    """
    rank = index if index < max(SWEPT.values()) else 10_000 + index
    return base + timedelta(minutes=rank)


def sweep_time(base: datetime, members_due: int) -> datetime:
    """A ``now`` at which exactly members ``0 … members_due - 1`` are past grace."""
    return base + timedelta(days=GRACE_DAYS, minutes=members_due, seconds=-30)


def billable(site: str, members: int) -> range:
    """Populated members no sweep touches: the ones rebilled during the run."""
    return range(SWEPT[site], members)


def default_base() -> datetime:
    """Due dates start a year from now: nothing falls due by itself in the run."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today + timedelta(days=365)
