"""Welcome mails sent from a process of their own.

A thread of the Zope process could send them (the outbox,
:mod:`niteoweb.clickbank.outbox`), but it shares the interpreter lock with the
requests being served: the message headers, smtplib and the outbox files take
about 0.8 ms of it per mail, and the lock changes hands some fifteen times per
mail, each time costing the request a thread switch. So a small child process
sends them instead, on another CPU core: ``python -m
niteoweb.clickbank.mailsender``, started with the first mail and fed one line of
JSON per mail through a pipe. It runs an outbox of its own with the same code:
it claims the mail's file in the outbox folder, sends the message through
Products.MailHost's own ``send`` (same headers, same encoding) over a kept SMTP
connection (:mod:`niteoweb.clickbank.smtpconnection`), forgets the file, then
sends the mails left waiting by earlier processes. What it logs comes back
through the pipe and is logged by the Zope process.

It is used when the site's MailHost is Products.MailHost's own, with its own
``send``, and its mailer a plain SMTP mailer: the settings the mailer read in
the request (Plone's registry) go along with the mail. Any other MailHost (a
test's mock, an add-on's) is left to do its own sending, from the outbox
thread; so are all mails when the process cannot be started or fed, or when
the environment variable ``CLICKBANK_MAIL_PROCESS`` is ``off``.

Nothing is lost when either process dies: the mail's file is written before
ClickBank gets its answer (:mod:`niteoweb.clickbank.spool`). A child that
dies is started again with the next mail; a Zope process that ends closes
the pipe, and the child sends what it has, then ends too.
"""

import argparse
import contextlib
import itertools
import json
import logging
import os
import subprocess
import sys
import threading
from functools import partial
from pathlib import Path
from smtplib import SMTP
from smtplib import SMTP_SSL

from niteoweb.clickbank import logger
from niteoweb.clickbank import outbox
from niteoweb.clickbank import smtpconnection
from niteoweb.clickbank import spool

#: The environment variable that turns the process off (``off``, ``0``, ``no``).
SWITCH = "CLICKBANK_MAIL_PROCESS"

#: The SMTP mailer settings passed to the child (those of ``SMTPMailer``).
MAILER_SETTINGS = (
    "hostname",
    "port",
    "username",
    "password",
    "no_tls",
    "force_tls",
    "implicit_tls",
    "timeout",
)


def switched_on() -> bool:
    """Whether the environment leaves the mail sender process on (the default)."""
    return os.environ.get(SWITCH, "on").strip().lower() not in ("off", "0", "no")


def mailer_settings(mailhost) -> dict | None:
    """The SMTP settings ``mailhost`` would send with; None if the child can't.

    The child sends as Products.MailHost does, so ``mailhost`` must use that
    code unchanged (``send``, ``_send``, ``_makeMailer`` as defined there) and
    make a plain ``SMTPMailer`` with its usual connection class. Call it in
    the request: Plone's mailer reads its settings from the site's registry.
    """
    from Acquisition import aq_base
    from Products.MailHost.MailHost import MailBase
    from zope.sendmail.mailer import SMTPMailer

    base = aq_base(mailhost)
    for name in ("send", "_send", "_makeMailer"):
        method = getattr(type(base), name, None)
        if (
            method is not getattr(MailBase, name)
            or method.__module__ != MailBase.__module__  # patched in place
            or name in getattr(base, "__dict__", {})
        ):
            return None
    mailer = base._makeMailer()
    if type(mailer) is not SMTPMailer:
        return None
    if mailer.smtp is not (SMTP_SSL if mailer.implicit_tls else SMTP):
        return None
    settings = {name: getattr(mailer, name) for name in MAILER_SETTINGS}
    settings["port"] = int(settings["port"])
    return settings


