"""What is measured against the running benchmark instance, one function per phase.

The instance serves two sites, ``small`` and ``large``. Every phase posts real
HTTP requests; the series of a phase (handler and baseline, on both sites) take
turns in short blocks, so every ratio is measured under the same load, and
each series pays for the work its own requests leave behind (the welcome mail
a SALE queues is sent by the MailHost's queue thread while the next SALE runs).
"""

import random
from dataclasses import dataclass

import client
import datafs
import plan
from client import Request


@dataclass(frozen=True)
class Sizes:
    """How much of everything a run does."""

    small: int  # members (and ledger records) of the small site
    large: int  # members (and ledger records) of the large site
    sales: int  # SALE notifications per series
    bills: int  # BILL notifications per series
    mail_off: int  # SALEs per series with the welcome mail switched off
    concurrent: int  # requests of the concurrency phase
    warmup: int  # requests per series after the start, not measured
    profile: int  # SALEs (and BILLs) posted through the profiler
    block: int  # requests of one series in a row, when series take turns


FULL = Sizes(small=1000, large=20000, sales=300, bills=250, mail_off=150,
             concurrent=400, warmup=20, profile=100, block=20)  # fmt: skip
QUICK = Sizes(small=300, large=6000, sales=40, bills=40, mail_off=30,
              concurrent=96, warmup=10, profile=30, block=10)  # fmt: skip


