"""Benchmark-only views for niteoweb.clickbank; loaded only by ``bench/run.py``.

The package is put on the path of the temporary benchmark instance and included
through its ``etc/package-includes``: it never reaches a real site.
"""
