"""The nesting depth of a decrypted notification, read from its JSON text.

:func:`niteoweb.clickbank.ins.decrypt` refuses a plaintext nested deeper than
:data:`MAX_DEPTH`. Pure Python, no Plone.
"""

from typing import Any

#: Deepest JSON nesting accepted in a notification (real ones have about 4).
MAX_DEPTH = 32

# For _nested_too_deeply: keep quotes and brackets (as braces), drop the rest.
_AS_BRACES = bytes.maketrans(b"[]", b"{}")
_NOT_MARKS = bytes(set(range(256)) - set(b'"[]{}'))


def _nested_too_deeply(plaintext: bytes, payload: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether ``payload``, parsed from JSON ``plaintext``, nests deeper than ``limit``.

    Walking the object costs ~2 us per line item, so the text's brackets are
    read instead, at C speed: quotes, backslashes and brackets are never part of
    another character in UTF-8 (or Latin-1). The brackets outside strings bound
    the object's depth from above (a duplicate key can drop a deep value), so
    only a text nested too deeply is walked, for the exact answer.
    """
    if b"\\" in plaintext:  # drop escaped backslashes, then escaped quotes
        plaintext = plaintext.replace(b"\\\\", b"").replace(b'\\"', b"")
    # Keep quotes and brackets. Each quote now opens or closes a string; two
    # adjacent ones put no bracket in or out of a string, so drop them. Quotes
    # still left enclose brackets in strings: drop what they enclose.
    marks = plaintext.translate(_AS_BRACES, _NOT_MARKS).replace(b'""', b"")
    if b'"' in marks:
        marks = b"".join(marks.split(b'"')[::2])
    for _ in range(limit):
        if not marks:
            return False
        marks = marks.replace(b"{}", b"")  # peel off the innermost level
    return bool(marks) and _depth(payload) > limit


def _depth(value: Any, limit: int = 64) -> int:
    """Nesting depth of JSON ``value``; stops counting past ``limit``."""
    depth, level = 0, [value]
    while level and depth <= limit:
        depth += 1
        children = []
        for item in level:
            if isinstance(item, dict):
                children.extend(item.values())
            elif isinstance(item, list):
                children.extend(item)
        level = [c for c in children if isinstance(c, dict | list)]
    return depth
