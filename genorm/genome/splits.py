"""Train / validation / test intervals per record, separated so that nothing can leak.

An :class:`Interval` is ``[start, end)`` (0-based, half-open) of record index ``record``.
A :class:`Splits` holds three lists of them, the window length ``L`` they were made for, and
the record names.

The invariants other modules rely on:

* A **training window** is ``L + 1`` consecutive bases (``L`` inputs, the next base as the final
  target) and lies entirely inside one ``train`` interval.
* Every base of a ``val`` / ``test`` interval is a target, predicted from context inside the
  same interval.
* With tail fractions, each record is laid out as::

      [ train ........ ][ gap ][ val ][ gap ][ test ]

  where ``test`` is the last ``test_fraction`` of the record, ``val`` the ``val_fraction``
  before it, and each ``gap`` is ``window`` bases that belong to no split. No validation or
  test base is inside any training window, and no training base is within one window of a
  validation or test base.
* Named records (``val_records=["chr8"]``) go whole into their split; the fraction for that
  split is then not used on the other records.
* Records too short to split go whole into ``train`` and are listed in
  :attr:`Splits.short_records` (and logged), never silently dropped.

>>> from genorm.genome.array import Genome
>>> g = Genome.from_strings({"a": "ACGT" * 250})
>>> s = make_splits(g, window=10, val_fraction=0.1, test_fraction=0.1)
>>> s.train, s.val, s.test
([Interval(record=0, start=0, end=780)], [Interval(record=0, start=790, end=890)], [Interval(record=0, start=900, end=1000)])
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from genorm.atomic import atomic_write_text
from genorm.errors import ConfigError, SplitError, first_names
from genorm.validate import check_int, invalid

if TYPE_CHECKING:
    from genorm.genome.array import Genome

logger = logging.getLogger(__name__)

SPLIT_NAMES = ("train", "val", "test")
BED_FORMAT = "genorm-splits-v2"
BED_FORMATS = ("genorm-splits-v1", "genorm-splits-v2")
"""Versions :meth:`Splits.from_bed` reads. Both have a one-line preamble and then only interval lines
(v1 files were written the same way; v2 says so in its name)."""
INTERVALS_FORMAT = "genorm-intervals-v1"
"""A user's BED file may start with ``# genorm-intervals-v1``: then every later line is an interval."""
HEADER_WORDS = ("track", "browser", "#")


@dataclass(frozen=True, order=True)
class Interval:
    """Positions ``[start, end)`` of record index ``record`` (0-based, half-open)."""

    record: int
    start: int
    end: int

    @property
    def length(self) -> int:
        """Number of bases, ``end - start``."""
        return self.end - self.start


def as_tuples(intervals: Iterable) -> list[tuple[int, int, int]]:
    """``(record, start, end)`` int tuples of :class:`Interval` s (or of anything with ``.record``,
    ``.start``, ``.end``) or of 3-tuples: the plain form the evaluation and the baselines use.

    >>> as_tuples([Interval(0, 2, 5), (1, 0, 3)])
    [(0, 2, 5), (1, 0, 3)]
    """
    out = []
    for iv in intervals:
        if hasattr(iv, "record"):
            out.append((int(iv.record), int(iv.start), int(iv.end)))
        else:
            r, s, e = iv
            out.append((int(r), int(s), int(e)))
    return out


