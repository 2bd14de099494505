"""Durable copies of the welcome mails waiting in the outbox.

The outbox (:mod:`niteoweb.clickbank.mail`) sends a mail after ClickBank has had
its answer. A process killed before that would lose the mail for good:
ClickBank does not send an answered notification again. So every mail is first
written to a file in the instance's ``var/clickbank-outbox`` directory (after
the commit, before the answer), and the file is removed once the mail has been
sent. Files older than the running process were left by one that died; files
older than a quarter of an hour were given up by an outbox (the SMTP server
refused them three times; this process's outbox lists the mails it gave up
at once, see :func:`let_go`). The outbox sends such mails along with its next
mail, tries them again a quarter of an hour after it gave one up, and the
expiry sweep hands them to the outbox too. A sender first claims
a file by renaming it (:func:`claim`), so that two processes sharing the
folder (Zope and the ``clickbank-expire`` command, say) never both send it.
A mail the SMTP server refused for good (a 5xx reply: no such recipient, say)
is moved to the ``undeliverable`` folder inside (:func:`give_up`), where no
sender looks; moved back, it is sent again. The expiry sweep removes it after
the log retention period (:func:`forget_undeliverable`).

The files hold the buyer's name and address, like the database does; they live
only until the mail is sent. They outlive a crash of the process, not a power
failure. Without a ``var`` directory nothing is written.
"""

import contextlib
import json
import os
import time
import uuid
from pathlib import Path

from App.config import getConfiguration

from niteoweb.clickbank import logger

#: The directory in the instance's ``var`` (Zope's client home).
DIRECTORY_NAME = "clickbank-outbox"
#: The folder inside it for mails the SMTP server refused for good.
UNDELIVERABLE_NAME = "undeliverable"
#: Files written before this moment were left by an earlier process.
STARTED = time.time()
#: A mail waiting this long is in no outbox any more: an outbox gives a mail up
#: after three attempts over about ten seconds.
STALE_SECONDS = 15 * 60
#: A mail claimed this long ago was never sent: its sender died (even if a
#: process with the sender's id runs now).
ABANDONED_SECONDS = 60 * 60


def directory() -> Path | None:
    """Where mails wait; None when Zope has no client home."""
    home = getattr(getConfiguration(), "clienthome", None)
    return Path(home) / DIRECTORY_NAME if home else None


def write(mail: dict) -> Path | None:
    """Store ``mail`` (JSON-ready) in a new file; None if it cannot be stored."""
    folder = directory()
    if folder is None:
        return None
    name = f"{time.time_ns()}-{uuid.uuid4().hex}"
    data = json.dumps(mail, ensure_ascii=False).encode("utf-8")
    try:
        try:
            _write_new(folder, name, data)
        except FileNotFoundError:  # the first mail of this instance
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            _write_new(folder, name, data)
    except OSError as error:
        logger.warning(
            "Welcome mail not stored in %s (%s); it is sent all the same.",
            folder,
            type(error).__name__,
        )
        return None
    return folder / f"{name}.json"


def _write_new(folder: Path, name: str, data: bytes) -> None:
    """Write ``<name>.json`` whole or not at all, readable by this user only.

    It is written as ``<name>.part`` and renamed: a process that dies while
    writing leaves no half mail for the next one to send. No fsync: the file
    must outlive the process, which the operating system's cache ensures; a
    power failure may lose it. (Plain ``os`` calls: on the request's path,
    pathlib's ``write_text`` and a ``mkdir`` per mail cost twice as much.)
    """
    partial = os.path.join(folder, f"{name}.part")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(descriptor, view) :]
        finally:
            os.close(descriptor)
        os.replace(partial, os.path.join(folder, f"{name}.json"))
    except OSError:  # e.g. the disk is full: leave nothing behind
        with contextlib.suppress(OSError):
            os.unlink(partial)
        raise


#: Names (:func:`_stem`) of this process's mails its outbox gave up.
_LET_GO: set[str] = set()


def let_go(path: Path) -> None:
    """This process's outbox gave the waiting mail ``path`` up (for now).

    :func:`left_over` lists it from now on, however recent: the next mail
    takes it along once the server is back, without waiting for it to be
    :data:`STALE_SECONDS` old.
    """
    _LET_GO.add(_stem(path))


def remove(path: Path | None) -> None:
    """Forget a mail that has been sent."""
    if path is not None:
        path.unlink(missing_ok=True)
        _LET_GO.discard(_stem(path))


