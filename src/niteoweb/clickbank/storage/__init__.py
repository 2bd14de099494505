"""The add-on's data in the site, as BTrees.

``root`` (the persistent root in the site's annotations), ``orders`` (orders,
their entitlements and buyers), ``expiry`` (the expiry index), ``log`` (the
notification log and its idempotency rule), ``filters`` and ``queries`` (the
log as the views and REST services read it).
"""
