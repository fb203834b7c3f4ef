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

This module is the public front; the work is done by three below it, in data-flow order:
:mod:`genorm.reading.sources` opens a path, ``"-"`` or a handle (decompression, sniffing, FIFOs, I/O
errors), :mod:`genorm.reading.formats` parses each format through ``Bio.SeqIO`` into plain
``(index, name, description, sequence)`` tuples (and words the errors), and
:mod:`genorm.reading.in_memory` does the same for records already in memory. Here each record's bytes are
encoded and counted (:class:`Record`, :class:`RecordStats`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from genorm import encoding
from genorm.encoding import EncodingPolicy
from genorm.errors import FastaFormatError, RecordSelectionError, first_names
from genorm.reading.formats import FORMATS, bad_character_error, check_format, fasta_records, seqio_records, where
from genorm.reading.in_memory import (
    IN_MEMORY,
    InMemory,
    as_sources,
    in_memory_provenance,
    in_memory_records,
    is_in_memory,
    open_in_memory,
)
from genorm.reading.sources import (
    CHUNK_SIZE,
    FIFO_WAIT,
    Opened,
    check_unchanged,
    open_source,
    sniff_compression,
    sniff_format,
)

__all__ = [
    "CHUNK_SIZE", "FIFO_WAIT", "FORMATS", "IN_MEMORY", "Record", "RecordStats", "as_sources", "byte_counts",
    "check_format", "in_memory_provenance", "is_in_memory", "read_fasta", "scan", "sniff_compression",
    "sniff_format", "write_fasta",
]
# CHUNK_SIZE and FIFO_WAIT are re-exported to be read; to change them, set genorm.reading.sources.CHUNK_SIZE / FIFO_WAIT.

logger = logging.getLogger(__name__)

_COUNT_SLICE = 1 << 19


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
    def from_counts(cls, name: str, counts: np.ndarray, packed: np.ndarray | None,
                    runs: tuple[int, int] | None = None) -> RecordStats:
        """Stats from the 256-bin histogram of reader values and the final packed codes (or, when
        ``packed`` is None, the N runs already counted: ``runs``; the length is the histogram's total)."""
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
            name=name, length=int(packed.size) if packed is not None else sum(c),
            a=c[0] + c[flag], c=c[1] + c[1 | flag], g=c[2] + c[2 | flag], t=c[3] + c[3 | flag] + u,
            n=c[4] + c[4 | flag] + sum(iupac.values()), soft_masked=lower, iupac=iupac, u=u,
        )
        if stats.n:
            if packed is not None:
                found = encoding.n_runs(packed)
                runs = (len(found), max((b - a for a, b in found), default=0))
            stats.n_runs, stats.longest_n_run = runs
        return stats


class _NRunCounter:
    """Counts runs of N over consecutive blocks of packed codes (a run may span blocks)."""

    def __init__(self) -> None:
        self.runs = self.longest = self.current = 0  # `current`: length of the run still open at the block edge

    def add(self, packed: np.ndarray) -> None:
        x = (np.bitwise_and(packed, encoding.CODE_BITS) == encoding.N).view(np.int8)
        if not x.any():
            self.longest, self.current = max(self.longest, self.current), 0
            return
        d = np.diff(x)
        starts = np.flatnonzero(d == 1) + 1
        ends = np.flatnonzero(d == -1) + 1
        if x[0]:
            starts = np.concatenate([[0], starts])
        if x[-1]:
            ends = np.concatenate([ends, [x.size]])
        lengths = ends - starts
        if x[0] and self.current:
            lengths[0] += self.current      # the open run continues into this block
            self.runs -= 1
        elif self.current:
            self.longest = max(self.longest, self.current)
        self.runs += lengths.size
        if x[-1]:
            self.current, lengths = int(lengths[-1]), lengths[:-1]
        else:
            self.current = 0
        if lengths.size:
            self.longest = max(self.longest, int(lengths.max()))

    def result(self) -> tuple[int, int]:
        return self.runs, max(self.longest, self.current)


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
# Encoding one record and the reading loop


