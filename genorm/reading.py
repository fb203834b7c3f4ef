"""Reading genomes through Biopython: FASTA, GenBank, EMBL and 2bit, or records already in memory.

``Bio.SeqIO`` parses (FASTA through ``Bio.SeqIO.FastaIO.SimpleFastaParser``, GenBank, EMBL,
2bit); genorm checks and encodes what it hands over. Each record's sequence bytes go through
one 256-entry table (:data:`genorm.encoding.READER_TABLE`) into packed codes, which also flags
anything that is not a nucleotide letter. One record is held at a time: the transient cost is
a few bytes per base of the largest record (the parser's lines, the joined text, its bytes and
their codes), whatever the line width.

Inputs: a path, ``"-"`` (standard input), an open handle (text or binary), a list of them, or
an iterable of ``Bio.SeqRecord.SeqRecord`` / ``(name, sequence)`` pairs. Plain, gzip and BGZF
are told apart by their first bytes; the format by the content (``>`` FASTA, ``LOCUS``
GenBank, ``ID   `` EMBL, the 2bit signature), or forced with ``format=``.

Rules: a UTF-8 byte-order mark is skipped; ``\\n``, ``\\r\\n`` and old-Mac ``\\r`` line ends are
all read; record names must be valid UTF-8 (else an error: names are written into BED, TSV and
bedGraph outputs); a named pipe needs its writer running; a file whose size or modification
time changes while it is read is an error. Everything else that is not a nucleotide sequence is
an error naming the file, the record, the line and column (FASTA, computed by re-reading on the
error path only) or base, the offending value, and what to do. Biopython's own exceptions never
escape: each becomes a :class:`~genorm.errors.GenormError`.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import itertools
import logging
import os
import stat
import sys
import tempfile
import warnings
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from genorm import encoding
from genorm.encoding import EncodingPolicy
from genorm.errors import FastaFormatError, GenormError, InputFileError, RecordSelectionError

logger = logging.getLogger(__name__)

CHUNK_SIZE = 1 << 20
"""Bytes read from the (decompressed) input at a time."""
_COUNT_SLICE = 1 << 19
FORMATS = ("fasta", "genbank", "embl", "2bit")
"""Formats genorm reads; ``format=None`` detects them from the content."""
_FORMAT_NAMES = {"fasta": "fasta", "genbank": "genbank", "embl": "embl", "2bit": "twobit"}
_TWOBIT_SIGNATURES = {b"\x43\x27\x41\x1a": "<", b"\x1a\x41\x27\x43": ">"}
_BOM = b"\xef\xbb\xbf"
_WHITESPACE = b" \t\r\n"
_LUT = np.frombuffer(encoding.READER_TABLE, dtype=np.uint8)
_PROTEIN_ONLY = set("EFILPQJOXZefilpqjoxz")
IN_MEMORY = "<records>"
"""The label of in-memory records (SeqRecords or (name, sequence) pairs) in messages and provenance."""


# --------------------------------------------------------------------------------------------
# Records and their statistics


@dataclass
class RecordStats:
    """What one record contains, counted while it was read.

    ``a``, ``c``, ``g``, ``t`` and ``n`` count bases of either case; ``soft_masked`` counts
    lower-case letters; ``iupac`` counts each ambiguity letter (before it became N); ``u``
    counts U read as T.
    """

    name: str
    length: int = 0
    a: int = 0
    c: int = 0
    g: int = 0
    t: int = 0
    n: int = 0
    soft_masked: int = 0
    iupac: dict[str, int] = field(default_factory=dict)
    u: int = 0
    n_runs: int = 0
    longest_n_run: int = 0

    @property
    def gc_fraction(self) -> float:
        """(C+G) / (A+C+G+T); NaN when the record has no A/C/G/T."""
        acgt = self.a + self.c + self.g + self.t
        return (self.c + self.g) / acgt if acgt else float("nan")

    @property
    def iupac_total(self) -> int:
        return sum(self.iupac.values())

    def to_dict(self) -> dict:
        return {
            "name": self.name, "length": self.length, "a": self.a, "c": self.c, "g": self.g,
            "t": self.t, "n": self.n, "soft_masked": self.soft_masked, "iupac": dict(self.iupac),
            "u": self.u, "n_runs": self.n_runs, "longest_n_run": self.longest_n_run,
        }

    @classmethod
    def from_dict(cls, d: dict) -> RecordStats:
        return cls(**d)

    @classmethod
    def from_counts(cls, name: str, counts: np.ndarray, packed: np.ndarray) -> RecordStats:
        """Stats from the 256-bin histogram of reader values and the final packed codes."""
        c = [int(x) for x in counts]
        flag = encoding.SOFT_MASK_FLAG
        iupac = {}
        for i, letter in enumerate(encoding.IUPAC_AMBIGUITY):
            k = c[encoding.IUPAC_UPPER + i] + c[encoding.IUPAC_LOWER + i]
            if k:
                iupac[letter] = k
        lower = sum(c[flag:flag + 5]) + sum(c[encoding.IUPAC_LOWER:encoding.IUPAC_LOWER + 10]) + c[encoding.U_LOWER]
        u = c[encoding.U_UPPER] + c[encoding.U_LOWER]
        stats = cls(
            name=name, length=int(packed.size),
            a=c[0] + c[flag], c=c[1] + c[1 | flag], g=c[2] + c[2 | flag], t=c[3] + c[3 | flag] + u,
            n=c[4] + c[4 | flag] + sum(iupac.values()), soft_masked=lower, iupac=iupac, u=u,
        )
        if stats.n:
            stats.n_runs, stats.longest_n_run = n_runs(packed)
        return stats


def n_runs(packed: np.ndarray, block: int = 1 << 20) -> tuple[int, int]:
    """Number of runs of N and the length of the longest, in packed codes ``(L,) uint8``.

    Works a block at a time, so the extra memory is a few MB whatever the length.

    >>> n_runs(np.array([4, 4, 0, 4, 12, 12, 1], dtype=np.uint8))
    (2, 3)
    """
    runs = longest = current = 0  # `current`: length of the run still open at the block edge
    for i in range(0, packed.size, block):
        x = (np.bitwise_and(packed[i:i + block], encoding.CODE_BITS) == encoding.N).view(np.int8)
        if not x.any():
            longest, current = max(longest, current), 0
            continue
        d = np.diff(x)
        starts = np.flatnonzero(d == 1) + 1
        ends = np.flatnonzero(d == -1) + 1
        if x[0]:
            starts = np.concatenate([[0], starts])
        if x[-1]:
            ends = np.concatenate([ends, [x.size]])
        lengths = ends - starts
        if x[0] and current:
            lengths[0] += current      # the open run continues into this block
            runs -= 1
        elif current:
            longest = max(longest, current)
        runs += lengths.size
        if x[-1]:
            current, lengths = int(lengths[-1]), lengths[:-1]
        else:
            current = 0
        if lengths.size:
            longest = max(longest, int(lengths.max()))
    return runs, max(longest, current)


@dataclass
class Record:
    """One FASTA record, encoded.

    Attributes:
        name: the first word of the header line.
        description: the rest of the header line.
        packed: ``(L,) uint8`` packed codes (base code | 8 where soft-masked).
        stats: what the record contained (:class:`RecordStats`); counted on first access when
            the record held only A/C/G/T/N (the packed codes say it all), else while reading.
        source: the file it came from.
    """

    name: str
    description: str
    packed: np.ndarray
    _stats: RecordStats | None = field(default=None, repr=False)
    source: str = ""

    @property
    def stats(self) -> RecordStats:
        if self._stats is None:
            self._stats = RecordStats.from_counts(self.name, byte_counts(self.packed), self.packed)
        return self._stats

    def __len__(self) -> int:
        return int(self.packed.size)

    @property
    def codes(self) -> np.ndarray:
        """``(L,) uint8`` codes, A=0 C=1 G=2 T=3 N=4."""
        return encoding.packed_to_codes(self.packed)

    @property
    def soft_mask(self) -> np.ndarray:
        """``(L,) bool``, True where the base was lower case in the FASTA."""
        return encoding.packed_to_soft_mask(self.packed)

    @property
    def sequence(self) -> str:
        """The sequence as a string, soft-masked bases in lower case, ambiguity codes as N."""
        return encoding.packed_to_string(self.packed)

    def __repr__(self) -> str:
        return f"Record(name={self.name!r}, length={len(self)}, source={self.source!r})"


# --------------------------------------------------------------------------------------------
# Opening and sniffing


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
class _Opened:
    """One opened input: ``stream`` is the decompressed binary content (BOM skipped)."""

    stream: object
    label: str
    compression: str
    format: str
    size: int | None
    raw: object
    close: Callable[[], None]
    reopen: Callable[[], _Opened] | None = None   # for the error path: read the input again
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


def sniff_format(head: bytes) -> str:
    """'2bit', 'genbank', 'embl' or 'fasta' (anything else) from the first decompressed bytes."""
    if head[:4] in _TWOBIT_SIGNATURES:
        return "2bit"
    text = head.lstrip()
    if text.startswith(b"LOCUS"):
        return "genbank"
    if text.startswith(b"ID   "):
        return "embl"
    return "fasta"


def check_format(format: str | None) -> str | None:
    """``format`` if it is None or one of :data:`FORMATS`, else a ConfigError."""
    if format is not None and format not in FORMATS:
        from genorm.errors import ConfigError

        raise ConfigError(f"Received an invalid value for `format`, expected one of {', '.join(FORMATS)} "
                          f"(or None to detect it), got {format!r}.")
    return format


FIFO_WAIT = 2.0
"""Seconds a named pipe is given for its writer to appear before it is an error (never a hang)."""


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
    handle = open(fd, "rb")  # noqa: SIM115 - closed through _Opened.close
    return _Prefixed(first, handle), handle.close


def _open_path(path: Path) -> tuple[object, os.stat_result, Callable[[], None]]:
    label = str(path)
    try:
        st = os.stat(path)
        if stat.S_ISFIFO(st.st_mode):
            raw, close = _open_fifo(path)
            return raw, st, close
        handle = open(path, "rb")  # noqa: SIM115 - closed through _Opened.close
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


def _open(source, format: str | None = None, progress: Callable[[int, int | None, str], None] | None = None) -> _Opened:
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
            reopen = lambda: _open(path, format)  # noqa: E731
    else:
        raw, size, closer = source, None, (lambda: None)
        label = str(getattr(source, "name", None) or "<handle>")
        try:
            at = source.tell() if source.seekable() else None
        except (OSError, AttributeError, ValueError):
            at = None
        if at is not None:
            reopen = lambda: (source.seek(at), _open(source, format))[1]  # noqa: E731
    try:
        return _sniff(raw, label, size, closer, format, reopen, st, progress)
    except BaseException:
        closer()
        raise


def _sniff(raw, label, size, closer, format, reopen, st, progress) -> _Opened:
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
    tick = None
    if progress is not None:
        def tick():
            try:
                progress(raw.tell(), size, label)
            except (OSError, AttributeError, ValueError):
                pass
    stream = _Prefixed(head, raw, tick)
    if compression != "plain":
        stream = gzip.GzipFile(fileobj=io.BufferedReader(stream, CHUNK_SIZE), mode="rb")
    first = b""
    while True:  # up to the first non-blank byte (or the end): enough to tell the format
        more = _guard_read(lambda: _read_bytes(stream, 4096), label)
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
            _guard_read(lambda: stream.read(3), label)
    else:
        stream = io.BufferedReader(_Prefixed(first, stream), CHUNK_SIZE)
    return _Opened(stream=stream, label=label, compression=compression, format=fmt, size=size, raw=raw,
                   close=closer, reopen=reopen, stat=st, head=first, tick=tick)


def _io_error(label: str, exc: BaseException) -> InputFileError:
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


def _guard_read(read: Callable[[], object], label: str):
    """Run ``read``; decompression and I/O failures become InputFileErrors naming the file."""
    try:
        return read()
    except (EOFError, OSError, zlib.error) as exc:
        raise _io_error(label, exc) from None


def _guarded(records: Iterator, label: str) -> Iterator:
    """``records`` with decompression and I/O failures turned into InputFileErrors."""
    while True:
        box = [_guard_read(lambda: next(records, None), label)]
        if box[0] is None:
            return
        yield box.pop()  # this frame keeps no reference: the record's text is freed as soon as it is encoded


def _check_unchanged(o: _Opened, sequential: bool) -> None:
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


# --------------------------------------------------------------------------------------------
# What Biopython hands over: (index, name, description, sequence bytes) per record


def _name_text(name: str, where: Callable[[], str]) -> str:
    """A record name read as latin-1, as UTF-8 text; names that are not UTF-8 are an error."""
    if name.isascii():
        return name
    try:
        return name.encode("latin-1").decode("utf-8")
    except UnicodeEncodeError:  # already text (SeqRecords, pairs)
        return name
    except UnicodeDecodeError as exc:
        bad = name.encode("latin-1")[exc.start]
        raise FastaFormatError(
            f"{where()}: the record name {name.encode('latin-1')!r} is not valid UTF-8 (byte 0x{bad:02x}). "
            "genorm writes record names into BED, TSV and bedGraph outputs: rename the record in UTF-8 (or ASCII)."
        ) from None


def _description_text(text: str) -> str:
    return text if text.isascii() else text.encode("latin-1", "replace").decode("utf-8", "replace")


def _fasta_records(o: _Opened) -> Iterator[tuple[int, str, str, bytes]]:
    from Bio.SeqIO.FastaIO import SimpleFastaParser

    _check_fasta_start(o)
    text = o.text = io.TextIOWrapper(o.stream, encoding="latin-1", newline=None)  # held by `o`: its
    index = -1                                                                    # collection would close the file
    for title, seq in _guarded(SimpleFastaParser(text), o.label):  # not enumerate(): it would keep `seq` alive
        index += 1
        parts = title.split(None, 1)
        if not parts:
            line = _locate(o, index)
            raise FastaFormatError(f"{o.label}, line {line[0] if line else '?'}: the header line has no record "
                                   "name. Give every record a name, e.g. '>chr1'.")
        name = _name_text(parts[0], lambda: _where(o, index, None))
        box = [(index, name, _description_text(parts[1]) if len(parts) > 1 else "", seq.encode("latin-1"))]
        del seq
        yield box.pop()


def _check_fasta_start(o: _Opened) -> None:
    """Biopython skips any text before the first '>': genorm says what it is instead."""
    data = o.head
    stripped = data.lstrip()
    k = len(data) - len(stripped)
    if stripped[:1] == b">" and data[k - 1:k] in (b"", b"\n", b"\r"):  # '>' starts its line
        return
    raise _preamble_error(o.label, data)


def _preamble_error(label: str, data: bytes) -> FastaFormatError:
    stripped = data.lstrip()
    if not data:
        return FastaFormatError(f"{label}: the file is empty. Give a FASTA file with at least one record.")
    if not stripped:
        return FastaFormatError(
            f"{label}: no FASTA records: the file holds only blank lines. Give a FASTA file with at least one record."
        )
    if stripped[:1] == b"@":
        return FastaFormatError(
            f"{label}: this is FASTQ, not FASTA (line 1 starts with '@'). Convert it first, "
            "e.g. `seqkit fq2fa` or `awk 'NR%4==1{print \">\"substr($0,2)} NR%4==2'`."
        )
    if any(b >= 0x80 or (b < 0x20 and b not in (9, 10, 13)) for b in stripped[:64]):
        return FastaFormatError(
            f"{label}: this looks like a binary file, not FASTA (first bytes {stripped[:8]!r}). "
            "Give a plain, gzip or bgzip FASTA, GenBank, EMBL or 2bit file."
        )
    before = data[: len(data) - len(stripped)]
    line_no = before.count(b"\n") + (before.count(b"\r") if b"\n" not in before else 0) + 1
    shown = stripped.splitlines()[0][:40].decode("latin-1") if stripped else ""
    return FastaFormatError(
        f"{label}: no FASTA header: expected a line starting with '>' at line {line_no}, got {shown!r}. "
        "Add a header line such as '>chr1' before the sequence (or name the format with --format)."
    )


def _seqio_records(o: _Opened) -> Iterator[tuple[int, str, str, bytes]]:
    """GenBank, EMBL (text) or 2bit (binary, random access) records through Bio.SeqIO."""
    from Bio import SeqIO

    kind = {"genbank": "GenBank", "embl": "EMBL", "2bit": "2bit"}[o.format]
    if o.format == "2bit":
        handle = _twobit_handle(o)
    else:
        handle = o.text = io.TextIOWrapper(o.stream, encoding="latin-1", newline=None)
    it = SeqIO.parse(handle, _FORMAT_NAMES[o.format])
    for index in itertools.count():
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                rec = next(it, None)
        except GenormError:
            raise
        except (EOFError, OSError, zlib.error) as exc:
            raise _io_error(o.label, exc) from None
        except Exception as exc:  # noqa: BLE001 - Biopython's parse errors: ValueError, AssertionError, ...
            raise _biopython_error(o, kind, index, exc) from None
        for w in caught:  # a sequence Biopython only warns about (cut short, wrong length) is an error here
            text = " ".join(str(w.message).split())
            if "sequence" in text.lower():
                raise FastaFormatError(f"{o.label}, record {index + 1}: the {kind} sequence is damaged (Biopython: "
                                       f"{text}). The file was probably cut short or edited: fetch it again.")
            logger.warning("%s, record %d: Biopython: %s", o.label, index + 1, text)
        if rec is None:
            return
        name = _name_text(str(rec.id), lambda: f"{o.label}, record {index + 1}")
        # the sequence is read (a 2bit record decoded) only if the record is selected
        yield index, name, _description_text(str(rec.description)), lambda r=rec, n=name: _record_bytes(r, o.label, n, kind)


def _biopython_error(o: _Opened, kind: str, index: int, exc: Exception) -> FastaFormatError:
    text = " ".join(str(exc).split())[:300] or type(exc).__name__
    if o.format == "2bit":
        return FastaFormatError(f"{o.label}: Biopython cannot read this 2bit file ({text}). Convert it with UCSC "
                                "`twoBitToFa` and give the FASTA.")
    return FastaFormatError(
        f"{o.label}, record {index + 1}: not a valid {kind} entry (Biopython: {text}). Check the file "
        f"(a {kind} file cut short, or another format: force it with --format)."
    )


def _record_bytes(rec, label: str, name: str, kind: str) -> bytes:
    """The sequence bytes of a SeqRecord; protein and undefined (CON) sequences are errors."""
    from Bio.Seq import UndefinedSequenceError

    molecule = str(rec.annotations.get("molecule_type", "")) if hasattr(rec, "annotations") else ""
    if "protein" in molecule.lower():
        raise FastaFormatError(f"{label}, record {name!r}: is a protein entry (molecule type {molecule!r}); "
                               f"genorm models DNA: give a nucleotide {kind} file.")
    try:
        return bytes(rec.seq)
    except UndefinedSequenceError:
        raise FastaFormatError(
            f"{label}, record {name!r}: the entry has no sequence, only its length (a CON/contig record that "
            f"lists its parts, or an entry without ORIGIN/SQ). Download it with its sequence (e.g. NCBI's "
            "'GenBank (full)' / efetch rettype=gbwithparts) or as FASTA."
        ) from None
    except Exception as exc:  # noqa: BLE001 - a lazily read 2bit record
        raise FastaFormatError(f"{label}, record {name!r}: cannot read its sequence ({exc}).") from None


def _twobit_handle(o: _Opened):
    """A real, seekable binary file for Biopython's 2bit reader (spooled if the input is a stream)."""
    raw = o.raw
    if o.compression == "plain" and o.stat is not None and stat.S_ISREG(o.stat.st_mode):
        raw.seek(0)
        size = o.stat.st_size
    else:
        raw = tempfile.TemporaryFile()  # noqa: SIM115 - closed with the input
        close = o.close
        o.close = lambda: (raw.close(), close())
        while True:
            block = _guard_read(lambda: o.stream.read(CHUNK_SIZE), o.label)
            if not block:
                break
            raw.write(block)
        size = raw.tell()
        raw.seek(0)
    _check_twobit_index(raw, size, o.label)
    raw.seek(0)
    return raw


