"""Reading JSON that a user or a run directory supplies: one helper, one set of clear errors.

Every JSON genorm reads (``--config``, a run's ``config.json`` / ``provenance.json`` /
``backup/state.json``, the ``TF_CONFIG`` environment variable) goes through :func:`parse_json`
or :func:`read_json_file`, so that bytes that are not UTF-8, text that is not JSON, nesting
too deep for the parser (``RecursionError``), numbers too long to convert, and a value of the
wrong type are each one :class:`~genorm.errors.GenormError` that names the source, never a
traceback.

>>> parse_json('{"units": 8}', "--config c.json")
{'units': 8}
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from genorm.errors import ConfigError, GenormError

MAX_BYTES = 1 << 28
"""A JSON file larger than this (256 MiB) is refused before it is read."""


class _DuplicateKey(Exception):
    """A key repeated in one JSON object (``json`` would keep the last value without a word)."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict:
    out: dict = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def parse_json(text: str | bytes, what: str, error: type[GenormError] = ConfigError, expect: type | None = dict,
               hint: str = "") -> Any:
    """``text`` parsed as JSON; ``what`` names its source in errors (e.g. "--config c.json").

    Args:
        text: the JSON text, or its bytes (decoded as UTF-8; a byte-order mark is accepted).
        what: the source, as the error message should name it.
        error: the :class:`GenormError` subclass to raise.
        expect: the type the top-level value must have (``None``: any).
        hint: appended to every message: what the user should do.

    Raises:
        ``error``: not UTF-8, not JSON, a key twice in one object, nested too deeply, or not of type
        ``expect``.
    """
    end = f" {hint}" if hint else ""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise error(f"{what} is not UTF-8 text (byte 0x{text[exc.start]:02x} at offset {exc.start}); "
                        f"save it as UTF-8 JSON.{end}") from None
    try:
        obj = json.loads(text, object_pairs_hook=_unique_keys)
    except _DuplicateKey as exc:
        raise error(f"{what} has the key {exc.args[0]!r} twice in one object: only one value would be used, silently. "
                    f"Keep one.{end}") from None
    except json.JSONDecodeError as exc:
        raise error(f"{what} is not valid JSON: {exc}.{end}") from None
    except RecursionError:
        raise error(f"{what} is nested too deeply to be read (JSON arrays/objects inside each other beyond "
                    f"Python's recursion limit); genorm never writes such JSON.{end}") from None
    except ValueError as exc:  # e.g. an integer literal with more than 4300 digits
        raise error(f"{what} cannot be read as JSON: {exc}.{end}") from None
    if expect is not None and not isinstance(obj, expect):
        raise error(f"{what} must hold a JSON {_json_type(expect)}, got {_json_type(type(obj))}.{end}")
    return obj


def read_json_file(path: str | os.PathLike, what: str, error: type[GenormError] = ConfigError,
                   expect: type | None = dict, hint: str = "") -> Any:
    """The JSON in file ``path`` (see :func:`parse_json`); an unreadable file is ``error`` too."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_BYTES:
            raise error(f"{what} is {path.stat().st_size:,} bytes: too large for a JSON file genorm reads "
                        f"(at most {MAX_BYTES:,}).{' ' + hint if hint else ''}")
        data = path.read_bytes()
    except OSError as exc:
        raise error(f"Cannot read {what}: {exc.strerror or exc}.{' ' + hint if hint else ''}") from None
    return parse_json(data, what, error, expect, hint)


def _json_type(t: type) -> str:
    return {dict: "object", list: "array", str: "string", int: "number", float: "number", bool: "true/false",
            type(None): "null"}.get(t, t.__name__)
