"""Cost of ``ins.decode`` against its lower bound: raw AES-CBC plus a JSON parse.

Pure Python, in the benchmark's own process: no Zope involved.
"""

import base64
import json
import timeit

import plan
from Crypto.Cipher import AES

from niteoweb.clickbank import ins
from niteoweb.clickbank.ins.crypto import decrypt
from niteoweb.clickbank.ins.crypto import derive_key
from niteoweb.clickbank.ins.crypto import encrypt
from niteoweb.clickbank.ins.parse import parse
from niteoweb.clickbank.scripts.notify import build_notification


def payload_of_size(size: int) -> dict:
    """A realistic notification grown to ``size`` bytes of JSON with line items."""
    items = [str(n) for n in range(1, 2 + size // 700)]
    payload = build_notification(vendor=plan.VENDOR, items=items, recurring=True)
    while True:
        text = json.dumps(payload, ensure_ascii=False)
        if len(payload["lineItems"]) > 1 and len(text) > size:
            payload["lineItems"].pop()
            continue
        break
    payload["vendorVariables"] = {"pad": "x" * max(0, size - len(text) - 30)}
    return payload


def _interleaved_best_us(variants: dict, seconds: float, rounds: int = 15) -> dict:
    """Microseconds per call of each variant: best batch over interleaved rounds.

    Variants take turns batch by batch, so a burst of load from a neighbour
    hits all of them alike; the best batch of each is its cost undisturbed.
    """
    numbers = {}
    for name, function in variants.items():
        number, _ = timeit.Timer(function).autorange()  # ~0.2 s worth of calls
        numbers[name] = max(1, int(number * seconds / rounds / 0.2))
    best = dict.fromkeys(variants, float("inf"))
    names = list(variants)
    for round_no in range(rounds):
        shift = round_no % len(names)
        for name in names[shift:] + names[:shift]:
            elapsed = timeit.Timer(variants[name]).timeit(numbers[name])
            best[name] = min(best[name], elapsed / numbers[name] * 1e6)
    return best


def measure(size: int, seconds: float = 2.0) -> dict:
    """Decode cost for a payload of ``size`` bytes, and its lower bounds."""
    payload = payload_of_size(size)
    body = encrypt(payload, plan.SECRET_KEY)
    envelope = json.loads(body)
    ciphertext = base64.b64decode(envelope["notification"])
    iv = base64.b64decode(envelope["iv"])
    key = derive_key(plan.SECRET_KEY)
    plaintext = AES.new(key, AES.MODE_CBC, iv).decrypt(ciphertext)
    text = plaintext[: -plaintext[-1]].decode()
    keys = (plan.SECRET_KEY,)
    best = _interleaved_best_us(
        {
            "decode": lambda: ins.decode(body, keys),
            "decrypt": lambda: decrypt(body, keys),
            "json+parse": lambda: parse(json.loads(text)),
            "aes": lambda: AES.new(key, AES.MODE_CBC, iv).decrypt(ciphertext),
            "json": lambda: json.loads(text),
        },
        seconds,
    )
    return {
        "plaintext_bytes": len(text.encode()),
        "body_bytes": len(body),
        "line_items": len(payload["lineItems"]),
        "decode_us": best["decode"],
        "decrypt_us": best["decrypt"],
        "parse_us": best["json+parse"] - best["json"],
        "aes_us": best["aes"],
        "json_us": best["json"],
        "ratio": best["decode"] / (best["aes"] + best["json"]),
    }