def _encode(o: Opened, index: int, name: str, raw: bytes, policy: EncodingPolicy,
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
            raise bad_character_error(o, index, name, raw)
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


_STATS_CHUNK = 1 << 20  # bytes :func:`_count` translates at a time: cache-sized, reusing freed memory (no page faults)


def _count(o: Opened, index: int, name: str, raw: bytes | str, policy: EncodingPolicy) -> tuple[int, RecordStats]:
    """``(length, stats)`` of one record, its codes not kept: :func:`_encode`'s checks a chunk at a time; a chunk
    with a tab, a bad or a forbidden letter hands the record to :func:`_encode` (its usual error, or tabs read)."""
    counts = np.zeros(256, dtype=np.int64)
    runs = _NRunCounter()
    for i in range(0, len(raw), _STATS_CHUNK):
        chunk = raw[i:i + _STATS_CHUNK]
        codes = (chunk.encode("latin-1") if isinstance(chunk, str) else chunk).translate(encoding.READER_TABLE)
        if codes.find(encoding.INVALID) >= 0:
            break
        arr = np.frombuffer(codes, dtype=np.uint8)
        c = byte_counts(arr)
        if c[encoding.SPECIAL:].any():
            if encoding.check_special(arr, policy) is not None:
                break
            arr = np.frombuffer(codes.translate(encoding.FIXUP_TABLE), dtype=np.uint8)
        counts += c
        has_n = c[encoding.N] or c[encoding.N | encoding.SOFT_MASK_FLAG] or c[encoding.SPECIAL:].any()
        runs.add(arr if has_n else arr[:0])  # no N in the chunk (its counts say): a run still open ends here
    else:
        return int(counts.sum()), RecordStats.from_counts(name, counts, None, runs.result())
    codes, stats = _encode(o, index, name, raw.encode("latin-1") if isinstance(raw, str) else raw, policy)  # the
    # usual error, or tabs read as white space
    return len(codes), stats


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


def _open(source, format: str | None, progress) -> Opened:
    if isinstance(source, InMemory):
        return open_in_memory(source)
    return open_source(source, format, progress)


def _records_of(o: Opened) -> Iterator[tuple[int, str, str, bytes]]:
    if o.format == "records":
        return in_memory_records(o.stream)
    if o.format == "fasta":
        return fasta_records(o)
    return seqio_records(o)


def check_policy(policy) -> EncodingPolicy:
    """``policy``, or the default policy for None; anything else (a string such as "strict") is refused."""
    from genorm.validate import Brief, invalid

    if policy is None:
        return EncodingPolicy()
    if not isinstance(policy, EncodingPolicy):
        raise invalid("policy", "an EncodingPolicy (genorm.encoding.EncodingPolicy) or None", Brief(policy))
    return policy


def scan(
    sources,
    policy: EncodingPolicy | None = None,
    records: Iterable[str] | None = None,
    progress: Callable[[int, int | None, str], None] | None = None,
    on_source: Callable[[dict], None] | None = None,
    format: str | None = None,
    with_stats: bool = True,
    keep_codes: bool = True,
) -> Iterator[tuple[bytes | None, str, str, RecordStats | None, str]]:
    """Low-level reader shared by :func:`read_fasta` and :func:`genorm.genome.array.read_genome`.

    For each kept, non-empty record yields ``(packed, name, description, stats, label)``, where
    ``packed`` is the record's packed codes as ``bytes``. ``on_source`` receives ``{"path",
    "format", "compression", "size"}`` for each input opened. With ``with_stats=False``,
    ``stats`` is None where the packed codes hold them (see :class:`Record`). With
    ``keep_codes=False`` only the statistics are made (the same checks), and ``packed`` is None.
    """
    policy = check_policy(policy)
    check_format(format)
    from genorm.validate import check_names

    wanted = None if records is None else set(check_names("records", records))
    seen: dict[str, tuple[Opened, int]] = {}
    found: set[str] = set()
    for source in as_sources(sources):
        o = _open(source, format, progress)
        if on_source is not None:
            on_source({"path": o.label, "format": o.format, "compression": o.compression, "size": o.size})
        try:
            yield from _scan_one(o, policy, wanted, seen, found, with_stats, keep_codes)
            check_unchanged(o, sequential=o.format != "2bit")
        finally:
            o.close()
    if wanted is not None:
        missing = [r for r in (records or []) if r not in found]
        if missing:
            available = first_names(seen)
            raise RecordSelectionError(
                f"Record(s) not found: {', '.join(missing)}. Available records: {available or 'none'}."
            )


def _scan_one(o: Opened, policy, wanted, seen, found, with_stats,
              keep_codes=True) -> Iterator[tuple[bytes | None, str, str, RecordStats, str]]:
    headers = kept = 0
    empty: list[str] = []
    for index, name, desc, raw in _records_of(o):
        headers += 1
        if name in seen:
            first_o, first_index = seen[name]
            raise FastaFormatError(
                f"{where(o, index, None)}: duplicate record name {name!r} (first seen at "
                f"{where(first_o, first_index, None)}). Record names must be unique: rename one of them."
            )
        seen[name] = (o, index)
        if wanted is not None and name not in wanted:
            continue
        found.add(name)
        if callable(raw):
            raw = raw()
        if keep_codes:
            raw = raw.encode("latin-1") if isinstance(raw, str) else raw  # FASTA text, encoded whole: text freed
            codes, stats = _encode(o, index, name, raw, policy, with_stats)
            length = len(codes)
        else:
            (length, stats), codes = _count(o, index, name, raw, policy), None
        del raw
        if not length:
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