@dataclass
class Splits:
    """Train, validation and test intervals of one genome.

    Attributes:
        train, val, test: intervals, sorted by record then start.
        window: the input window length ``L`` the split was made for (training windows are
            ``L + 1`` bases).
        names: the genome's record names; ``Interval.record`` indexes this list.
        gap: bases left out between train and val, and between val and test (``window``).
        short_records: names of records too short to split, put whole into ``train``.
        seed: the seed the split was made with (tail and named splits do not draw at random;
            it is recorded for provenance).
    """

    train: list[Interval]
    val: list[Interval]
    test: list[Interval]
    window: int
    names: list[str]
    gap: int = 0
    short_records: list[str] = field(default_factory=list)
    seed: int = 0

    def intervals(self, split: str) -> list[Interval]:
        """The intervals of ``split`` (``"train"``, ``"val"`` or ``"test"``)."""
        if split not in SPLIT_NAMES:
            raise invalid("split", f"one of {SPLIT_NAMES}", split)
        return getattr(self, split)

    def bases(self) -> dict[str, int]:
        """Bases in each split: ``{"train": ..., "val": ..., "test": ...}``."""
        return {s: sum(iv.length for iv in self.intervals(s)) for s in SPLIT_NAMES}

    def _rows(self) -> list[tuple[str, int, int, str]]:
        rows = [(iv.record, iv.start, iv.end, s) for s in SPLIT_NAMES for iv in self.intervals(s)]
        rows.sort(key=lambda r: (r[0], r[1], r[2]))
        return [(self.names[r], a, b, s) for r, a, b, s in rows]

    def sha256(self) -> str:
        """Hex SHA-256 of the split: the window and every ``name start end split`` row, in order.

        Independent of record indices, file paths and the seed, so the same split of the same
        records always has the same hash.
        """
        h = hashlib.sha256(f"window={self.window}\n".encode())
        for name, a, b, s in self._rows():
            h.update(f"{name}\t{a}\t{b}\t{s}\n".encode())
        return h.hexdigest()

    def to_bed(self, path: str | os.PathLike) -> None:
        """Write the split as a BED file (atomically: a temporary file, then ``os.replace``).

        The layout is fixed: line 1, and only line 1, is the preamble
        ``# genorm-splits-v2 window=L gap=G sha256=HEX``; every later line is one interval: record
        name, start, end, split (``train`` / ``val`` / ``test``), tab-separated. A record may be
        called ``track_1``, ``#1`` or ``browser``: its lines are still intervals, never headers.
        """
        path = Path(path)
        lines = [f"# {BED_FORMAT} window={self.window} gap={self.gap} sha256={self.sha256()}\n"]
        lines += [f"{name}\t{a}\t{b}\t{s}\n" for name, a, b, s in self._rows()]
        atomic_write_text(path, "".join(lines))

    @classmethod
    def from_bed(cls, path: str | os.PathLike, genome: Genome, window: int | None = None) -> Splits:
        """Read a split written by :meth:`to_bed` (or any 4-column BED with split names).

        A file that starts with a genorm preamble (v1 or v2) has exactly that one header line:
        every later line is an interval, whatever it starts with. Any other BED may start with
        header lines (``track``, ``browser``, ``#``); after its first interval every line is one
        (see :func:`read_bed`).

        Args:
            path: the BED file.
            genome: the :class:`~genorm.genome.array.Genome` the split refers to (names are looked up).
            window: the window length when the file has no genorm preamble; with one, it must be
                None or equal the preamble's window.

        Raises:
            SplitError: unreadable rows, unknown records, intervals outside a record, splits
                that overlap, a window that differs from the preamble's, or a preamble hash that
                does not match the rows (the file was edited).
        """
        path = Path(path)
        header, rows = read_bed(path, genome, columns=4)
        parts: dict[str, list[Interval]] = {s: [] for s in SPLIT_NAMES}
        for where, iv, cols in rows:
            if cols[3] not in SPLIT_NAMES:
                raise SplitError(f"{where}: split must be one of train, val, test; got {cols[3]!r}.")
            parts[cols[3]].append(iv)
        if "window" in header:
            if window is not None and int(window) != int(header["window"]):
                raise SplitError(f"{path} was made for window {header['window']}, but window {window} was given.")
            window = int(header["window"])
        if window is None:
            raise SplitError(f"{path} has no genorm header with the window length: pass window=.")
        splits = cls(train=sorted(parts["train"]), val=sorted(parts["val"]), test=sorted(parts["test"]),
                     window=int(window), names=list(genome.names), gap=int(header.get("gap", 0)))
        want = header.get("sha256")
        if want is not None and want != splits.sha256():
            raise SplitError(
                f"{path}: the rows do not match the sha256 in its header ({want[:12]}... vs "
                f"{splits.sha256()[:12]}...): the file was edited or truncated. Restore the file genorm train "
                "wrote (or train again); to evaluate other intervals, pass them as custom intervals "
                "(genorm evaluate RUN --intervals FILE.bed), which are reported as such."
            )
        splits.check()
        return splits

    def check(self) -> None:
        """Raise :class:`SplitError` if intervals of different splits overlap, or any is empty."""
        tagged = sorted((iv.record, iv.start, iv.end, s) for s in SPLIT_NAMES for iv in self.intervals(s))
        for (r0, a0, b0, s0), (r1, a1, b1, s1) in zip(tagged, tagged[1:]):
            if r0 == r1 and a1 < b0:
                raise SplitError(
                    f"Split intervals overlap in record {self.names[r0]!r}: {s0} {a0}-{b0} and {s1} {a1}-{b1}."
                )
        for r, a, b, s in tagged:
            if b <= a:
                raise SplitError(f"Empty {s} interval {a}-{b} in record {self.names[r]!r}.")

    def __repr__(self) -> str:
        b = self.bases()
        return (f"Splits(window={self.window}, train={len(self.train)} intervals/{b['train']:,} bases, "
                f"val={len(self.val)}/{b['val']:,}, test={len(self.test)}/{b['test']:,}, "
                f"short_records={len(self.short_records)})")


