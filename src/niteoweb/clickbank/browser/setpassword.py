"""``@@clickbank-set-password``: where the welcome mail's link leads.

Public: the token is the credential (:mod:`niteoweb.clickbank.mail.links`). A
valid one leads on to Plone's password form; any other to "Forgot your
password?", with a warning that names no account.
"""

from plone.protect.interfaces import IDisableCSRFProtection
from Products.Five.browser import BrowserView
from Products.statusmessages.interfaces import IStatusMessage
from zope.interface import alsoProvides

from niteoweb.clickbank import _
from niteoweb.clickbank.mail import links


class SetPasswordView(BrowserView):
    """Redirect a welcome mail link to Plone's password form."""

    def __call__(self):
        # A visit may write a Plone reset request, on a GET, anonymously.
        alsoProvides(self.request, IDisableCSRFProtection)
        response = self.request.response
        response.setHeader("Cache-Control", "no-store")
        response.setHeader("Referrer-Policy", "no-referrer")
        # Whatever the query string holds (a list for a repeated ``token``, say).
        url = links.reset_url(self.request.form.get("token"))
        if url is None:
            IStatusMessage(self.request).addStatusMessage(
                _(
                    "This link has expired or was already used. Enter your email "
                    "address to get a new one."
                ),
                "warning",
            )
            url = self.context.absolute_url() + "/mail_password_form"
        response.redirect(url)
        return ""