def _check_twobit_index(fh, size: int, label: str) -> None:
    """Bounds-check a 2bit index before Biopython reads it.

    Biopython trusts the header: a corrupt record count makes it loop billions of times, and a
    corrupt length makes it allocate gigabytes. This checks each count and length against the
    file's size, and names the variant it cannot read.
    """
    import struct

    def corrupt(what: str) -> FastaFormatError:
        return FastaFormatError(f"{label}: a truncated or corrupt 2bit file ({what}). Fetch it again, or convert "
                                "it with UCSC `twoBitToFa` and give the FASTA.")

    head = fh.read(16)
    order = _TWOBIT_SIGNATURES.get(head[:4])
    if order is None:
        raise FastaFormatError(f"{label}: not a 2bit file (no 2bit signature; --format 2bit was forced?).")
    if len(head) < 16:
        raise corrupt("the 16-byte header is cut short")
    version, count, reserved = struct.unpack(order + "III", head[4:16])
    if version == 1:
        raise FastaFormatError(f"{label}: a version-1 2bit file (64-bit offsets, for genomes over 4 GB), which "
                               "Biopython cannot read. Convert it with UCSC `twoBitToFa` and give the FASTA.")
    if version != 0:
        raise FastaFormatError(f"{label}: 2bit version {version}, which Biopython cannot read (it reads "
                               "version 0). Convert it with UCSC `twoBitToFa` and give the FASTA.")
    if reserved or count * 5 > size - 16:
        raise corrupt(f"the header claims {count:,} records in {size:,} bytes")
    entries = []
    for _ in range(count):
        n = fh.read(1)
        name = fh.read(n[0]) if n else b""
        offset = fh.read(4)
        if not n or len(name) < n[0] or len(offset) < 4:
            raise corrupt("the index is cut short")
        entries.append((name, struct.unpack(order + "I", offset)[0]))
    for name, offset in entries:
        fh.seek(offset)
        dna_n = fh.read(8)
        if len(dna_n) < 8:
            raise corrupt(f"record {name!r} starts past the end of the file")
        bases, n_blocks = struct.unpack(order + "II", dna_n)
        fh.seek(offset + 8 + 8 * n_blocks)
        m = fh.read(4)
        masks = struct.unpack(order + "I", m)[0] if len(m) == 4 else 0
        end = offset + 16 + 8 * n_blocks + 8 * masks + (bases + 3) // 4
        if len(m) < 4 or end > size:
            raise corrupt(f"record {name!r} claims {bases:,} bases, which the file does not hold")


