"""``@@clickbank``: the URL ClickBank posts Instant Notifications to.

The view only reads the body, decodes it, calls :func:`processing.handle` and maps
the result to an HTTP status. See the status table in the docs.
"""

import json

import transaction
from plone.protect.interfaces import IDisableCSRFProtection
from Products.Five.browser import BrowserView
from ZODB.POSException import ConflictError
from zope.interface import alsoProvides

from niteoweb.clickbank import logger
from niteoweb.clickbank import processing
from niteoweb.clickbank.browser.publication import WEBHOOK_NAMES
from niteoweb.clickbank.errors import BodyTooLargeError
from niteoweb.clickbank.errors import NotConfiguredError
from niteoweb.clickbank.errors import POSTVerificationFailedError
from niteoweb.clickbank.errors import error_body
from niteoweb.clickbank.ins import decode
from niteoweb.clickbank.ins.crypto import MAX_BODY_SIZE
from niteoweb.clickbank.settings import get_settings

NOT_CONFIGURED = "The ClickBank add-on is not configured."
TOO_LARGE = "Request body too large."


class ClickBankView(BrowserView):
    """Receive one notification and answer with a small JSON body."""

    def __call__(self):
        if self.request.method != "POST":
            return self.method_not_allowed()
        settings = get_settings()
        if not settings.secret_keys:
            logger.error("ClickBank notification refused: no secret key is set.")
            return self._error(503, "NotConfigured", NOT_CONFIGURED)
        body = self._body()
        if body is None:
            return self._error(413, "RequestEntityTooLarge", TOO_LARGE)
        try:
            notification = decode(body, settings.secret_keys)
        except BodyTooLargeError:
            return self._error(413, "RequestEntityTooLarge", TOO_LARGE)
        except NotConfiguredError:
            return self._error(503, "NotConfigured", NOT_CONFIGURED)
        except POSTVerificationFailedError as error:
            logger.warning(
                "Invalid ClickBank notification from %s (%s)",
                self.request.getClientAddr(),
                getattr(error, "reason", ""),
            )
            return self._error(400, "InvalidNotification", error.message)

        alsoProvides(self.request, IDisableCSRFProtection)
        try:
            result = processing.handle(notification, settings)
        except ConflictError:
            raise  # Zope retries the whole request
        except Exception:
            transaction.doom()
            logger.exception(
                "ClickBank %s %s failed; nothing was saved and ClickBank will retry",
                notification.transaction_type,
                notification.receipt,
            )
            return self._error(500, "InternalError", "Internal error; please retry.")
        return self._answer(
            200,
            {
                "status": "duplicate" if result.duplicate else "ok",
                "outcome": result.outcome,
                "receipt": notification.receipt,
            },
        )

    def method_not_allowed(self):
        """Answer 405: only POST is accepted."""
        self.request.response.setHeader("Allow", "POST")
        return self._error(405, "MethodNotAllowed", "Only POST is accepted.")

    def _body(self) -> bytes | None:
        """The raw body, or None when it is larger than the limit."""
        length = self.request.getHeader("Content-Length")
        if length and length.isdigit() and int(length) > MAX_BODY_SIZE:
            return None
        stdin = self.request.stdin
        stdin.seek(0)
        body = stdin.read(MAX_BODY_SIZE + 1)
        return None if len(body) > MAX_BODY_SIZE else body

    def _error(self, status: int, kind: str, message: str) -> str:
        """An error answer in plone.restapi's shape."""
        return self._answer(status, error_body(kind, message))

    def _answer(self, status: int, data: dict) -> str:
        response = self.request.response
        response.setStatus(status)
        response.setHeader("Content-Type", "application/json")
        response.setHeader("Cache-Control", "no-store")
        return json.dumps(data)


def publish_like_a_browser(event) -> None:
    """Let the webhook answer any method itself (subscriber of ``IPubStart``).

    Zope takes a PUT, DELETE, PATCH, OPTIONS, … from a client that is not a
    browser for WebDAV, whose traversal fails on a view with an AttributeError
    (a 500 and a traceback per request). Marked as a browser's, the request
    reaches the view, which answers 405.
    """
    path = event.request.get("PATH_INFO", "").rstrip("/")
    if path.rpartition("/")[2] in WEBHOOK_NAMES:
        event.request.maybe_webdav_client = 0
