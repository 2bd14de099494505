"""The benchmark's Zope: a temporary instance with two sites, waitress, a mail sink.

The instance is made by ``scripts/make_instance.py`` (FileStorage + blobs, as
``make start``), its sites by ``scripts/create_site.py``; the benchmark-only
views of ``bench/clickbank_bench`` are included through
``etc/package-includes`` and found on ``PYTHONPATH``. Nothing listens on 8080:
every port is picked free at run time.
"""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import plan

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (ephemeral, not 8080)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _env(**extra) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(BENCH), env.get("PYTHONPATH", "")) if p
    )
    env.update({k: str(v) for k, v in extra.items()})
    return env


class Instance:
    """A temporary Zope instance with two Plone sites and the add-on installed."""

    def __init__(self, home: Path, threads: int = 4):
        self.home = home
        self.port = free_port()
        self.smtp_port = free_port()
        self.threads = threads
        self.conf = home / "etc" / "zope.conf"
        self.mail_dir = home / "var" / "mail"
        self.queue_dir = home / "var" / "mailqueue"
        self.server = None
        self.sink = None

    def create(self) -> None:
        """Make the instance and its sites (secret key, SMTP to the sink)."""
        make = [sys.executable, ROOT / "scripts" / "make_instance.py", self.home]
        env = _env(HOST="127.0.0.1", PORT=self.port)
        subprocess.run(make, check=True, env=env, stdout=subprocess.DEVNULL)  # noqa: S603
        ini = self.home / "etc" / "zope.ini"
        threads = f"[server:main]\nthreads = {self.threads}\n"
        ini.write_text(ini.read_text().replace("[server:main]\n", threads, 1))
        includes = self.home / "etc" / "package-includes"
        includes.mkdir(exist_ok=True)
        include = '<include xmlns="http://namespaces.zope.org/zope" package="%s" />\n'
        (includes / "clickbank_bench-configure.zcml").write_text(
            include % "clickbank_bench"
        )
        mail = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": self.smtp_port,
                "MAIL_FROM": "shop@bench.example.com"}  # fmt: skip
        for site in plan.SITES:
            self.zconsole(ROOT / "scripts" / "create_site.py", SITE_ID=site,
                          CLICKBANK_SECRET_KEY=plan.SECRET_KEY, **mail)  # fmt: skip

    def populate(self, site: str, members: int) -> str:
        """Queue mode for the site's MailHost, and ``members`` SALEs."""
        env = {"BENCH_QUEUE": self.queue_dir, "BENCH_SINK": self.mail_dir}
        output = self.zconsole(
            BENCH / "populate.py", BENCH_SITE=site, BENCH_MEMBERS=members, **env
        )
        return output.strip().splitlines()[-1]

    def zconsole(self, script: Path, **env) -> str:
        """Run a zconsole script on the (stopped) instance; returns its output."""
        command = [BIN / "zconsole", "run", self.conf, script]
        done = subprocess.run(command, env=_env(**env), capture_output=True, text=True)  # noqa: S603
        if done.returncode:
            sys.stderr.write(done.stdout + done.stderr)
            raise RuntimeError(f"{script.name} failed")
        return done.stdout

    def start_sink(self) -> None:
        """The SMTP server the sites send to (``bench/smtpsink.py``)."""
        self.mail_dir.mkdir(parents=True, exist_ok=True)
        sink = [
            sys.executable,
            BENCH / "smtpsink.py",
            self.mail_dir,
            str(self.smtp_port),
        ]
        self.sink = subprocess.Popen(sink, stdout=subprocess.DEVNULL)  # noqa: S603

    def start(self) -> None:
        """Serve the sites with waitress (``threads`` threads)."""
        log = open(self.home / "var" / "log" / "runwsgi.log", "ab")  # noqa: SIM115
        serve = [BIN / "runwsgi", self.home / "etc" / "zope.ini"]
        self.server = subprocess.Popen(  # noqa: S603 - our own scripts
            serve, env=_env(), stdout=log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.server.poll() is not None:
                raise RuntimeError(f"Zope exited; see {log.name}")
            try:
                self.stats(plan.SITES[0])
                return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError("Zope did not answer within 180 s")

    def close(self) -> None:
        """Stop Zope and the mail sink."""
        for process in (self.server, self.sink):
            if process is not None:
                process.terminate()
                process.wait(60)
        self.server = self.sink = None

    def stats(self, site: str) -> dict:
        """``@@clickbank-bench-stats``: conflict retries, memory, mail queue."""
        url = f"http://127.0.0.1:{self.port}/{site}/@@clickbank-bench-stats"
        with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310
            return json.load(response)

    def mail_count(self) -> int:
        """How many mails the sink has saved."""
        return sum(name.endswith(".eml") for name in os.listdir(self.mail_dir))

    def mails(self, first: int = 0) -> list[bytes]:
        """The mails the sink received, from the ``first``-th on (0-based)."""
        count = self.mail_count()
        return [
            (self.mail_dir / f"{n}.eml").read_bytes()
            for n in range(first + 1, count + 1)
        ]

    def wait_for_mails(self, count: int, timeout: float = 30) -> int:
        """Wait until the sink holds ``count`` mails; how many it holds."""
        deadline = time.monotonic() + timeout
        while self.mail_count() < count and time.monotonic() < deadline:
            time.sleep(0.2)
        return self.mail_count()
