"""Which bases of explicit records a run was trained on, found by content, not by name.

``genorm evaluate RUN train.fa`` must not score the run's own training bases as if they were new: a
record renamed, gzipped, or cut out of a training record is still training data. Records are compared
by their base codes (0-4, soft-masking ignored): a record equal to a training record, one that contains a
training record, or one that lies inside a training record overlaps the run's training split by the
training bases it holds.

>>> from genorm.genome.array import Genome
>>> train = Genome.from_strings({"chr": "ACGTTGCAAC" * 20})
>>> mine = Genome.from_strings({"renamed": "ACGTTGCAAC" * 20, "other": "T" * 50})
>>> train_overlap_by_content(mine, train, [(0, 0, 150)])
150
"""

from __future__ import annotations

import hashlib

MIN_MATCH = 100
"""Shorter records are not searched inside others (a short sequence occurs by chance); equal ones still count."""


def _train_by_record(train_intervals) -> dict[int, list[tuple[int, int]]]:
    from genorm.genome.splits import as_tuples

    by_record: dict[int, list[tuple[int, int]]] = {}
    for r, a, b in as_tuples(train_intervals):
        by_record.setdefault(r, []).append((a, b))
    return by_record


def _in(spans: list[tuple[int, int]], a: int, b: int) -> int:
    """Bases of ``[a, b)`` inside ``spans``."""
    return sum(max(0, min(b, d) - max(a, c)) for c, d in spans)


def _searchable(codes: bytes) -> bool:
    return len(codes) >= MIN_MATCH and codes.count(4) < len(codes)  # 4: N; a run of N matches every N gap


def train_overlap_by_content(genome, train_genome, train_intervals) -> int:
    """Bases of ``genome``'s records that are training bases of ``train_genome``.

    Args:
        genome: the :class:`~genorm.genome.Genome` to evaluate.
        train_genome: the run's genome.
        train_intervals: the run's training split: ``(record, start, end)`` / ``Interval`` s of
            ``train_genome``.

    Returns:
        The overlap in bases: for each record of ``genome`` equal to, containing, or contained in a
        record of ``train_genome`` (first occurrence), the training bases it holds.
    """
    train = _train_by_record(train_intervals)
    theirs = {r: train_genome.codes(r).tobytes() for r in train}
    by_hash = {hashlib.sha256(seq).digest(): r for r, seq in theirs.items()}
    total = 0
    for j in range(len(genome)):
        mine = genome.codes(j).tobytes()
        same = by_hash.get(hashlib.sha256(mine).digest())
        if same is not None:
            total += _in(train[same], 0, len(mine))
            continue
        for r, seq in theirs.items():
            if len(seq) < len(mine) and _searchable(seq) and seq in mine:
                total += _in(train[r], 0, len(seq))  # the whole training record inside this one
            elif len(mine) < len(seq) and _searchable(mine) and (at := seq.find(mine)) >= 0:
                total += _in(train[r], at, at + len(mine))
    return total


__all__ = ["MIN_MATCH", "train_overlap_by_content"]
