"""Set the product list of a site and create its groups; run with zconsole.

    zconsole run etc/zope.conf tests/configure_site.py

Environment: SITE_ID, PRODUCTS (product lines, one per line: ``item | group``).
Used by the tests that run real instances (see ``tests/instances.py``).
"""

import os

import transaction
from plone import api
from zope.component.hooks import setSite

from niteoweb.clickbank.products import parse_product_lines


def main(app) -> None:
    """Store the product lines and create the groups they name."""
    site = app[os.environ.get("SITE_ID", "Plone")]
    setSite(site)
    lines = [line.strip() for line in os.environ["PRODUCTS"].splitlines()]
    lines = [line for line in lines if line]
    rules = parse_product_lines(lines)
    with api.env.adopt_roles(["Manager"]):
        api.portal.set_registry_record("niteoweb.clickbank.products", lines)
        for group in sorted({g for rule in rules.values() for g in rule.groups}):
            if api.group.get(groupname=group) is None:
                api.group.create(groupname=group, title=group)
    transaction.commit()
    print(f"{len(lines)} product line(s) set.")


main(app)  # noqa: F821 - zconsole provides ``app``
