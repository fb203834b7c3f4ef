"""Streaming FASTA reader: plain, gzip or BGZF, from a path, a handle or standard input.

The reader works on bytes, a few MB at a time, and translates each block of sequence
through one 256-entry table (``encoding.READER_TABLE``) into packed codes, deleting line
breaks on the way. Only one record (or, for :func:`genorm.genome.read_genome`, one flat
genome array) is ever held: memory is one byte per base, whatever the line width.

Everything that is not a FASTA file of nucleotides is an error naming the file, the record,
the line and column and the offending value, and saying what to do.
"""

from __future__ import annotations

import gzip
import io
import logging
import os
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from genorm import encoding
from genorm.encoding import EncodingPolicy
from genorm.errors import FastaFormatError, InputFileError, RecordSelectionError

logger = logging.getLogger(__name__)

CHUNK_SIZE = 1 << 21
"""Bytes read from the (decompressed) input at a time."""
_COUNT_SLICE = 1 << 19

_WHITESPACE = b" \t\r\n"
_LUT = np.frombuffer(encoding.READER_TABLE, dtype=np.uint8)
_PROTEIN_ONLY = set("EFILPQJOXZefilpqjoxz")



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
        stats: what the record contained (:class:`RecordStats`).
        source: the file it came from.
    """

    name: str
    description: str
    packed: np.ndarray
    stats: RecordStats
    source: str = ""

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
    """A binary stream that first returns ``head``, then reads ``rest``."""

    def __init__(self, head: bytes, rest):
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if self._head:
            if n is None or n < 0:
                out, self._head = self._head + _read_bytes(self._rest, -1), b""
                return out
            out, self._head = self._head[:n], self._head[n:]
            return out
        return _read_bytes(self._rest, n)

    def readinto(self, b) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)


def _read_bytes(handle, n: int) -> bytes:
    data = handle.read(n)
    if isinstance(data, str):
        data = data.encode("utf-8")
    return data


@dataclass
class _Opened:
    stream: object
    label: str
    format: str
    size: int | None
    raw: object
    close: Callable[[], None]


def sniff_format(head: bytes) -> str:
    """'gzip', 'bgzf', 'bzip2', 'xz', 'zstd', 'zip' or 'plain' from a file's first bytes."""
    if head[:2] == b"\x1f\x8b":
        if len(head) >= 14 and head[3] & 4 and head[12:14] == b"BC":
            return "bgzf"
        return "gzip"
    for magic, name in ((b"BZh", "bzip2"), (b"\xfd7zXZ\x00", "xz"), (b"\x28\xb5\x2f\xfd", "zstd"), (b"PK\x03\x04", "zip")):
        if head.startswith(magic):
            return name
    return "plain"


def _open(source) -> _Opened:
    """Open a path, '-' or a handle as a binary stream of decompressed FASTA text."""
    if isinstance(source, (str, os.PathLike)):
        if str(source) == "-":
            raw, label, size, closer = sys.stdin.buffer, "<stdin>", None, (lambda: None)
        else:
            path = Path(source)
            label = str(path)
            try:
                raw = open(path, "rb")  # noqa: SIM115 - closed by the caller through `close`
            except FileNotFoundError:
                raise InputFileError(f"{label}: no such file. Check the path.") from None
            except IsADirectoryError:
                raise InputFileError(f"{label}: is a directory, not a FASTA file. Give the path of a .fa/.fasta(.gz) file.") from None
            except PermissionError:
                raise InputFileError(f"{label}: permission denied. Check the file's permissions.") from None
            except OSError as exc:
                raise InputFileError(f"{label}: cannot open ({exc.strerror or exc}).") from None
            size = os.fstat(raw.fileno()).st_size
            closer = raw.close
    else:
        raw, size, closer = source, None, (lambda: None)
        label = getattr(source, "name", None) or "<handle>"
        label = str(label)
    try:
        head = _read_bytes(raw, 18)
    except IsADirectoryError:
        closer()
        raise InputFileError(f"{label}: is a directory, not a FASTA file.") from None
    except OSError as exc:
        closer()
        raise InputFileError(f"{label}: cannot read ({exc}).") from None
    fmt = sniff_format(head)
    if fmt in ("bzip2", "xz", "zstd", "zip"):
        closer()
        raise InputFileError(
            f"{label}: is {fmt}-compressed; genorm reads plain, gzip and bgzip FASTA. "
            f"Decompress it first (or recompress with gzip/bgzip)."
        )
    stream = _Prefixed(head, raw)
    if fmt in ("gzip", "bgzf"):
        stream = gzip.GzipFile(fileobj=stream, mode="rb")
    return _Opened(stream=stream, label=label, format=fmt, size=size, raw=raw, close=closer)