# --------------------------------------------------------------------------------------------
# Error path: where in the file a record or a character is (re-reads the input)


_LOCATE_TABLE = bytes(0 if b in b" \t" else v for b, v in enumerate(encoding.READER_TABLE))


def _locate(o: _Opened, index: int, char: bool = False) -> tuple[int, int | None] | None:
    """``(line, None)`` of record ``index``'s header, or ``(line, column)`` of its first invalid
    character; None when the input cannot be read again (standard input, a pipe)."""
    if o.reopen is None or o.format != "fasta":
        return None
    try:
        again = o.reopen()
    except (GenormError, OSError, ValueError):
        return None
    try:
        headers = -1
        for line_no, line in enumerate(io.TextIOWrapper(again.stream, encoding="latin-1", newline=None), 1):
            if line[:1] == ">":
                headers += 1
                if headers == index and not char:
                    return line_no, None
                if headers > index:
                    return None
            elif char and headers == index:
                col = line.rstrip().encode("latin-1").translate(_LOCATE_TABLE).find(encoding.INVALID)
                if col >= 0:
                    return line_no, col + 1
    except (GenormError, OSError, EOFError, ValueError, zlib.error):
        return None
    finally:
        again.close()
    return None


def _where(o: _Opened, index: int, name: str | None) -> str:
    """'file, line L' of a record's header (FASTA that can be re-read), else 'file, record K'."""
    loc = _locate(o, index)
    return f"{o.label}, line {loc[0]}" if loc else f"{o.label}, record {index + 1}" + (f" {name!r}" if name else "")


