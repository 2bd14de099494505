"""The requests of the benchmark and the HTTP clients that post them.

Bodies are built and encrypted before any clock starts: the client's work is
not part of what is measured. Each client keeps one HTTP/1.1 connection open,
as a load balancer in front of Zope would.
"""

import contextlib
import http.client
import json
import os
import random
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import plan

WEBHOOK = "@@clickbank"
PLONE = "@@clickbank-bench-plone"


class Request(NamedTuple):
    """One POST: where to, and its body."""

    path: str
    body: bytes


class Sample(NamedTuple):
    """What one request cost, and the answer's status (0: no answer)."""

    seconds: float
    status: int
    cpu: float = 0.0  # Zope's CPU seconds, all threads: its share of its block's


def cpu_seconds(pid: int) -> float:
    """CPU seconds all threads of process ``pid`` have used so far (Linux).

    From the scheduler's nanosecond counters: the ticks of ``/proc/<pid>/stat``
    (10 ms) are too coarse for a block of requests.
    """
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        with (
            contextlib.suppress(OSError),
            open(f"/proc/{pid}/task/{task}/schedstat") as f,
        ):
            total += int(f.read().split()[0])
    return total / 1e9


def sale(site: str, prefix: str, index: int) -> Request:
    """A SALE to new buyer ``index`` of a series, encrypted like ClickBank's."""
    return Request(f"/{site}/{WEBHOOK}", plan.body(plan.buyer_sale(prefix, index)))


def bill(site: str, index: int, number: int) -> Request:
    """Rebill ``number`` of populated member ``index``."""
    return Request(f"/{site}/{WEBHOOK}", plan.body(plan.member_bill(index, number)))


def plone_sale(site: str, prefix: str, index: int, mail: dict | None) -> Request:
    """The same new buyer for the baseline: plain JSON, and the mail's size.

    ``mail`` is ``{"mail_chars": …, "subject_chars": …}``, or None for no mail.
    """
    email, first_name, last_name, receipt = plan.buyer(prefix, index)
    data = {"kind": "sale", "email": email, "fullname": f"{first_name} {last_name}",
            "affiliate": "benchaff", "receipt": receipt, "item": plan.ITEM,
            "time": plan.now().isoformat(), "mail": mail is not None,
            **(mail or {})}  # fmt: skip
    return Request(f"/{site}/{PLONE}", json.dumps(data).encode())


def plone_bill(site: str, index: int, number: int) -> Request:
    """The same rebill for the baseline: the member's purchase properties."""
    email, _, _, receipt = plan.member(index)
    data = {"kind": "bill", "email": email, "receipt": f"{receipt}-B{number:03d}",
            "time": plan.now().isoformat(), "item": plan.ITEM}  # fmt: skip
    return Request(f"/{site}/{PLONE}", json.dumps(data).encode())


class Client:
    """One keep-alive HTTP connection to the benchmark's Zope."""

    def __init__(self, port: int):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def post(self, request: Request) -> Sample:
        """POST and read the answer; a broken connection is a status 0."""
        start = time.perf_counter()
        try:
            self.connection.request(
                "POST", request.path, request.body, {"Content-Type": "application/json"}
            )
            response = self.connection.getresponse()
            response.read()
            status = response.status
        except (OSError, http.client.HTTPException):
            self.connection.close()  # the next request opens a new one
            status = 0
        return Sample(time.perf_counter() - start, status)

    def close(self) -> None:
        self.connection.close()


def interleaved(port: int, series: dict, block: int, pid: int, seed: int = 1) -> dict:
    """Post several series of requests in turns, ``block`` requests at a time.

    Taking turns spreads the drift of a shared machine, a garbage collection
    or the mail queue's delivery evenly over all series. The order of the
    blocks is shuffled anew in every round: in a fixed order one series would
    always follow the same neighbour and pay for what it left behind. Each
    request also gets its share of the CPU time Zope (``pid``) used during its
    block. Returns ``{name: [Sample, …]}``.
    """
    client = Client(port)
    names = list(series)
    results = {name: [] for name in names}
    longest = max(len(requests) for requests in series.values())
    order = random.Random(seed)
    try:
        for start in range(0, longest, block):
            order.shuffle(names)
            for name in names:
                before = cpu_seconds(pid)
                done = [client.post(r) for r in series[name][start : start + block]]
                cpu = (cpu_seconds(pid) - before) / max(len(done), 1)
                results[name] += [sample._replace(cpu=cpu) for sample in done]
    finally:
        client.close()
    return results


def concurrent(port: int, requests: list[Request], clients: int) -> dict:
    """Post ``requests`` from ``clients`` threads at once; samples and seconds."""
    barrier = threading.Barrier(clients)

    def worker(share: list[Request]) -> list[Sample]:
        client = Client(port)
        barrier.wait()
        try:
            return [client.post(request) for request in share]
        finally:
            client.close()

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        shares = pool.map(worker, [requests[i::clients] for i in range(clients)])
        samples = [sample for share in shares for sample in share]
    return {"samples": samples, "seconds": time.perf_counter() - start}


def summary(samples: list[Sample]) -> dict:
    """Count, mean, median and percentiles (ms), non-2xx answers."""
    times = sorted(s.seconds for s in samples)
    if not times:
        return {"n": 0}

    def pct(p):
        return 1000 * times[min(len(times) - 1, round(p / 100 * (len(times) - 1)))]

    return {
        "n": len(times),
        "mean_ms": 1000 * statistics.fmean(times),
        "median_ms": 1000 * statistics.median(times),
        "p95_ms": pct(95),
        "p99_ms": pct(99),
        "max_ms": 1000 * times[-1],
        "cpu_ms": 1000 * statistics.fmean(s.cpu for s in samples),
        "non2xx": sum(not 200 <= s.status < 300 for s in samples),
    }