def claim(path: Path) -> Path | None:
    """Take the waiting mail ``path`` for sending; None if a sender has it.

    The file is renamed ``<name>.<process id>.sending`` (a rename is atomic: of
    two processes claiming one mail, one wins) and its time set to now: the
    name and the time tell whether the sender is gone (see :func:`_abandoned`).
    """
    sending = path.with_name(f"{_stem(path)}.{os.getpid()}.sending")
    try:
        os.rename(path, sending)
    except FileNotFoundError:
        return None
    with contextlib.suppress(OSError):
        os.utime(sending)
    return sending


def release(sending: Path | None) -> None:
    """Put a claimed mail that could not be sent back to wait."""
    if sending is not None:
        with contextlib.suppress(FileNotFoundError):
            os.rename(sending, sending.with_name(f"{_stem(sending)}.json"))


def give_up(sending: Path) -> Path | None:
    """Keep a claimed mail the SMTP server refused for good where no sender looks.

    It is moved to the :data:`UNDELIVERABLE_NAME` folder beside the waiting
    mails, as ``<name>.json``: sent again, it would be refused again. Returns
    its new path; None if it could not be moved (it is then put back to wait).
    """
    folder = sending.parent / UNDELIVERABLE_NAME
    kept = folder / f"{_stem(sending)}.json"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        os.rename(sending, kept)
    except OSError:
        release(sending)
        return None
    _LET_GO.discard(_stem(sending))
    return kept


def forget_undeliverable(before: float, dry_run: bool = False) -> int:
    """Remove the mails kept as undeliverable (:func:`give_up`) before ``before``.

    ``before``: a time as ``time.time()`` gives it; a file's time is when the
    server refused it. They hold the buyer's name and address, so the expiry
    sweep removes them after the log retention period. Returns how many were
    (with ``dry_run``: would be) removed.
    """
    folder = directory()
    if folder is None:
        return 0
    kept = folder / UNDELIVERABLE_NAME
    removed = 0
    for name in _names(kept):
        path = kept / name
        with contextlib.suppress(OSError):
            if name.endswith(".json") and path.stat().st_mtime < before:
                if not dry_run:
                    path.unlink()
                removed += 1
    return removed


def _stem(path: Path) -> str:
    """The name a mail's file has in every state (``.json``, ``.sending``)."""
    return path.name.split(".", 1)[0]


def _abandoned(sending: Path, now: float) -> bool:
    """Whether the sender that claimed ``sending`` is gone without sending it.

    It is when the process that claimed it no longer runs, when this process
    has its id but started after the claim (a restart), and in any case once
    the claim is :data:`ABANDONED_SECONDS` old (a process id used again).
    """
    claimed = sending.stat().st_mtime
    if claimed < now - ABANDONED_SECONDS:
        return True
    try:
        pid = int(sending.name.split(".")[1])
    except (IndexError, ValueError):  # no process id: only the age tells
        return False
    if pid == os.getpid():
        return claimed < STARTED
    try:
        os.kill(pid, 0)  # no signal: only whether the process exists
    except ProcessLookupError:
        return True
    except PermissionError:  # it exists, as another user
        return False
    return False


def left_over(now: float | None = None) -> list[tuple[Path, dict]]:
    """Mails no outbox is sending, oldest first, with their data.

    Those stored before this process started (by one that was killed, or that
    stopped before its SMTP server took them), those waiting longer than
    :data:`STALE_SECONDS` (the outbox gave them up: the SMTP server was down),
    those whose sender died while sending them (see :func:`_abandoned`;
    they are put back to wait first), and those this process's outbox gave up
    (:func:`let_go`).
    """
    folder = directory()
    names = _names(folder)
    if not names:  # the usual case, after every mail: one look at the folder
        return []
    now = time.time() if now is None else now
    abandoned = set()
    for name in names:
        if name.endswith(".sending"):
            path = folder / name
            with contextlib.suppress(OSError):
                if _abandoned(path, now):
                    release(path)
                    abandoned.add(_stem(path))
    if abandoned:
        names = _names(folder)
    found = []
    for name in sorted(name for name in names if name.endswith(".json")):
        path = folder / name
        try:
            stored = path.stat().st_mtime
            mine = stored >= STARTED and stored >= now - STALE_SECONDS
            stem = _stem(path)
            if mine and stem not in abandoned and stem not in _LET_GO:
                continue  # this process's outbox has it
            found.append((path, json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError):
            continue  # gone meanwhile, or half-written by a dying process
    return found


def _names(folder: Path | None) -> list[str]:
    """The names of the files in ``folder``; none if it does not exist (yet)."""
    if folder is None:
        return []
    try:
        return os.listdir(folder)
    except OSError:
        return []
