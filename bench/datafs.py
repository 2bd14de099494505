"""Where the bytes of a transaction go: Data.fs records grouped by class.

Reads the FileStorage file directly (append-only, safe while Zope runs) and
attributes each object record to the request whose transaction starts at the
Data.fs offset the client saw just before posting it.
"""

from collections import Counter
from collections import defaultdict

from ZODB.FileStorage import FileIterator
from ZODB.FileStorage.format import DATA_HDR_LEN
from ZODB.utils import get_pickle_metadata

#: Prefix of the class name of an object of the add-on whose class Plone uses too.
ADDON = "niteoweb.clickbank "


def breakdown(
    path: str, offsets: dict[str, list[int]], ours: frozenset = frozenset()
) -> dict[str, dict]:
    """Mean bytes and objects per request of each kind, by class.

    ``offsets``: for each kind, the Data.fs sizes seen before its requests
    that wrote something (a request that wrote nothing shares its offset with
    the next one). ``ours``: oids of the add-on's objects of classes Plone uses
    too (buckets, counters); they are counted as ``"niteoweb.clickbank <class>"``.
    Returns ``{kind: {"objects": n, "classes": {class: bytes}}}`` (means).
    """
    kind_at = {offset: kind for kind, values in offsets.items() for offset in values}
    bytes_by = defaultdict(Counter)
    objects_by = Counter()
    transactions = Counter()
    iterator = FileIterator(path, pos=min(kind_at, default=4))
    try:
        for txn in iterator:
            kind = kind_at.get(txn._tpos)
            if kind is None:
                continue
            transactions[kind] += 1
            for record in txn:
                if record.data is None:
                    continue
                module, name = get_pickle_metadata(record.data)
                owner = ADDON if record.oid in ours else ""
                size = len(record.data) + DATA_HDR_LEN
                bytes_by[kind][f"{owner}{module}.{name}"] += size
                objects_by[kind] += 1
    finally:
        iterator.close()
    result = {}
    for kind, count in transactions.items():
        classes = {name: size / count for name, size in bytes_by[kind].most_common()}
        result[kind] = {
            "transactions": count,
            "objects": objects_by[kind] / count,
            "classes": classes,
        }
    return result


def addon_bytes(growth: dict) -> float:
    """Mean bytes per request of the add-on's own objects in a breakdown entry."""
    return sum(
        size
        for name, size in growth["classes"].items()
        if name.startswith("niteoweb.clickbank")
    )
