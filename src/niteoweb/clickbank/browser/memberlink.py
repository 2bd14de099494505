"""A link from Plone's user page to the buyer's ClickBank page.

Shown to site managers on ``@@user-information`` of a member the add-on knows
(entitlements or notifications recorded for the member's email).
"""

from urllib.parse import urlencode

from plone import api
from plone.app.layout.viewlets.common import ViewletBase
from Products.Five.browser.pagetemplatefile import ViewPageTemplateFile

from niteoweb.clickbank.members import normalize_email
from niteoweb.clickbank.storage.root import read_storage


class BuyerLinkViewlet(ViewletBase):
    """Link to ``@@clickbank-member`` for the member shown on the user page."""

    index = ViewPageTemplateFile("templates/memberlink.pt")
    url = None

    def update(self):
        """Find the email of the member shown, if the add-on knows it."""
        super().update()
        userid = self.request.form.get("userid")
        if getattr(self.view, "__name__", None) != "user-information" or not userid:
            return
        member = api.user.get(userid=userid)
        if member is None:
            return
        email = normalize_email(member.getProperty("email"))
        if email in read_storage().buyers:
            query = urlencode({"email": email})
            self.url = f"{self.site_url}/@@clickbank-member?{query}"
