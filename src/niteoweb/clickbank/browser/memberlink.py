"""A link from Plone's user page to the buyer's ClickBank page.

Shown to site managers on ``@@user-information`` of a member the add-on knows
(entitlements or notifications recorded for the member's email).
"""

from urllib.parse import urlencode

from plone import api
from plone.app.layout.viewlets.common import ViewletBase
from Products.Five.browser.pagetemplatefile import ViewPageTemplateFile

from niteoweb.clickbank.members import normalize_email
from niteoweb.clickbank.storage.root import get_storage

USER_PAGE = "user-information"


class BuyerLinkViewlet(ViewletBase):
    """Link to ``@@clickbank-member`` for the member shown on the user page."""

    index = ViewPageTemplateFile("templates/memberlink.pt")

    def update(self):
        """Find the email of the member shown, if the add-on knows it."""
        super().update()
        self.url = None
        if getattr(self.view, "__name__", None) != USER_PAGE:
            return
        userid = self.request.form.get("userid")
        member = api.user.get(userid=userid) if userid else None
        if member is None:
            return
        email = normalize_email(member.getProperty("email"))
        storage = get_storage(create=False)
        if not email or storage is None:
            return
        if email in storage.buyers:
            query = urlencode({"email": email})
            self.url = f"{self.site_url}/@@clickbank-member?{query}"

    def render(self):
        """The link, or nothing."""
        return self.index() if self.url else ""
