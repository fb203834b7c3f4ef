"""Baselines that give a model's numbers meaning: uniform, base composition, order-k Markov.

All three predict, for every base of a sequence, a distribution ``(4,)`` over A, C, G, T:

* **uniform**: 1/4 each (2 bits per base, 25 % top-1 credit, see :mod:`genorm.metrics`).
* **composition**: the base frequencies of the training bases with add-1/2 smoothing,
  ``(n_b + 1/2) / (n + 2)``; it is the order-0 Markov model.
* **markov** (order ``k``): ``P(b | c) = (n(c, b) + 1/2) / (n(c) + 2)`` where ``c`` is the
  ``k`` bases before, counted over the training intervals. A context or target containing N
  is never counted. Unseen contexts give the uniform distribution (plain add-1/2, no
  back-off between seen and unseen contexts, as in the reference protocol of docs/figures.md §1).

**Short contexts back off** (none are skipped, so a baseline covers exactly the bases a model
is scored on): a base with only ``r < k`` A/C/G/T bases before it in its interval (the first
``k`` bases of an interval, and the ``k`` bases after an N) is predicted by the order-``r``
model. Counting uses the same rule, so every order ``0..k`` is fitted.

``k`` is chosen on the validation intervals (lowest bits per base, the smaller ``k`` on a tie)
among ``0..max_order``. Counting is vectorised: one rolling context index ``(M,) int64``
(most recent base in the lowest 2 bits) for all orders at once, then ``np.bincount`` over the
``4 ** (k + 1)`` cells of small orders or ``np.unique`` (a sort) for large ones, in blocks of
1 M bases. Each order is stored sparsely as the sorted contexts seen and their ``(n, 4)``
counts. Large genomes are subsampled (``max_train_bases``, default 64 M training bases as
evenly spread 1 Mb pieces; ``max_val_bases``, 2 M). Peak memory while fitting orders 0..12
(measured): 0.54 GB for E. coli (4 Mb of training bases), 0.8 GB for 30 Mb; most of it the
tables of orders 11 and 12 (24 bytes per distinct context), which are dropped when a lower
``k`` is chosen. Fitting takes 2-4 s for E. coli, 6 s for 30 Mb.

>>> from genorm.genome.array import Genome
>>> g = Genome.from_strings({"x": "ACACACACAC"})
>>> b = fit_baselines(g, train=[(0, 0, 10)], val=[(0, 0, 10)], max_order=1)
>>> b.order, b.predict_proba(np.array([0, 1], dtype=np.uint8), "markov").round(3).tolist()[1]
(1, [0.071, 0.786, 0.071, 0.071])
"""

from __future__ import annotations

import logging
import math
import os
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from genorm.atomic import atomic_path
from genorm.encoding import CODE_BITS, N
from genorm.errors import ConfigError, RunDirError
from genorm.validate import invalid
from genorm.metrics import credits
from genorm.genome.splits import as_tuples

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
NAMES = ("uniform", "composition", "markov")
"""Baseline names accepted by :meth:`Baselines.predict_proba`."""
DEFAULT_MAX_ORDER = 12
_MAX_ORDER_LIMIT = 24  # contexts and targets must fit in an int64 cell index
_DENSE_CELLS = 1 << 22  # orders with at most this many cells (or bases) are counted with np.bincount
_BLOCK = 1 << 20  # training bases counted at a time
DEFAULT_MAX_TRAIN_BASES = 64_000_000
DEFAULT_MAX_VAL_BASES = 2_000_000


# ------------------------------------------------------------------------------------------
# intervals and context arrays


def _interval_codes(genome, intervals: Sequence[tuple[int, int, int]]) -> list[np.ndarray]:
    """Codes ``(L_i,) uint8`` (0-4, mask dropped) of each interval."""
    return [np.bitwise_and(genome.packed_record(r)[s:e], CODE_BITS) for r, s, e in intervals]


