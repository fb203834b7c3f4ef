"""Atomic file output: write to a temporary file beside the target, rename when complete.

A reader never sees a half-written file under the final name; an interrupted or failed
write leaves the previous file (if any) intact and no temporary file behind.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from genorm.errors import GenormError, OutputFileError


_UMASK = os.umask(0)
os.umask(_UMASK)


_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM, errno.EISDIR}
"""Failures of writing the temporary file that are about the output location, not the data."""


def check_output(path: str | os.PathLike, inputs=()) -> Path:
    """``path`` as a Path if a file can be written there; else an :class:`OutputFileError` naming it.

    Called before long work, so that a bad ``--output`` fails at once, not after the work.
    ``inputs``: files the command reads; writing over one of them is refused (it would replace
    the genome with the predictions made from it).
    """
    path = Path(path)
    for source in inputs:
        if source != "-" and path.exists() and Path(source).exists() and os.path.samefile(path, source):
            raise OutputFileError(f"Cannot write {path}: it is an input of this command ({source}) and would be "
                                  "overwritten. Choose another output path.")
    if path.is_dir():
        raise OutputFileError(f"Cannot write {path}: it is a directory. Give a file path, not a directory.")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:  # the folders that would be created
        parent = parent.parent
    if not parent.is_dir():
        raise OutputFileError(f"Cannot write {path}: {parent} is not a directory.")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputFileError(f"Cannot write {path}: permission denied in {parent}. Choose another output path.")
    return path


def _cannot_write(path: Path, exc: OSError) -> OutputFileError:
    return OutputFileError(f"Cannot write {path}: {exc.strerror or exc}. Choose another output path or free "
                           "some space; nothing was written under that name.")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yields a temporary path in the target's directory; renamed over ``path`` on success.

    ``suffix`` is appended to the temporary name, for writers that insist on an extension
    (Keras wants ``.keras`` / ``.weights.h5``). The file gets the usual permissions (0666 less
    the umask), not mkstemp's 0600.

    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
    >>> with atomic_path(target) as tmp:
    ...     _ = tmp.write_text("done")
    >>> target.read_text()
    'done'
    """
    path = check_output(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{suffix}", dir=path.parent)
    except OSError as exc:
        raise _cannot_write(path, exc) from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_UMASK)
        os.replace(tmp_path, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        if isinstance(exc, OSError) and not isinstance(exc, GenormError) and exc.errno in _WRITE_ERRNOS:
            raise _cannot_write(path, exc) from None
        raise


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **kwargs) -> Iterator[IO]:
    """``open()`` for writing, atomically (see :func:`atomic_path`); the data is fsync'ed before the rename."""
    with atomic_path(path) as tmp:
        with open(tmp, mode, **kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