def _bad_char(o: _Opened, index: int, name: str, raw: bytes) -> FastaFormatError:
    i = raw.translate(_LOCATE_TABLE).find(encoding.INVALID)
    byte = raw[i]
    loc = _locate(o, index, char=True)
    where = f"{o.label}, record {name!r}, " + (f"line {loc[0]}, column {loc[1]}" if loc else f"base {i + 1}")
    what = "FASTA" if o.format == "fasta" else "sequence"
    if (byte >= 0x80 and o.format != "records") or (byte < 0x20 and byte not in (9, 10, 13)):
        return FastaFormatError(
            f"{where}: byte 0x{byte:02x} is not text; this looks like a binary file, not {what}. "
            "Give a plain, gzip or bgzip FASTA, GenBank, EMBL or 2bit file."
        )
    char = chr(byte)
    if char in _PROTEIN_ONLY:
        return FastaFormatError(
            f"{where}: found {char!r}, which is not a nucleotide; this looks like a protein {what}. "
            "genorm models DNA: give a nucleotide sequence."
        )
    if char == ">":
        return FastaFormatError(
            f"{where}: found '>' inside a sequence line. A header must start its own line: fix the line break."
        )
    hint = {
        "-": "Gaps ('-', '.') are alignment symbols, not bases: remove them before training.",
        ".": "Gaps ('-', '.') are alignment symbols, not bases: remove them before training.",
        "*": "'*' is a stop symbol of protein FASTA, not a base.",
    }.get(char, "Digits, punctuation and other symbols are not bases: clean the file, or replace them with N.")
    return FastaFormatError(
        f"{where}: invalid character {char!r}; expected A, C, G, T, N or an IUPAC nucleotide code. {hint}"
    )


