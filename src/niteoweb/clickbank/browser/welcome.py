"""``@@clickbank-welcome-again``: the buyer page's "Send the welcome mail again".

For site managers: a POST with plone.protect's token, ``member`` (a member id)
and ``language`` (an order language, e.g. ``DE``). The new mail has a new link;
the first mail's link works until the buyer chooses a password or logs in.
"""

from urllib.parse import urlencode

from plone import api
from plone.protect import CheckAuthenticator
from Products.Five.browser import BrowserView
from zExceptions import MethodNotAllowed

from niteoweb.clickbank import _
from niteoweb.clickbank.mail import send
from niteoweb.clickbank.mail import texts


class WelcomeAgainView(BrowserView):
    """Send the welcome mail again; back to the buyer page with a message."""

    @property
    def languages(self) -> list[dict]:
        """The languages the mail can be sent in, for the buyer page's form."""
        return [{"code": code, "name": name} for code, name in texts.LANGUAGES.items()]

    def __call__(self):
        if self.request.method != "POST":
            raise MethodNotAllowed("POST only")
        CheckAuthenticator(self.request)
        userid = self.request.form.get("member")
        member = api.user.get(userid=userid) if isinstance(userid, str) else None
        email = member.getProperty("email") if member is not None else None
        portal_url = api.portal.get().absolute_url()
        if not email:
            api.portal.show_message(
                _("There is no such member."), self.request, type="warning"
            )
            return self.request.response.redirect(f"{portal_url}/@@clickbank-log")
        language = self.request.form.get("language")
        if send.welcome(member, language if isinstance(language, str) else None):
            api.portal.show_message(
                _(
                    "The welcome mail to ${email} is being sent again.",
                    mapping={"email": email},
                ),
                self.request,
            )
        else:
            api.portal.show_message(
                _("No mail was sent: the site has no sender address."),
                self.request,
                type="error",
            )
        query = urlencode({"email": email})
        return self.request.response.redirect(
            f"{portal_url}/@@clickbank-member?{query}"
        )
