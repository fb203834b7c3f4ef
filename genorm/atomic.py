"""Atomic file output: write to a temporary file beside the target, rename when complete.

A reader never sees a half-written file under the final name; an interrupted or failed
write leaves the previous file (if any) intact and no temporary file behind.

The rules every output of genorm follows (``docs/robustness.md``, "Rules for -o / --out"):

* ``-`` is standard output, for text outputs (:func:`atomic_open` in a text mode,
  :func:`atomic_write_text`); a binary output (a figure, a model) needs a file name.
* An empty path is an error, never a silent default.
* A symbolic link is written *through*: the link is kept and its target is replaced
  atomically (the temporary file is made beside the target, on the target's file system).
* An existing device or FIFO (``/dev/null``, ``/dev/stdout``, a named pipe) is written
  directly: renaming over it would destroy it. Block devices are refused.
* Text a user supplies that lands in a field of a text output (a record name in a TSV, bedGraph
  or FASTA header; ``generate --name``) may not contain whitespace or control characters
  (:func:`check_field`): refused, never silently changed. Free text (a FASTA description)
  has its control characters escaped (:func:`escape_text`), so it stays on its line.
* Nothing is written under ``/proc`` or ``/sys``, over a directory, below a regular file, over
  one of the command's inputs (same file however named: symlink, hard link, ``../``), or over a
  file of a run directory the command reads (see :func:`check_output`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from genorm.errors import GenormError, OutputFileError


_UMASK = os.umask(0)
os.umask(_UMASK)

STDOUT = "-"
"""The output path that means standard output (text outputs only)."""

_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM, errno.EISDIR,
                 errno.ENOTDIR}
"""Failures of writing the temporary file that are about the output location, not the data."""

_H5_ERRNO = re.compile(r"errno = (\d+)")
"""h5py reports a failed write as ``RuntimeError``/``OSError`` with "errno = 28" inside its message."""

_PSEUDO_FS = (Path("/proc"), Path("/sys"))


def is_stdout(path: str | os.PathLike | None) -> bool:
    """True if ``path`` is ``-``, standard output."""
    return path is not None and os.fspath(path) == STDOUT


def _special(path: Path) -> bool:
    """True for an existing character device, FIFO or socket (written directly, never renamed over)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    if stat.S_ISBLK(mode):
        raise OutputFileError(f"Cannot write {path}: it is a block device. Choose an output file.")
    return stat.S_ISCHR(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


def _same_file(a: Path, b: str | os.PathLike) -> bool:
    """``a`` and ``b`` are one file: same device and inode (hard links, symlinks), or the same resolved path."""
    try:
        sa, sb = os.stat(a), os.stat(b)
        if (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino):
            return True
    except OSError:
        pass
    return os.path.realpath(a) == os.path.realpath(b)


def _is_stdin(path: Path) -> bool:
    """True if ``path`` is the file standard input is (``< FILE``): same device and inode."""
    try:
        si, sp = os.fstat(0), os.stat(path)
    except (OSError, ValueError):
        return False
    return stat.S_ISREG(si.st_mode) and (si.st_dev, si.st_ino) == (sp.st_dev, sp.st_ino)


def _check_not_protected(target: Path, protected: Iterable[str | os.PathLike]) -> None:
    """Refuse ``target`` if it is, lies inside, or is a link of one of the ``protected`` paths (the files
    of a run directory the command reads: :func:`genorm.rundir.run_files`)."""
    protected = [Path(p) for p in protected]
    for p in protected:
        place = Path(os.path.realpath(p.parent)) / p.name  # the path itself, not what a symlink points to
        if target == place or target.is_relative_to(place) or (
                target.exists() and p.is_file() and _same_file(target, p)):
            owner = os.path.commonpath([str(q.parent) for q in protected])
            raise OutputFileError(f"Cannot write {target}: it is a file of the run directory {owner}, which "
                                  "this command reads; writing it would destroy the run. Choose an output path "
                                  "outside the run's files.")


def check_output(path: str | os.PathLike, inputs: Iterable[str | os.PathLike] = (),
                 protected: Iterable[str | os.PathLike] = (), stdout: bool = True) -> Path:
    """The path to write for ``path`` if a file can be written there; else an :class:`OutputFileError`.

    Called before long work, so that a bad ``--output`` fails at once, not after the work.
    A symbolic link resolves to its target (written through, the link kept). ``inputs``: files
    the command reads; ``protected``: paths that must not be written or written into (a run
    directory's files, :func:`genorm.rundir.run_files`). Writing over one of them, however
    the path is spelled, is refused. ``stdout``: whether ``-`` (standard output) is allowed.
    """
    if os.fspath(path) == "":
        raise OutputFileError("The output path is empty (''); give a file name, or '-' for standard output.")
    if is_stdout(path):
        if not stdout:
            raise OutputFileError("'-' (standard output) is for text outputs; give a file name for this one.")
        return Path(STDOUT)
    given = Path(path)
    for source in inputs:
        if is_stdout(source) and _is_stdin(given):
            raise OutputFileError(f"Cannot write {given}: it is the file standard input ('-') reads from, and "
                                  "would be overwritten. Choose another output path.")
        if not is_stdout(source) and _same_file(given, source):
            raise OutputFileError(f"Cannot write {given}: it is an input of this command ({source}) and would be "
                                  "overwritten. Choose another output path.")
    if _special(given):
        return given
    target = Path(os.path.realpath(given))
    if any(target.is_relative_to(fs) for fs in _PSEUDO_FS):
        raise OutputFileError(f"Cannot write {given}: {target.parts[1]!r} is a kernel pseudo-filesystem, not a "
                              "place for files. Choose another output path.")
    _check_not_protected(target, protected)
    if target.is_dir():
        raise OutputFileError(f"Cannot write {given}: it is a directory. Give a file path, not a directory.")
    return _check_parent(given, target)


def check_output_dir(path: str | os.PathLike, what: str = "--out") -> Path:
    """``path`` as a Path if a directory of outputs can be made or written there; else an
    :class:`OutputFileError` saying why (empty, under /proc or /sys, a file, below a file, read-only)."""
    if os.fspath(path) == "" or is_stdout(path):
        raise OutputFileError(f"{what} {os.fspath(path)!r} is not a directory name; give the directory to write.")
    given = Path(path)
    target = Path(os.path.realpath(given))
    if any(target.is_relative_to(fs) for fs in _PSEUDO_FS):
        raise OutputFileError(f"Cannot write {what} {given}: {target.parts[1]!r} is a kernel pseudo-filesystem, "
                              "not a place for files. Choose another directory.")
    if target.exists() and not target.is_dir():
        raise OutputFileError(f"Cannot write {what} {given}: it exists and is not a directory. Choose another "
                              "directory.")
    _check_parent(given, target / "x")
    return given


def _check_parent(given: Path, target: Path) -> Path:
    parent = target.parent
    while not os.path.lexists(parent) and parent != parent.parent:  # the folders that would be created
        parent = parent.parent
    if not parent.is_dir():
        raise OutputFileError(f"Cannot write {given}: {parent} is a file, not a directory. Choose another "
                              "output path.")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputFileError(f"Cannot write {given}: permission denied in {parent} (or it is read-only). Choose "
                              "another output path.")
    return target


def check_field(value: str, what: str) -> str:
    """``value`` if it can be one field of a TSV / bedGraph line or a FASTA record name; else an error.

    Whitespace (tab, newline, carriage return, space) and other control characters would split
    the field or the line, so they are refused, naming ``what`` and the value.

    >>> check_field("chr1", "record name")
    'chr1'
    """
    bad = next((c for c in value if c.isspace() or not c.isprintable()), None) if value else ""
    if bad is not None:
        shown = "it is empty" if not value else f"it contains {bad!r}"
        raise OutputFileError(f"The {what} {value!r} cannot be written: {shown}, which would break the output "
                              "format (one field, one line). Use a name without whitespace or control characters.")
    return value


def escape_text(value: str) -> str:
    """``value`` with control characters (newline, tab, CR, ...) written as escapes (``\\n``), so it stays
    on one line of a text output.

    >>> escape_text("run\\nx")
    'run\\\\nx'
    """
    return "".join(c if c.isprintable() or c == " " else c.encode("unicode_escape").decode("ascii") for c in value)


def write_error(exc: BaseException) -> int | None:
    """The errno of a failed write that is about the output location (full disk, read-only, ...), or None.

    Besides ``OSError``, h5py (Keras' weight files) raises ``RuntimeError`` or ``OSError`` whose
    message carries "errno = 28" ("No space left on device").
    """
    if isinstance(exc, GenormError):
        return None
    if isinstance(exc, OSError) and exc.errno in _WRITE_ERRNOS:
        return exc.errno
    if isinstance(exc, (OSError, RuntimeError)):
        found = _H5_ERRNO.search(str(exc))
        if found and int(found.group(1)) in _WRITE_ERRNOS:
            return int(found.group(1))
    return None


def _cannot_write(path: Path, code: int) -> OutputFileError:
    return OutputFileError(f"Cannot write {path}: {os.strerror(code)}. Choose another output path or free "
                           "some space; nothing was written under that name.")


def temp_prefix(name: str) -> str:
    """The start of a temporary name for ``name``: ``.NAME.PID.`` (then mkstemp's 8 characters and ``.tmp``).

    The pid lets a later run tell a temporary left by a killed process (SIGKILL, power loss) from
    one being written now: see :func:`remove_stale_temporaries`.
    """
    return f".{name}.{os.getpid()}."


def pid_alive(pid: int) -> bool:
    """True if a process ``pid`` exists (on this machine)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return pid > 0
    return True


def _process_start(pid: int) -> float | None:
    """When process ``pid`` started (seconds since the epoch), from /proc; None where unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        boot = next(float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime "))
        return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError, StopIteration):
        return None


def remove_stale_temporaries(directory: str | os.PathLike, name: str) -> list[Path]:
    """Remove the temporaries of ``name`` in ``directory`` that no live process is writing; returns them.

    A temporary (``.NAME.PID.xxxxxxxx.tmp...`` or ``....old``, see :func:`temp_prefix`) is stale
    when process PID is gone, or is older than process PID (the pid was reused). Temporaries of
    live writers are left alone. Only for this machine: a directory shared between hosts can
    hold another host's live temporaries, which are left alone only if the pid happens to exist here.
    """
    pattern = re.compile(re.escape(f".{name}.") + r"(\d+)\.[A-Za-z0-9_]{8}\.(tmp.*|old)")
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return []
    removed = []
    for entry in entries:
        found = pattern.fullmatch(entry.name)
        if not found or int(found.group(1)) == os.getpid():
            continue
        pid = int(found.group(1))
        if pid_alive(pid):
            started = _process_start(pid)
            with contextlib.suppress(OSError):
                if started is None or entry.stat(follow_symlinks=False).st_mtime >= started - 1:
                    continue  # its writer may be alive
        with contextlib.suppress(OSError):
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
            removed.append(Path(entry.path))
    return removed


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yields a temporary path in the target's directory; renamed over ``path`` on success.

    ``suffix`` is appended to the temporary name, for writers that insist on an extension
    (Keras wants ``.keras`` / ``.weights.h5``). The file gets the usual permissions (0666 less
    the umask), not mkstemp's 0600. A symbolic link is written through (its target replaced);
    a device or FIFO is yielded as is and written directly.

    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
    >>> with atomic_path(target) as tmp:
    ...     _ = tmp.write_text("done")
    >>> target.read_text()
    'done'
    """
    target = check_output(path, stdout=False)
    if _special(target):  # a device or FIFO: written directly (-o /dev/full fails here with ENOSPC)
        try:
            yield target
        except BaseException as exc:
            code = write_error(exc)
            if code is not None:
                raise OutputFileError(f"Cannot write {path}: {os.strerror(code)}. Choose another output "
                                      "path.") from None
            raise
        return
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(target.parent, target.name)  # left by a killed writer of the same file
        fd, tmp = tempfile.mkstemp(prefix=temp_prefix(target.name), suffix=f".tmp{suffix}", dir=target.parent)
    except OSError as exc:
        raise _cannot_write(Path(path), exc.errno or errno.EIO) from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_UMASK)
        os.replace(tmp_path, target)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        code = write_error(exc)
        if code is not None:
            raise _cannot_write(Path(path), code) from None
        raise


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **kwargs) -> Iterator[IO]:
    """``open()`` for writing, atomically (see :func:`atomic_path`); the data is fsync'ed before the rename.

    ``-`` yields standard output (text modes only), flushed but not closed.
    """
    if is_stdout(path) and "b" not in mode:
        yield sys.stdout
        sys.stdout.flush()
        return
    with atomic_path(path) as tmp:
        with open(tmp, mode, **kwargs) as handle:
            yield handle
            handle.flush()
            if not _special(tmp):
                os.fsync(handle.fileno())


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically (``-``: to standard output)."""
    with atomic_open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