# --------------------------------------------------------------------------------------------
# In-memory records


class _InMemory:
    """An iterable of SeqRecords or (name, sequence) pairs, as one input."""

    def __init__(self, items: Iterator):
        self.items = items


def _is_record(item) -> bool:
    from Bio.SeqRecord import SeqRecord

    return isinstance(item, SeqRecord) or (isinstance(item, (tuple, list)) and len(item) == 2
                                           and isinstance(item[0], str))


def as_sources(sources) -> list:
    """A list of inputs: paths, ``"-"``, handles, or one group of in-memory records.

    ``sources`` may be one path or handle, a list of them, an iterable (a list, a generator,
    ``SeqIO.parse(...)``) of ``SeqRecord`` objects or ``(name, sequence)`` pairs, or a
    ``{name: sequence}`` mapping.
    """
    if isinstance(sources, (str, os.PathLike)) or hasattr(sources, "read"):
        return [sources]
    if isinstance(sources, _InMemory):
        return [sources]
    if isinstance(sources, Mapping):  # {name: sequence}
        return [_InMemory(iter(sources.items()))]
    items = iter(sources)
    first = next(items, _InMemory)
    if first is _InMemory:
        return []
    if _is_record(first):
        return [_InMemory(itertools.chain([first], items))]
    return [first, *items]


