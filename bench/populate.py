"""Put a site's MailHost in queue mode and sell to its members; run with zconsole.

    BENCH_SITE=large BENCH_MEMBERS=20000 BENCH_QUEUE=INSTANCE/var/mailqueue \
    BENCH_SINK=INSTANCE/var/mail PYTHONPATH=bench \
        zconsole run INSTANCE/etc/zope.conf bench/populate.py

The MailHost is set as ``make start`` sets it: ``smtp_queue`` on, the queue in
``BENCH_QUEUE``. Each member is made by a SALE encrypted like ClickBank's and
handed to the site's ``@@clickbank`` view in this process, a commit every
``BENCH_BATCH``; the script waits until the SMTP sink (``BENCH_SINK``) has all
welcome mails, so that none is left to send while the benchmark measures.
"""

import os
import time
from io import BytesIO
from pathlib import Path

import plan  # bench/ is on PYTHONPATH (zconsole scripts have no __file__)
import transaction
from Acquisition import aq_base
from plone import api
from Testing.makerequest import makerequest
from zope.component.hooks import setSite
from zope.event import notify
from zope.globalrequest import setRequest
from zope.traversing.interfaces import BeforeTraverseEvent


def post(app, site_id: str, body: bytes) -> str:
    """POST ``body`` to ``@@clickbank`` of the site, in a request of its own."""
    environ = {"REQUEST_METHOD": "POST", "CONTENT_TYPE": "application/json",
               "CONTENT_LENGTH": str(len(body))}  # fmt: skip
    root = makerequest(aq_base(app), environ=environ)
    request = root.REQUEST
    request.stdin = BytesIO(body)
    setRequest(request)
    site = root[site_id]
    setSite(site)
    notify(BeforeTraverseEvent(site, request))  # the add-ons' browser layers
    answer = site.restrictedTraverse("@@clickbank")()
    if request.response.getStatus() != 200:
        raise RuntimeError(f"@@clickbank answered {request.response.getStatus()}")
    return answer


def wait_for_mails(sink: Path, count: int, timeout: float = 120) -> int:
    """Wait until ``sink`` holds ``count`` mails; how many it holds."""
    deadline = time.monotonic() + timeout
    while True:
        have = sum(name.endswith(".eml") for name in os.listdir(sink))
        if have >= count or time.monotonic() > deadline:
            return have
        time.sleep(0.2)


def main(app) -> None:
    site_id = os.environ["BENCH_SITE"]
    members = int(os.environ["BENCH_MEMBERS"])
    batch = int(os.environ.get("BENCH_BATCH", "250"))
    sink = Path(os.environ["BENCH_SINK"])
    setSite(app[site_id])
    mailhost = api.portal.get_tool("MailHost")
    mailhost.smtp_queue = True
    mailhost.smtp_queue_directory = os.environ["BENCH_QUEUE"]
    transaction.commit()

    before = wait_for_mails(sink, 0)
    start = time.perf_counter()
    for index in range(members):
        post(app, site_id, plan.body(plan.member_sale(index)))
        if (index + 1) % batch == 0:
            transaction.commit()
            # One batch may be on its way; more would pile up in this process.
            wait_for_mails(sink, before + index + 1 - batch)
    transaction.commit()
    have = wait_for_mails(sink, before + members) - before
    seconds = time.perf_counter() - start
    print(f"populate {site_id}: {members} members in {seconds:.0f} s "
          f"({members / seconds:.0f}/s), {have} welcome mails", flush=True)  # fmt: skip
    if have < members:
        raise SystemExit(f"only {have} of {members} welcome mails reached the sink")


main(app)  # noqa: F821 - zconsole provides ``app``