# --------------------------------------------------------------------------------------------
# The scanner


class _Scanner:
    """Splits a decompressed FASTA byte stream into records, translating sequence into ``out``.

    ``out`` is a bytearray the caller owns; each record's codes are appended to it and the
    scanner yields ``(name, description, header_line, start, end, counts)`` per record.
    """

    def __init__(self, opened: _Opened, policy: EncodingPolicy, wanted: set[str] | None,
                 progress: Callable[[int], None] | None):
        self.o = opened
        self.policy = policy
        self.wanted = wanted
        self.progress = progress
        self.line = 1          # line number at the start of the current block
        self.col = 0           # bytes since the last newline at the start of the current block
        self.at_line_start = True

    def _read(self) -> bytes:
        try:
            data = self.o.stream.read(CHUNK_SIZE)
        except EOFError:
            raise InputFileError(
                f"{self.o.label}: the gzip stream is truncated (it ends before its end-of-stream marker). "
                "The file was probably cut short while downloading or copying: fetch it again."
            ) from None
        except (gzip.BadGzipFile, zlib.error) as exc:
            raise InputFileError(
                f"{self.o.label}: corrupt gzip data ({exc}). Check the file with `gzip -t` and fetch it again."
            ) from None
        except OSError as exc:
            raise InputFileError(f"{self.o.label}: read error ({exc}).") from None
        if self.progress is not None:
            try:
                self.progress(self.o.raw.tell())
            except (OSError, AttributeError, ValueError):
                pass
        return data

    def _advance(self, block: bytes) -> None:
        """Move the line/column position past ``block``."""
        if not block:
            return
        newlines = block.count(b"\n") if len(block) < 65536 else int(
            np.count_nonzero(np.frombuffer(block, dtype=np.uint8) == 10))
        if newlines:
            self.line += newlines
            self.col = len(block) - block.rfind(b"\n") - 1
        else:
            self.col += len(block)
        self.at_line_start = block.endswith(b"\n")

    def _where(self, block: bytes, i: int) -> str:
        """'line L, column C' of byte ``i`` of ``block``."""
        before = block[:i]
        nl = before.count(b"\n")
        col = i - before.rfind(b"\n") if nl else self.col + i + 1
        return f"line {self.line + nl}, column {col}"

    def _bad_char(self, block: bytes, name: str | None) -> FastaFormatError:
        arr = np.frombuffer(block, dtype=np.uint8)
        bad = (_LUT[arr] == encoding.INVALID) & ~np.isin(arr, np.frombuffer(_WHITESPACE, dtype=np.uint8))
        i = int(np.flatnonzero(bad)[0])
        byte = block[i]
        where = f"{self.o.label}, record {name!r}, {self._where(block, i)}" if name else f"{self.o.label}, {self._where(block, i)}"
        if byte >= 0x80 or (byte < 0x20 and byte not in (9, 10, 13)):
            return FastaFormatError(
                f"{where}: byte 0x{byte:02x} is not text; this looks like a binary file, not FASTA. "
                "Give a plain, gzip or bgzip FASTA file."
            )
        char = chr(byte)
        if char in _PROTEIN_ONLY:
            return FastaFormatError(
                f"{where}: found {char!r}, which is not a nucleotide; this looks like a protein FASTA. "
                "genorm models DNA: give a nucleotide FASTA."
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

    def _preamble_error(self, data: bytes) -> FastaFormatError:
        stripped = data.lstrip()
        first = stripped[:1]
        label = self.o.label
        if not stripped:
            return FastaFormatError(
                f"{label}: no FASTA records: the file holds only blank lines. Give a FASTA file with at least one record."
            )
        if first == b"@":
            return FastaFormatError(
                f"{label}: this is FASTQ, not FASTA (line 1 starts with '@'). Convert it first, "
                "e.g. `seqkit fq2fa` or `awk 'NR%4==1{print \">\"substr($0,2)} NR%4==2'`."
            )
        if any(b >= 0x80 or (b < 0x20 and b not in (9, 10, 13)) for b in stripped[:64]):
            return FastaFormatError(
                f"{label}: this looks like a binary file, not FASTA (first bytes {stripped[:8]!r}). "
                "Give a plain, gzip or bgzip FASTA file."
            )
        line_no = data[: len(data) - len(stripped)].count(b"\n") + 1
        shown = stripped.split(b"\n", 1)[0][:40].decode("latin-1")
        return FastaFormatError(
            f"{label}: no FASTA header: expected a line starting with '>' at line {line_no}, got {shown!r}. "
            "Add a header line such as '>chr1' before the sequence."
        )

    def records(self, out_factory: Callable[[], bytearray]) -> Iterator[tuple[bytearray, str, str, int, int, int, np.ndarray]]:
        pending = b""       # bytes of an incomplete header line
        out = bytearray()
        name: str | None = None
        desc = ""
        header_line = 0
        keep = False
        start = 0
        counts = np.zeros(256, dtype=np.int64)
        in_header = False
        seen_any = False
        started = False
        at_eof = False
        while True:
            data = self._read() if not at_eof else b""
            if not data:
                if not (in_header and seen_any) or at_eof:
                    break
                at_eof, data = True, b"\n"  # the last line is a header without a newline: end it
            seen_any = True
            buf = pending + data if pending else data
            pending = b""
            pos = 0
            n = len(buf)
            while pos < n:
                if in_header:
                    nl = buf.find(b"\n", pos)
                    if nl < 0:
                        pending = buf[pos:]
                        pos = n
                        break
                    title = buf[pos:nl].rstrip(b"\r")
                    header_line = self.line
                    self._advance(buf[pos:nl + 1])
                    name, desc = self._parse_title(title, header_line)
                    keep = self.wanted is None or name in self.wanted
                    out = out_factory()
                    start = len(out)
                    counts = np.zeros(256, dtype=np.int64)
                    in_header = False
                    pos = nl + 1
                    continue
                gt = buf.find(b">", pos)
                end = gt if gt >= 0 else n
                block = buf[pos:end]
                if not started:
                    if block.strip():
                        raise self._preamble_error(block)
                elif keep and block:
                    codes = block.translate(encoding.READER_TABLE, _WHITESPACE)
                    if codes.find(encoding.INVALID) >= 0:
                        raise self._bad_char(block, name)
                    if codes:
                        arr = np.frombuffer(codes, dtype=np.uint8)
                        for i in range(0, arr.size, _COUNT_SLICE):  # bincount widens to int64: slice it
                            counts += np.bincount(arr[i:i + _COUNT_SLICE], minlength=256)
                        out += codes
                if gt < 0:
                    self._advance(block)
                    pos = n
                    break
                # A '>' must begin a line.
                if not (self.at_line_start if not block else block.endswith(b"\n")):
                    raise self._bad_char(buf[pos:gt + 1], name)
                self._advance(block)
                if started:
                    yield out, name, desc, header_line, start, len(out), counts
                started = True
                in_header = True
                pos = gt + 1
        if not seen_any:
            raise FastaFormatError(f"{self.o.label}: the file is empty. Give a FASTA file with at least one record.")
        if not started:
            raise self._preamble_error(pending or b"")
        yield out, name, desc, header_line, start, len(out), counts

    def _parse_title(self, title: bytes, line: int) -> tuple[str, str]:
        text = title.decode("utf-8", errors="replace")
        parts = text.split(None, 1)
        if not parts:
            raise FastaFormatError(
                f"{self.o.label}, line {line}: the header line has no record name. Give every record a name, e.g. '>chr1'."
            )
        return parts[0], parts[1] if len(parts) > 1 else ""


# --------------------------------------------------------------------------------------------
# Public entry points


def _as_sources(sources) -> list:
    if isinstance(sources, (str, os.PathLike)) or hasattr(sources, "read"):
        return [sources]
    return list(sources)


def scan(
    sources,
    out_factory: Callable[[], bytearray],
    policy: EncodingPolicy | None = None,
    records: Iterable[str] | None = None,
    progress: Callable[[int, int | None, str], None] | None = None,
    on_source: Callable[[dict], None] | None = None,
) -> Iterator[tuple[bytearray, int, int, str, str, RecordStats, str]]:
    """Low-level reader shared by :func:`read_fasta` and :func:`genorm.genome.read_genome`.

    For each kept, non-empty record yields ``(out, start, end, name, description, stats, label)``
    where ``out[start:end]`` holds the record's packed codes. ``out_factory`` is called before
    each record: return a fresh bytearray for one record at a time, or the same one to build a
    flat genome. ``on_source`` receives ``{"path", "format", "size"}`` for each input opened.
    """
    policy = policy or EncodingPolicy()
    wanted = None if records is None else set(records)
    seen: dict[str, str] = {}
    found: set[str] = set()
    for source in _as_sources(sources):
        opened = _open(source)
        if on_source is not None:
            on_source({"path": opened.label, "format": opened.format, "size": opened.size})
        try:
            cb = None
            if progress is not None:
                label, size = opened.label, opened.size
                cb = lambda done, _l=label, _s=size: progress(done, _s, _l)  # noqa: E731
            scanner = _Scanner(opened, policy, wanted, cb)
            headers = kept = 0
            empty: list[str] = []
            for out, name, desc, line, start, end, counts in scanner.records(out_factory):
                where = f"{opened.label}, line {line}"
                headers += 1
                if name in seen:
                    raise FastaFormatError(
                        f"{where}: duplicate record name {name!r} (first seen at {seen[name]}). "
                        "Record names must be unique: rename one of them."
                    )
                seen[name] = where
                if wanted is not None and name not in wanted:
                    continue
                found.add(name)
                if end == start:
                    # Said once the file is known to hold some sequence (else the error below says it all).
                    empty.append(where + f": record {name!r} is empty; skipped.")
                    continue
                for message in empty:
                    logger.warning(message)
                empty.clear()
                view = np.frombuffer(out, dtype=np.uint8, count=end - start, offset=start)
                if counts[encoding.SPECIAL:].any():
                    bad = encoding.check_special(view, policy)
                    if bad is not None:
                        del view
                        raise encoding.policy_error(bad[1], f"in {opened.label}, record {name!r}, base {bad[0] + 1}")
                    view[:] = np.frombuffer(encoding.FIXUP_TABLE, dtype=np.uint8)[view]
                stats = RecordStats.from_counts(name, counts, view)
                del view
                kept += 1
                yield out, start, end, name, desc, stats, opened.label
            if kept:
                for message in empty:
                    logger.warning(message)
            elif wanted is None:
                raise FastaFormatError(
                    f"{opened.label}: no sequence: {headers} header line(s) but every record is empty. "
                    "Give a FASTA file with sequence lines under its headers."
                )
        finally:
            opened.close()
    if wanted is not None:
        missing = [r for r in (records or []) if r not in found]
        if missing:
            available = ", ".join(list(seen)[:10]) + (" ..." if len(seen) > 10 else "")
            raise RecordSelectionError(
                f"Record(s) not found: {', '.join(missing)}. Available records: {available or 'none'}."
            )


def read_fasta(
    sources,
    policy: EncodingPolicy | None = None,
    records: Iterable[str] | None = None,
    progress: Callable[[int, int | None, str], None] | None = None,
) -> Iterator[Record]:
    """Read and encode FASTA records one at a time.

    Args:
        sources: a path, ``"-"`` for standard input, a binary or text handle, or a list of them.
            Plain, gzip and bgzip are told apart by the first bytes, not the name.
        policy: how lower case, N, IUPAC codes and U are treated (:class:`EncodingPolicy`).
        records: names of the records to keep (default: all). Naming a record that is not in
            the input is an error.
        progress: called as ``progress(bytes_read, total_bytes_or_None, label)`` per block.

    Yields:
        :class:`Record` objects, one in memory at a time; empty records are skipped with a warning.

    Raises:
        FastaFormatError, EncodingPolicyError, InputFileError, RecordSelectionError.

    >>> import io
    >>> [r.sequence for r in read_fasta(io.BytesIO(b">a\\nACgt\\nNN\\n>b\\nRT\\n"))]
    ['ACgtNN', 'NT']
    """
    for out, start, end, name, desc, stats, label in scan(sources, bytearray, policy, records, progress):
        packed = np.frombuffer(out, dtype=np.uint8)
        if start or end != len(out):
            packed = packed[start:end]
        yield Record(name=name, description=desc, packed=packed, stats=stats, source=label)
