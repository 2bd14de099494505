"""Create (or update) the Plone site of ``make start``; run with zconsole.

    bin/zconsole run instance/etc/zope.conf scripts/create_site.py

Idempotent: a site that exists is kept, and only the add-on installation and the
mail settings are made sure of. The MailHost's queue is on, in the instance's
``var/mailqueue``: Zope delivers from it and retries while the SMTP server is
down. Environment: SITE_ID, ADMIN_USER, SMTP_HOST, SMTP_PORT, MAIL_FROM,
CLICKBANK_SECRET_KEY (optional: sets the secret key; the registry record keeps
it sealed).
"""

import os
from pathlib import Path

import transaction
from AccessControl.SecurityManagement import newSecurityManager
from App.config import getConfiguration
from plone import api
from plone.base.utils import get_installer
from Products.CMFPlone.factory import addPloneSite
from Testing.makerequest import makerequest
from zope.component.hooks import setSite

ADDON = "niteoweb.clickbank"
EXTENSIONS = (
    "plone.app.contenttypes:default",
    "plonetheme.barceloneta:default",
    "plone.restapi:default",
)


def main(app) -> None:
    """Create the site if needed and configure it for local use."""
    app = makerequest(app)
    site_id = os.environ.get("SITE_ID", "Plone")
    admin = app.acl_users.getUser(os.environ.get("ADMIN_USER", "admin"))
    newSecurityManager(None, admin.__of__(app.acl_users))

    if site_id not in app.objectIds():
        print(f"Creating the Plone site {site_id!r} …")
        addPloneSite(
            app,
            site_id,
            title="ClickBank memberships",
            extension_ids=EXTENSIONS,
            setup_content=True,
            default_language="en",
        )
    site = app[site_id]
    setSite(site)
    with api.env.adopt_user(user=admin):
        # A site created from a distribution ignores extension ids: install here.
        if not get_installer(site).is_product_installed(ADDON):
            api.addon.install(ADDON)
        if not api.portal.get_registry_record("plone.email_from_address"):
            api.portal.set_registry_record(
                "plone.email_from_address",
                os.environ.get("MAIL_FROM", "memberships@localhost"),
            )
            api.portal.set_registry_record("plone.email_from_name", site.Title())
        api.portal.set_registry_record(
            "plone.smtp_host", os.environ.get("SMTP_HOST", "127.0.0.1")
        )
        api.portal.set_registry_record(
            "plone.smtp_port", int(os.environ.get("SMTP_PORT", "8025"))
        )
        mailhost = api.portal.get_tool("MailHost")
        mailhost.smtp_queue = True
        mailhost.smtp_queue_directory = str(
            Path(getConfiguration().clienthome) / "mailqueue"
        )
        secret = os.environ.get("CLICKBANK_SECRET_KEY")
        if secret:
            api.portal.set_registry_record("niteoweb.clickbank.secret_key", secret)
    transaction.commit()
    print(f"Site {site_id!r} ready; {ADDON} installed.")


main(app)  # noqa: F821 - zconsole provides ``app``
