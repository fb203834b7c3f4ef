"""Opening an input once: a path, ``"-"`` (standard input) or an open handle, as decompressed bytes.

The Biopython ``Bio/SeqIO/Interfaces.py`` pattern: whatever the caller gives is normalised here,
once, into an :class:`Opened` input whose ``stream`` is the decompressed binary content, and
``close`` closes only what was opened here. Plain, gzip and BGZF are told apart by the first
bytes (:func:`sniff_compression`), the format by the first decompressed bytes
(:func:`sniff_format`); a UTF-8 byte-order mark is skipped; a named pipe is given
:data:`FIFO_WAIT` seconds for its writer; decompression and I/O failures become
:class:`~genorm.errors.InputFileError`\\ s naming the file (:func:`guard_read`); a file whose size
or modification time changes while it is read is an error (:func:`check_unchanged`).

The record parsers that read these streams are in :mod:`genorm.reading.formats`.
"""

from __future__ import annotations

import gzip
import io
import os
import stat
import sys
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from genorm.errors import InputFileError

CHUNK_SIZE = 1 << 20
"""Bytes read from the (decompressed) input at a time."""
FIFO_WAIT = 2.0
"""Seconds a named pipe is given for its writer to appear before it is an error (never a hang)."""
TWOBIT_SIGNATURES = {b"\x43\x27\x41\x1a": "<", b"\x1a\x41\x27\x43": ">"}
"""The 2bit file signature in either byte order, and the ``struct`` byte order it means."""
_BOM = b"\xef\xbb\xbf"


class _Prefixed(io.RawIOBase):
    """A binary stream that first returns ``head``, then reads ``rest`` (reporting progress)."""

    def __init__(self, head: bytes, rest, progress: Callable[[], None] | None = None):
        self._head = head
        self._rest = rest
        self._progress = progress

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        n = len(b)
        if self._head:
            data, self._head = self._head[:n], self._head[n:]
        else:
            data = _read_bytes(self._rest, n)
            if self._progress is not None:
                self._progress()
        b[: len(data)] = data
        return len(data)


def _read_bytes(handle, n: int) -> bytes:
    data = handle.read(n)
    if isinstance(data, str):
        data = data.encode("utf-8")
    return data or b""


@dataclass
class Opened:
    """One opened input: ``stream`` is the decompressed binary content (BOM skipped)."""

    stream: object
    label: str
    compression: str
    format: str
    size: int | None
    raw: object
    close: Callable[[], None]
    reopen: Callable[[], Opened] | None = None    # for the error path: read the input again
    stat: os.stat_result | None = None
    head: bytes = b""                              # the first bytes, up to the first non-blank one
    tick: Callable[[], None] | None = None         # reports progress (bytes of the file read so far)
    text: object = None                            # the text layer Biopython reads, kept until `close`


def sniff_compression(head: bytes) -> str:
    """'gzip', 'bgzf', 'bzip2', 'xz', 'zstd', 'zip' or 'plain' from a file's first bytes."""
    if head[:2] == b"\x1f\x8b":
        if len(head) >= 14 and head[3] & 4 and head[12:14] == b"BC":
            return "bgzf"
        return "gzip"
    for magic, name in ((b"BZh", "bzip2"), (b"\xfd7zXZ\x00", "xz"), (b"\x28\xb5\x2f\xfd", "zstd"), (b"PK\x03\x04", "zip")):
        if head.startswith(magic):
            return name
    return "plain"


BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")
"""The empty 28-byte block that ends every BGZF file (SAM/BAM specification 4.1.2), checked as htslib does."""


def check_bgzf_eof(raw, size: int, label: str) -> None:
    """A bgzip file must end with the BGZF end-of-file block: one cut at a block boundary otherwise reads as a
    complete, shorter genome. ``raw`` is left where it was."""
    at = raw.tell()
    raw.seek(max(0, size - len(BGZF_EOF)))
    tail = raw.read(len(BGZF_EOF))
    raw.seek(at)
    if tail != BGZF_EOF:
        raise InputFileError(
            f"{label}: the bgzip file has no BGZF end-of-file marker (the empty block bgzip writes last): it was "
            "probably cut short while downloading or copying, and reading it would silently give only part of the "
            "genome. Fetch it again (`bgzip -t` tests it), or, if it is complete, recompress it with bgzip.")


