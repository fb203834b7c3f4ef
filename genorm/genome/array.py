"""Genome: every record of one or more FASTA files as one flat ``uint8`` array.

``Genome.packed`` is ``(G,) uint8`` packed codes (base code 0-4, | 8 where soft-masked; see
:mod:`genorm.encoding`), records laid end to end; ``Genome.offsets`` is ``(R + 1,) int64`` so
that record ``i`` is ``packed[offsets[i]:offsets[i + 1]]``. One byte per base, nothing else
the size of the genome.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from genorm import encoding
from genorm.encoding import EncodingPolicy
from genorm.errors import RecordSelectionError, first_names
from genorm.reading.records import RecordStats, scan

logger = logging.getLogger(__name__)


@dataclass
class Genome:
    """Encoded records of a genome, end to end.

    Attributes:
        packed: ``(G,) uint8`` packed codes of all records (may be a read-only memory map).
        offsets: ``(R + 1,) int64`` start of each record in ``packed``, then the total length.
        names: ``R`` record names, unique.
        stats: per-record :class:`~genorm.reading.records.RecordStats` (counted while reading).
        sources: one dict per input: ``path``, ``format`` (fasta, genbank, embl, 2bit, records),
            ``compression`` (plain, gzip, bgzf), ``size`` in bytes.
        policy: the :class:`EncodingPolicy` the genome was read with.
    """

    packed: np.ndarray
    offsets: np.ndarray
    names: list[str]
    stats: list[RecordStats]
    sources: list[dict] = field(default_factory=list)
    policy: EncodingPolicy = field(default_factory=EncodingPolicy)

    def __post_init__(self) -> None:
        self.offsets = np.asarray(self.offsets, dtype=np.int64)
        self._index = {name: i for i, name in enumerate(self.names)}

    # -- shape ----------------------------------------------------------------------------
    def __len__(self) -> int:
        """Number of records."""
        return len(self.names)

    @property
    def total_length(self) -> int:
        """Bases in all records."""
        return int(self.offsets[-1])

    @property
    def lengths(self) -> np.ndarray:
        """``(R,) int64`` record lengths."""
        return np.diff(self.offsets)

    def index(self, name: str) -> int:
        """Index of the record called ``name``."""
        try:
            return self._index[name]
        except KeyError:
            raise RecordSelectionError(f"No record named {name!r}. Records: {first_names(self.names)}.") from None

    # -- access ---------------------------------------------------------------------------
    def packed_record(self, record: int | str) -> np.ndarray:
        """``(L,) uint8`` packed codes of one record (a view, no copy)."""
        i = self.index(record) if isinstance(record, str) else int(record)
        return self.packed[self.offsets[i]:self.offsets[i + 1]]

    def codes(self, record: int | str) -> np.ndarray:
        """``(L,) uint8`` codes (0-4) of one record."""
        return encoding.packed_to_codes(self.packed_record(record))

    def soft_mask(self, record: int | str) -> np.ndarray:
        """``(L,) bool`` soft mask of one record."""
        return encoding.packed_to_soft_mask(self.packed_record(record))

    def sequence(self, record: int | str) -> str:
        """One record as a string (soft-masked bases lower case)."""
        return encoding.packed_to_string(self.packed_record(record))

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def from_strings(cls, sequences: Mapping[str, str] | Iterable[tuple[str, str]],
                     policy: EncodingPolicy | None = None) -> Genome:
        """A genome from in-memory sequences, for tests and small analyses.

        >>> g = Genome.from_strings({"a": "ACGT", "b": "nnA"})
        >>> g.offsets.tolist(), g.names
        ([0, 4, 7], ['a', 'b'])
        """
        policy = policy or EncodingPolicy()
        items = list(sequences.items() if isinstance(sequences, Mapping) else sequences)
        return read_genome(items, policy=policy)

    def summary(self) -> "pandas.DataFrame":  # noqa: F821
        """Per-record table (what ``genorm info`` prints), with a final ``total`` row."""
        return summary_table(self.stats)

    def __repr__(self) -> str:
        return f"Genome(records={len(self)}, bases={self.total_length:,})"


def summary_table(stats: list[RecordStats]) -> "pandas.DataFrame":  # noqa: F821
    """The per-record table of ``stats`` (:meth:`Genome.summary`), with a final ``total`` row."""
    import pandas as pd

    return pd.DataFrame([_stats_row(s) for s in stats] + [_stats_row(_total_stats(stats))])


def _stats_row(s: RecordStats) -> dict:
    return {
        "record": s.name,
        "length": s.length,
        "gc_fraction": s.gc_fraction,
        "n_count": s.n,
        "n_fraction": s.n / s.length if s.length else 0.0,
        "n_runs": s.n_runs,
        "longest_n_run": s.longest_n_run,
        "iupac_count": s.iupac_total,
        "iupac_codes": ",".join(f"{k}:{v}" for k, v in sorted(s.iupac.items())) or "-",
        "soft_masked": s.soft_masked,
        "soft_masked_fraction": s.soft_masked / s.length if s.length else 0.0,
    }


def _total_stats(stats: list[RecordStats]) -> RecordStats:
    total = RecordStats(name="total")
    for s in stats:
        for attr in ("length", "a", "c", "g", "t", "n", "soft_masked", "u", "n_runs"):
            setattr(total, attr, getattr(total, attr) + getattr(s, attr))
        total.longest_n_run = max(total.longest_n_run, s.longest_n_run)
        for k, v in s.iupac.items():
            total.iupac[k] = total.iupac.get(k, 0) + v
    return total


def read_genome(
    sources,
    policy: EncodingPolicy | None = None,
    records: Iterable[str] | None = None,
    progress: Callable[[int, int | None, str], None] | None = None,
    format: str | None = None,
) -> Genome:
    """Read genome files or in-memory records into a :class:`Genome` (one byte per base).

    Args: as :func:`genorm.reading.records.read_fasta`: paths, ``"-"``, handles, or an iterable of
    ``SeqRecord`` / ``(name, sequence)`` pairs; FASTA, GenBank, EMBL or 2bit (``format=`` forces one).

    >>> import io
    >>> read_genome(io.BytesIO(b">x\\nACGTN\\n")).total_length
    5
    >>> read_genome([("a", "ACGT"), ("b", "nnA")]).names
    ['a', 'b']
    """
    from genorm.reading.records import check_policy

    policy = check_policy(policy)
    out = bytearray()
    names, stats, bounds, opened = [], [], [0], []
    for codes, name, _desc, st, _label in scan(sources, policy, records, progress, on_source=opened.append,
                                               format=format):
        out += codes
        del codes
        names.append(name)
        stats.append(st)
        bounds.append(len(out))
    packed = np.frombuffer(out, dtype=np.uint8)
    return Genome(packed=packed, offsets=np.array(bounds, dtype=np.int64), names=names, stats=stats,
                  sources=opened, policy=policy)


def read_stats(
    sources,
    policy: EncodingPolicy | None = None,
    records: Iterable[str] | None = None,
    progress: Callable[[int, int | None, str], None] | None = None,
    format: str | None = None,
) -> tuple[list[RecordStats], list[dict]]:
    """``(stats, sources)`` of :func:`read_genome` without keeping the genome: what ``genorm info`` needs.

    Every record is read, checked and encoded exactly as :func:`read_genome` does (the same errors);
    only its packed codes are dropped once counted, so the genome is never held in memory (nor
    copied into one array).

    >>> import io
    >>> stats, _ = read_stats(io.BytesIO(b">x\\nACGTN\\n"))
    >>> stats[0].length, stats[0].n
    (5, 1)
    """
    policy = policy or EncodingPolicy()
    stats, opened = [], []
    for _codes, _name, _desc, st, _label in scan(sources, policy, records, progress, on_source=opened.append,
                                                 format=format, keep_codes=False):
        stats.append(st)
    return stats, opened
