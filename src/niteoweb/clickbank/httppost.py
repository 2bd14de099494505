"""POST a body as JSON to an http(s) URL and return the answer; no redirects.

:func:`post` sends the envelopes of the ``clickbank-notify`` simulator
(:mod:`niteoweb.clickbank.simulator`, which re-exports it). Pure Python (stdlib),
no Plone.
"""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from typing import Any


def post(url: str, body: bytes, timeout: float = 10.0) -> tuple[int, str]:
    """POST ``body`` as JSON to ``url``; return the HTTP status and response text.

    Redirects are not followed: only a 2xx answer counts as delivered for
    ClickBank, so a redirect (e.g. to a login form) shows up as its 3xx. Raises
    ValueError for a URL that is not http(s) and OSError when nothing answers.
    """
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise ValueError(f"Not an http(s) URL: {url!r}")
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read().decode("utf-8", "replace")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Turn every redirect into an HTTPError carrying the 3xx status."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        """Refuse to follow the redirect."""
        return None