def is_in_memory(sources: list) -> bool:
    """Whether a list from :func:`as_sources` holds in-memory records (nothing to re-read or hash)."""
    return any(isinstance(s, _InMemory) for s in sources)


def _sequence_bytes(seq, name: str) -> bytes:
    if isinstance(seq, str):
        try:
            return seq.encode("latin-1")
        except UnicodeEncodeError as exc:
            raise FastaFormatError(f"{IN_MEMORY}, record {name!r}, base {exc.start + 1}: invalid character "
                                   f"{seq[exc.start]!r}; expected A, C, G, T, N or an IUPAC nucleotide code.") from None
    if isinstance(seq, (bytes, bytearray, memoryview)):
        return bytes(seq)
    from Bio.Seq import Seq
    from Bio.SeqRecord import SeqRecord

    if isinstance(seq, Seq):
        return _record_bytes(SeqRecord(seq, id=name), IN_MEMORY, name, "record")
    raise FastaFormatError(f"{IN_MEMORY}, record {name!r}: expected the sequence as a str, bytes or Bio.Seq.Seq, "
                           f"got {type(seq).__name__}.")


def _memory_records(items: Iterator) -> Iterator[tuple[int, str, str, bytes]]:
    from Bio.SeqRecord import SeqRecord

    for index, item in enumerate(items):
        if isinstance(item, SeqRecord):
            name, desc = str(item.id), str(item.description)
            raw = _record_bytes(item, IN_MEMORY, name, "record")
        elif _is_record(item):
            (name, seq), desc = item, ""
            raw = _sequence_bytes(seq, name)
        else:
            raise FastaFormatError(f"{IN_MEMORY}, item {index + 1}: expected a Bio.SeqRecord.SeqRecord or a "
                                   f"(name, sequence) pair, got {type(item).__name__}.")
        if not name or len(name.split()) != 1 or name.split()[0] != name:
            raise FastaFormatError(f"{IN_MEMORY}, item {index + 1}: the record name {name!r} is empty or holds "
                                   "white space; give every record a one-word name (it is written into outputs).")
        yield index, name, desc, raw


