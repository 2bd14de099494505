"""One ClickBank notification at a time per Zope process.

Two notifications processed at the same time write to the same BTrees (and
Plone's member data), and when their changes cannot be merged ZODB raises a
ConflictError: Zope retries the request, but first sleeps for a random time of
up to one second (two before the second retry, four before the third). Nothing
is lost, yet under load a few notifications take seconds, and a request that
conflicts four times is answered 500 (ClickBank then sends it again).

So POSTs to ``@@clickbank`` wait for each other at the start of publication, and
each begins a fresh transaction once it is its turn: it sees everything the
previous one committed and cannot conflict with it. Other requests (pages,
the control panel) never wait. A notification takes milliseconds, so waiting in
line costs less than one retry would. With several Zope processes on one
database (ZEO, RelStorage), notifications handled by different processes can
still conflict; Zope's retries handle those.

The lock is released when the publication ends (success, failure, or the end of
the request, whichever comes first); a request that cannot get it within
:data:`WAIT_SECONDS` goes ahead without it.
"""

import threading

import transaction

from niteoweb.clickbank import logger

#: Names of the webhook as the last step of a request path.
WEBHOOK_NAMES = frozenset({"@@clickbank", "clickbank"})
#: Longest wait for the previous notification before going ahead anyway.
WAIT_SECONDS = 30

_lock = threading.Lock()
_state = threading.local()


def is_notification(request) -> bool:
    """Whether ``request`` is a POST to the webhook (before traversal)."""
    if request.get("REQUEST_METHOD", "").upper() != "POST":
        return False
    path = request.get("PATH_INFO", "") or ""
    return path.rstrip("/").rsplit("/", 1)[-1] in WEBHOOK_NAMES


def wait_for_turn(event) -> None:
    """IPubStart: a notification waits for the one in progress, then starts afresh."""
    if getattr(_state, "held", False) or not is_notification(event.request):
        return
    if not _lock.acquire(timeout=WAIT_SECONDS):
        logger.warning(
            "A ClickBank notification waited %d s for the previous one; "
            "processing it without waiting longer.",
            WAIT_SECONDS,
        )
        return
    _state.held = True
    try:
        # The transaction began before this request's turn: begin it again, so
        # that it sees what the notifications before it committed.
        transaction.begin()
    except BaseException:
        end_turn(event)
        raise


def end_turn(event) -> None:
    """IPubSuccess, IPubFailure, IEndRequestEvent: let the next notification in."""
    if getattr(_state, "held", False):
        _state.held = False
        _lock.release()