def sniff_format(head: bytes) -> str:
    """'2bit', 'genbank', 'embl' or 'fasta' (anything else) from the first decompressed bytes."""
    if head[:4] in TWOBIT_SIGNATURES:
        return "2bit"
    text = head.lstrip()
    if text.startswith(b"LOCUS"):
        return "genbank"
    if text.startswith(b"ID   "):
        return "embl"
    return "fasta"


def _open_fifo(path: Path) -> tuple[object, Callable[[], None]]:
    """A named pipe, opened without blocking; waits FIFO_WAIT seconds for a writer, then reads what it wrote."""
    import time

    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a blocking open() would wait forever for a writer
    deadline = time.monotonic() + FIFO_WAIT
    while True:
        try:
            first = os.read(fd, 1 << 16)
        except BlockingIOError:  # a writer is there, nothing written yet
            first = b""
            break
        if first or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    os.set_blocking(fd, True)
    handle = open(fd, "rb")  # noqa: SIM115 - closed through Opened.close
    return _Prefixed(first, handle), handle.close


def _open_path(path: Path) -> tuple[object, os.stat_result, Callable[[], None]]:
    label = str(path)
    try:
        st = os.stat(path)
        if stat.S_ISFIFO(st.st_mode):
            raw, close = _open_fifo(path)
            return raw, st, close
        handle = open(path, "rb")  # noqa: SIM115 - closed through Opened.close
        return handle, st, handle.close
    except FileNotFoundError:
        raise InputFileError(f"{label}: no such file. Check the path.") from None
    except IsADirectoryError:
        raise InputFileError(f"{label}: is a directory, not a FASTA file. Give the path of a FASTA "
                             "(.fa/.fasta(.gz)), GenBank, EMBL or 2bit file.") from None
    except PermissionError:
        raise InputFileError(f"{label}: permission denied. Check the file's permissions.") from None
    except OSError as exc:
        raise InputFileError(f"{label}: cannot open ({exc.strerror or exc}).") from None


