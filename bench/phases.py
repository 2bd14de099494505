"""What is measured against the running benchmark instance, one function per phase.

The instance serves two sites, ``small`` and ``large``. Every phase posts real
HTTP requests. The new buyers of a series have a two-letter prefix in their
email and receipt: the series' letter (:data:`MEASURED` …), then the site's.
"""

import email
import itertools
import random
from dataclasses import dataclass
from email.header import decode_header
from email.header import make_header

import load

#: The letter of each series of new buyers, by phase.
WARM_UP = {"sale": "W", "plone-sale": "V", "old-sale": "U"}
MEASURED = {"sale": "H", "plone-sale": "M", "old-sale": "N"}
CONCURRENT = {"sale": "C", "plone-sale": "E"}
#: The series whose buyers get the add-on's welcome mail, and Plone's mail.
ADDON_LETTERS, PLONE_LETTERS = frozenset("WHC"), frozenset("VME")


@dataclass(frozen=True)
class Sizes:
    """How much of everything a run does."""

    small: int  # members of the small site
    large: int  # members of the large site
    sales: int  # SALE notifications per series
    bills: int  # BILL notifications per series
    concurrent: int  # requests of the concurrency phase, per view
    warmup: int  # requests per series after the start, not measured
    block: int  # requests of one series in a row, when series take turns


FULL = Sizes(small=1000, large=20000, sales=400, bills=400, concurrent=400,
             warmup=20, block=10)  # fmt: skip
QUICK = Sizes(small=200, large=4000, sales=250, bills=250, concurrent=160,
              warmup=10, block=10)  # fmt: skip


class Buyers:
    """Fresh buyer numbers of one site, and its populated members to rebill."""

    def __init__(self, site: str, members: int):
        self.site = site
        self.next_new = 0
        order = list(range(members))
        random.Random(7).shuffle(order)  # rebills come in no particular order
        self.rebills = ((i, number) for number in itertools.count(2) for i in order)

    def prefix(self, letter: str) -> str:
        return letter + self.site[0].upper()

    def new(self, number: int) -> list[int]:
        self.next_new += number
        return list(range(self.next_new - number, self.next_new))

    def billable(self, count: int) -> list[tuple[int, int]]:
        """Populated members and the number of their rebill: all once, then again."""
        return list(itertools.islice(self.rebills, count))


def _letter(message) -> str:
    """The series letter of a buyer's mail, from its recipient's address."""
    local = message["To"].rpartition("<")[2].partition("@")[0]
    return local.partition("-")[2][:1].upper()


def _text_size(message) -> tuple[int, int]:
    """Characters of the subject and of the text (a line end counted as one)."""
    chars = 0
    for part in message.walk():
        if not part.is_multipart():
            text = part.get_payload(decode=True)
            text = text.decode(part.get_content_charset("utf-8"))
            chars += len(text.replace("\r\n", "\n"))
    return len(str(make_header(decode_header(message["Subject"])))), chars


def _post_and_wait(instance, series: dict, block: int, mails: int) -> None:
    """Post ``series`` in turns; wait until their ``mails`` have been delivered."""
    expected = instance.mail_count() + mails
    load.interleaved(instance.port, series, block, instance.server.pid)
    if instance.wait_for_mails(expected) < expected:
        raise RuntimeError("the welcome mails did not reach the SMTP sink")


def _series(buyers: dict, letters: dict, sales: int, bills: int, mail: dict) -> dict:
    """SALEs of the kinds in ``letters`` and BILLs of both views, on both sites.

    Returns ``{"<kind>@<site>": [Request, …]}``.
    """
    series = {}
    for site, pool in buyers.items():
        for kind, letter in letters.items():
            prefix = pool.prefix(letter)
            view_mail = mail if kind == "plone-sale" else None
            series[f"{kind}@{site}"] = [
                load.sale(site, prefix, i)
                if kind == "sale"
                else load.plone_sale(site, prefix, i, view_mail)
                for i in pool.new(sales)
            ]
        for kind, rebill in (("bill", load.bill), ("plone-bill", load.plone_bill)):
            series[f"{kind}@{site}"] = [rebill(site, *m) for m in pool.billable(bills)]
    return series