def in_memory_provenance(genome) -> dict:
    """What a run records for in-memory input: names, lengths and the SHA-256 of the packed codes."""
    digest = hashlib.sha256()
    packed = np.ascontiguousarray(genome.packed)
    for i in range(0, packed.size, 1 << 24):
        digest.update(memoryview(packed[i:i + (1 << 24)]))
    return {"path": IN_MEMORY, "kind": "in-memory records", "size": int(genome.total_length),
            "sha256": digest.hexdigest(), "sha256_of": "the encoded (packed) sequence, records end to end",
            "records": [{"name": n, "length": int(n_)} for n, n_ in zip(genome.names, genome.lengths.tolist())]}


# --------------------------------------------------------------------------------------------
# Encoding one record and the reading loop


def _encode(o: _Opened, index: int, name: str, raw: bytes, policy: EncodingPolicy,
            with_stats: bool = True) -> tuple[bytes, RecordStats | None]:
    """Packed codes and statistics of one record's sequence bytes.

    Without ``with_stats`` the statistics are left to the caller (None) when the packed codes
    hold them all (no IUPAC code or U, whose letters become N or T).
    """
    codes = raw.translate(encoding.READER_TABLE)
    if codes.find(encoding.INVALID) >= 0:
        if raw.find(b"\t") >= 0:  # tabs inside sequence lines are white space (spaces Biopython removed)
            codes = raw.translate(encoding.READER_TABLE, b"\t")
        if codes.find(encoding.INVALID) >= 0:
            raise _bad_char(o, index, name, raw)
    arr = np.frombuffer(codes, dtype=np.uint8)
    if not with_stats and arr.size and arr.max() < encoding.SPECIAL:
        return codes, None
    counts = byte_counts(arr)
    if counts[encoding.SPECIAL:].any():
        bad = encoding.check_special(arr, policy)
        if bad is not None:
            raise encoding.policy_error(bad[1], f"in {o.label}, record {name!r}, base {bad[0] + 1}")
        codes = codes.translate(encoding.FIXUP_TABLE)
        arr = np.frombuffer(codes, dtype=np.uint8)
    return codes, RecordStats.from_counts(name, counts, arr)


