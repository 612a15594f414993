"""Scanning the JSON text ``vllm bench serve`` writes, before and around ``json.loads``.

A ``--save-detailed`` file is mostly per-request arrays of floats that nothing
here reads: they are cut from the text first.  ``--append-result`` files hold
one JSON value after another.  Used by :mod:`wizard.reality.bench_result`.
"""

from __future__ import annotations

import json
from typing import Any

# Per-request arrays of seconds (itls: one list per request).  They are the bulk of a
# --save-detailed file and nothing here uses them, so they are cut from the text before
# json.loads has to parse their floats.
CUT_ARRAYS = ("itls", "ttfts", "start_times", "latencies", "queue_times", "server_queue_times", "server_ttfts")


def cut_number_arrays(body: str) -> str:
    """The JSON text with the value of each CUT_ARRAYS key replaced by null where it is an array of numbers.

    A key is matched only where it is one (after '{' or ',', before ':'); inside a string
    its quotes are escaped.  An array holding a string is left to json.loads.
    """
    for key in CUT_ARRAYS:
        needle = f'"{key}"'
        at = body.find(needle)
        while at >= 0:
            start = _array_after_key(body, at, len(needle))
            end = _array_end(body, start) if start >= 0 else -1
            if end > 0 and body.find('"', start, end) < 0:
                body = body[:start] + "null" + body[end:]
            at = body.find(needle, at + len(needle))
    return body


def _array_after_key(body: str, at: int, length: int) -> int:
    """Where the '[' of the key at ``at`` opens its value; -1 when it is not a key or not an array."""
    before = at - 1
    while before >= 0 and body[before] in " \t\r\n":
        before -= 1
    if before < 0 or body[before] not in "{,":
        return -1
    rest = body[at + length: at + length + 64].lstrip()
    if not rest.startswith(":") or not rest[1:].lstrip().startswith("["):
        return -1
    return body.index("[", at + length)


def _array_end(body: str, start: int) -> int:
    """Just past the ']' that closes the array opening at ``start`` (brackets counted; no strings inside)."""
    depth, at, next_open = 0, start, start
    while True:
        close = body.find("]", at)
        if close < 0:
            return -1
        while 0 <= next_open < close:
            depth += 1
            next_open = body.find("[", next_open + 1)
        depth -= 1
        at = close + 1
        if depth == 0:
            return at


def json_values(body: str) -> list[Any]:
    """Every JSON value in the text, one after another (--append-result writes one per line)."""
    decoder = json.JSONDecoder()
    values: list[Any] = []
    at = 0
    while True:
        while at < len(body) and body[at] in " \t\r\n":
            at += 1
        if at == len(body):
            return values
        value, at = decoder.raw_decode(body, at)
        values.append(value)
