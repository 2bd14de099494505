"""The local site ``make start`` serves: the URLs it prints open a themed site."""

import os
import re
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).parent.parent
THEMED = "++theme++barceloneta"


def printed_urls(**environment) -> list[str]:
    """The URLs ``make start`` prints when it starts serving."""
    env = {k: v for k, v in os.environ.items() if k not in ("HOST", "PORT")}
    env.update(environment)
    banner = subprocess.run(
        ["bash", "scripts/serve.sh", "--banner-only"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return re.findall(r"http://\S+", banner)


def on_test_site(url: str) -> str:
    """``url`` with its host name kept, pointed at the test site."""
    parts = urlsplit(url)
    return f"http://{parts.hostname}/plone{parts.path.removeprefix('/Plone')}"


class TestPrintedUrls:
    """What a new user opens first."""

    def test_site_url_opens_a_themed_site(self, browser):
        """The site URL names a host Plone themes (127.0.0.1 it does not)."""
        site = printed_urls()[0]
        browser.open(on_test_site(site))
        assert THEMED in browser.contents
        browser.open("http://127.0.0.1/plone")
        assert THEMED not in browser.contents

    @pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0"])  # noqa: S104
    def test_local_bind_addresses_are_printed_as_localhost(self, host):
        """Whatever local address the server binds, the URLs say localhost."""
        urls = printed_urls(HOST=host, PORT="9080")
        assert {urlsplit(url).netloc for url in urls} == {"localhost:9080"}

    def test_readme_shows_the_urls_make_start_prints(self):
        """Every local site URL in the README is on the host make start prints."""
        host = urlsplit(printed_urls()[0]).netloc
        readme = (ROOT / "README.rst").read_text()
        local = re.findall(r"http://([^/\s]+:8080)/", readme)
        assert local
        assert set(local) == {host}
