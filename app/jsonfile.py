"""Parsing JSON from files a user hands us: every way it can fail becomes one StudioError line.

Python's json module raises RecursionError for deep nesting (100,000 '[' is enough), ValueError for
integers over 4,300 digits. Presets, weights headers, RTXNS JSON and sidecars all read through here, so
each fix is made once. (NaN and Infinity are accepted as Python reads them: the range checks of each
section refuse them where a number must be finite.)
"""
from __future__ import annotations

import json

from .errors import StudioError


def parse_json(data: bytes | str, name: str, *, bom: bool = False) -> object:
    """The JSON document in ``data``; ``name`` goes into the message. ``bom`` accepts a UTF-8 byte-order mark."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig" if bom else "utf-8")
        except UnicodeDecodeError:
            raise StudioError(f"{name} is not UTF-8 text") from None
    try:
        return json.loads(data)
    except json.JSONDecodeError as err:
        raise StudioError(f"{name} is not valid JSON: {err.msg} at line {err.lineno}") from None
    except RecursionError:
        raise StudioError(f"{name} is not valid JSON: nested too deeply") from None
    except ValueError as err:  # integers of 4300+ digits
        reason = str(err).splitlines()[0][:100]
        raise StudioError(f"{name} is not valid JSON: {reason}") from None


def shown(value: object, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, for messages about values read from files."""
    try:
        text = repr(value)
    except RecursionError:  # a value nested nearly as deep as the parser allows
        return "<a deeply nested value>"
    return text if len(text) <= limit else text[:limit - 3] + "..."
