"""One ClickBank notification at a time per Zope process.

Two notifications processed at the same time write to the same BTrees and
member data; when ZODB cannot merge their changes, Zope retries the request
after sleeping up to a second (then two, then four; the fourth conflict is a
500). So POSTs to ``@@clickbank`` wait for each other at the start of
publication and begin a fresh transaction when it is their turn: a notification
takes milliseconds, waiting costs less than a retry. Other requests never wait.
Notifications in different processes (ZEO, RelStorage) still conflict, and
Zope's retries handle those. A request that waits :data:`WAIT_SECONDS` goes
ahead without its turn.
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
