"""Views of the benchmark instance: the Plone baseline, a profiled webhook, control.

All three answer small JSON bodies and are registered only in the temporary
instance ``bench/run.py`` creates.
"""

import gc
import json
import os
import secrets
import threading
import time
from collections import Counter
from datetime import datetime

import transaction
from plone import api
from plone.protect.interfaces import IDisableCSRFProtection
from Products.Five.browser import BrowserView
from zope.interface import alsoProvides

from clickbank_bench import gcpauses
from niteoweb.clickbank import members
from niteoweb.clickbank.browser.webhook import ClickBankView
from niteoweb.clickbank.mail import send
from niteoweb.clickbank.settings import get_settings
from niteoweb.clickbank.storage import get_storage


def _body(request) -> bytes:
    request.stdin.seek(0)
    return request.stdin.read()


def _answer(request, data: dict, status: int = 200) -> str:
    request.response.setStatus(status)
    request.response.setHeader("Content-Type", "application/json")
    return json.dumps(data)


class BaselineView(BrowserView):
    """The unavoidable work of a notification, done with plone.api alone.

    Takes the plaintext buyer data as JSON (no decryption, no ledger, no
    entitlements, no mail). ``sale``: create the member with the same properties
    and password as the add-on, set the purchase properties, grant ``Member``.
    ``bill``: find the member and set the purchase properties.
    """

    def __call__(self):
        data = json.loads(_body(self.request))
        alsoProvides(self.request, IDisableCSRFProtection)
        email = data["email"].strip().lower()
        purchase = {
            members.LAST_PURCHASE_ID: data["receipt"],
            members.LAST_PURCHASE_TIMESTAMP: data["time"],
            members.PRODUCT_ID: data["item"],
        }
        if data["kind"] == "sale":
            user = api.user.create(
                email=email,
                username=email,
                password=secrets.token_urlsafe(32),
                roles=(),
                properties={
                    "fullname": data["fullname"],
                    members.AFFILIATE: data.get("affiliate", ""),
                },
            )
            user.setMemberProperties(mapping=purchase)
            api.user.grant_roles(user=user, roles=["Member"])
        else:
            user = api.user.get(username=email)
            user.setMemberProperties(mapping=purchase)
        return _answer(self.request, {"status": "ok", "kind": data["kind"]})


_profiler = None
_profiler_lock = threading.Lock()


class ProfiledWebhookView(BrowserView):
    """``@@clickbank`` and its commit (mail included) under pyinstrument."""

    def __call__(self):
        global _profiler
        from pyinstrument import Profiler

        with _profiler_lock:
            if _profiler is None:
                _profiler = Profiler(interval=0.0005)
            _profiler.start()
            try:
                result = ClickBankView(self.context, self.request)()
                transaction.commit()
            finally:
                _profiler.stop()
        return result


def _expire_function():
    """The expiry sweep: ``sweep.expire`` once it exists, else ``processing``'s."""
    try:
        from niteoweb.clickbank.sweep import expire
    except ImportError:
        from niteoweb.clickbank.processing import expire
    return expire


def _count(result) -> int:
    if hasattr(result, "__len__"):
        return len(result)
    for name in ("expired", "due", "entitlements", "count"):
        value = getattr(result, name, None)
        if value is not None:
            return value if isinstance(value, int) else len(value)
    return -1


def _rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


_original_welcome = send.welcome
#: Requests Zope retried after a ConflictError (or another transient error).
retries = {"count": 0}
#: The same by error and class of the object in conflict.
retries_by_class = Counter()


def count_retry(event) -> None:
    """Subscriber of IPubBeforeAbort: count the aborts that Zope will retry."""
    if event.retry:
        retries["count"] += 1
        error = event.exc_info[1]
        name = (getattr(error, "class_name", None) or "?").rsplit(".", 1)[-1]
        retries_by_class[f"{type(error).__name__} {name}"] += 1


