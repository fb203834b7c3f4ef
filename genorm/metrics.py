"""Per-base prediction metrics, accumulated in groups without storing per-base arrays.

Definitions (used by :mod:`genorm.evaluate` and :mod:`genorm.baselines`), for a prediction
``p`` ``(4,) float64`` (a distribution over A, C, G, T) of a true base ``t`` in 0..3:

* **bits**: ``-log2 p[t]``. Bits per base is its mean; perplexity is ``2 ** bits_per_base``.
* **top-1 credit**: 1 if ``t`` is the only most probable base; with a tie among ``e`` most
  probable bases that includes ``t``, ``1 / e`` (the expected hit rate of breaking the tie at
  random); else 0. The uniform distribution therefore scores exactly 25 %, not the frequency
  of A. For a trained model ties practically never occur and this is plain accuracy.
* **top-2 credit**: with ``g`` bases strictly more probable than ``t`` and ``e`` bases
  (``t`` included) exactly as probable, ``clip((2 - g) / e, 0, 1)``.
* **confusion**: row = true base, column = predicted (most probable) base; a tie spreads the
  count evenly over the tied columns, so ``confusion[b, b] / row sum`` is the top-1 accuracy
  (recall) of base ``b`` and ``confusion[b, b] / column sum`` its precision.

An :class:`Accumulator` sums these per group (record x soft-mask x true base) and per bin
along each record; every table of a report is a sum over its groups, so per-record rows add
up to the total exactly.
"""

from __future__ import annotations

import math

import numpy as np

NUM_BASES = 4

LN2 = math.log(2.0)
"""``ln 2``: nats to bits (a cross-entropy in nats divided by ``LN2`` is in bits)."""

