"""``@@clickbank-expire``: see what the expiry sweep would do, and run it.

GET shows what is due now (a dry run); POST with plone.protect's token runs the
sweep (``dry_run=1`` only reports). With ``Accept: application/json`` or
``?format=json`` the answer is ``{"due", "revoked", "dry_run", "blanked"}``, for a
cron job calling the running server (the administrator's guide shows one).
"""

import json
from datetime import UTC

from plone.protect import CheckAuthenticator
from Products.Five.browser import BrowserView
from Products.Five.browser.pagetemplatefile import ViewPageTemplateFile
from zExceptions import Forbidden

from niteoweb.clickbank import sweep
from niteoweb.clickbank.errors import error_body
from niteoweb.clickbank.settings import get_settings
from niteoweb.clickbank.storage.orders import get_entitlement
from niteoweb.clickbank.storage.root import read_storage


class ExpireView(BrowserView):
    """Classic UI page and JSON endpoint of the expiry and retention sweep."""

    template = ViewPageTemplateFile("templates/sweep.pt")

    def __call__(self):
        method = self.request.method
        if method not in ("GET", "HEAD", "POST"):
            self.request.response.setHeader("Allow", "GET, HEAD, POST")
            return self._error(405, "MethodNotAllowed", "Use GET or POST.")
        dry_run = method != "POST" or bool(self.request.form.get("dry_run"))
        if method == "POST":
            try:
                CheckAuthenticator(self.request)
            except Forbidden:
                if not self.wants_json:
                    raise
                return self._error(403, "Forbidden", "Missing or invalid CSRF token.")
        self.settings = get_settings()
        self.report = sweep.run(self.settings, dry_run=dry_run)
        if self.wants_json:
            return self._json(200, self.summary)
        return self.template()

    @property
    def wants_json(self) -> bool:
        """Whether the client asked for JSON (``format=json`` or Accept header)."""
        accept = self.request.getHeader("Accept") or ""
        return self.request.form.get("format") == "json" or "application/json" in accept

    @property
    def summary(self) -> dict:
        """The counts of the report, as in the JSON answer."""
        return {
            "due": len(self.report.due),
            "revoked": self.report.revoked,
            "dry_run": self.report.dry_run,
            "blanked": self.report.blanked,
        }

    @property
    def posted(self) -> bool:
        """Whether this request ran the sweep (a POST, dry run or not)."""
        return self.request.method == "POST"

    def due_rows(self) -> list[dict]:
        """The due entitlements for the page: receipt, item, product, state, date."""
        storage = read_storage()
        rows = []
        for receipt, item_no in self.report.due:
            entitlement = get_entitlement(storage, receipt, item_no)
            valid_until = entitlement.valid_until
            if valid_until is not None:
                valid_until = valid_until.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
            rows.append(
                {
                    "receipt": receipt,
                    "item_no": item_no,
                    "product": entitlement.product_title,
                    "state": entitlement.state,
                    "valid_until": valid_until or "",
                }
            )
        return rows

    def _json(self, status: int, body: dict) -> str:
        response = self.request.response
        response.setStatus(status)
        response.setHeader("Content-Type", "application/json")
        return json.dumps(body)

    def _error(self, status: int, kind: str, message: str) -> str:
        if self.wants_json:
            return self._json(status, error_body(kind, message))
        self.request.response.setStatus(status)
        self.request.response.setHeader("Content-Type", "text/plain; charset=utf-8")
        return message
