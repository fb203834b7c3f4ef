"""SHA-256 of input files, computed once and remembered.

A run's ``provenance.json`` records each input's size and SHA-256, and the genome cache is keyed
on the SHA-256 too, so every command that re-reads a genome needs it. Hashing a few GB takes
seconds, so the result is remembered in a small JSON file, keyed by the file's absolute path and
its ``size``, ``mtime_ns``, ``ctime_ns``, inode and device. ``ctime`` is in the key because a
user can restore an edited file's ``mtime`` (``touch -d``, ``os.utime``) but not its ``ctime``:
the kernel sets it on every change, including the restoring of ``mtime``.

*Racily clean files* (git's term): timestamps have a granularity, so a file changed within the
same tick as it was hashed could keep every field of the key. A hash is therefore remembered
only when the file's ``mtime`` and ``ctime`` are at least :data:`RACY_NS` older than the moment
hashing began; a file that was just written is simply hashed again next time.

Where the file lives: ``$GENORM_CACHE/file-hashes.json``; without ``GENORM_CACHE``,
``$XDG_CACHE_HOME/genorm/`` (default ``~/.cache/genorm/``). ``GENORM_CACHE=off`` (or empty)
turns remembering off. The file is written atomically (a temporary file, then ``os.replace``);
a missing, unreadable or corrupt file is ignored (everything is hashed again), never an error,
and a cache directory that cannot be written only costs speed.

>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "x.fa"
>>> _ = p.write_text(">a\\nACGT\\n")
>>> sha256_of(p)[:16]
'ec93753459551ffa'
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
import time
from pathlib import Path

logger = logging.getLogger(__name__)

CACHE_ENV = "GENORM_CACHE"
HASHES_FILE = "file-hashes.json"
FORMAT = "genorm-file-hashes-v1"
RACY_NS = 2_000_000_000
"""A file changed less than this long before it was hashed is not remembered (see the module docstring)."""
MAX_ENTRIES = 2000
_CHUNK = 1 << 22


def cache_file() -> Path | None:
    """The JSON file hashes are remembered in, or None when ``GENORM_CACHE`` is ``off`` or empty."""
    value = os.environ.get(CACHE_ENV)
    if value is not None:
        return None if value.strip().lower() in ("", "off", "0", "none") else Path(value) / HASHES_FILE
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "genorm" / HASHES_FILE


def _key(st: os.stat_result) -> dict:
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "ctime_ns": st.st_ctime_ns, "inode": st.st_ino,
            "device": st.st_dev}


def _read_entries(path: Path | None) -> dict:
    if path is None:
        return {}
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        if not isinstance(exc, FileNotFoundError):
            logger.debug("ignoring the file-hash cache %s (%s)", path, exc)
        return {}
    entries = obj.get("files") if isinstance(obj, dict) and obj.get("format") == FORMAT else None
    return entries if isinstance(entries, dict) else {}


def _write_entries(path: Path, entries: dict) -> None:
    if len(entries) > MAX_ENTRIES:  # keep the most recently hashed
        newest = sorted(entries.items(), key=lambda kv: kv[1].get("hashed_ns", 0) if isinstance(kv[1], dict) else 0)
        entries = dict(newest[-MAX_ENTRIES:])
    text = json.dumps({"format": FORMAT, "files": entries}, indent=0)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except OSError as exc:  # a cache that cannot be written only costs speed
        logger.debug("cannot write the file-hash cache %s (%s)", path, exc)
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def _hash(path: Path) -> tuple[str, os.stat_result, os.stat_result]:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        before = os.fstat(fh.fileno())
        while block := fh.read(_CHUNK):
            h.update(block)
        after = os.fstat(fh.fileno())
    return h.hexdigest(), before, after


def sha256_of(path: str | os.PathLike) -> str:
    """Hex SHA-256 of the file at ``path``, remembered while the file is unchanged (see above).

    Raises:
        OSError: the file cannot be read.
    """
    resolved = str(Path(path).resolve())
    store = cache_file()
    entries = _read_entries(store)
    st = os.stat(resolved)
    entry = entries.get(resolved)
    if isinstance(entry, dict) and isinstance(entry.get("sha256"), str) and \
            {k: entry.get(k) for k in _key(st)} == _key(st):
        return entry["sha256"]
    started = time.time_ns()
    digest, before, after = _hash(Path(resolved))
    stable = _key(before) == _key(after) == _key(os.stat(resolved))
    old_enough = max(after.st_mtime_ns, after.st_ctime_ns) < started - RACY_NS
    if store is not None and stable and old_enough:
        entries = _read_entries(store)  # another process may have added entries meanwhile
        entries[resolved] = {**_key(after), "sha256": digest, "hashed_ns": started}
        _write_entries(store, entries)
    return digest
