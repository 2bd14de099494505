"""Add members, ledger records and entitlements fast; run with zconsole.

    BENCH_SITE=large BENCH_MEMBERS=20000 BENCH_BASE=2027-01-01T00:00:00+00:00 \
        PYTHONPATH=bench zconsole run INSTANCE/etc/zope.conf bench/populate.py

Every member is made the way a real SALE makes it, by
:func:`niteoweb.clickbank.processing.handle` on a parsed notification (no HTTP,
no encryption, no welcome mail), committing every ``BENCH_BATCH`` members.
Members already there are skipped, so the script can grow a site step by step.
"""

import logging
import os
import time
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import plan  # bench/ is on PYTHONPATH (zconsole scripts have no __file__)
import transaction
from plone import api
from Testing.makerequest import makerequest
from zope.component.hooks import setSite

from niteoweb.clickbank import processing
from niteoweb.clickbank.ins import parse
from niteoweb.clickbank.mail import send
from niteoweb.clickbank.settings import get_settings
from niteoweb.clickbank.simulator import build_notification
from niteoweb.clickbank.storage import get_storage


def main(app) -> None:
    """Grow site ``BENCH_SITE`` to ``BENCH_MEMBERS`` members."""
    site_id = os.environ["BENCH_SITE"]
    target = int(os.environ["BENCH_MEMBERS"])
    base = datetime.fromisoformat(os.environ["BENCH_BASE"])
    batch = int(os.environ.get("BENCH_BATCH", "500"))
    logging.getLogger("niteoweb.clickbank").setLevel(logging.WARNING)
    app = makerequest(app)
    site = app[site_id]
    setSite(site)
    send.welcome = lambda member, language=None: True  # no mail, no reset link
    settings = get_settings()
    sold = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    users = api.portal.get_tool("acl_users").source_users
    start = time.perf_counter()
    done = 0
    for index in range(target):
        email = plan.member_email(index)
        if email in users._login_to_userid:
            continue
        first_name, last_name = plan.member_name(index)
        notification = parse(
            build_notification(
                receipt=plan.member_receipt(index),
                vendor=plan.VENDOR,
                email=email,
                first_name=first_name,
                last_name=last_name,
                items=(plan.ITEM,),
                transaction_time=sold,
                recurring=True,
                next_payment_date=plan.next_payment(base, index),
            )
        )
        result = processing.handle(notification, settings)
        if result.outcome != "created":
            raise RuntimeError(f"member {index}: {result}")
        done += 1
        if done % batch == 0:
            transaction.commit()
            rate = done / (time.perf_counter() - start)
            print(f"populate {site_id}: {done} added ({rate:.0f}/s)", flush=True)
    transaction.commit()
    print(
        f"populate {site_id}: {done} added in {time.perf_counter() - start:.0f} s; "
        f"{len(users._user_passwords)} members, "
        f"{get_storage(site).record_count()} records",
        flush=True,
    )


main(app)  # noqa: F821 - zconsole provides ``app``