def byte_counts(arr: np.ndarray) -> np.ndarray:
    """``(256,) int64`` histogram of ``(L,) uint8`` values.

    Counts byte pairs (``uint16``), about twice as fast as ``np.bincount`` of the bytes, in
    slices so that the ``int64`` widening stays a few MB.

    >>> byte_counts(np.array([1, 1, 4], dtype=np.uint8))[[1, 4]].tolist()
    [2, 1]
    """
    pairs = arr[: arr.size // 2 * 2].view(np.uint16)
    c = np.zeros(1 << 16, dtype=np.int64)
    for i in range(0, pairs.size, _COUNT_SLICE):
        c += np.bincount(pairs[i:i + _COUNT_SLICE], minlength=1 << 16)
    c = c.reshape(256, 256)
    counts = c.sum(axis=0) + c.sum(axis=1)
    if arr.size % 2:
        counts[arr[-1]] += 1
    return counts


def _open_source(source, format: str | None, progress) -> _Opened:
    if isinstance(source, _InMemory):
        return _Opened(stream=source.items, label=IN_MEMORY, compression="none", format="records", size=None,
                       raw=None, close=lambda: None)
    return _open(source, format, progress)


def _records_of(o: _Opened) -> Iterator[tuple[int, str, str, bytes]]:
    if o.format == "records":
        return _memory_records(o.stream)
    if o.format == "fasta":
        return _fasta_records(o)
    return _seqio_records(o)


def scan(
    sources,
    policy: EncodingPolicy | None = None,
    records: Iterable[str] | None = None,
    progress: Callable[[int, int | None, str], None] | None = None,
    on_source: Callable[[dict], None] | None = None,
    format: str | None = None,
    with_stats: bool = True,
) -> Iterator[tuple[bytes, str, str, RecordStats | None, str]]:
    """Low-level reader shared by :func:`read_fasta` and :func:`genorm.genome.read_genome`.

    For each kept, non-empty record yields ``(packed, name, description, stats, label)``, where
    ``packed`` is the record's packed codes as ``bytes``. ``on_source`` receives ``{"path",
    "format", "compression", "size"}`` for each input opened. With ``with_stats=False``,
    ``stats`` is None where the packed codes hold them (see :class:`Record`).
    """
    policy = policy or EncodingPolicy()
    check_format(format)
    wanted = None if records is None else set(records)
    seen: dict[str, tuple[_Opened, int]] = {}
    found: set[str] = set()
    for source in as_sources(sources):
        o = _open_source(source, format, progress)
        if on_source is not None:
            on_source({"path": o.label, "format": o.format, "compression": o.compression, "size": o.size})
        try:
            yield from _scan_one(o, policy, wanted, seen, found, with_stats)
            _check_unchanged(o, sequential=o.format != "2bit")
        finally:
            o.close()
    if wanted is not None:
        missing = [r for r in (records or []) if r not in found]
        if missing:
            available = ", ".join(list(seen)[:10]) + (" ..." if len(seen) > 10 else "")
            raise RecordSelectionError(
                f"Record(s) not found: {', '.join(missing)}. Available records: {available or 'none'}."
            )


def _scan_one(o: _Opened, policy, wanted, seen, found, with_stats) -> Iterator[tuple[bytes, str, str, RecordStats, str]]:
    headers = kept = 0
    empty: list[str] = []
    for index, name, desc, raw in _records_of(o):
        headers += 1
        if name in seen:
            first_o, first_index = seen[name]
            raise FastaFormatError(
                f"{_where(o, index, None)}: duplicate record name {name!r} (first seen at "
                f"{_where(first_o, first_index, None)}). Record names must be unique: rename one of them."
            )
        seen[name] = (o, index)
        if wanted is not None and name not in wanted:
            continue
        found.add(name)
        if callable(raw):
            raw = raw()
        codes, stats = _encode(o, index, name, raw, policy, with_stats)
        del raw
        if not codes:
            # Said once the file is known to hold some sequence (else the error below says it all).
            empty.append(f"{o.label}: record {name!r} is empty; skipped.")
            continue
        for message in empty:
            logger.warning(message)
        empty.clear()
        kept += 1
        if o.tick is not None:
            o.tick()
        box = [(codes, name, desc, stats, o.label)]
        del codes
        yield box.pop()  # held by the caller only: one record's codes in memory at a time
    if kept:
        for message in empty:
            logger.warning(message)
    elif not headers:  # Biopython's GenBank/EMBL parsers skip what they do not recognise
        shown = o.head.lstrip()[:30].decode("latin-1")
        raise FastaFormatError(f"{o.label}: no {o.format} records found (the content starts with {shown!r}). "
                               "Check the file, or let genorm detect the format (drop --format).")
    elif wanted is None:
        what = "header line(s)" if o.format == "fasta" else "record(s)"
        raise FastaFormatError(f"{o.label}: no sequence: {headers} {what} but every record is empty. "
                               "Give a file with sequence under its headers.")


# --------------------------------------------------------------------------------------------
# Public entry points


def read_fasta(
    sources,
    policy: EncodingPolicy | None = None,
    records: Iterable[str] | None = None,
    progress: Callable[[int, int | None, str], None] | None = None,
    format: str | None = None,
) -> Iterator[Record]:
    """Read and encode genome records one at a time (FASTA, GenBank, EMBL, 2bit or in-memory records).

    Args:
        sources: a path, ``"-"`` for standard input, a binary or text handle, a list of them, or
            an iterable of ``Bio.SeqRecord.SeqRecord`` / ``(name, sequence)`` pairs. Plain, gzip
            and bgzip are told apart by the first bytes, not the name.
        policy: how lower case, N, IUPAC codes and U are treated (:class:`EncodingPolicy`).
        records: names of the records to keep (default: all). Naming a record that is not in
            the input is an error.
        progress: called as ``progress(bytes_read, total_bytes_or_None, label)`` per block.
        format: ``"fasta"``, ``"genbank"``, ``"embl"`` or ``"2bit"``; default None detects it
            from the content.

    Yields:
        :class:`Record` objects (``packed`` read-only), one in memory at a time; empty records
        are skipped with a warning.

    Raises:
        FastaFormatError, EncodingPolicyError, InputFileError, RecordSelectionError, ConfigError.

    >>> import io
    >>> [r.sequence for r in read_fasta(io.BytesIO(b">a\\nACgt\\nNN\\n>b\\nRT\\n"))]
    ['ACgtNN', 'NT']
    >>> [r.sequence for r in read_fasta([("x", "ACGT"), ("y", "nnA")])]
    ['ACGT', 'nnA']
    """
    for codes, name, desc, stats, label in scan(sources, policy, records, progress, format=format, with_stats=False):
        yield Record(name=name, description=desc, packed=np.frombuffer(codes, dtype=np.uint8), _stats=stats,
                     source=label)


def write_fasta(records: Iterable, handle, wrap: int = 60) -> int:
    """Write records as FASTA through ``Bio.SeqIO.FastaIO.FastaWriter``; returns the number written.

    Args:
        records: ``SeqRecord`` objects or ``(name, sequence[, description])`` tuples.
        handle: a text handle open for writing.
        wrap: letters per sequence line.

    Raises:
        ConfigError: a name that is empty or holds white space, or a description with a line break
            (either would break the FASTA format).
    """
    from Bio.Seq import Seq
    from Bio.SeqIO.FastaIO import FastaWriter
    from Bio.SeqRecord import SeqRecord

    from genorm.errors import ConfigError

    def as_record(item) -> SeqRecord:
        if not isinstance(item, SeqRecord):
            name, seq, *rest = item
            item = SeqRecord(Seq(seq), id=name, description=rest[0] if rest else "")
        if not item.id or item.id.split() != [item.id]:
            raise ConfigError(f"Received an invalid record name {item.id!r}: a FASTA name must be one word "
                              "without white space.")
        if any(c in item.description for c in "\r\n"):
            raise ConfigError(f"Received a record description with a line break: {item.description!r}.")
        return item

    return FastaWriter(handle, wrap=wrap).write_records(as_record(r) for r in records)