class ControlView(BrowserView):
    """POST ``{"action": ...}``: stats, sweep, mail-on/off, profile-report."""

    def __call__(self):
        data = json.loads(_body(self.request) or b"{}")
        alsoProvides(self.request, IDisableCSRFProtection)
        action = data.get("action", "stats")
        return _answer(self.request, getattr(self, action.replace("-", "_"))(data))

    def stats(self, data):
        """Sizes, memory and retries; ``"entitlements": false`` skips the count.

        Counting the entitlements loads every order (20 000 objects on the large
        site) into this thread's ZODB cache, evicting what the requests had warmed.
        """
        portal = api.portal.get()
        storage = get_storage(portal)
        db = portal._p_jar.db()
        entitlements = None
        if data.get("entitlements", True):
            entitlements = sum(len(order.items) for order in storage.orders.values())
        return {
            "last_transaction": db.lastTransaction().hex(),
            "members": len(portal.acl_users.source_users._user_passwords),
            "records": storage.record_count(),
            "entitlements": entitlements,
            "expiry_index": len(storage.expiry),
            "reset_requests": len(portal.portal_password_reset._requests),
            "rss_kib": _rss_kib(),
            "pid": os.getpid(),
            "cache_size": db.getCacheSize(),
            "retries": retries["count"],
            "retries_by_class": dict(retries_by_class),
        }

    def addon_oids(self, data):
        """Oids of the add-on's objects whose class Plone uses too (hex).

        Its trees' buckets (OOBucket, OOSet, LOBucket) and the log's counter
        (Length): in Data.fs they are told from Plone's only by their oid. The
        trees' inner nodes, the orders and the records have classes of their own.
        """
        storage = get_storage(api.portal.get())
        oids = [storage.record_count._p_oid]
        for tree in (storage.records, storage.orders, storage.buyers, storage.expiry):
            bucket = tree._firstbucket
            while bucket is not None:
                if bucket._p_oid is not None:  # a small tree keeps it inline
                    oids.append(bucket._p_oid)
                bucket = bucket._next
        return {"oids": [oid.hex() for oid in oids]}

    def sweep(self, data):
        expire = _expire_function()
        now = datetime.fromisoformat(data["now"])
        settings = get_settings()
        profiler = None
        if data.get("profile"):
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.0005)
            profiler.start()
        # One sweep is one measurement: a full collection the earlier phases'
        # allocations made due (100 ms or more on the large site) would land in
        # it by chance. Each sweep starts with none owed; those during it are
        # reported with it.
        gc.collect()
        collected = gcpauses.paused()
        storage = api.portal.get()._p_jar.db().storage
        size = storage.getSize()
        start = time.perf_counter()
        result = expire(settings, now)
        swept = time.perf_counter() - start
        transaction.commit()
        total = time.perf_counter() - start
        collected = [b - a for a, b in zip(collected, gcpauses.paused(), strict=True)]
        if profiler is not None:
            profiler.stop()
            with open(data["profile"], "w") as out:
                out.write(profiler.output_text(unicode=True, show_all=False))
        return {
            "function": f"{expire.__module__}.{expire.__name__}",
            "due": _count(result),
            "seconds": swept,
            "seconds_with_commit": total,
            "gc_seconds": collected,  # in generations 0, 1 and 2
            "bytes_written": storage.getSize() - size,
        }

    def mail_off(self, data):
        send.welcome = lambda member, language=None: True
        return {"mail": "off"}

    def mail_no_smtp(self, data):
        """Everything of the welcome mail but its delivery: it stays queued."""
        send.welcome = _original_welcome
        os.environ["MAILHOST_QUEUE_ONLY"] = "1"  # the MailHost starts no thread
        api.portal.get_tool("MailHost").manage_restartQueueThread("stop")
        return {"mail": "no-smtp"}

    def mail_on(self, data):
        os.environ.pop("MAILHOST_QUEUE_ONLY", None)
        send.welcome = _original_welcome
        api.portal.get_tool("MailHost").manage_restartQueueThread("start")
        return {"mail": "on"}

    def profile_report(self, data):
        from pyinstrument.renderers import ConsoleRenderer
        from pyinstrument.renderers import HTMLRenderer

        if _profiler is None or _profiler.last_session is None:
            return {"text": ""}
        session = _merge_threads(_profiler.last_session)
        if data.get("html"):
            with open(data["html"], "w") as html:
                html.write(HTMLRenderer().render(session))
        tree = ConsoleRenderer(unicode=True, show_all=False).render(session)
        flat = ConsoleRenderer(unicode=True, flat=True).render(session)
        if data.get("reset"):
            _profiler.reset()
        return {"text": tree + "\n\nSelf time by function:\n" + flat}


def _merge_threads(session):
    """The session with the waitress threads folded into one call tree."""
    import copy

    merged = copy.copy(session)
    merged.frame_records = [
        ([f for f in stack if "\x00<thread>\x00" not in f], seconds)
        for stack, seconds in session.frame_records
    ]
    return merged