def _read_text(path: Path, columns: int = 4) -> str:
    """The text of a BED file: a run's ``splits.bed`` (``columns`` 4) or a user's ``--intervals`` file (3)."""
    kind = "Split file" if columns == 4 else "Intervals file"
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SplitError(f"Cannot read {kind.lower()} {str(path)!r}: {exc.strerror or exc}.") from None
    except UnicodeDecodeError as exc:
        fix = ("it is corrupt: re-create it (genorm train writes splits.bed)." if columns == 4 else
               "give a text BED file of lines 'record<TAB>start<TAB>end' (0-based, half-open); a compressed or "
               "binary file (bigBed, .bed.gz) must be converted first (e.g. bigBedToBed, gunzip).")
        raise SplitError(f"{kind} {str(path)!r} is not a text BED file ({exc.reason} at byte {exc.start}); "
                         f"{fix}") from None


def _genorm_header(line: str) -> dict[str, str] | None:
    """The ``key=value`` fields of a genorm preamble line, or None if ``line`` is not one."""
    words = line[1:].split() if line.startswith("#") else []
    if not words or words[0] not in (*BED_FORMATS, INTERVALS_FORMAT):
        return None
    return dict(tok.split("=", 1) for tok in words[1:] if "=" in tok)


def bed_header(path: str | os.PathLike) -> dict[str, str]:
    """The ``key=value`` fields of a genorm BED preamble (line 1), or ``{}`` without one."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            first = fh.readline(4096)
    except OSError:
        return {}  # read_bed says what is wrong
    return _genorm_header(first.rstrip("\r\n")) or {}


def read_bed(path: str | os.PathLike, genome: Genome, columns: int = 3):
    """The header fields and the interval lines of a BED file, checked against ``genome``.

    Layout rules: a genorm file (line 1 a ``# genorm-splits-v1/v2`` or ``# genorm-intervals-v1``
    preamble) has that one header line and every later line is an interval. Any other BED file may start with header
    lines (``track``, ``browser``, ``#``); the first line that is not one starts the intervals,
    and every line after it is an interval too. A leading line that could be either (``track_1
    0 100`` where ``track_1`` is a record) is an error, never silently dropped.

    Returns:
        ``(header, rows)``: ``header`` the preamble's ``key=value`` fields (empty without one);
        ``rows`` a list of ``(where, Interval, cols)`` with ``where`` "FILE, line N".

    Raises:
        SplitError: unreadable file, too few columns, non-integer positions, unknown records,
            intervals outside their record, ambiguous header lines.
    """
    path = Path(path)
    lines = _read_text(path, columns).split("\n")
    header = _genorm_header(lines[0].rstrip("\r")) if lines else None
    in_header = header is None  # a foreign BED: leading header lines are allowed
    rows = []
    for lineno, line in enumerate(lines, 1):
        line = line.rstrip("\r")
        if (lineno == 1 and header is not None) or not line:
            continue
        where = f"{path}, line {lineno}"
        if in_header and line.startswith(HEADER_WORDS):
            if _parse_row(line, genome, columns, where, quiet=True) is not None:
                raise SplitError(f"{where}: {line[:60]!r} could be a BED header line or an interval of record "
                                 f"{line.split()[0]!r}; BED cannot tell them apart. Make line 1 of the file "
                                 f"'# {INTERVALS_FORMAT}': every line after it is then read as an interval.")
            continue
        in_header = False
        rows.append(_parse_row(line, genome, columns, where))
    return header or {}, rows


def _parse_row(line: str, genome: Genome, columns: int, where: str, quiet: bool = False):
    """``(where, Interval, cols)`` of one BED line; with ``quiet`` None instead of an error."""
    cols = line.split("\t") if "\t" in line else line.split()
    try:
        if len(cols) < columns:
            expected = "record, start, end, split" if columns == 4 else "record, start, end"
            raise SplitError(f"{where}: expected {columns} columns ({expected}), got {len(cols)}: {line!r}.")
        name = cols[0]
        try:
            a, b = int(cols[1]), int(cols[2])
        except ValueError:
            raise SplitError(f"{where}: start and end must be integers, got {cols[1]!r} and {cols[2]!r}.") from None
        if name not in genome.names:
            raise SplitError(f"{where}: record {name!r} is not in the genome (records: {first_names(genome.names)}).")
        rec = genome.index(name)
        n = int(genome.lengths[rec])
        if not 0 <= a < b <= n:
            raise SplitError(f"{where}: interval {a}-{b} is not inside record {name!r} of length {n}.")
    except SplitError:
        if quiet:
            return None
        raise
    return where, Interval(rec, a, b), cols


def read_intervals(path: str | os.PathLike, genome: Genome) -> list[Interval]:
    """Custom intervals from a BED file (record, start, end; more columns ignored), sorted.

    Raises:
        SplitError: as :func:`read_bed`; no intervals at all; two intervals that overlap (each base
            is scored once).
    """
    _, rows = read_bed(path, genome, columns=3)
    if not rows:
        raise SplitError(f"{path} holds no intervals: give lines 'record<TAB>start<TAB>end' (0-based, half-open).")
    rows.sort(key=lambda row: row[1])
    for (w0, a, _), (w1, b, _) in zip(rows, rows[1:]):
        if a.record == b.record and b.start < a.end:
            raise SplitError(f"{w0} and {w1.rsplit(', ', 1)[-1]}: intervals {a.start}-{a.end} and {b.start}-{b.end} "
                             f"of record {genome.names[a.record]!r} overlap; each base must be scored once.")
    return [iv for _, iv, _ in rows]


def overlap_bases(intervals: Iterable, others: Iterable) -> int:
    """Bases that lie in both ``intervals`` and ``others`` (each a list of ``(record, start, end)``,
    non-overlapping within itself)."""
    by_record: dict[int, list[tuple[int, int]]] = {}
    for r, a, b in as_tuples(others):
        by_record.setdefault(r, []).append((a, b))
    total = 0
    for r, a, b in as_tuples(intervals):
        total += sum(max(0, min(b, d) - max(a, c)) for c, d in by_record.get(r, ()))
    return total


def _check_fraction(name: str, value) -> float:
    try:
        f = float(value)
    except (TypeError, ValueError):
        f = float("nan")
    if isinstance(value, bool) or not 0.0 <= f < 1.0:
        raise invalid(name, "a number in [0, 1)", value, error=SplitError)
    return f


def _named(genome: Genome, names: Iterable[str] | None, which: str) -> set[str]:
    if names is None:
        return set()
    if isinstance(names, str):
        names = [names]
    names = list(names)
    if not names:
        raise SplitError(f"`{which}` is an empty list: name at least one record, or pass None to use fractions.")
    missing = [n for n in names if n not in genome.names]
    if missing:
        raise SplitError(f"`{which}` names record(s) not in the genome: {', '.join(missing)}. "
                         f"Records: {first_names(genome.names)}.")
    return set(names)


def _tail_split(i: int, n: int, window: int, vf: float, tf: float,
                gap: int) -> tuple[Interval, Interval | None, Interval | None]:
    """``(train, val, test)`` of record ``i`` of ``n`` bases: test at the end, val before it, gaps of ``gap``
    bases between; ``(whole record, None, None)`` when the record is too short for the tails."""
    t = round(n * tf) if tf > 0 else 0
    v = round(n * vf) if vf > 0 else 0
    need = window + 1 + (t + gap if tf > 0 else 0) + (v + gap if vf > 0 else 0)
    if (tf > 0 and t < 1) or (vf > 0 and v < 1) or n < need:
        return Interval(i, 0, n), None, None
    end, val, test = n, None, None
    if tf > 0:
        test = Interval(i, n - t, n)
        end = n - t - gap
    if vf > 0:
        val = Interval(i, end - v, end)
        end = end - v - gap
    return Interval(i, 0, end), val, test


def _check_not_empty(genome: Genome, window: int, gap: int, train, val, test, vf: float, tf: float,
                     val_records, test_records) -> None:
    """A split asked for (by fraction or by names) that ended up empty is an error."""
    if not train:
        raise SplitError(
            f"The training split is empty: all {len(genome)} record(s) are named in val_records/test_records. "
            "Leave at least one record for training."
        )
    for split, items, frac, named in (("validation", val, vf, val_records), ("test", test, tf, test_records)):
        if not items and (frac > 0 or named is not None):
            longest = int(genome.lengths.max()) if len(genome) else 0
            raise SplitError(
                f"The {split} split is empty: no record is long enough to split (longest {longest:,} bases; "
                f"window {window} with val_fraction {vf} and test_fraction {tf} needs about "
                f"{window + 1 + 2 * gap} bases plus the tails). Use a smaller window, or name whole records "
                f"with val_records / test_records."
            )


def make_splits(
    genome: Genome,
    window: int,
    val_fraction: float = 0.05,
    test_fraction: float = 0.10,
    val_records: Sequence[str] | None = None,
    test_records: Sequence[str] | None = None,
    seed: int = 0,
) -> Splits:
    """Split every record of ``genome`` into gap-separated train / validation / test intervals.

    Args:
        genome: a :class:`~genorm.genome.array.Genome`.
        window: input window length ``L`` (training windows are ``L + 1`` bases); also the gap.
        val_fraction: fraction of each record (rounded to whole bases) for validation, taken just
            before the test tail. Default 0.05. Not used when ``val_records`` is given.
        test_fraction: fraction at the end of each record for test. Default 0.10. Not used when
            ``test_records`` is given.
        val_records: names of records that go whole into validation.
        test_records: names of records that go whole into test.
        seed: recorded for provenance; the split itself is a deterministic function of the
            lengths and arguments.

    Returns:
        :class:`Splits`. A record whose tail split would leave fewer than ``window + 1`` training
        bases (or an empty validation / test tail) goes whole into ``train`` and is listed in
        ``short_records``.

    Raises:
        ConfigError: ``window`` is not an integer >= 1.
        SplitError: a fraction outside [0, 1) or fractions summing to >= 1, a record named twice
            or not in the genome, or a requested split (or train) that ends up empty.
    """
    window = check_int("window", window, 1)
    vf = _check_fraction("val_fraction", val_fraction)
    tf = _check_fraction("test_fraction", test_fraction)
    if vf + tf >= 1.0:
        raise SplitError(f"val_fraction + test_fraction must be < 1, got {vf} + {tf} = {vf + tf}.")
    val_named = _named(genome, val_records, "val_records")
    test_named = _named(genome, test_records, "test_records")
    both = sorted(val_named & test_named)
    if both:
        raise SplitError(f"Record(s) named in both val_records and test_records: {', '.join(both)}.")
    if val_records is not None:
        vf = 0.0
    if test_records is not None:
        tf = 0.0

    gap = window
    train, val, test, short = [], [], [], []
    for i, (name, n) in enumerate(zip(genome.names, genome.lengths.tolist())):
        if name in val_named or name in test_named:
            (val if name in val_named else test).append(Interval(i, 0, n))
            continue
        tr, v, t = _tail_split(i, n, window, vf, tf, gap)
        if v is None and t is None and (tf > 0 or vf > 0):
            short.append(name)
        train.append(tr)
        val += [v] if v is not None else []
        test += [t] if t is not None else []
    _check_not_empty(genome, window, gap, train, val, test, vf, tf, val_records, test_records)
    if short:  # after the checks above: a failed split is one error, not a warning and an error
        logger.warning("%d record(s) too short to split with window %d, val_fraction %g, test_fraction %g "
                       "(put whole into train): %s", len(short), window, vf, tf, first_names(short))
    splits = Splits(train=train, val=val, test=test, window=window, names=list(genome.names), gap=gap,
                    short_records=short, seed=seed)
    logger.info("%r", splits)
    return splits
