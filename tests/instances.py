"""Real Zope instances for the fault and cluster tests (``make stress``).

An :class:`Instance` is made like ``make start`` makes one (``mkwsgiinstance``
plus a blob storage, by ``scripts/make_instance.py``), optionally as a client of
a :class:`ZeoServer`; its site is created by ``scripts/create_site.py`` through
``zconsole``. The server is ``runwsgi`` in a subprocess on a free port (never
8080) and can be stopped, killed with SIGKILL and started again on the same
storage. The site's state is read by ``tests/dump_state.py``.
"""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
from aiosmtpd.controller import Controller

from niteoweb.clickbank import testing

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"
BIN = Path(sys.executable).parent
MAKE_INSTANCE = ROOT / "scripts" / "make_instance.py"
SITE_ID = "Plone"
SECRET_KEY = "STRESSKEY2026"
STATE_MARKER = "CLICKBANK-STATE "


def free_port() -> int:
    """A free TCP port on 127.0.0.1, never 8080 (``make start`` uses it)."""
    while True:
        port = testing.free_port()
        if port != 8080:
            return port


def wait_until(condition, seconds: float, what: str, interval: float = 0.2):
    """Poll ``condition`` until it returns a true value; raise after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {seconds} s")
        time.sleep(interval)


def post(url: str, body: bytes, timeout: float = 120.0):
    """POST a notification body; the ``requests`` response, None if none came."""
    try:
        return requests.post(
            url,
            data=body,
            headers={"Content-Type": "application/json"},
            timeout=timeout,
            allow_redirects=False,
        )
    except requests.RequestException:
        return None


def status(response) -> int | None:
    """The HTTP status of a :func:`post`, None when nothing answered."""
    return None if response is None else response.status_code


class MailSink:
    """A real SMTP server on a free port keeping every message (an Inbox)."""

    def __init__(self):
        self.inbox = testing.Inbox()
        self.port = free_port()
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc_info):
        self.controller.stop()

    def recipients(self) -> list[str]:
        """The address of every message received, one entry per message."""
        return [
            address.addr_spec
            for message in self.inbox.messages
            for address in message["To"].addresses
        ]


class ZeoServer:
    """``runzeo`` serving a FileStorage with blobs from ``home``."""

    def __init__(self, home: Path):
        self.home = home
        self.port = free_port()
        self.process = None
        self.log = home / "zeo.log"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        """Write the configuration, start ``runzeo`` and wait for its port."""
        if not (BIN / "runzeo").exists():
            raise RuntimeError(
                "ZEO is not installed: .venv/bin/pip install -c constraints.txt ZEO"
            )
        self.home.mkdir(parents=True, exist_ok=True)
        conf = self.home / "zeo.conf"
        conf.write_text(
            f"<zeo>\n  address {self.address}\n</zeo>\n"
            "<filestorage 1>\n"
            f"  path {self.home / 'Data.fs'}\n"
            f"  blob-dir {self.home / 'blobs'}\n"
            "</filestorage>\n"
        )
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [BIN / "runzeo", "-C", conf], stdout=log, stderr=subprocess.STDOUT
            )
        wait_until(self._listening, 60, "ZEO server")

    def _listening(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"runzeo exited; see {self.log}")
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", self.port)) == 0

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL)."""
        _terminate(self.process)
        self.process = None


