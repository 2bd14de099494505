"""``clickbank-expire``: the expiry and retention sweep, from cron.

A FileStorage cannot be opened while the Zope server holds it: then serve it
through ZEO, or let cron POST to the server's ``@@clickbank-expire`` (the
administrator's guide shows both).
"""

import argparse
import logging
import sys

import transaction
from AccessControl.SecurityManagement import getSecurityManager
from AccessControl.SecurityManagement import newSecurityManager
from AccessControl.SecurityManagement import setSecurityManager
from AccessControl.users import UnrestrictedUser
from plone.base.interfaces import IPloneSiteRoot
from zope.component import hooks

from niteoweb.clickbank import PACKAGE_NAME
from niteoweb.clickbank import logger
from niteoweb.clickbank import sweep
from niteoweb.clickbank.settings import get_settings

#: How often a sweep that hit a ZODB conflict is tried in all.
ATTEMPTS = 3


def open_app(zope_conf: str):
    """Configure Zope from ``zope_conf``, open its database; return the root.

    The root carries a request (as in ``zconsole``). Raises what ZConfig or the
    storage raise, e.g. ``zc.lockfile.LockError`` for a FileStorage in use.
    """
    import Zope2
    from Testing.makerequest import makerequest
    from zope.globalrequest import setRequest
    from Zope2.Startup.run import configure_wsgi

    configure_wsgi(zope_conf)
    app = makerequest(Zope2.app())
    app.REQUEST["PARENTS"] = [app]
    setRequest(app.REQUEST)
    return app


def close_app(app) -> None:
    """Abort what is left of the transaction and close the database."""
    transaction.abort()
    app._p_jar.close()
    app._p_jar.db().close()


def sweep_site(app, site_id: str = "Plone", dry_run: bool = False, now=None):
    """Run the sweep on a site as a Manager and commit; return the report.

    The sweep runs in a transaction of its own; a dry run commits nothing. A
    ``ConflictError`` is retried :data:`ATTEMPTS` times in all, then raised.
    Raises ``LookupError`` if there is no such site.
    """
    site = app.unrestrictedTraverse(site_id.strip("/"), None)
    if site is None or not IPloneSiteRoot.providedBy(site):
        raise LookupError(f"no Plone site {site_id!r} in this database")
    caller = getSecurityManager()
    user = UnrestrictedUser("clickbank-expire", "", ("Manager",), ())
    newSecurityManager(None, user.__of__(app.acl_users))
    try:
        with hooks.site(site):
            for number, attempt in enumerate(transaction.manager.attempts(ATTEMPTS), 1):
                if number > 1:
                    logger.warning(
                        "ClickBank sweep: database conflict, retrying (%d/%d)",
                        number,
                        ATTEMPTS,
                    )
                with attempt:  # commits, or aborts and retries on a conflict
                    report = sweep.run(get_settings(), now=now, dry_run=dry_run)
                    if dry_run:
                        transaction.abort()  # the attempt then commits nothing
    finally:
        setSecurityManager(caller)
    return report


def main(argv: list[str] | None = None) -> int:
    """Console entry point; returns the exit code (0 done, 1 failed)."""
    parser = argparse.ArgumentParser(
        prog="clickbank-expire",
        description="Expire lapsed ClickBank access and blank old customer data.",
    )
    parser.add_argument("zope_conf", metavar="ZOPE_CONF", help="path to zope.conf")
    parser.add_argument("--site", default="Plone", help="id of the Plone site")
    parser.add_argument(
        "--dry-run", action="store_true", help="report only, change nothing"
    )
    parser.add_argument(
        "--verbose", action="store_true", help="log each revocation (no customer data)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    if args.verbose:
        logging.getLogger(PACKAGE_NAME).setLevel(logging.INFO)
    try:
        app = open_app(args.zope_conf)
    except Exception as error:  # noqa: BLE001 - any reason: report and fail
        print(
            f"clickbank-expire: cannot open {args.zope_conf}: {error}", file=sys.stderr
        )
        return 1
    try:
        report = sweep_site(app, args.site, dry_run=args.dry_run)
    except LookupError as error:
        print(f"clickbank-expire: {error}", file=sys.stderr)
        return 1
    except Exception:  # noqa: BLE001 - the traceback goes to stderr
        logger.exception("clickbank-expire: the sweep failed; nothing was saved")
        return 1
    finally:
        close_app(app)
    print(
        f"clickbank-expire: {'dry run: ' if report.dry_run else ''}"
        f"{len(report.due)} entitlement(s) due, {report.revoked} member(s) lost "
        f"access, {report.blanked} log record(s) blanked"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
