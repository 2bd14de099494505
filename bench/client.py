"""Notifications as ClickBank sends them, and the HTTP clients that post them.

Bodies are built and encrypted before any clock starts: the client's work is
not part of what is measured. Each client keeps one HTTP/1.1 connection open,
as a load balancer in front of Zope would.
"""

import http.client
import json
import os
import random
import statistics
import threading
import time
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import plan
from clickbank_bench.gcpauses import HEADER as GC_HEADER
from server import cpu_seconds

from niteoweb.clickbank import ins
from niteoweb.clickbank.simulator import build_notification

WEBHOOK = "@@clickbank"
BASELINE = "@@clickbank-bench-baseline"
PROFILED = "@@clickbank-bench-profiled"


@dataclass(frozen=True)
class Request:
    """One POST: where, what, and what kind of work it stands for."""

    kind: str
    path: str
    body: bytes


@dataclass
class Sample:
    """What one request cost."""

    kind: str
    seconds: float
    status: int
    written: int = 0  # Data.fs bytes appended by its transaction
    offset: int = 0  # Data.fs size before it: where its transaction starts
    gc_ms: tuple = (0.0, 0.0, 0.0)  # in collections of generation 0, 1, 2
    cpu_ms: float | None = None  # Zope's CPU time, its share of its block's


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def sale(site: str, prefix: str, index: int, base: datetime, view: str = WEBHOOK):
    """A SALE of a one-item monthly subscription to a new buyer."""
    email, first_name, last_name = plan.buyer(prefix, index)
    notification = build_notification(
        receipt=f"{prefix}{index:06d}"[-8:],
        vendor=plan.VENDOR,
        affiliate="benchaff",
        email=email,
        first_name=first_name,
        last_name=last_name,
        items=(plan.ITEM,),
        transaction_time=_now(),
        recurring=True,
        next_payment_date=base + timedelta(days=2000),
    )
    body = ins.encrypt(notification, plan.SECRET_KEY)
    return Request("sale", f"/{site}/{view}", body)


def bill(site: str, index: int, base: datetime, view: str = WEBHOOK) -> Request:
    """The first rebill of populated member ``index``."""
    notification = build_notification(
        transaction_type="BILL",
        receipt=f"{plan.member_receipt(index)}-B002",
        vendor=plan.VENDOR,
        email=plan.member_email(index),
        first_name=plan.member_name(index)[0],
        last_name=plan.member_name(index)[1],
        items=(plan.ITEM,),
        transaction_time=_now(),
        recurring=True,
        next_payment_date=base + timedelta(days=1000),
    )
    body = ins.encrypt(notification, plan.SECRET_KEY)
    return Request("bill", f"/{site}/{view}", body)


def baseline_sale(site: str, prefix: str, index: int) -> Request:
    """What the baseline view needs for the same new member: plain JSON."""
    email, first_name, last_name = plan.buyer(prefix, index)
    data = {
        "kind": "sale",
        "email": email,
        "fullname": f"{first_name} {last_name}",
        "affiliate": "benchaff",
        "receipt": f"{prefix}{index:06d}"[-8:],
        "time": _now().isoformat(),
        "item": plan.ITEM,
    }
    return Request("baseline-sale", f"/{site}/{BASELINE}", json.dumps(data).encode())


def baseline_bill(site: str, index: int) -> Request:
    """What the baseline view needs to update populated member ``index``."""
    data = {
        "kind": "bill",
        "email": plan.member_email(index),
        "receipt": f"{plan.member_receipt(index)}-B002",
        "time": _now().isoformat(),
        "item": plan.ITEM,
    }
    return Request("baseline-bill", f"/{site}/{BASELINE}", json.dumps(data).encode())


@dataclass
class Client:
    """One keep-alive HTTP connection to the benchmark's Zope."""

    port: int
    datafs: str | None = None
    connection: http.client.HTTPConnection = field(init=False)

    def __post_init__(self):
        self.connection = http.client.HTTPConnection(
            "127.0.0.1", self.port, timeout=120
        )

    def post(self, request: Request) -> Sample:
        """POST and read the answer; sizes Data.fs around it if asked to."""
        before = os.stat(self.datafs).st_size if self.datafs else 0
        start = time.perf_counter()
        self.connection.request(
            "POST", request.path, request.body, {"Content-Type": "application/json"}
        )
        response = self.connection.getresponse()
        response.read()
        seconds = time.perf_counter() - start
        after = os.stat(self.datafs).st_size if self.datafs else 0
        paused = response.getheader(GC_HEADER)
        gc_ms = tuple(map(float, paused.split(","))) if paused else (0.0, 0.0, 0.0)
        return Sample(
            request.kind, seconds, response.status, after - before, before, gc_ms
        )

    def close(self):
        self.connection.close()