def context_arrays(pieces: Sequence[np.ndarray], max_order: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Targets, run lengths and rolling contexts of pieces laid end to end.

    Args:
        pieces: codes ``(L_i,) uint8`` (0-4); contexts never reach across pieces.
        max_order: ``K``, the longest context encoded.

    Returns:
        ``x (M,) uint8`` the codes end to end; ``run (M,) int64`` how many A/C/G/T bases
        directly precede each base in its piece (capped at ``K``); ``ctx (M,) int64``, the
        previous ``K`` bases, base ``i - j`` in bits ``2(j-1)..2j-1`` (meaningful only for
        ``j <= run``; the order-``j`` context is ``ctx & (4**j - 1)``).
    """
    x = np.concatenate([np.asarray(p, dtype=np.uint8) for p in pieces]) if pieces else np.zeros(0, np.uint8)
    m = x.size
    starts = np.cumsum([0] + [len(p) for p in pieces[:-1]]).astype(np.int64)
    is_n = x >= N
    last_break = np.full(m + 1, -1, dtype=np.int64)
    npos = np.flatnonzero(is_n)
    last_break[npos + 1] = npos
    starts = starts[starts < m]
    last_break[starts] = starts - 1
    run = np.arange(m, dtype=np.int64) - np.maximum.accumulate(last_break)[:m] - 1
    np.minimum(run, max_order, out=run)
    xc = np.where(is_n, 0, x).astype(np.int64)
    ctx = np.zeros(m, dtype=np.int64)
    for j in range(1, min(max_order, max(m - 1, 0)) + 1):
        ctx[j:] |= xc[:-j] << (2 * (j - 1))
    return x, run, ctx


# ------------------------------------------------------------------------------------------
# counting


@dataclass
class OrderTable:
    """Counts of one Markov order: ``contexts (n,) int64`` sorted, ``counts (n, 4) uint32``."""

    contexts: np.ndarray
    counts: np.ndarray

    def lookup(self, query: np.ndarray) -> np.ndarray:
        """Counts ``(q, 4) int64`` of contexts ``query (q,) int64`` (zeros for unseen contexts)."""
        if self.contexts.size == 0:
            return np.zeros((query.size, 4), dtype=np.int64)
        pos = np.minimum(np.searchsorted(self.contexts, query), self.contexts.size - 1)
        found = self.contexts[pos] == query
        return np.where(found[:, None], self.counts[pos].astype(np.int64), 0)


class _Counter:
    """Counts of one order accumulated over blocks: dense (``np.bincount``) or sparse (sorted)."""

    def __init__(self, order: int, dense: bool):
        self.order, self.dense = order, dense
        self.ncells = 4 ** (order + 1)
        self.acc = np.zeros(self.ncells, dtype=np.int64 if self.ncells <= _DENSE_CELLS else np.uint32) \
            if dense else None
        self.parts: list[tuple[np.ndarray, np.ndarray]] = []

    def add(self, x: np.ndarray, run: np.ndarray, ctx: np.ndarray, keep: np.ndarray | None = None) -> None:
        valid = (run >= self.order) & (x < N)
        if keep is not None:
            valid &= keep
        cells = ((ctx[valid] & ((1 << (2 * self.order)) - 1)) << 2) | x[valid].astype(np.int64)
        if self.dense:
            if self.ncells <= _DENSE_CELLS:
                self.acc += np.bincount(cells, minlength=self.ncells)
            elif cells.size:  # large table: count the block sparsely, then add (no ncells temporary)
                uniq, n = np.unique(cells, return_counts=True)
                self.acc[uniq] += n.astype(self.acc.dtype)
        elif cells.size:
            self.parts.append(np.unique(cells, return_counts=True))
            if sum(u.size for u, _ in self.parts) > max(2 * self.parts[0][0].size, _BLOCK * 4):
                self.parts = [self._merged()]  # bounded memory: merge as the parts pile up

    def _merged(self) -> tuple[np.ndarray, np.ndarray]:
        if len(self.parts) == 1:
            return self.parts[0]
        uniq, inverse = np.unique(np.concatenate([u for u, _ in self.parts]), return_inverse=True)
        n = np.bincount(inverse, weights=np.concatenate([c for _, c in self.parts]).astype(np.float64))
        return uniq, n.round().astype(np.int64)

    def table(self) -> OrderTable:
        if self.dense:
            dense = self.acc.reshape(-1, 4)
            contexts = np.flatnonzero(dense.sum(axis=1))
            return OrderTable(contexts.astype(np.int64), dense[contexts].astype(np.uint32))
        if not self.parts:
            return OrderTable(np.zeros(0, np.int64), np.zeros((0, 4), np.uint32))
        uniq, n = self._merged()
        contexts, inverse = np.unique(uniq >> 2, return_inverse=True)
        counts = np.zeros((contexts.size, 4), dtype=np.uint32)
        counts[inverse, uniq & 3] = n
        return OrderTable(contexts, counts)


def _dense(order: int, bases: int) -> bool:
    """Count an order densely when its cells are few compared with the bases counted."""
    return 4 ** (order + 1) <= max(_DENSE_CELLS, bases)


def count_order(x: np.ndarray, run: np.ndarray, ctx: np.ndarray, order: int,
                keep: np.ndarray | None = None) -> OrderTable:
    """Count (context, next base) pairs of one order over arrays from :func:`context_arrays`.

    ``keep`` ``(M,) bool`` (optional) limits the counted targets.
    """
    counter = _Counter(order, _dense(order, x.size))
    counter.add(x, run, ctx, keep)
    return counter.table()


def spread_intervals(intervals: Sequence[tuple[int, int, int]], max_bases: int | None,
                     piece: int = 1 << 20) -> list[tuple[int, int, int]]:
    """The intervals, or when they hold more than ``max_bases``, evenly spread pieces of them.

    Pieces of ``piece`` bases (fewer when ``max_bases / 16`` is smaller) are kept at a regular
    stride: a deterministic subsample of about ``max_bases`` bases from every part of the
    genome, not just its first records.

    >>> pieces = spread_intervals([(0, 0, 1000)], 160)
    >>> len(pieces), pieces[:2], sum(e - s for _, s, e in pieces)
    (16, [(0, 60, 70), (0, 120, 130)], 160)
    """
    total = sum(e - s for _, s, e in intervals)
    if max_bases is None or total <= max_bases:
        return list(intervals)
    frac = max_bases / total
    piece = max(1, min(piece, max_bases // 16))  # at least ~16 pieces, so the sample is spread
    out, i = [], 0
    for r, s, e in intervals:
        for a in range(s, e, piece):
            if math.floor((i + 1) * frac) > math.floor(i * frac):
                out.append((r, a, min(a + piece, e)))
            i += 1
    return out


def _blocks(genome, intervals: Sequence[tuple[int, int, int]], max_order: int, block: int):
    """Context arrays of about ``block`` bases at a time, plus a ``keep`` mask.

    A long interval is cut into blocks; each block after the first re-reads the ``max_order``
    bases before it as context only (``keep`` False there), so the counts equal those of the
    whole interval at once.
    """
    pieces, skips, size = [], [], 0
    for r, s, e in intervals:
        codes = genome.packed_record(r)
        for a in range(s, e, block):
            b = min(a + block, e)
            lo = max(s, a - max_order)
            pieces.append(np.bitwise_and(codes[lo:b], CODE_BITS))
            skips.append(a - lo)
            size += b - lo
            if size >= block:
                yield _block_arrays(pieces, skips, max_order)
                pieces, skips, size = [], [], 0
    if pieces:
        yield _block_arrays(pieces, skips, max_order)


def _block_arrays(pieces, skips, max_order):
    x, run, ctx = context_arrays(pieces, max_order)
    keep = np.ones(x.size, dtype=bool)
    offset = 0
    for p, skip in zip(pieces, skips):
        keep[offset:offset + skip] = False
        offset += len(p)
    return x, run, ctx, keep


def _markov_probs(tables: Sequence[OrderTable], run: np.ndarray, ctx: np.ndarray, order: int) -> np.ndarray:
    """``(M, 4) float64`` add-1/2 probabilities, order ``min(order, run)`` at each base."""
    used = np.minimum(run, order)
    probs = np.empty((run.size, 4), dtype=np.float64)
    for j in range(order + 1):
        sel = np.flatnonzero(used == j)
        if sel.size == 0:
            continue
        c = tables[j].lookup(ctx[sel] & ((1 << (2 * j)) - 1)).astype(np.float64)
        probs[sel] = (c + 0.5) / (c.sum(axis=1, keepdims=True) + 2.0)
    return probs


# ------------------------------------------------------------------------------------------
# the fitted baselines


@dataclass
class Baselines:
    """Fitted baselines: the counts of every Markov order up to the chosen one.

    Attributes:
        tables: ``order + 1`` :class:`OrderTable`; ``tables[0]`` is the base composition.
        order: ``k`` of the Markov baseline, chosen on the validation intervals.
        selection: one dict per candidate order: ``order``, ``bases``, ``bits_per_base``, ``accuracy``
            on the validation bases (empty when there were none).
        train_bases: A/C/G/T training bases counted (order 0).
        val_bases: validation bases used to choose ``k``.
    """

    tables: list[OrderTable]
    order: int
    selection: list[dict] = field(default_factory=list)
    train_bases: int = 0
    val_bases: int = 0

    @property
    def composition(self) -> np.ndarray:
        """``(4,) float64`` smoothed base frequencies of the training bases."""
        c = self.tables[0].lookup(np.zeros(1, dtype=np.int64))[0].astype(np.float64)
        return (c + 0.5) / (c.sum() + 2.0)

    def labels(self) -> dict[str, str]:
        """Display name of each baseline, e.g. ``{"markov": "markov k=6", ...}``."""
        return {"uniform": "uniform", "composition": "composition", "markov": f"markov k={self.order}"}

    def predict_proba(self, codes: np.ndarray, name: str = "markov") -> np.ndarray:
        """Predicted distribution of every base of ``codes`` from the bases before it.

        Args:
            codes: ``(L,)`` codes 0-4 (packed codes are accepted; the mask bit is dropped).
                Context starts at ``codes[0]``; row 0 is the prediction from an empty context.
            name: ``"uniform"``, ``"composition"`` or ``"markov"``.

        Returns:
            ``(L, 4) float64``, rows sum to 1; row ``i`` is P(base i | bases before i).
        """
        if name not in NAMES:
            raise ConfigError(f"Received an invalid baseline name {name!r}, expected one of {', '.join(NAMES)}.")
        codes = np.bitwise_and(np.asarray(codes, dtype=np.uint8), CODE_BITS)
        if name == "uniform":
            return np.full((codes.size, 4), 0.25)
        if name == "composition":
            return np.broadcast_to(self.composition, (codes.size, 4)).copy()
        x, run, ctx = context_arrays([codes], self.order)
        return _markov_probs(self.tables, run, ctx, self.order)

    # -- files ----------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Write an ``.npz`` (no pickle), atomically (temporary file, then ``os.replace``)."""
        path = Path(path)
        arrays = {
            "format_version": np.array(FORMAT_VERSION),
            "order": np.array(self.order),
            "train_bases": np.array(self.train_bases),
            "val_bases": np.array(self.val_bases),
            "selection": np.array([[s["order"], s["bases"], s["bits_per_base"], s["accuracy"]]
                                   for s in self.selection], dtype=np.float64).reshape(-1, 4),
        }
        for j, t in enumerate(self.tables):
            arrays[f"contexts_{j}"] = t.contexts
            arrays[f"counts_{j}"] = t.counts
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Baselines:
        """Read a file written by :meth:`save`.

        Raises:
            RunDirError: the file is missing, not an ``.npz``, of another format version, or
                malformed (an array missing, or of the wrong dtype, shape or order): the
                message says how to refit.
        """
        path = Path(path)
        if not path.is_file():
            raise RunDirError(f"Baselines file {str(path)!r} not found. Fit them with "
                              "genorm.baselines.fit_baselines(genome, splits) and save(), or retrain the run.")
        try:
            z = np.load(path, allow_pickle=False)
            if not isinstance(z, np.lib.npyio.NpzFile):  # a plain .npy file gives one array
                _malformed(path, "it is a single .npy array, not an .npz archive of arrays")
            with z:
                data = {k: z[k] for k in z.files}
        except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
            if isinstance(exc, RunDirError):
                raise
            raise RunDirError(f"Baselines file {str(path)!r} is not a readable .npz ({exc}); {_REFIT}") from None
        version = _scalar(data, "format_version", path) if "format_version" in data else -1
        if version != FORMAT_VERSION:
            raise RunDirError(f"Baselines file {str(path)!r} has format version {version}, expected "
                              f"{FORMAT_VERSION}; {_REFIT}")
        order = _scalar(data, "order", path)
        if not 0 <= order <= _MAX_ORDER_LIMIT:
            _malformed(path, f"order {order} is outside 0..{_MAX_ORDER_LIMIT}")
        tables = [_order_table(data, j, path) for j in range(order + 1)]
        selection = data.get("selection")
        if selection is None or selection.ndim != 2 or selection.shape[1] != 4 \
                or not np.issubdtype(selection.dtype, np.floating):
            _malformed(path, "'selection' is missing or not a float (n, 4) array")
        selection = [{"order": int(o), "bases": int(n), "bits_per_base": float(b), "accuracy": float(a)}
                     for o, n, b, a in selection]
        return cls(tables=tables, order=order, selection=selection,
                   train_bases=_scalar(data, "train_bases", path), val_bases=_scalar(data, "val_bases", path))


_REFIT = ("delete it and run `genorm evaluate RUN` again, which refits the baselines on the run's training split "
          "(or refit them with genorm.baselines.fit_baselines(run.genome, run.splits).save(path)).")


def _malformed(path: Path, what: str):
    raise RunDirError(f"Baselines file {str(path)!r} is malformed: {what}; {_REFIT}")


def _scalar(data: dict, key: str, path: Path) -> int:
    """A non-negative integer stored as a 0-d array."""
    a = data.get(key)
    if a is None:
        _malformed(path, f"it lacks {key!r}")
    if a.shape != () or not np.issubdtype(a.dtype, np.integer) or int(a) < 0:
        _malformed(path, f"{key!r} should be one integer >= 0, found dtype {a.dtype} and shape {a.shape}")
    return int(a)


def _order_table(data: dict, j: int, path: Path) -> OrderTable:
    """The counts of order ``j``, checked: sorted unique contexts in ``0..4**j - 1`` and ``(n, 4)`` counts."""
    ctx, counts = data.get(f"contexts_{j}"), data.get(f"counts_{j}")
    if ctx is None or counts is None:
        _malformed(path, f"it lacks {'contexts' if ctx is None else 'counts'}_{j} (order {j})")
    if ctx.ndim != 1 or not np.issubdtype(ctx.dtype, np.integer):
        _malformed(path, f"contexts_{j} should be a 1-D integer array, found dtype {ctx.dtype} and shape {ctx.shape}")
    if counts.shape != (ctx.size, 4) or not np.issubdtype(counts.dtype, np.integer):
        _malformed(path, f"counts_{j} should be an integer array of shape ({ctx.size}, 4), found dtype "
                         f"{counts.dtype} and shape {counts.shape}")
    if ctx.size and (ctx[0] < 0 or ctx[-1] >= 4 ** j or (np.diff(ctx) <= 0).any()):
        _malformed(path, f"contexts_{j} should be increasing context codes in 0..{4 ** j - 1}")
    if counts.size and (counts.min() < 0 or counts.max() > np.iinfo(np.uint32).max):
        _malformed(path, f"counts_{j} has counts outside 0..{np.iinfo(np.uint32).max}")
    return OrderTable(ctx.astype(np.int64), counts.astype(np.uint32))


# ------------------------------------------------------------------------------------------
# fitting


def markov_scores(tables: Sequence[OrderTable], pieces: Sequence[np.ndarray], orders: Iterable[int]) -> list[dict]:
    """Bits per base and top-1 accuracy of Markov orders on pieces of codes (N targets skipped).

    Args:
        tables: counts of orders ``0..max(orders)``.
        pieces: codes ``(L_i,) uint8``, each predicted from its own start (with back-off).
        orders: the orders to score.

    Returns:
        One dict per order: ``order``, ``bases``, ``bits_per_base``, ``accuracy``.
    """
    orders = list(orders)
    x, run, ctx = context_arrays(pieces, max(orders, default=0))
    keep = x < N
    x, run, ctx = x[keep], run[keep], ctx[keep]
    out = []
    for k in orders:
        if x.size == 0:
            out.append({"order": k, "bases": 0, "bits_per_base": float("nan"), "accuracy": float("nan")})
            continue
        bits, _, top1, _, _ = credits(_markov_probs(tables, run, ctx, k), x)
        out.append({"order": k, "bases": int(x.size), "bits_per_base": float(bits.mean()),
                    "accuracy": float(top1.mean())})
    return out


def fit_baselines(genome, splits=None, *, train=None, val=None, max_order: int = DEFAULT_MAX_ORDER,
                  max_train_bases: int | None = DEFAULT_MAX_TRAIN_BASES,
                  max_val_bases: int | None = DEFAULT_MAX_VAL_BASES) -> Baselines:
    """Fit the baselines on training intervals and choose the Markov order on validation ones.

    Args:
        genome: a :class:`~genorm.genome.array.Genome`.
        splits: a :class:`~genorm.genome.splits.Splits` (its ``.train`` and ``.val`` are used), or None
            to pass ``train`` and ``val`` directly.
        train, val: intervals (``Interval`` or ``(record, start, end)``), overriding ``splits``.
        max_order: the largest ``k`` tried (default 12); 0..24.
        max_train_bases: count at most about this many training bases (default 64 M), as evenly
            spread 1 Mb pieces (:func:`spread_intervals`); None counts them all. Genomes up to
            this size use every training base.
        max_val_bases: choose ``k`` on at most about this many validation bases (default 2 M,
            spread the same way); None uses them all.

    Returns:
        :class:`Baselines`. With no validation bases, ``k`` falls back to
        ``round(log4(train bases)) - 5`` clipped to ``0..max_order`` (6 for 4.6 Mb) and a
        warning is logged.

    Raises:
        ConfigError: ``max_order`` out of range, or no training interval given.
    """
    if not isinstance(max_order, (int, np.integer)) or not 0 <= max_order <= _MAX_ORDER_LIMIT:
        raise invalid("max_order", f"an integer in 0..{_MAX_ORDER_LIMIT}", max_order)
    if train is None:
        if splits is None:
            raise ConfigError("fit_baselines needs `splits` or `train` intervals; got neither.")
        train = splits.train
    if val is None:
        val = splits.val if splits is not None else []
    train_iv, val_iv = as_tuples(train), as_tuples(val)
    if not train_iv:
        raise ConfigError("fit_baselines received no training intervals: the training split is empty. "
                          "Use a longer genome or smaller validation/test fractions.")
    max_order = int(max_order)
    train_iv = spread_intervals(train_iv, max_train_bases)
    total = sum(e - s for _, s, e in train_iv)
    counters = [_Counter(j, _dense(j, total)) for j in range(max_order + 1)]
    for x, run, ctx, keep in _blocks(genome, train_iv, max_order, _BLOCK):
        for counter in counters:
            counter.add(x, run, ctx, keep)
        del x, run, ctx, keep
    tables = [counter.table() for counter in counters]
    del counters
    train_bases = int(tables[0].counts.sum())
    val_pieces = _interval_codes(genome, spread_intervals(val_iv, max_val_bases))
    selection = markov_scores(tables, val_pieces, range(max_order + 1))
    val_bases = selection[0]["bases"] if selection else 0
    if val_bases:
        best = min(selection, key=lambda s: (s["bits_per_base"], s["order"]))["order"]
    else:
        best = int(np.clip(round(math.log(max(train_bases, 1), 4)) - 5, 0, max_order))
        selection = []
        logger.warning("no validation bases to choose the Markov order; using k=%d from the training size", best)
    logger.info("Markov baseline: k=%d chosen on %d validation bases (%d training bases)", best, val_bases, train_bases)
    return Baselines(tables=tables[: best + 1], order=best, selection=selection,
                     train_bases=train_bases, val_bases=val_bases)