class Instance:
    """A temporary Zope instance in ``home`` with a Plone site and the add-on."""

    def __init__(
        self,
        home: Path,
        smtp_port: int,
        zeo: ZeoServer | None = None,
        threads: int = 4,
    ):
        self.home = home
        self.smtp_port = smtp_port
        self.zeo = zeo
        self.threads = threads
        self.port = free_port()
        self.conf = home / "etc" / "zope.conf"
        self.log = home / "var" / "log" / "runwsgi.log"
        self.process = None

    @property
    def url(self) -> str:
        """The site's URL."""
        return f"http://127.0.0.1:{self.port}/{SITE_ID}"

    @property
    def webhook(self) -> str:
        """The URL ClickBank posts to."""
        return self.url + "/@@clickbank"

    def create(self) -> None:
        """Make the instance (FileStorage + blobs, or a ZEO client)."""
        subprocess.run(
            [sys.executable, MAKE_INSTANCE, self.home],
            check=True,
            env=_env(HOST="127.0.0.1", PORT=self.port),
            stdout=subprocess.DEVNULL,
        )
        ini = self.home / "etc" / "zope.ini"
        ini.write_text(
            ini.read_text().replace(
                "[server:main]\n", f"[server:main]\nthreads = {self.threads}\n", 1
            )
        )
        if self.zeo is not None:
            self._use_zeo()

    def _use_zeo(self) -> None:
        text = self.conf.read_text()
        start = text.index("    <blobstorage>")
        end = text.index("</blobstorage>\n") + len("</blobstorage>\n")
        client = (
            "    <zeoclient>\n"
            f"      server {self.zeo.address}\n"
            "      storage 1\n"
            "      name zeostorage\n"
            "      var $INSTANCE/var\n"
            "      blob-dir $INSTANCE/var/blobcache\n"
            "      shared-blob-dir off\n"
            "      cache-size 64MB\n"
            "    </zeoclient>\n"
        )
        self.conf.write_text(text[:start] + client + text[end:])

    def create_site(self, products: str = "") -> None:
        """Create the site with the add-on, the secret key and the mail settings.

        ``products`` (lines ``item | group``) is set as the product list, and its
        groups are created.
        """
        self.zconsole(
            ROOT / "scripts" / "create_site.py",
            SITE_ID=SITE_ID,
            CLICKBANK_SECRET_KEY=SECRET_KEY,
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=self.smtp_port,
            MAIL_FROM="shop@stress.example.com",
        )
        if products:
            self.zconsole(
                TESTS / "configure_site.py", SITE_ID=SITE_ID, PRODUCTS=products
            )

    def zconsole(self, script: Path, **env) -> str:
        """Run a zconsole script on the instance's database; returns its stdout.

        A FileStorage must not be open elsewhere (stop the server first); a ZEO
        client can run while the servers run.
        """
        done = subprocess.run(
            [BIN / "zconsole", "run", self.conf, script],
            env=_env(**env),
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode:
            raise RuntimeError(f"{script.name} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def dump(self) -> dict:
        """The site's members, entitlements and ledger (``tests/dump_state.py``)."""
        output = self.zconsole(TESTS / "dump_state.py", SITE_ID=SITE_ID)
        line = next(
            line for line in output.splitlines() if line.startswith(STATE_MARKER)
        )
        return json.loads(line.removeprefix(STATE_MARKER))

    def start(self, seconds: float = 240) -> None:
        """Start ``runwsgi`` and wait until the webhook answers."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [BIN / "runwsgi", self.home / "etc" / "zope.ini"],
                env=_env(),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_until(self._answers, seconds, f"Zope on port {self.port}", 0.25)

    def _answers(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"runwsgi exited; see {self.log}")
        try:
            return requests.get(self.webhook, timeout=10).status_code == 405
        except requests.RequestException:
            return False

    def kill(self) -> None:
        """Crash the server: SIGKILL, no clean shutdown."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(60)
        self.process = None

    def stop(self) -> None:
        """Stop the server cleanly (SIGTERM, SIGKILL after 60 s)."""
        _terminate(self.process)
        self.process = None


def _terminate(process) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(60)


@contextlib.contextmanager
def running(*servers):
    """Stop every server (ZEO or Zope) on the way out, whatever happened."""
    try:
        yield servers
    finally:
        for server in reversed(servers):
            with contextlib.suppress(Exception):
                server.stop()


def _env(**extra) -> dict:
    env = dict(os.environ)
    env.update({name: str(value) for name, value in extra.items()})
    return env