def interleaved(
    port: int,
    datafs: str,
    series: dict,
    block: int = 1,
    seed: int = 1,
    pid: int | None = None,
) -> dict:
    """Post several series of requests in turns, ``block`` requests at a time.

    Taking turns spreads the drift of a shared machine evenly over all series.
    A request pays for what the one before it left behind (a welcome mail the
    queue thread is still sending, a large commit). In a block, that is the
    series' own request: a SALE pays for the mail of the SALE before it, as
    SALEs one after the other do. Only the first request of a block pays for
    another series' leftovers, so the order of the blocks is shuffled anew in
    every round: in a fixed order one series would always follow the same
    neighbour. With ``pid`` (Zope's), each request also gets its share of
    the CPU time Zope used during its block, all threads counted: the mail queue
    thread sending a SALE's mail during the next SALE is charged to SALE, as
    the wall time is. Returns ``{name: [Sample, …]}``.
    """
    client = Client(port, datafs)
    names = list(series)
    results = {name: [] for name in names}
    longest = max(len(requests) for requests in series.values())
    shuffled = random.Random(seed)
    try:
        for start in range(0, longest, block):
            order = list(names)
            shuffled.shuffle(order)
            for name in order:
                before = cpu_seconds(pid)
                done = [client.post(r) for r in series[name][start : start + block]]
                after = cpu_seconds(pid)
                if done and before is not None and after is not None:
                    for sample in done:
                        sample.cpu_ms = (after - before) * 1000 / len(done)
                results[name].extend(done)
    finally:
        client.close()
    return results


def concurrent(port: int, requests: list[Request], clients: int = 8) -> dict:
    """Post ``requests`` from ``clients`` threads at once; latency and statuses."""
    shares = [requests[i::clients] for i in range(clients)]
    samples: list[Sample] = []
    lock = threading.Lock()
    barrier = threading.Barrier(clients)

    def worker(share):
        client = Client(port)
        barrier.wait()
        mine = []
        for request in share:
            try:
                mine.append(client.post(request))
            except (OSError, http.client.HTTPException):
                mine.append(Sample(request.kind, 0.0, 0))
                client.close()
                client = Client(port)
        client.close()
        with lock:
            samples.extend(mine)

    threads = [threading.Thread(target=worker, args=(s,)) for s in shares]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    return {"samples": samples, "seconds": elapsed}


def summary(samples: list[Sample]) -> dict:
    """Mean, median, percentiles (ms), throughput (1/s) and Data.fs bytes."""
    times = sorted(s.seconds for s in samples)
    if not times:
        return {"n": 0}
    mean = statistics.fmean(times)
    full_gc_ms = sum(s.gc_ms[2] for s in samples)
    cpu = [s.cpu_ms for s in samples if s.cpu_ms is not None]
    cpu_ms = statistics.fmean(cpu) if cpu else None

    def pct(p):
        return 1000 * times[min(len(times) - 1, round(p / 100 * (len(times) - 1)))]

    return {
        "n": len(times),
        "mean_ms": 1000 * mean,
        "median_ms": 1000 * statistics.median(times),
        "p95_ms": pct(95),
        "p99_ms": pct(99),
        "per_second": 1 / mean,
        "bytes_mean": statistics.fmean(s.written for s in samples),
        "non2xx": sum(not 200 <= s.status < 300 for s in samples),
        # Collections inside the requests: young ones (generations 0 and 1)
        # and full ones, which cost 100 ms or more and land where chance puts them.
        "gc_young_ms": sum(s.gc_ms[0] + s.gc_ms[1] for s in samples) / len(times),
        "gc_full_ms": full_gc_ms,
        "gc_full_n": sum(s.gc_ms[2] > 0 for s in samples),
        "mean_ms_without_full_gc": 1000 * mean - full_gc_ms / len(times),
        # All of Zope's threads, per request (None without /proc); a full
        # collection's pause is CPU time too, and lands where chance puts it.
        "zope_cpu_ms": cpu_ms,
        "zope_cpu_ms_without_full_gc": None
        if cpu_ms is None
        else cpu_ms - full_gc_ms / len(times),
    }