class SenderProcess:
    """The child process that sends this process's welcome mails."""

    def __init__(self, retry_delays: tuple[float, ...] = (2, 8)):
        self.retry_delays = retry_delays
        #: Set False to send every mail from the outbox thread.
        self.enabled = switched_on()
        self._lock = threading.Lock()
        self._process = None
        self._synced = {}
        self._tokens = itertools.count(1)

    @property
    def pid(self) -> int | None:
        """The running child's process id; None if none runs."""
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    def send(self, mailhost, mail: dict, path: Path | None) -> bool:
        """Hand a stored mail to the child; False if the outbox thread must send it.

        ``mail`` holds the keyword arguments of
        :func:`niteoweb.clickbank.outbox.send_message`, ``path`` its file.
        """
        if not self.enabled or path is None:
            return False
        try:
            settings = mailer_settings(mailhost)
        except Exception:  # noqa: BLE001 - the thread's way reports it
            return False
        if settings is None:
            return False
        return self._write({"mail": mail, "path": str(path), "smtp": settings})

    def flush(self, timeout: float = 10) -> bool:
        """Wait until the child has sent what it was given; False after ``timeout``."""
        if self.pid is None:
            return True
        token = next(self._tokens)
        done = self._synced[token] = threading.Event()
        try:
            return self._write({"sync": token}, start=False) and done.wait(timeout)
        finally:
            self._synced.pop(token, None)

    def close(self, timeout: float = 10) -> bool:
        """Let the child send what it has and end; False if it is still running."""
        with self._lock:
            process, self._process = self._process, None
        if process is None:
            return True
        with contextlib.suppress(OSError):
            process.stdin.close()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    def _write(self, message: dict, start: bool = True) -> bool:
        line = (json.dumps(message) + "\n").encode("ascii")
        with self._lock:
            for _attempt in (1, 2):  # a child that died is started again once
                process = self._process
                if process is None or process.poll() is not None:
                    if not start:
                        return False
                    try:
                        process = self._process = self._start()
                    except OSError as error:
                        logger.warning(
                            "The mail sender process could not be started (%s); "
                            "welcome mails are sent from the Zope process.",
                            type(error).__name__,
                        )
                        self.enabled = False
                        return False
                try:
                    process.stdin.write(line)
                    process.stdin.flush()
                    return True
                except OSError:  # it died: the next attempt starts another
                    self._process = None
        return False

    def _start(self) -> subprocess.Popen:
        folder = spool.directory()
        command = [
            sys.executable,
            "-m",
            __name__,
            "--outbox",
            str(folder) if folder is not None else "",
            "--started",
            repr(spool.STARTED),
            "--retry-delays",
            ",".join(str(delay) for delay in self.retry_delays),
        ]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        process = subprocess.Popen(  # noqa: S603 - our own module, no shell
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            start_new_session=True,  # a Ctrl-C in the terminal is Zope's
        )
        threading.Thread(
            target=self._read,
            args=(process,),
            name="niteoweb.clickbank mail sender",
            daemon=True,
        ).start()
        return process

    def _read(self, process: subprocess.Popen) -> None:
        """Log what the child logs; note its answers to :meth:`flush`."""
        for line in process.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if "synced" in message:
                done = self._synced.get(message["synced"])
                if done is not None:
                    done.set()
            elif "log" in message:
                logger.log(message["log"], "%s", message["message"])
        process.stdout.close()


#: The Zope process's mail sender.
PROCESS = SenderProcess()


# The child's side.


class _ToParent(logging.Handler):
    """Hands the child's log records to the Zope process, one JSON line each."""

    def __init__(self, answer):
        super().__init__()
        self.answer = answer

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        self.answer({"log": record.levelno, "message": text})


def _answerer(stream):
    lock = threading.Lock()

    def answer(message: dict) -> None:
        with lock:
            stream.write((json.dumps(message) + "\n").encode("ascii"))
            stream.flush()

    return answer


def _mailhost(settings: dict):
    """Products.MailHost's own MailHost, sending with ``settings``.

    Its ``send`` is the one the Zope process's MailHost runs; only the mailer
    comes from here: a plain ``SMTPMailer`` over the kept connection.
    """
    from Products.MailHost.MailHost import MailBase
    from zope.sendmail.mailer import SMTPMailer

    mailhost = MailBase("MailHost")
    kept = smtpconnection.KEPT.mailer_for(SMTPMailer(**settings))
    mailhost._makeMailer = lambda: kept
    return mailhost


def main(argv=None) -> int:
    """Send the mails read from standard input until it ends."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--outbox", default="")
    parser.add_argument("--started", type=float, default=None)
    parser.add_argument("--retry-delays", default="2,8")
    args = parser.parse_args(argv)
    folder = Path(args.outbox) if args.outbox else None
    spool.directory = lambda: folder  # noqa: ARG005 - the Zope process's folder
    if args.started is not None:
        spool.STARTED = args.started  # files older than Zope were left over
    answer = _answerer(sys.stdout.buffer)
    logger.addHandler(_ToParent(answer))
    logger.setLevel(logging.INFO)
    logger.propagate = False
    delays = tuple(float(d) for d in args.retry_delays.split(",") if d.strip())
    box = outbox.Outbox(retry_delays=delays, on_idle=smtpconnection.KEPT.close)
    for line in sys.stdin.buffer:
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if "sync" in message:
            box.put(partial(answer, {"synced": message["sync"]}))
        elif "mail" in message:
            box.put(
                partial(
                    outbox.send_stored,
                    _mailhost(message["smtp"]),
                    message["mail"],
                    Path(message["path"]) if message.get("path") else None,
                )
            )
    box.flush(timeout=120)
    smtpconnection.KEPT.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
