"""The benchmark's Zope: a temporary instance, its site, waitress and a mail sink.

The instance is made by ``scripts/make_instance.py`` (FileStorage + blobs, as
``make start``), its site by ``scripts/create_site.py``; the benchmark-only
views of ``bench/clickbank_bench`` are included through
``etc/package-includes`` and found on ``PYTHONPATH``. Nothing listens on 8080:
every port is picked free at run time.
"""

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import plan

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (never 8080)."""
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port != 8080:
            return port


def _env(**extra) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(BENCH), env.get("PYTHONPATH", "")) if p
    )
    env.update({k: str(v) for k, v in extra.items()})
    return env


def cpu_seconds(pid: int | None) -> float | None:
    """CPU seconds all threads of process ``pid`` have used so far (Linux); None.

    Read from the scheduler's nanosecond counters of each thread: the ticks
    of ``/proc/<pid>/stat`` (10 ms) are too coarse for a block of requests.
    """
    if pid is None:
        return None
    total = 0
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/schedstat") as stats:
                total += int(stats.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return total / 1e9


class Instance:
    """A temporary Zope instance with a Plone site and the add-on installed."""

    def __init__(self, home: Path, threads: int = 4):
        self.home = home
        self.port = free_port()
        self.smtp_port = free_port()
        self.threads = threads
        self.conf = home / "etc" / "zope.conf"
        self.datafs = home / "var" / "Data.fs"
        self.mail_dir = home / "var" / "mail"
        self.server = None
        self.sink = None

    def create(self) -> None:
        """Make the instance and its sites; configure key and mail."""
        env = _env(HOST="127.0.0.1", PORT=self.port)
        subprocess.run(  # noqa: S603 - our own scripts
            [sys.executable, ROOT / "scripts" / "make_instance.py", self.home],
            check=True,
            env=env,
            stdout=subprocess.DEVNULL,
        )
        ini = self.home / "etc" / "zope.ini"
        text = ini.read_text().replace(
            "[server:main]\n", f"[server:main]\nthreads = {self.threads}\n", 1
        )
        ini.write_text(text)
        includes = self.home / "etc" / "package-includes"
        includes.mkdir(exist_ok=True)
        (includes / "clickbank_bench-configure.zcml").write_text(
            '<include xmlns="http://namespaces.zope.org/zope" '
            'package="clickbank_bench" />\n'
        )
        for site in plan.SITES:
            self.zconsole(
                ROOT / "scripts" / "create_site.py",
                SITE_ID=site,
                CLICKBANK_SECRET_KEY=plan.SECRET_KEY,
                SMTP_HOST="127.0.0.1",
                SMTP_PORT=self.smtp_port,
                MAIL_FROM="shop@bench.example.com",
            )

    def zconsole(self, script: Path, **env) -> str:
        """Run a zconsole script on the (stopped) instance; returns its output."""
        done = subprocess.run(  # noqa: S603 - our own scripts
            [BIN / "zconsole", "run", self.conf, script],
            env=_env(**env),
            capture_output=True,
            text=True,
        )
        if done.returncode:
            sys.stderr.write(done.stdout + done.stderr)
            raise RuntimeError(f"{script.name} failed")
        return done.stdout

    def start(self) -> None:
        """Serve the site with waitress (``threads`` threads) and a mail sink."""
        self.mail_dir.mkdir(parents=True, exist_ok=True)
        if self.sink is None:
            sink = [ROOT / "bench" / "smtpsink.py", self.mail_dir, str(self.smtp_port)]
            if os.environ.get("BENCH_SINK") == "aiosmtpd":  # make start's sink
                sink = [ROOT / "scripts" / "mailsink.py", self.mail_dir]
            self.sink = subprocess.Popen(  # noqa: S603 - our own scripts
                [sys.executable, *sink],
                env=_env(SMTP_HOST="127.0.0.1", SMTP_PORT=self.smtp_port),
                stdout=subprocess.DEVNULL,
            )
        log = open(self.home / "var" / "log" / "runwsgi.log", "ab")  # noqa: SIM115
        self.server = subprocess.Popen(  # noqa: S603 - our own scripts
            [BIN / "runwsgi", self.home / "etc" / "zope.ini"],
            env=_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.server.poll() is not None:
                raise RuntimeError(f"Zope exited; see {log.name}")
            try:
                self.control("stats", plan.SITES[0])
                return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError("Zope did not answer within 180 s")

    def stop(self) -> None:
        """Stop Zope (the mail sink keeps running until :meth:`close`)."""
        if self.server is not None:
            self.server.send_signal(signal.SIGTERM)
            try:
                self.server.wait(60)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait()
            self.server = None

    def close(self) -> None:
        """Stop Zope and the mail sink."""
        self.stop()
        if self.sink is not None:
            self.sink.terminate()
            self.sink.wait(30)
            self.sink = None

    def control(self, action: str, site: str, **data) -> dict:
        """Call the control view of ``site`` (stats, sweep, mail-on/off …)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        try:
            body = json.dumps({"action": action, **data})
            connection.request(
                "POST",
                f"/{site}/@@clickbank-bench-control",
                body,
                {"Content-Type": "application/json"},
            )
            response = connection.getresponse()
            text = response.read()
            if response.status != 200:
                raise RuntimeError(f"control {action}: {response.status} {text[:500]}")
            return json.loads(text)
        finally:
            connection.close()

    @property
    def pid(self) -> int | None:
        """The process id of the running Zope, if it runs."""
        return self.server.pid if self.server is not None else None

    def sink_cpu_seconds(self) -> float | None:
        """CPU seconds the mail sink has used so far (Linux); None elsewhere."""
        return cpu_seconds(self.sink.pid)

    def mails(self) -> int:
        """How many mails the sink has received."""
        return len(list(self.mail_dir.glob("*.eml")))