FIELDS = ("bases", "bits", "p_true", "top1", "top2", "pred_A", "pred_C", "pred_G", "pred_T")
"""Columns of an accumulator cell: counts and sums over the bases of one group."""


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Softmax over the last axis, in float64: ``exp((y - max y) / T) / sum exp((y - max y) / T)``.

    The shift by the maximum keeps it finite; a tiny ``temperature`` gives ``exp(-inf) = 0``,
    never ``inf - inf``.

    >>> softmax(np.log(np.array([1.0, 1.0, 2.0, 4.0]))).tolist()
    [0.125, 0.125, 0.25, 0.5]
    """
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    with np.errstate(over="ignore", divide="ignore"):
        e = np.exp(z / temperature)
    return e / e.sum(axis=-1, keepdims=True)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Log of :func:`softmax` over the last axis, in float64 (``y - max y - log sum exp(y - max y)``)."""
    x = np.asarray(logits, dtype=np.float64)
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def credits(probs: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per-base bits, P(true), top-1 and top-2 credit, and the (tie-split) predicted base.

    Args:
        probs: ``(n, 4) float64`` distributions (rows sum to 1).
        targets: ``(n,)`` integer true bases in 0..3.

    Returns:
        ``bits (n,)``, ``p_true (n,)``, ``top1 (n,)``, ``top2 (n,)``, ``pred (n, 4)``: all
        float64; ``pred`` is the one-hot of the most probable base, split evenly over ties.

    >>> b, p, t1, t2, pred = credits(np.full((1, 4), 0.25), np.array([2]))
    >>> float(b[0]), float(t1[0]), float(t2[0]), pred.tolist()
    (2.0, 0.25, 0.5, [[0.25, 0.25, 0.25, 0.25]])
    """
    probs = np.asarray(probs, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.intp)
    n = probs.shape[0]
    p_true = probs[np.arange(n), targets]
    with np.errstate(divide="ignore"):
        bits = -np.log2(p_true)
    greater = (probs > p_true[:, None]).sum(axis=1)
    equal = (probs == p_true[:, None]).sum(axis=1)
    top1 = np.where(greater == 0, 1.0 / equal, 0.0)
    top2 = np.clip((2.0 - greater) / equal, 0.0, 1.0)
    is_max = probs == probs.max(axis=1, keepdims=True)
    pred = is_max / is_max.sum(axis=1, keepdims=True)
    return bits, p_true, top1, top2, pred


class Accumulator:
    """Sums of the metric fields per (record, soft-masked, true base) and per bin along records.

    Args:
        num_records: records in the genome (rows of the per-record table).
        ranges: ``(R, 2) int`` per record the ``[start, end)`` span the profile bins divide
            (e.g. the extent of the evaluated intervals); ``bins_per_record`` equal bins each,
            fewer when that would make bins shorter than ``min_bin`` bases.
        bins_per_record: profile bins per record (default 200).
        min_bin: shortest bin, in bases (default 500), so that a bin's bits per base is not noise.

    Attributes:
        cells: ``(R, 2, 4, len(FIELDS)) float64``: ``cells[r, m, b]`` sums ``FIELDS`` over the
            evaluated bases of record ``r`` with soft mask ``m`` and true base ``b``.
        profile_bases, profile_bits: ``(R, bins) float64`` bases and summed bits per bin.
    """

    def __init__(self, num_records: int, ranges: np.ndarray, bins_per_record: int = 200, min_bin: int = 500):
        self.cells = np.zeros((num_records, 2, NUM_BASES, len(FIELDS)), dtype=np.float64)
        ranges = np.asarray(ranges, dtype=np.int64).reshape(num_records, 2)
        self.starts = ranges[:, 0]
        self.spans = np.maximum(ranges[:, 1] - ranges[:, 0], 1)
        self.nbins = np.clip(self.spans // max(int(min_bin), 1), 1, int(bins_per_record))
        self.bins = int(bins_per_record)
        self.profile_bases = np.zeros((num_records, self.bins), dtype=np.float64)
        self.profile_bits = np.zeros((num_records, self.bins), dtype=np.float64)

    def add(self, records: np.ndarray | int, positions: np.ndarray, targets: np.ndarray,
            soft_mask: np.ndarray, probs: np.ndarray) -> None:
        """Add predictions of some bases.

        Args:
            records: ``(n,) int`` record index of each base (or one int for all).
            positions: ``(n,) int`` 0-based positions of the bases in their records.
            targets: ``(n,)`` true bases; N (4) rows are ignored.
            soft_mask: ``(n,) bool`` soft mask of the true bases.
            probs: ``(n, 4)`` predicted distributions.
        """
        targets = np.asarray(targets)
        records = np.broadcast_to(np.asarray(records, dtype=np.intp), targets.shape)
        keep = targets < NUM_BASES
        if not keep.all():
            records, positions, targets = records[keep], np.asarray(positions)[keep], targets[keep]
            soft_mask, probs = np.asarray(soft_mask)[keep], np.asarray(probs)[keep]
        if targets.size == 0:
            return
        if not np.isfinite(probs).all():  # a NaN would spread to every total: never report one
            from genorm.errors import ConfigError

            raise ConfigError("The predictions of some bases are NaN or infinite, so no metric can be reported: the "
                              "model's weights are damaged (train again), or adaptive evaluation diverged (use a "
                              "smaller --adapt-lr).")
        bits, p_true, top1, top2, pred = credits(probs, targets)
        num_records = self.cells.shape[0]
        group = (records * 2 + np.asarray(soft_mask, dtype=np.intp)) * NUM_BASES + targets.astype(np.intp)
        values = [np.ones_like(bits), bits, p_true, top1, top2] + [pred[:, b] for b in range(NUM_BASES)]
        flat = self.cells.reshape(-1, len(FIELDS))
        for f, v in enumerate(values):
            flat[:, f] += np.bincount(group, weights=v, minlength=num_records * 2 * NUM_BASES)
        spans = self.spans[records]
        nbins = self.nbins[records]
        offset = np.clip(np.asarray(positions, dtype=np.int64) - self.starts[records], 0, spans - 1)
        b = records * self.bins + (offset * nbins) // spans
        size = num_records * self.bins
        self.profile_bases.reshape(-1)[:] += np.bincount(b, minlength=size)
        self.profile_bits.reshape(-1)[:] += np.bincount(b, weights=bits, minlength=size)

    def bin_edges(self, record: int) -> np.ndarray:
        """``(nbins + 1,) int64`` positions bounding the profile bins of ``record``."""
        span, nbins = int(self.spans[record]), int(self.nbins[record])
        return self.starts[record] + (np.arange(nbins + 1, dtype=np.int64) * span + nbins - 1) // nbins