def check(sizes: Sizes) -> None:
    """Fail before populating if a site has too few members to rebill.

    Each site: BILL and baseline BILL in the warm-up and in the measured series;
    the large site also: the BILLs of the concurrency phase (handler and
    baseline, see :func:`concurrency`) and of the profiles.
    """
    if sizes.warmup < sizes.block:
        # The duplicates of a round are the SALEs of the round before it.
        raise SystemExit("warmup must be at least one block")
    concurrent = sizes.concurrent
    needs = {
        "small": 2 * sizes.warmup + 2 * sizes.bills,
        "large": 2 * sizes.warmup + 2 * sizes.bills + concurrent * 30 // 100
        + (concurrent - concurrent * 65 // 100) + sizes.profile,
    }  # fmt: skip
    for site, need in needs.items():
        have = len(plan.billable(site, getattr(sizes, site)))
        if have < need:
            raise SystemExit(f"{site} site: {need} members to rebill, {have} exist")


class Buyers:
    """Fresh buyer numbers, and populated members of one site nobody billed yet."""

    def __init__(self, site: str, members: int):
        self.site = site
        self.next_new = 0
        order = list(plan.billable(site, members))
        random.Random(7).shuffle(order)  # rebills come in no particular order
        self.members = iter(order)

    def new(self, count: int) -> list[int]:
        first = self.next_new
        self.next_new += count
        return list(range(first, first + count))

    def billable(self, count: int) -> list[int]:
        return [next(self.members) for _ in range(count)]


def _prefix(letter: str, site: str) -> str:
    # Two letters: receipts stay 8 characters long, like ClickBank's.
    return f"{letter}{site[0].upper()}"


def side_by_side(instance, buyers: dict, base, sales: int, bills: int,
                 letters: str = "SB", earlier: dict | None = None,
                 block: int = 1) -> dict:  # fmt: skip
    """SALE and BILL by handler and baseline on both sites, taking turns.

    With ``earlier`` (SALEs already posted, per site; at least ``block``) a
    duplicate series re-posts them, then the SALEs of this phase, each a round
    of turns after it was posted.
    Returns ``{"<kind>@<site>": [Sample, …]}``.
    """
    series = {}
    for site, pool in buyers.items():
        sold = [client.sale(site, _prefix(letters[0], site), i, base)
                for i in pool.new(sales)]  # fmt: skip
        series[f"sale@{site}"] = sold
        series[f"baseline-sale@{site}"] = [
            client.baseline_sale(site, _prefix(letters[1], site), i)
            for i in pool.new(sales)
        ]
        series[f"bill@{site}"] = [
            client.bill(site, i, base) for i in pool.billable(bills)
        ]
        series[f"baseline-bill@{site}"] = [
            client.baseline_bill(site, i) for i in pool.billable(bills)
        ]
        if earlier:
            again = (earlier[site] + sold)[:sales]
            series[f"duplicate@{site}"] = [
                Request("duplicate", r.path, r.body) for r in again
            ]
    return client.interleaved(
        instance.port, str(instance.datafs), series, block, pid=instance.pid
    )


def warm_up(instance, buyers: dict, base, count: int) -> dict:
    """A few requests of every kind; returns the SALEs posted, per site."""
    series = {}
    for site, pool in buyers.items():
        series[site] = [
            client.sale(site, _prefix("W", site), i, base) for i in pool.new(count)
        ]
        series[f"b-{site}"] = [
            client.baseline_sale(site, _prefix("V", site), i) for i in pool.new(count)
        ]
        series[f"bill-{site}"] = [
            client.bill(site, i, base) for i in pool.billable(count)
        ]
        series[f"bb-{site}"] = [
            client.baseline_bill(site, i) for i in pool.billable(count)
        ]
    client.interleaved(instance.port, str(instance.datafs), series)
    return {site: series[site] for site in buyers}


#: The mail switches of ``@@clickbank-bench-control``: series name, buyer letters.
MAIL_MODES = {
    "mail-off": ("no-mail", "MN"),  # no welcome mail at all
    "mail-no-smtp": ("no-smtp", "XY"),  # all of it but the SMTP conversation
}


def mail_off(instance, pool: Buyers, base, count: int, block: int = 1,
             mode: str = "mail-off") -> dict:  # fmt: skip
    """SALE vs baseline on one site, with the welcome mail switched off.

    ``mode="mail-no-smtp"``: the mail is made and queued by the MailHost as
    always, but not delivered (its queue thread is stopped meanwhile).
    """
    site = pool.site
    name, letters = MAIL_MODES[mode]
    instance.control(mode, site)
    try:
        series = {
            f"sale-{name}@{site}": [
                client.sale(site, _prefix(letters[0], site), i, base)
                for i in pool.new(count)
            ],
            f"baseline-sale-{name}@{site}": [
                client.baseline_sale(site, _prefix(letters[1], site), i)
                for i in pool.new(count)
            ],
        }
        return client.interleaved(
            instance.port, str(instance.datafs), series, block, pid=instance.pid
        )
    finally:
        instance.control("mail-on", site)


def concurrency(instance, pool: Buyers, base, count: int, clients: int = 8,
                view: str = client.WEBHOOK) -> dict:  # fmt: skip
    """SALEs, BILLs and copies of SALEs (55/30/15 %) from ``clients`` threads.

    The copies are shuffled in with their originals, so some arrive while the
    original is being processed: the ledger then conflicts and Zope retries.
    For the baseline view: 65 % SALEs and 35 % BILLs (no duplicates).
    """
    site = pool.site
    letter = "C" if view == client.WEBHOOK else "E"
    rng = random.Random(42)
    if view == client.BASELINE:  # the baseline cannot take duplicates
        sales = [
            client.baseline_sale(site, _prefix(letter, site), i)
            for i in pool.new(count * 65 // 100)
        ]
        bills = [
            client.baseline_bill(site, i) for i in pool.billable(count - len(sales))
        ]
        copies = []
    else:
        sales = [
            client.sale(site, _prefix(letter, site), i, base, view)
            for i in pool.new(count * 55 // 100)
        ]
        bills = [
            client.bill(site, i, base, view) for i in pool.billable(count * 30 // 100)
        ]
        copies = [
            Request("duplicate", r.path, r.body)
            for r in rng.sample(sales, count - len(sales) - len(bills))
        ]
    requests = sales + bills + copies
    rng.shuffle(requests)
    # Without the entitlement count: it would load every order into a cache.
    before = instance.control("stats", site, entitlements=False)
    result = client.concurrent(instance.port, requests, clients)
    after = instance.control("stats", site, entitlements=False)
    samples = result["samples"]
    summary = client.summary(samples)
    summary["clients"] = clients
    summary["seconds"] = result["seconds"]
    summary["throughput"] = len(samples) / result["seconds"]
    summary["retries"] = after["retries"] - before["retries"]
    summary["retries_by_class"] = {
        name: count - before["retries_by_class"].get(name, 0)
        for name, count in after["retries_by_class"].items()
        if count > before["retries_by_class"].get(name, 0)
    }
    summary["statuses"] = sorted({s.status for s in samples})
    summary["by_kind"] = {
        kind: client.summary([s for s in samples if s.kind == kind])
        for kind in ("sale", "bill", "duplicate")
    }
    return summary


def sweeps(instance, base) -> dict:
    """Expiry sweeps at the times the plan made 100 (and 1 000) members due."""
    few, many = plan.SWEEP_FEW, plan.SWEEP_MANY
    windows = {
        "small": {"few": few},
        "large": {"few": few, "many": few + many},
    }
    return {
        site: {
            name: instance.control(
                "sweep", site, now=plan.sweep_time(base, upto).isoformat()
            )
            for name, upto in points.items()
        }
        for site, points in windows.items()
    }


def profile_sweep(instance, base, path) -> dict:
    """The last 100 members due on the large site, swept under the profiler."""
    now = plan.sweep_time(base, plan.SWEPT["large"])
    return instance.control("sweep", "large", now=now.isoformat(), profile=str(path))


def profile(instance, pool: Buyers, base, count: int, out) -> dict:
    """SALEs, BILLs and duplicates through the profiled view; the reports."""
    site = pool.site
    view = client.PROFILED
    sales = [
        client.sale(site, _prefix("P", site), i, base, view) for i in pool.new(count)
    ]
    bills = [client.bill(site, i, base, view) for i in pool.billable(count)]
    reports = {}
    for kind, requests in (("sale", sales), ("bill", bills), ("duplicate", sales)):
        client.interleaved(instance.port, str(instance.datafs), {kind: requests})
        name = f"profile-{kind}"
        report = instance.control(
            "profile-report", site, html=str(out / f"{name}.html"), reset=True
        )
        (out / f"{name}.txt").write_text(report["text"])
        reports[kind] = str(out / f"{name}.txt")
    return reports


def growth(instance, samples: dict) -> dict:
    """Data.fs bytes per request by series, and the classes they are made of."""
    offsets = {
        kind: [s.offset for s in values if s.written]
        for kind, values in samples.items()
    }
    ours = frozenset(
        bytes.fromhex(oid)
        for site in ("small", "large")
        for oid in instance.control("addon-oids", site)["oids"]
    )
    return datafs.breakdown(str(instance.datafs), offsets, ours)
