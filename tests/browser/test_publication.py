"""Notifications take turns per process (``browser/publication.py``)."""

import threading
import time
from types import SimpleNamespace

import pytest

from niteoweb.clickbank.browser import publication


def event(method="POST", path="/Plone/@@clickbank"):
    return SimpleNamespace(request={"REQUEST_METHOD": method, "PATH_INFO": path})


@pytest.mark.parametrize(
    "method,path,expected",
    [
        ("POST", "/Plone/@@clickbank", True),
        ("post", "/Plone/clickbank/", True),
        (
            "POST",
            "/VirtualHostBase/https/shop.example.com:443/Plone/"
            "VirtualHostRoot/@@clickbank",
            True,
        ),  # fmt: skip
        ("GET", "/Plone/@@clickbank", False),
        ("POST", "/Plone/@@clickbank-log", False),
        ("POST", "/Plone/@@clickbank/more", False),
        ("POST", "", False),
    ],
)
def test_only_webhook_posts_take_turns(method, path, expected):
    assert publication.is_notification(event(method, path).request) is expected


def test_second_notification_waits_until_first_ends():
    """Another thread's notification starts only when the first one has ended."""
    order = []
    first_in = threading.Event()

    def first():
        publication.wait_for_turn(event())
        order.append("first started")
        first_in.set()
        time.sleep(0.2)
        order.append("first ended")
        publication.end_turn(None)

    def second():
        first_in.wait(5)
        publication.wait_for_turn(event())
        order.append("second started")
        publication.end_turn(None)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert order == ["first started", "first ended", "second started"]


def test_other_requests_never_wait():
    """A page view goes ahead while a notification is in progress."""
    done = threading.Event()
    publication.wait_for_turn(event())
    try:
        worker = threading.Thread(
            target=lambda: (publication.wait_for_turn(event("GET")), done.set())
        )
        worker.start()
        assert done.wait(5)
    finally:
        publication.end_turn(None)


def turn_in_thread(ended: threading.Event) -> threading.Thread:
    """A notification in another thread that takes its turn until ``ended``."""
    started = threading.Event()

    def notification():
        publication.wait_for_turn(event())
        started.set()
        ended.wait(10)
        publication.end_turn(None)

    thread = threading.Thread(target=notification)
    thread.start()
    assert started.wait(5)
    return thread


def seconds_to_wait_for_turn() -> float:
    """How long a notification of this thread waits for its turn (then ends it)."""
    started = time.monotonic()
    publication.wait_for_turn(event())
    waited = time.monotonic() - started
    publication.end_turn(None)
    return waited


def test_turn_ends_once_whatever_ends_the_request():
    """Success, then the end of the request: the turn is given up once only."""
    publication.wait_for_turn(event())
    publication.end_turn(None)  # IPubSuccess
    publication.end_turn(None)  # IEndRequestEvent of the same request
    ended = threading.Event()
    thread = turn_in_thread(ended)  # the next notification gets its turn
    ended.set()
    thread.join(5)


def test_waiting_too_long_goes_ahead(monkeypatch):
    """If the previous notification never ends, the next one is not stuck."""
    monkeypatch.setattr(publication, "WAIT_SECONDS", 0.1)
    ended = threading.Event()
    thread = turn_in_thread(ended)
    try:
        assert seconds_to_wait_for_turn() < 2
        # Going ahead took no turn: ending it left the first one's turn alone.
        assert seconds_to_wait_for_turn() >= 0.1
    finally:
        ended.set()
        thread.join(5)
    assert seconds_to_wait_for_turn() < 0.1