def warm_up(instance, buyers: dict, sizes: Sizes) -> dict:
    """A few requests of every kind; returns the size of the add-on's welcome mail.

    The add-on's SALEs go first: their welcome mails, as the SMTP server
    received them, give the size of the baseline's mail.
    """
    n, first = sizes.warmup, instance.mail_count()
    series = _series(buyers, {"sale": WARM_UP["sale"]}, n, 0, {})
    _post_and_wait(instance, series, sizes.block, n * len(buyers))
    messages = [email.message_from_bytes(raw) for raw in instance.mails(first)]
    welcome = [_text_size(m) for m in messages if _letter(m) == WARM_UP["sale"]]
    mail = {
        "subject_chars": round(sum(s for s, _ in welcome) / len(welcome)),
        "mail_chars": round(sum(c for _, c in welcome) / len(welcome)),
    }
    plone = {kind: WARM_UP[kind] for kind in ("plone-sale", "old-sale")}
    # The measured series start with an empty mail queue.
    _post_and_wait(
        instance, _series(buyers, plone, n, n, mail), sizes.block, n * len(buyers)
    )
    return mail


def side_by_side(instance, buyers: dict, sizes: Sizes, mail: dict) -> dict:
    """SALE and BILL by the add-on and by Plone on both sites, taking turns.

    Returns ``{"<kind>@<site>": [Sample, …]}``.
    """
    series = _series(buyers, MEASURED, sizes.sales, sizes.bills, mail)
    return load.interleaved(instance.port, series, sizes.block, instance.server.pid)


def concurrency(instance, pool: Buyers, count: int, mail: dict | None = None,
                clients: int = 8) -> dict:  # fmt: skip
    """SALEs, BILLs and copies of SALEs (55/30/15 %) from ``clients`` threads.

    The copies are shuffled in with their originals, so some arrive while the
    original is being processed, as ClickBank's retries can. With ``mail``
    (its size), the baseline instead: 65 % SALEs with that mail and 35 %
    BILLs (it cannot tell a copy). Counts the requests Zope retried.
    """
    site, rng = pool.site, random.Random(42)
    if mail is not None:
        prefix = pool.prefix(CONCURRENT["plone-sale"])
        sales = [load.plone_sale(site, prefix, i, mail)
                 for i in pool.new(count * 65 // 100)]  # fmt: skip
        bills = [load.plone_bill(site, *m) for m in pool.billable(count - len(sales))]
        copies = []
    else:
        prefix = pool.prefix(CONCURRENT["sale"])
        sales = [load.sale(site, prefix, i) for i in pool.new(count * 55 // 100)]
        bills = [load.bill(site, *m) for m in pool.billable(count * 30 // 100)]
        copies = rng.sample(sales, count - len(sales) - len(bills))
    requests = sales + bills + copies
    rng.shuffle(requests)
    before = instance.stats(site)["retries"]
    result = load.concurrent(instance.port, requests, clients)
    summary = load.summary(result["samples"])
    summary["clients"] = clients
    summary["throughput"] = len(requests) / result["seconds"]
    summary["retries"] = instance.stats(site)["retries"] - before
    summary["statuses"] = sorted({s.status for s in result["samples"]})
    return summary


def mail_sizes(instance, first: int) -> dict:
    """Mean bytes of the add-on's and of Plone's mails, from the ``first``-th on."""
    sizes = {"addon": [], "plone": []}
    for raw in instance.mails(first):
        letter = _letter(email.message_from_bytes(raw))
        if letter in ADDON_LETTERS | PLONE_LETTERS:
            sizes["addon" if letter in ADDON_LETTERS else "plone"].append(len(raw))
    return {
        side: {"n": len(values), "bytes": sum(values) / max(len(values), 1)}
        for side, values in sizes.items()
    }