def require_regular_file(path: str | os.PathLike, why: str) -> None:
    """Raise an :class:`InputFileError` if ``path`` exists but is not a regular file (a named pipe,
    ``/dev/stdin`` on a pipe, a character device, a socket): ``why`` says what needs a file on disk.
    A missing path is left to the caller's own message."""
    try:
        st = os.stat(path)
    except OSError:
        return
    if stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode):
        return
    kind = ("a named pipe (FIFO)" if stat.S_ISFIFO(st.st_mode) else "a character device"
            if stat.S_ISCHR(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file")
    raise InputFileError(f"{path}: is {kind}, not a regular file: {why}, which needs the genome in a regular "
                         f"file on disk. Save it to a file first (e.g. cat {path} > genome.fa) and give that file.")


def open_source(source, format: str | None = None, progress: Callable[[int, int | None, str], None] | None = None) -> Opened:
    """Open a path, '-' or a handle as a binary stream of decompressed content, and sniff it."""
    st = None
    reopen = None
    if isinstance(source, (str, os.PathLike)) and str(source) == "-":
        if sys.stdin is None or sys.stdin.isatty():
            raise InputFileError("<stdin>: standard input is a terminal, not a file: pipe a genome in "
                                 "(e.g. `zcat genome.fa.gz | genorm info -`) or give a path.")
        raw, label, size, closer = sys.stdin.buffer, "<stdin>", None, (lambda: None)
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        label = str(path)
        raw, st, closer = _open_path(path)
        size = st.st_size if stat.S_ISREG(st.st_mode) else None
        if size is not None:  # a pipe cannot be read twice
            reopen = lambda: open_source(path, format)  # noqa: E731
    else:
        raw, size, closer = source, None, (lambda: None)
        label = str(getattr(source, "name", None) or "<handle>")
        try:
            at = source.tell() if source.seekable() else None
        except (OSError, AttributeError, ValueError):
            at = None
        if at is not None:
            reopen = lambda: (source.seek(at), open_source(source, format))[1]  # noqa: E731
    try:
        return _sniff(raw, label, size, closer, format, reopen, st, progress)
    except BaseException:
        closer()
        raise


def _sniff(raw, label, size, closer, format, reopen, st, progress) -> Opened:
    try:
        head = _read_bytes(raw, 18)
    except IsADirectoryError:
        raise InputFileError(f"{label}: is a directory, not a FASTA file.") from None
    except OSError as exc:
        raise InputFileError(f"{label}: cannot read ({exc}).") from None
    compression = sniff_compression(head)
    if compression in ("bzip2", "xz", "zstd", "zip"):
        raise InputFileError(
            f"{label}: is {compression}-compressed; genorm reads plain, gzip and bgzip files. "
            f"Decompress it first (or recompress with gzip/bgzip)."
        )
    if compression == "bgzf" and st is not None and stat.S_ISREG(st.st_mode):
        check_bgzf_eof(raw, st.st_size, label)
    tick = _progress_tick(progress, raw, size, label)
    stream = _Prefixed(head, raw, tick)
    if compression != "plain":
        stream = gzip.GzipFile(fileobj=io.BufferedReader(stream, CHUNK_SIZE), mode="rb")
    first = b""
    while True:  # up to the first non-blank byte (or the end): enough to tell the format
        more = guard_read(lambda: _read_bytes(stream, 4096), label)
        first += more
        if not more or first.strip():
            break
    if st is not None and not stat.S_ISREG(st.st_mode) and not first and stat.S_ISFIFO(st.st_mode):
        raise InputFileError(f"{label}: is a named pipe (FIFO) with no writer: nothing to read. Start the program "
                             "that writes into it first (e.g. `zcat genome.fa.gz > pipe &`), or give a regular file.")
    fmt = format or sniff_format(first)
    bom = fmt != "2bit" and first.startswith(_BOM)
    if bom:
        first = first[3:]
    if st is not None and stat.S_ISREG(st.st_mode):  # a file: start again from its first byte, C all the way
        raw.seek(0)
        stream = raw if compression == "plain" else gzip.GzipFile(fileobj=raw, mode="rb")
        if bom:
            guard_read(lambda: stream.read(3), label)
    else:
        stream = io.BufferedReader(_Prefixed(first, stream), CHUNK_SIZE)
    return Opened(stream=stream, label=label, compression=compression, format=fmt, size=size, raw=raw,
                  close=closer, reopen=reopen, stat=st, head=first, tick=tick)


def _progress_tick(progress, raw, size: int | None, label: str) -> Callable[[], None] | None:
    """A function that reports ``progress(bytes of the file read so far, size, label)``; None without ``progress``."""
    if progress is None:
        return None

    def tick() -> None:
        try:
            progress(raw.tell(), size, label)
        except (OSError, AttributeError, ValueError):
            pass

    return tick


def io_error(label: str, exc: BaseException) -> InputFileError:
    """The InputFileError for a decompression or I/O failure while reading ``label``."""
    if isinstance(exc, EOFError):
        return InputFileError(
            f"{label}: the gzip stream is truncated (it ends before its end-of-stream marker). "
            "The file was probably cut short while downloading or copying: fetch it again."
        )
    if isinstance(exc, (gzip.BadGzipFile, zlib.error)):
        return InputFileError(
            f"{label}: corrupt gzip data ({exc}). Check the file with `gzip -t` and fetch it again."
        )
    return InputFileError(f"{label}: read error ({exc}).")


def guard_read(read: Callable[[], object], label: str):
    """Run ``read``; decompression and I/O failures become InputFileErrors naming the file."""
    try:
        return read()
    except (EOFError, OSError, zlib.error) as exc:
        raise io_error(label, exc) from None


def guarded(records: Iterator, label: str) -> Iterator:
    """``records`` with decompression and I/O failures turned into InputFileErrors."""
    while True:
        box = [guard_read(lambda: next(records, None), label)]
        if box[0] is None:
            return
        yield box.pop()  # this frame keeps no reference: the record's text is freed as soon as it is encoded


def check_unchanged(o: Opened, sequential: bool) -> None:
    """A file whose size or modification time changed while it was read is an error (not a wrong total)."""
    if o.stat is None or not stat.S_ISREG(o.stat.st_mode):
        return
    try:
        now = os.fstat(o.raw.fileno())
        consumed = o.raw.tell() if sequential else now.st_size
    except (OSError, ValueError):
        return
    if (now.st_size, now.st_mtime_ns) != (o.stat.st_size, o.stat.st_mtime_ns) or consumed != o.stat.st_size:
        raise InputFileError(
            f"{o.label}: the file changed while it was read (size at open {o.stat.st_size:,} bytes, now "
            f"{now.st_size:,} bytes, {consumed:,} read). Read it again once whatever writes it (a download, a copy) "
            "has finished."
        )

