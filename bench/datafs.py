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


def breakdown(path: str, offsets: dict[str, list[int]]) -> dict[str, dict]:
    """Mean bytes and objects per request of each kind, by class.

    ``offsets``: for each kind, the Data.fs sizes seen before its requests.
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
                bytes_by[kind][f"{module}.{name}"] += len(record.data) + DATA_HDR_LEN
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
