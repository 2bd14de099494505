"""Garbage-collection pauses inside each request, in a response header.

CPython's cyclic collector runs when allocations pass a threshold, in whichever
thread happens to allocate then. A young collection takes microseconds; a full
one walks every tracked object of the process, the ZODB caches included, and
takes 100 ms or more on the large site. Which request pays for it is chance,
so the benchmark reports, for each series, the time its requests spent in
collections (``X-Bench-GC``: milliseconds in generations 0, 1 and 2).
"""

import gc
import threading
import time

HEADER = "X-Bench-GC"
_local = threading.local()


def _callback(phase: str, info: dict) -> None:
    paused = getattr(_local, "paused", None)
    if paused is None:  # a collection outside a request
        return
    if phase == "start":
        _local.started = time.perf_counter()
    else:
        paused[info["generation"]] += time.perf_counter() - _local.started


def start(event) -> None:
    """Subscriber of IPubStart: count this thread's collections from now on."""
    if _callback not in gc.callbacks:
        gc.callbacks.append(_callback)
    _local.paused = [0.0, 0.0, 0.0]


def finish(event) -> None:
    """Subscriber of IPubSuccess and IPubFailure: the header, then stop counting."""
    paused, _local.paused = getattr(_local, "paused", None), None
    if paused is not None:
        value = ",".join(f"{1000 * seconds:.3f}" for seconds in paused)
        event.request.response.setHeader(HEADER, value)


def paused() -> list[float]:
    """Seconds this thread's request has spent in collections so far, by generation."""
    return list(getattr(_local, "paused", None) or (0.0, 0.0, 0.0))
