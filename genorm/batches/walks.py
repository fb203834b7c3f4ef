"""Stateful training lanes in NumPy: each row of a batch walks consecutive windows of the genome.

Truncated back-propagation through time (``TrainConfig.tbptt``, ``genorm train --tbptt``): row
``b`` of batch ``k`` continues exactly where row ``b`` of batch ``k - 1`` stopped (window ``m + 1``
starts at the last base of window ``m``, the last target of window ``m`` is the first input of
window ``m + 1``), and the model carries the row's recurrent state from one batch to the next
(:class:`genorm.training.stateful.StatefulTrainer`). :class:`WalkSampler` makes batch ``k``:
``(B, L + 1) uint8`` packed windows, as :class:`~genorm.batches.windows.WindowSampler` does, and
``keep (B,) float32``, 0 where the row starts a new walk (its state is reset to zero) and 1
where it continues.

**Pieces.** The training intervals cut at every run of N longer than ``max_n_fraction * (L + 1)``
bases (such a run would make a window mostly N, and the bases after a gap of unknown length do
not continue the bases before it). A walk never leaves its piece, so windows never cross an
interval (hence never a record), never enter a gap, validation or test interval, and never
carry state across an N gap.

**Walks.** A row is re-seated at a random piece and position, with its state reset, when its
walk reaches the end of its piece, and at the latest every ``walk`` windows (the model also
learns to start cold, as evaluation does at the start of each interval). Walk starts are drawn
so that every base is covered about equally often, short pieces included: a start is uniform
over the piece's positions and the ``(walk - 1) * L`` positions before it, a start before the
piece meaning a walk that begins at the piece's first base with fewer windows. With
``rc_augment`` each walk reads, with probability 1/2, the reverse-complement strand of its
piece, consistently: it walks from the piece's end towards its start.

**Determinism.** Batches come in blocks of ``walk``: every row is re-seated at the first batch of
a block, and batch ``k`` is rebuilt from ``(seed, k)`` alone by replaying the at most ``walk - 1``
batches before it in its block (NumPy arithmetic, no genome reads), so ``tf.data`` may make
batches in parallel and ``--resume`` continues every lane exactly where it was.

>>> from genorm.genome.array import Genome
>>> from genorm.genome.splits import Interval
>>> from genorm.batches.windows import StreamConfig
>>> g = Genome.from_strings({"a": "ACGTACGTACGTA"})
>>> s = WalkSampler(g, [Interval(0, 0, 13)], StreamConfig(window=4, batch_size=1, walk=3))
>>> [(w.tolist(), k.tolist()) for w, k in (s.batch(3), s.batch(4))]  # a walk's 1st and 2nd windows
[([[2, 3, 0, 1, 2]], [0.0]), ([[2, 3, 0, 1, 2]], [1.0])]
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from genorm.encoding import CODE_BITS, N, SOFT_MASK_FLAG, n_runs
from genorm.errors import SplitError
from genorm.genome.splits import Interval
from genorm.validate import check_int, invalid
from genorm.batches.windows import StreamConfig, _FOLIO, _MappedGenome, flat_intervals

if TYPE_CHECKING:
    from genorm.genome.array import Genome

logger = logging.getLogger(__name__)

_COMPLEMENT_PACKED = np.array([(c ^ 3 if c < N else c) | (m * SOFT_MASK_FLAG) for m in (0, 1) for c in range(8)],
                              dtype=np.uint8)  # 16 packed values: base complemented, mask bit kept


def pieces(genome: Genome, intervals: Sequence[Interval], longer_than: int) -> tuple[np.ndarray, np.ndarray]:
    """Flat ``(starts, ends)`` of the intervals cut at runs of N of more than ``longer_than`` bases;
    pieces of fewer than 2 bases (no target) are left out.

    Raises:
        SplitError: no piece is left (every interval is N or too short).
    """
    flat = flat_intervals(genome, intervals)
    starts, ends = [], []
    for a, e, has_n in zip(flat.start.tolist(), flat.end.tolist(), flat.has_n.tolist()):
        cuts = n_runs(genome.packed, a, e, longer_than) if has_n else []
        edges = [a] + [x for run in cuts for x in run] + [e]
        for s, t in zip(edges[0::2], edges[1::2]):
            if t - s >= 2:
                starts.append(s)
                ends.append(t)
    if not starts:
        raise SplitError(f"Every training interval is N (runs of more than {longer_than} N cut them): there is "
                         "nothing to walk. Check the input, or raise max_n_fraction (--max-n-fraction).")
    return np.array(starts, dtype=np.int64), np.array(ends, dtype=np.int64)


class WalkSampler:
    """Batches of consecutive windows per row (see the module docstring).

    Args:
        genome: a :class:`~genorm.genome.Genome` (``packed`` may be a read-only memory map).
        intervals: the training :class:`~genorm.genome.splits.Interval` s.
        config: a :class:`~genorm.batches.windows.StreamConfig` with ``walk`` set (random mode).
        seed: integer seed.

    Attributes:
        steps: batches per epoch (as :class:`~genorm.batches.windows.WindowSampler`).
        piece_start, piece_end: ``(P,) int64`` flat pieces.
    """

    def __init__(self, genome: Genome, intervals: Sequence[Interval], config: StreamConfig, seed: int = 0):
        if not isinstance(config, StreamConfig) or not config.walk:
            raise invalid("config", "a StreamConfig with walk set", config)
        check_int("seed", seed, 0)
        self.config, self.seed = config, int(seed)
        L, K = config.window, config.walk
        self._mapped = _MappedGenome.of(genome.packed, random=True)
        self.packed = genome.packed if self._mapped is None else self._mapped.packed
        self.piece_start, self.piece_end = pieces(genome, intervals, int(config.max_n_fraction * (L + 1)))
        self._n = self.piece_end - self.piece_start
        self._lead = (K - 1) * L  # virtual start positions before each piece
        self._cum = np.cumsum(self._n - 1 + self._lead)
        self._arange = np.arange(L + 1, dtype=np.int64)
        self.total_bases = int(self._n.sum())
        self.steps = max(1, math.ceil((config.bases_per_epoch or self.total_bases) / (config.batch_size * L)))

    def _draw(self, rng: np.random.Generator, remaining: int):
        """New walks for every row: piece, first window offset, windows allowed, strand."""
        B, L = self.config.batch_size, self.config.window
        u = rng.integers(0, int(self._cum[-1]), B)
        piece = np.searchsorted(self._cum, u, side="right")
        v = u - np.where(piece > 0, self._cum[piece - 1], 0) - self._lead
        skipped = np.where(v < 0, -(v // L) if L else 0, 0)  # ceil(-v / L) windows "before" the piece
        flip = rng.random(B) < 0.5 if self.config.rc_augment else np.zeros(B, dtype=bool)
        return piece, np.maximum(v, 0), np.minimum(self.config.walk - skipped, remaining), flip

    def walks(self, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(piece, offset, flip, fresh)`` of every row at batch ``k``: the row's piece, the offset of
        its window in the piece (on the walked strand), whether it walks the reverse strand, and
        whether the window starts a new walk."""
        K, L = self.config.walk, self.config.window
        block, i = divmod(int(k), K)
        piece, off, left, flip = self._draw(np.random.default_rng([self.seed, block, 0]), K)
        fresh = np.ones(piece.size, dtype=bool)
        for t in range(1, i + 1):
            off, left = off + L, left - 1
            fresh = (left <= 0) | (off > self._n[piece] - 2)
            if fresh.any():
                new = self._draw(np.random.default_rng([self.seed, block, t]), K - t)
                for old, value in zip((piece, off, left, flip), new):
                    old[fresh] = value[fresh]
        return piece, off, flip, fresh

    lead = 0
    """Bases of context gathered before every window on its strand (count features need them)."""

    def batch(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Batch ``k``: windows ``(B, L + 1) uint8`` (packed codes, N past a piece's end) and
        ``keep (B,) float32`` (0: the row starts a new walk, its state is reset). With :attr:`lead`,
        each window comes after the ``lead`` bases before it on its strand: ``(B, lead + L + 1)``."""
        piece, off, flip, fresh = self.walks(k)
        a, n = self.piece_start[piece], self._n[piece]
        r = np.arange(-self.lead, self.config.window + 1, dtype=np.int64)[None, :]
        valid = (off[:, None] + r < n[:, None]) & (off[:, None] + r >= 0)
        forward = a[:, None] + off[:, None] + r
        backward = (a + n - 1 - off)[:, None] - r
        pos = np.where(flip[:, None], backward, forward)
        windows = np.where(valid, self.packed[np.clip(pos, 0, self.packed.shape[0] - 1)], np.uint8(N))
        windows[flip] = _COMPLEMENT_PACKED[windows[flip] & (CODE_BITS | SOFT_MASK_FLAG)]
        if self._mapped is not None:
            self._mapped.read(piece.size * (_FOLIO + self.config.window + 1))
        return windows.astype(np.uint8), (~fresh).astype(np.float32)


__all__ = ["WalkSampler", "pieces"]
