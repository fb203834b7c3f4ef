"""Order-k context counts: tables built from training pieces, leave-one-out features, streams.

An order-``k`` context model predicts base ``t + 1`` from the ``k`` bases ``codes[t-k+1..t]`` (the
*context at t*). Contexts never reach across pieces (a piece is one interval of a record); a
context holding N, or with fewer than ``k`` bases before it in its piece, is invalid and has no
counts. A *(k+1)-mer occurrence at t* is (context at t, base t+1), both free of N.

Representations (all NumPy):

======================  ==========================  ==============================================
name                    shape, dtype                meaning
======================  ==========================  ==============================================
piece                   ``(L,) uint8``              codes A=0 C=1 G=2 T=3 N=4; the soft-mask bit is
                                                    stripped (``& CODE_BITS``); codes 4-7 are N
context integer         ``uint64``                  2 bits per base, the newest base (``t``) in the
                                                    lowest bits: ``sum_j codes[t-j] * 4**j``
cell                    ``int64`` in ``[0, size)``  the table row of a context: the context integer
                                                    itself (*direct* table, ``size = 4**k``) or
                                                    ``splitmix64(ctx + k * golden) mod size``
                                                    (*hashed* table, ``size`` a power of two; no
                                                    collision check, as in the GeCo compressors)
table                   ``(size, 4) uint16``        counts of the next base A, C, G, T per cell
counts                  ``(L, n_orders, 4) f32``    counts at each position, one row per order
features                ``(L, 5 * n_orders) f32``   per order: ``log(4 (c_b + a) / (n + 4 a))`` for
                                                    b = A, C, G, T (0: uniform), then the confidence
                                                    ``log1p(min(n, cap)) / log1p(cap)`` in [0, 1]
                                                    (``n = sum_b c_b``, ``a = alpha``; tables saved
                                                    without a cap: ``log((c_b + a) / (n + 4 a))``
                                                    and ``log1p(n)``)
======================  ==========================  ==============================================

**Both strands** (default): each occurrence also counts its reverse complement, the (k+1)-mer
``comp(b[t+1]) comp(b[t]) ... comp(b[t-k+1])``: context ``comp(b[t+1]) .. comp(b[t-k+2])``,
next base ``comp(b[t-k+1])`` (complement is ``3 - code``).

**Sizes.** Orders are laid out in increasing order within ``max_bytes`` (8 bytes per cell):
each gets an equal share of what is left; an order whose direct table (``4**k * 8`` bytes) fits
its share is direct, otherwise hashed into the largest power of two of cells that fits. The
total never exceeds ``max_bytes``; a bound too small for 64 cells per hashed order is a
:class:`~genorm.errors.ConfigError`. With the defaults (2 GiB), orders 1-12 are direct
(161 MiB) and orders 14-24 hashed into 2**25 or 2**26 cells (1953 MiB in all).

**Saturation.** A cell whose count would pass 65535 has its four counts halved (repeatedly,
until they fit), as compressors do. Leave-one-out is exact without saturation; in a halved cell
it subtracts from the halved counts (an approximation, clipped at zero).

**Leave-one-out** (:meth:`CountTables.train_features`): the features at a training position
equal those of a table built without the occurrence at that position (its forward count and,
with both strands, its reverse complement where that lands in the same, possibly hashed, cell).

**Predict-then-update** (:class:`CountStream`): the counts at position t of a stream are the
table's plus the stream's own occurrences at positions before t (base t itself included as a
next base, never base t + 1). Chunked streaming equals base-by-base streaming bit for bit. The
stream's own counts are exact ``int32`` counts, added to the table's ``uint16`` ones (never
saturated): dense for the first orders (up to 2**18 cells together, 4 MiB), then in a vectorised
open-addressing hash map keyed by (order, cell), about 62 bytes per distinct (order, cell) the
stream has seen (measured: 0.8 GB after 1 Mb of random bases with the default orders, both
strands; :meth:`CountStream.copy` copies it).

**Throughput** (``benchmarks/bench_counts.py``, default config, random bases, one core shared
with other work; per CPU second): build 0.6 M bases/s (10 Mb in 42 s wall), training features
0.9 M/s, stream features 55 k/s in chunks of 100, 86 k/s in chunks of 1000, 93 k/s in chunks of
10 000, and 210 k/s in chunks of 1000 when the stream is sized at the start
(``tables.stream(expected_bases=...)``: no re-insertion as its own counts grow).

>>> tables = CountTables.build([np.array([0, 1, 2, 3] * 5, np.uint8)], CountConfig(orders=(1, 2)))
>>> tables.counts_static(np.array([0, 1], np.uint8))[0].tolist()  # after A: C, 5 times on each strand
[[0.0, 10.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from genorm.atomic import atomic_path, atomic_write_text
from genorm.encoding import CODE_BITS, N
from genorm.errors import RunDirError
from genorm.validate import check_bool, check_number, check_positive_int, invalid, is_int

DEFAULT_ORDERS = (1, 2, 3, 4, 6, 8, 11, 12, 14, 16, 18, 20, 24)
DEFAULT_MAX_BYTES = 2 * 1024**3
DEFAULT_CONFIDENCE_CAP = 1023
"""Counts above this give the same confidence feature (1): the training split's tables never reach
beyond a ceiling (halving), and a stream's own counts would otherwise carry a low order's
confidence past anything the network was trained on. With the features on a unit scale
(log-probabilities relative to uniform, confidence in [0, 1]) the network reads them better:
measured at 6 M training bases, E. coli test 1.8861 bits/base against 1.9131 with the raw,
uncapped features (``benchmarks/bench_context.py``)."""
MAX_ORDER = 32
"""Contexts up to 32 bases fit in a uint64."""
FORMAT_VERSION = 1
HASH_KIND = "splitmix64"
SATURATION = 65535
CELL_BYTES = 8
_MIN_HASHED_CELLS = 64
_BUCKET_BITS = 18  # buckets that find the occurrences alone in their cell within a chunk
_DENSE_OWN_CELLS = 1 << 18  # a stream keeps its own counts of the first orders densely up to this many cells
_BLOCK = 1 << 20  # bases per block when building tables
_FEATURE_BLOCK = 1 << 16  # bases per block of features (measured: 4x faster than 1 M, cache-sized temporaries)
_INDEX_FILE = "counts.json"
_U64 = np.uint64
_GOLDEN, _MIX1, _MIX2 = _U64(0x9E3779B97F4A7C15), _U64(0xBF58476D1CE4E5B9), _U64(0x94D049BB133111EB)


# ------------------------------------------------------------------------------------------
# configuration and layout


@dataclass(frozen=True)
class CountConfig:
    """What to count.

    Args:
        orders: context lengths, strictly increasing, each in 1..32 (default ``DEFAULT_ORDERS``).
        both_strands: count each occurrence's reverse complement too (default True).
        max_bytes: bound on the memory of all tables together (default 2 GiB).
        alpha: pseudo-count of the features (default 1/16).
        confidence_cap: counts ``n`` above it give the confidence of ``n = confidence_cap``, 1
            (default :data:`DEFAULT_CONFIDENCE_CAP`). None: the raw features of tables saved
            before it (see :func:`features_from_counts`).
    """

    orders: tuple[int, ...] = DEFAULT_ORDERS
    both_strands: bool = True
    max_bytes: int = DEFAULT_MAX_BYTES
    alpha: float = 1 / 16
    confidence_cap: int | None = DEFAULT_CONFIDENCE_CAP

    def __post_init__(self) -> None:
        orders = self.orders
        expected = f"a non-empty, strictly increasing list of integers in 1..{MAX_ORDER}"
        if not isinstance(orders, (tuple, list)) or not orders or not all(is_int(k) for k in orders) \
                or any(not 1 <= k <= MAX_ORDER for k in orders) or any(a >= b for a, b in zip(orders, orders[1:])):
            raise invalid("orders", expected, orders)
        object.__setattr__(self, "orders", tuple(int(k) for k in orders))
        object.__setattr__(self, "both_strands", check_bool("both_strands", self.both_strands))
        object.__setattr__(self, "max_bytes", check_positive_int("max_bytes", self.max_bytes))
        object.__setattr__(self, "alpha", check_number("alpha", self.alpha, 0, lo_open=True))
        if self.confidence_cap is not None:
            object.__setattr__(self, "confidence_cap", check_positive_int("confidence_cap", self.confidence_cap))
        plan_sizes(self.orders, self.max_bytes)  # refuses a bound too small

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; ``CountConfig.from_dict(c.to_dict()) == c``."""
        return {"orders": list(self.orders), "both_strands": self.both_strands, "max_bytes": self.max_bytes,
                "alpha": self.alpha, "confidence_cap": self.confidence_cap}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CountConfig:
        """The config saved by :meth:`to_dict` (unknown keys are an error; saved without
        ``confidence_cap``, from before it: uncapped)."""
        keys = {"orders", "both_strands", "max_bytes", "alpha", "confidence_cap"}
        if not isinstance(d, dict) or set(d) - keys:
            raise invalid("config", f"a dict with keys {', '.join(sorted(keys))}", d)
        return cls(**{"confidence_cap": None, **d})

    def features(self, counts: np.ndarray) -> np.ndarray:
        """:func:`features_from_counts` of ``counts`` with this config's pseudo-count and cap."""
        return features_from_counts(counts, self.alpha, self.confidence_cap)

    def empty_features(self) -> np.ndarray:
        """``(5 * n_orders,) float32``: the features of a position no order has counts for."""
        return self.features(np.zeros((len(self.orders), 4), np.float32))


def plan_sizes(orders: Sequence[int], max_bytes: int) -> tuple[tuple[int, ...], tuple[bool, ...]]:
    """Cells and direct/hashed of each order's table, together within ``max_bytes`` (see module doc).

    >>> plan_sizes((1, 12, 16), 2 * 1024**3)
    ((4, 16777216, 134217728), (True, True, False))
    """
    budget, sizes, direct = max_bytes, [], []
    for i, k in enumerate(orders):
        share = budget // (len(orders) - i)
        if 4**k * CELL_BYTES <= share:
            size, is_direct = 4**k, True
        else:
            size, is_direct = 1 << max((share // CELL_BYTES).bit_length() - 1, 0), False
            if size < _MIN_HASHED_CELLS:
                need = sum(min(4**j, _MIN_HASHED_CELLS) for j in orders) * CELL_BYTES
                raise invalid("max_bytes", f"at least {need} bytes for orders {tuple(orders)} (or fewer, shorter "
                                           f"orders)", max_bytes)
        sizes.append(size)
        direct.append(is_direct)
        budget -= size * CELL_BYTES
    return tuple(sizes), tuple(direct)


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser of ``z`` (uint64, any shape), wrapping arithmetic."""
    with np.errstate(over="ignore"):
        z = (z ^ (z >> _U64(30))) * _MIX1
        z = (z ^ (z >> _U64(27))) * _MIX2
        return z ^ (z >> _U64(31))


def cell_of(order: int, context: Sequence[int], size: int, direct: bool) -> int:
    """The cell of one context (codes 0-3, oldest first) in a table of ``size`` cells; plain Python.

    A reference for the vectorised path (tests use it).

    >>> cell_of(2, [0, 3], 16, True)   # "AT": T is the newest base, in the lowest bits
    3
    """
    ctx = 0
    for b in context:
        ctx = ctx * 4 + int(b)
    if direct:
        return ctx
    m = (1 << 64) - 1
    z = (ctx + order * int(_GOLDEN)) & m
    z = ((z ^ (z >> 30)) * int(_MIX1)) & m
    z = ((z ^ (z >> 27)) * int(_MIX2)) & m
    return (z ^ (z >> 31)) & (size - 1)


# ------------------------------------------------------------------------------------------
# contexts of a piece


def _strip(codes: Any, name: str) -> np.ndarray:
    """Codes ``(L,) uint8`` 0-7 (mask bit stripped), checked to be a 1-D integer array."""
    a = np.asarray(codes)
    if a.ndim != 1 or not (np.issubdtype(a.dtype, np.integer) or a.size == 0):
        raise invalid(name, "a 1-D array of uint8 codes", f"an array of dtype {a.dtype} and shape {a.shape}")
    return np.bitwise_and(a.astype(np.uint8, copy=False), CODE_BITS)


def _rolling(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Forward contexts ``F``, reverse-complement windows ``R`` (uint64) and runs of one piece ``x``.

    ``F[t] = sum_j x[t-j] 4**j`` (32 bases, newest lowest); ``R[u] = sum_i comp(x[u-31+i]) 4**i``
    (32 bases, newest highest), so the order-k context of the reverse complement of the
    occurrence at t is ``R[t+1] >> (64 - 2k)``. ``run (L,) int64``: A/C/G/T bases ending at t.
    """
    valid = x < N
    b = np.where(valid, x, 0).astype(np.uint64)
    f, r = b, _U64(3) - b
    for w in (1, 2, 4, 8, 16):
        s = _U64(2 * w)
        g = f.copy()
        g[w:] |= f[:-w] << s
        h = r << s
        h[w:] |= r[:-w]
        f, r = g, h
    idx = np.arange(x.size, dtype=np.int64)
    run = idx - np.maximum.accumulate(np.where(valid, -1, idx))
    return f, r, run


class _Layout:
    """Orders as columns ``(O, 1)`` for broadcasting, sizes, direct flags, global cell offsets."""

    def __init__(self, orders: Sequence[int], sizes: Sequence[int], direct: Sequence[bool]):
        self.k = np.array(orders, np.int64)[:, None]
        self.size = np.array(sizes, np.int64)[:, None]
        self.direct = np.array(direct, bool)[:, None]
        self.offset = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)[:, None]
        self.total = int(sum(sizes))
        ends = np.cumsum(sizes)
        self.dense_cells = int(ends[ends <= _DENSE_OWN_CELLS][-1]) if ends[0] <= _DENSE_OWN_CELLS else 0

    def row(self, i: int) -> _Layout:
        out = object.__new__(_Layout)
        out.k, out.size, out.direct, out.offset = self.k[i:i + 1], self.size[i:i + 1], self.direct[i:i + 1], \
            self.offset[i:i + 1]
        out.total, out.dense_cells = self.total, self.dense_cells
        return out

    def cells(self, ctx: np.ndarray) -> np.ndarray:
        """Cells ``(O, L) int64`` of context integers ``ctx (O, L) uint64`` (already masked to k bases)."""
        with np.errstate(over="ignore"):
            hashed = _mix(ctx + self.k.astype(np.uint64) * _GOLDEN) & (self.size - 1).astype(np.uint64)
        return np.where(self.direct, ctx, hashed).astype(np.int64)


@dataclass
class _Contexts:
    """Per order (rows) and position (columns) of one piece: query cell and validity, occurrences."""

    cell: np.ndarray  # (O, L) int64 cell of the context at t
    valid: np.ndarray  # (O, L) bool context at t valid
    occ: np.ndarray  # (O, L) bool occurrence at t (context valid and base t+1 in A/C/G/T)
    nxt: np.ndarray  # (L,) int64 base t+1 (4 past the end)
    rc_cell: np.ndarray | None  # (O, L) int64 cell of the reverse complement's context
    rc_base: np.ndarray | None  # (O, L) int64 the reverse complement's next base


def _contexts(x: np.ndarray, layout: _Layout, both: bool, rolled: tuple | None = None) -> _Contexts:
    """Contexts of piece ``x`` for the orders of ``layout``; ``rolled`` is ``_rolling(x)`` when known."""
    f, r, run = rolled if rolled is not None else _rolling(x)
    k = layout.k
    ku = k.astype(np.uint64)
    full = k == MAX_ORDER
    mask = np.where(full, _U64(0xFFFFFFFFFFFFFFFF), (_U64(1) << (_U64(2) * ku)) - _U64(1))
    cell = layout.cells(f[None, :] & mask)
    valid = run[None, :] >= k
    nxt = np.full(x.size, N, np.int64)
    nxt[:-1] = x[1:]
    occ = valid & (nxt < N)[None, :]
    rc_cell = rc_base = None
    if both:
        r_next = np.zeros(x.size, np.uint64)
        r_next[:-1] = r[1:]
        rc_cell = layout.cells(r_next[None, :] >> (_U64(64) - _U64(2) * ku))
        rc_base = 3 - ((f[None, :] >> (_U64(2) * (ku - _U64(1)))) & _U64(3)).astype(np.int64)
    return _Contexts(cell, valid, occ, nxt, rc_cell, rc_base)


def _blocks(x: np.ndarray, reach: int, block: int = _BLOCK):
    """``(lo, a, b)``: positions ``a..b-1`` of a piece with ``x[lo:b+1]`` their context and next base."""
    for a in range(0, x.size, block):
        yield max(0, a - reach), a, min(a + block, x.size)


def features_from_counts(counts: np.ndarray, alpha: float, cap: int | None = None) -> np.ndarray:
    """Features ``(..., 5 * n_orders) float32`` of counts ``(..., n_orders, 4)``.

    Per order, with a ``cap``: ``log(4 (c_b + alpha) / (n + 4 alpha))`` for b = A, C, G, T (0 where
    the counts say nothing), then ``log1p(min(n, cap)) / log1p(cap)``. Without (tables saved before
    the cap): ``log((c_b + alpha) / (n + 4 alpha))``, then ``log1p(n)``. The log-probabilities of
    either differ by a constant per order, which the geometric mixers of :mod:`genorm.mixer` ignore.

    >>> features_from_counts(np.array([[3, 1, 0, 0]]), 0.5, cap=15).astype(float).round(3).tolist()  # one order
    [0.847, 0.0, -1.099, -1.099, 0.58]
    >>> features_from_counts(np.array([[3, 1, 0, 0]]), 0.5).astype(float).round(3).tolist()
    [-0.539, -1.386, -2.485, -2.485, 1.609]
    """
    c = np.asarray(counts, np.float32)  # exact: counts stay below 2**24
    n = (c[..., 0:1] + c[..., 1:2]) + (c[..., 2:3] + c[..., 3:4])  # not .sum(-1): slow on a short last axis
    out = np.empty((*c.shape[:-1], 5), np.float32)
    np.log(c + np.float32(alpha), out=out[..., :4])
    if cap is None:
        out[..., :4] -= np.log(n + np.float32(4 * alpha))
        np.log1p(n, out=out[..., 4:])
    else:
        out[..., :4] -= np.log((n + np.float32(4 * alpha)) / np.float32(4))
        np.log1p(np.minimum(n, np.float32(cap)), out=out[..., 4:])
        out[..., 4:] *= np.float32(1 / np.log1p(cap))
    return out.reshape(*c.shape[:-2], 5 * c.shape[-2])


# ------------------------------------------------------------------------------------------
# the tables


def _add_counts(table: np.ndarray, keys: np.ndarray) -> None:
    """Add one to ``table.reshape(-1)[key]`` for every key (``cell * 4 + base``), halving saturated cells."""
    flat = table.reshape(-1)
    if flat.size <= 1 << 22:
        new = flat + np.bincount(keys, minlength=flat.size)
        u = np.flatnonzero(new > SATURATION)
        if u.size == 0:
            flat[:] = new
            return
        n = new[u] - flat[u]
        flat[new <= SATURATION] = new[new <= SATURATION]
    else:
        u, n = np.unique(keys, return_counts=True)
        new = flat[u] + n
        over = new > SATURATION
        flat[u[~over]] = new[~over]
        u, n = u[over], n[over]
        if u.size == 0:
            return
    # saturated cells: the whole cell, plus this block's counts, halved until it fits
    cells = np.unique(u >> 2)
    part = np.isin(u >> 2, cells)
    full = table[cells].astype(np.int64)
    np.add.at(full, (np.searchsorted(cells, u[part] >> 2), u[part] & 3), n[part])
    while (big := full.max(axis=1) > SATURATION).any():
        full[big] >>= 1
    table[cells] = full


class CountTables:
    """Count tables of every order, built from training pieces (see the module doc).

    Attributes:
        config: the :class:`CountConfig`.
        orders: ``config.orders``.
        sizes: cells of each order's table; ``direct``: whether each is directly indexed.
        tables: one ``(size, 4) uint16`` array per order (memory-mapped after :meth:`load`).
        bases: the occurrences counted (forward strand).
    """

    def __init__(self, config: CountConfig, tables: Sequence[np.ndarray], bases: int = 0, budget: int | None = None):
        self.config = config
        self.orders = config.orders
        self.budget = int(config.max_bytes if budget is None else min(budget, config.max_bytes))
        """The bytes the tables were laid out in: ``max_bytes``, or less for a small genome (:func:`budget_for`)."""
        self.sizes, self.direct = plan_sizes(config.orders, self.budget)
        self.tables = list(tables)
        self.bases = int(bases)
        self._layout = _Layout(self.orders, self.sizes, self.direct)

    @classmethod
    def build(cls, pieces: Sequence[np.ndarray], config: CountConfig) -> CountTables:
        """Count the occurrences of ``pieces`` (each ``(L_i,) uint8`` codes; mask bit allowed).

        Blocks of 1 M bases, one order at a time: peak memory beyond the tables is about
        100 bytes per block base.
        """
        if not isinstance(config, CountConfig):
            raise invalid("config", "a CountConfig", config)
        if isinstance(pieces, np.ndarray) and pieces.ndim == 1:
            raise invalid("pieces", "a list of 1-D code arrays (wrap one array in a list)", "one array")
        self = cls(config, [], 0, budget_for(config, sum(int(np.size(p)) for p in pieces)))
        self.tables = [np.zeros((s, 4), np.uint16) for s in self.sizes]
        reach = max(self.orders)
        for p in pieces:
            x = _strip(p, "pieces")
            for lo, a, b in _blocks(x, reach):
                ext = x[lo:b + 1]
                rolled = _rolling(ext)
                for i in range(len(self.orders)):
                    c = _contexts(ext, self._layout.row(i), config.both_strands, rolled)
                    sel = c.occ[0].copy()
                    sel[:a - lo] = False
                    sel[b - lo:] = False
                    keys = [c.cell[0, sel] * 4 + c.nxt[sel]]
                    if config.both_strands:
                        keys.append(c.rc_cell[0, sel] * 4 + c.rc_base[0, sel])
                    if i == 0:
                        self.bases += int(sel.sum())
                    _add_counts(self.tables[i], np.concatenate(keys))
        return self

    @property
    def reach(self) -> int:
        """The highest order: the bases of context a position's features read."""
        return max(self.orders)

    @property
    def n_features(self) -> int:
        """``5 * len(orders)``: four log-probabilities and one confidence per order."""
        return 5 * len(self.orders)

    @property
    def nbytes(self) -> int:
        """Bytes of all tables (at most ``config.max_bytes``)."""
        return int(sum(t.nbytes for t in self.tables))

    def _gather(self, c: _Contexts, cols: slice) -> np.ndarray:
        """Table counts ``(L, O, 4) int32`` at the contexts of ``c`` (columns ``cols``); zero where invalid."""
        cell, valid = c.cell[:, cols], c.valid[:, cols]
        words = np.empty(cell.shape[::-1], np.uint64)  # (L, O): a cell's 4 uint16 counts as one word
        for i, t in enumerate(self.tables):
            words[:, i] = t.reshape(-1).view(np.uint64)[np.where(valid[i], cell[i], 0)]
        words[~valid.T] = 0
        return words.view(np.uint16).reshape(*words.shape, 4).astype(np.int32)

    def counts_static(self, piece_codes: np.ndarray) -> np.ndarray:
        """Table counts ``(L, n_orders, 4) float32`` at each position of a piece (no leave-one-out)."""
        x = _strip(piece_codes, "piece_codes")
        out = np.zeros((x.size, len(self.orders), 4), np.float32)
        for lo, a, b in _blocks(x, max(self.orders), _FEATURE_BLOCK):
            c = _contexts(x[lo:b], self._layout, False)
            out[a:b] = self._gather(c, slice(a - lo, b - lo))
        return out

    def train_features(self, piece_codes: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Leave-one-out features ``(L, n_features) float32`` of a training piece.

        Position t's own occurrence (and its reverse complement where it shares the cell) is
        subtracted, so the features equal those of a table built without it. ``out``, when
        given, is a ``(L, n_features) float32`` array written in place.
        """
        x = _strip(piece_codes, "piece_codes")
        shape = (x.size, self.n_features)
        if out is None:
            out = np.empty(shape, np.float32)
        elif not isinstance(out, np.ndarray) or out.shape != shape or out.dtype != np.float32:
            raise invalid("out", f"a float32 array of shape {shape}", f"{getattr(out, 'dtype', type(out))} "
                                                                       f"{getattr(out, 'shape', '')}")
        both = self.config.both_strands
        for lo, a, b in _blocks(x, max(self.orders), _FEATURE_BLOCK):
            c = _contexts(x[lo:b + 1], self._layout, both)
            cols = slice(a - lo, b - lo)
            counts = self._gather(c, cols)
            flat, n_orders = counts.reshape(-1), len(self.orders)  # index (t * O + o) * 4 + base
            occ = c.occ[:, cols]
            o, t = np.nonzero(occ)
            flat[(t * n_orders + o) * 4 + c.nxt[cols][t]] -= 1  # distinct indices: one occurrence each
            if both:
                o, t = np.nonzero(occ & (c.rc_cell[:, cols] == c.cell[:, cols]))
                flat[(t * n_orders + o) * 4 + c.rc_base[:, cols][o, t]] -= 1
            np.maximum(counts, 0, out=counts)  # a halved (saturated) cell: approximate, never negative
            out[a:b] = self.config.features(counts)
        return out

    def window_features(self, ext: np.ndarray, lead: int) -> np.ndarray:
        """Leave-one-out features ``(B, L, n_features)`` of training windows with their lead (:func:`window_features`)."""
        return window_features(self, ext, lead)

    def stream(self, expected_bases: int | None = None) -> CountStream:
        """A predict-then-update stream (one lane) over these tables.

        ``expected_bases`` (optional): about how many bases the lane will read; its own counts are
        then sized for them at the start instead of growing (each doubling re-inserts every key:
        about two thirds of the insertion work of a long stream). Results are the same either way.
        """
        return CountStream(self, expected_bases)

    # -- files ----------------------------------------------------------------------------
    def save(self, path_dir: str | os.PathLike) -> None:
        """Write ``order_KK.npy`` per order and ``counts.json`` into ``path_dir`` (created), atomically per file."""
        d = Path(path_dir)
        d.mkdir(parents=True, exist_ok=True)
        files = [_table_file(k) for k in self.orders]
        for name, t in zip(files, self.tables):
            with atomic_path(d / name) as tmp, open(tmp, "wb") as fh:
                np.save(fh, np.ascontiguousarray(t))
        index = {"format_version": FORMAT_VERSION, "config": self.config.to_dict(), "budget": self.budget,
                 "sizes": list(self.sizes),
                 "direct": list(self.direct), "hash": HASH_KIND, "files": files, "bases": self.bases}
        atomic_write_text(d / _INDEX_FILE, json.dumps(index, indent=1) + "\n")

    @classmethod
    def load(cls, path_dir: str | os.PathLike, mmap: bool = True) -> CountTables:
        """Tables saved by :meth:`save`, memory-mapped read-only when ``mmap`` (default).

        Raises:
            RunDirError: a missing, truncated or changed file, named, with what to do.
        """
        d = Path(path_dir)
        index_path = d / _INDEX_FILE
        try:
            index = json.loads(index_path.read_text())
            config = CountConfig.from_dict(index["config"])
            if index["format_version"] != FORMAT_VERSION or index["hash"] != HASH_KIND:
                raise ValueError(f"format {index['format_version']} / hash {index['hash']!r} is not "
                                 f"{FORMAT_VERSION} / {HASH_KIND!r}")
            budget = int(index.get("budget", config.max_bytes))
            sizes, direct = plan_sizes(config.orders, min(budget, config.max_bytes))
            if list(index["sizes"]) != list(sizes) or list(index["direct"]) != list(direct) \
                    or index["files"] != [_table_file(k) for k in config.orders]:
                raise ValueError("its sizes, direct flags or file names do not match its configuration")
            bases = index["bases"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise _bad_file(index_path, exc) from None
        tables = []
        for name, size in zip(index["files"], sizes):
            try:
                t = np.load(d / name, mmap_mode="r" if mmap else None, allow_pickle=False)
            except (OSError, ValueError, EOFError) as exc:
                raise _bad_file(d / name, exc) from None
            if t.dtype != np.uint16 or t.shape != (size, 4):
                raise _bad_file(d / name, f"expected uint16 counts of shape ({size}, 4), found {t.dtype} {t.shape}")
            tables.append(t)
        return cls(config, tables, bases, budget)


def budget_for(config: CountConfig, bases: int) -> int:
    """The table bytes worth spending on ``bases`` training bases: ``max_bytes``, or for a smaller genome
    a hashed table of half a cell (8 bytes) per counted occurrence per order (a power of two, at least
    2**16 cells), so that tables grow with the genome.

    >>> budget_for(CountConfig(orders=(2, 12)), 1000) < budget_for(CountConfig(orders=(2, 12)), 10**7)
    True
    """
    occurrences = max(1, int(bases)) * (2 if config.both_strands else 1)
    per_order = 8 * (1 << max(16, (occurrences // 2 - 1).bit_length()))
    return int(min(config.max_bytes, per_order * len(config.orders)))


def _table_file(order: int) -> str:
    return f"order_{order:02d}.npy"


def _bad_file(path: Path, what: Any) -> RunDirError:
    return RunDirError(f"Count tables file {str(path)!r} is unreadable or does not match {_INDEX_FILE}: {what}. "
                       f"Rebuild the tables (CountTables.build on the training pieces, then .save) into a fresh "
                       f"directory.")


# ------------------------------------------------------------------------------------------
# streams


def _rows(a: np.ndarray) -> np.ndarray:
    """A C-contiguous ``(n, w)`` array as ``(n,)`` opaque rows: fancy indexing of whole rows is a memcpy
    (about 15 times faster than NumPy's 2-D row indexing)."""
    return a.view(np.dtype((np.void, a.shape[1] * a.itemsize))).reshape(-1)


def _as_counts(rows: np.ndarray) -> np.ndarray:
    """Opaque rows from :func:`_rows` of an int32 ``(n, 4)`` array, back as that array."""
    if rows.dtype.itemsize != 16:
        raise TypeError(f"expected rows of 4 int32 counts, got {rows.dtype}")  # a programming error
    return rows.view(np.int32).reshape(-1, 4)


class _DeltaMap:
    """Exact counts ``(4,) int32`` per key (a global cell, int64 >= 0): vectorised open addressing.

    Triangular probing (slot, +1, +3, +6, ...: every slot is reachable, clusters stay short); the
    load stays between 3/16 and 3/4 (the table doubles past 3/4).
    """

    def __init__(self, capacity: int = 1024):
        self._alloc(capacity)

    def _alloc(self, capacity: int) -> None:
        self.keys = np.full(capacity, -1, np.int64)
        self.vals = np.zeros((capacity, 4), np.int32)
        self._vrows = _rows(self.vals)
        self.n = 0

    def _slots(self, q: np.ndarray) -> np.ndarray:
        return (_mix(q.astype(np.uint64)) & _U64(self.keys.size - 1)).astype(np.int64)

    def lookup(self, q: np.ndarray) -> np.ndarray:
        """Counts ``(m, 4) int32`` of keys ``q (m,) int64`` (zeros when absent)."""
        out = np.zeros((q.size, 4), np.int32)
        if self.n == 0 or q.size == 0:
            return out
        orows = _rows(out)
        idx, s, mask, step = np.arange(q.size), self._slots(q), self.keys.size - 1, 1
        while idx.size:
            k = self.keys[s]
            hit = k == q
            orows[idx[hit]] = self._vrows[s[hit]]
            go = np.flatnonzero(~hit & (k >= 0))
            idx, s, q = idx[go], (s[go] + step) & mask, q[go]  # all still searching are at probe `step`
            step += 1
        return out

    def add(self, q: np.ndarray, c: np.ndarray) -> None:
        """Add counts ``c (m, 4) int32`` to distinct keys ``q (m,) int64``."""
        if (self.n + q.size) * 4 > self.keys.size * 3:
            used = np.flatnonzero(self.keys >= 0)
            old_k, old_v = self.keys[used], _as_counts(self._vrows[used])
            self._alloc(1 << int(2 * (self.n + q.size)).bit_length())
            self._insert(old_k, old_v)
        self._insert(q, np.ascontiguousarray(c, np.int32))

    def _insert(self, q: np.ndarray, c: np.ndarray) -> None:
        """Find or claim each key's slot, round by round (probe i of every key still looking at once);
        several new keys may claim one empty slot in a round: one write wins, the others probe on.
        Then the counts are written in one pass."""
        slot = np.empty(q.size, np.int64)
        new = np.zeros(q.size, bool)
        idx, s, mask, step = np.arange(q.size), self._slots(q), self.keys.size - 1, 1
        while idx.size:
            k = self.keys[s]
            found = k == q
            slot[idx[found]] = s[found]
            empty = np.flatnonzero(k < 0)
            se, qe = s[empty], q[empty]
            self.keys[se] = qe
            won = self.keys[se] == qe
            slot[idx[empty[won]]] = se[won]
            new[idx[empty[won]]] = True
            found[empty[won]] = True
            go = ~found
            idx, q, s = idx[go], q[go], (s[go] + step) & mask
            step += 1
        crows = _rows(c)
        old = np.flatnonzero(~new)
        self._vrows[slot[new]] = crows[new]
        self._vrows[slot[old]] = _rows(_as_counts(self._vrows[slot[old]]) + c[old])
        self.n += int(new.sum())

    def copy(self) -> _DeltaMap:
        out = object.__new__(_DeltaMap)
        out.keys, out.vals, out.n = self.keys.copy(), self.vals.copy(), self.n
        out._vrows = _rows(out.vals)
        return out


class CountStream:
    """Predict-then-update counts for one lane: the tables plus the lane's own earlier occurrences.

    The context carries across chunks (the last 32 bases are kept). ``expected_bases``: see
    :meth:`CountTables.stream`.
    """

    def __init__(self, tables: CountTables, expected_bases: int | None = None):
        self.tables = tables
        hashed = sum(1 for end in np.cumsum(tables.sizes) if end > tables._layout.dense_cells)
        keys = 0 if expected_bases is None else \
            check_positive_int("expected_bases", expected_bases) * hashed * (2 if tables.config.both_strands else 1)
        self._capacity = 1 << max(10, int(keys * 4 // 3 + 1).bit_length())
        self.reset()

    def reset(self) -> None:
        """Back to the training tables only, with an empty context."""
        self._dense = np.zeros((self.tables._layout.dense_cells, 4), np.int32)
        self._own = _DeltaMap(self._capacity)
        self._tail = np.zeros(0, np.uint8)

    def copy(self) -> CountStream:
        """An independent copy of this lane's state."""
        out = object.__new__(CountStream)
        out.tables, out._own, out._tail = self.tables, self._own.copy(), self._tail.copy()
        out._capacity = self._capacity
        out._dense = self._dense.copy()
        return out

    def features(self, chunk_codes: np.ndarray) -> np.ndarray:
        """Features ``(T, n_features) float32`` at each base of the chunk, then learn the chunk."""
        return self.tables.config.features(self.counts(chunk_codes))

    def counts(self, chunk_codes: np.ndarray) -> np.ndarray:
        """Counts ``(T, n_orders, 4) float32`` at each base of the chunk (predicting the next base),
        then the chunk's occurrences are added to the lane's own counts."""
        x = _strip(chunk_codes, "chunk_codes")
        n_orders = len(self.tables.orders)
        if x.size == 0:
            return np.zeros((0, n_orders, 4), np.float32)
        layout = self.tables._layout
        h = self._tail.size
        ext = np.concatenate([self._tail, x])
        c = _contexts(ext, layout, self.tables.config.both_strands)
        counts = self.tables._gather(c, slice(h, ext.size))
        # the lane's counts before this chunk, at every valid (order, position)
        qo, qt = np.nonzero(c.valid[:, h:])
        qt += h
        qg = c.cell[qo, qt] + layout.offset[qo, 0]
        split = self._dense.shape[0]
        small = qg < split
        own = np.zeros((qg.size, 4), np.int32)
        orows = _rows(own)
        orows[small] = _rows(self._dense)[qg[small]]
        orows[~small] = _rows(self._own.lookup(qg[~small]))
        flat = np.zeros((counts.shape[0] * n_orders, 4), np.int32)  # the lane's own counts, (T * O, 4)
        _rows(flat)[(qt - h) * n_orders + qo] = orows
        # this chunk's occurrences (ext positions h-1 .. end-2) before each position, and learn them
        cells, per = self._within_chunk(c, h, layout.offset, flat)
        counts += flat.reshape(counts.shape)
        small = cells < split
        self._dense[cells[small]] += per[small]
        self._own.add(cells[~small], per[~small])
        self._tail = ext[-MAX_ORDER:].copy()
        return counts.astype(np.float32)

    @staticmethod
    def _within_chunk(c: _Contexts, h: int, offset: np.ndarray, flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Add to ``flat (T * O, 4) int32`` the chunk's occurrences before each position; return their totals.

        Items sorted by (global cell, 3 t + kind): a query at t (kind 0, only where no forward occurrence
        at t stands for it), the forward occurrence at t (kind 1; the query at t shares its cell and reads
        the exclusive cumulative count there), its reverse complement (kind 2). Items alone in their
        bucket of a 2**18-bucket hash (most items of long orders) are alone in their cell and skip the
        sort. Returns the distinct global cells ``(m,) int64`` of the occurrences and their counts
        ``(m, 4) int32``.
        """
        occ = c.occ.copy()
        occ[:, :max(h - 1, 0)] = False
        lone = c.valid & ~c.occ
        lone[:, :h] = False
        oo, ot = np.nonzero(occ)
        lo, lt = np.nonzero(lone)
        g = [c.cell[oo, ot] + offset[oo, 0], c.cell[lo, lt] + offset[lo, 0]]
        pos = [3 * ot + 1, 3 * lt]
        base = [c.nxt[ot], np.full(lt.size, -1)]
        rows, cols = [ot, lt], [oo, lo]
        if c.rc_cell is not None:
            g.append(c.rc_cell[oo, ot] + offset[oo, 0])
            pos.append(3 * ot + 2)
            base.append(c.rc_base[oo, ot])
            rows.append(np.full(ot.size, -1))
            cols.append(oo)
        g, pos, base, rows, cols = (np.concatenate(a) for a in (g, pos, base, rows, cols))
        # an item alone in its hash bucket is alone in its cell: nothing before it, and its total is itself
        bucket = (_mix(g.astype(np.uint64)) >> _U64(64 - _BUCKET_BITS)).astype(np.int64)
        alone = np.bincount(bucket, minlength=1 << _BUCKET_BITS)[bucket] == 1
        single_cells, single_base = g[alone & (base >= 0)], base[alone & (base >= 0)]
        single = np.zeros((single_cells.size, 4), np.int32)
        single.reshape(-1)[np.arange(single_cells.size) * 4 + single_base] = 1
        if alone.all():
            return single_cells, single
        g, pos, base, rows, cols = (a[~alone] for a in (g, pos, base, rows, cols))
        bits = int(3 * c.nxt.size + 3).bit_length()
        if int(g.max(initial=0)) < 1 << (62 - bits):
            order = np.argsort((g << bits) | pos)  # keys are distinct: no stable sort needed
        else:
            order = np.lexsort((pos, g))
        g, base, rows, cols = g[order], base[order], rows[order], cols[order]
        oh = np.zeros((g.size, 4), np.int32)
        is_occ = np.flatnonzero(base >= 0)
        oh.reshape(-1)[is_occ * 4 + base[is_occ]] = 1
        cs = np.cumsum(oh, axis=0, dtype=np.int32)
        cs -= oh  # exclusive: the items before each one
        start = np.ones(g.size, bool)
        start[1:] = g[1:] != g[:-1]
        first = np.flatnonzero(start)
        before = _as_counts(_rows(cs)[first[np.cumsum(start) - 1]])  # counts before each item's group
        query = np.flatnonzero(rows >= h)  # lone queries and forward occurrences in the chunk (rc: -1)
        r = (rows[query] - h) * c.cell.shape[0] + cols[query]
        frows = _rows(flat)
        frows[r] = _rows(_as_counts(frows[r]) + cs[query] - before[query])
        last = np.append(first[1:], g.size) - 1
        total = cs[last] + oh[last] - before[last]
        keep = total.any(axis=1)
        return np.concatenate([g[last[keep]], single_cells]), np.concatenate([total[keep], single])


# ------------------------------------------------------------------------------------------
# count features of training windows, and the count lanes of the stepping engine


def window_features(tables: CountTables, ext: np.ndarray, lead: int) -> np.ndarray:
    """Leave-one-out features ``(B, L, n_features) float32`` of the input positions of training windows.

    Args:
        tables: the training split's tables.
        ext: ``(B, lead + L + 1)`` packed codes: each window after the ``lead`` bases before it on
            its strand (N where its interval has none), as :class:`~genorm.batches.windows.WindowSampler`
            gives them with ``lead`` set.
        lead: at least ``max(orders)``, so that every input's contexts lie inside its row.

    The rows are read as one piece: a position's contexts reach back at most ``lead`` bases and its
    next base is in its row, so nothing crosses rows where features are kept.
    """
    ext = np.asarray(ext)
    B, W = ext.shape
    if lead < max(tables.orders):
        raise invalid("lead", f"at least the highest order ({max(tables.orders)})", lead)
    feats = tables.train_features(np.ascontiguousarray(ext).reshape(-1)).reshape(B, W, tables.n_features)
    return np.ascontiguousarray(feats[:, lead:W - 1])


class _StaticLane:
    """A lane whose counts are the tables' only (no update): it keeps its last bases as context."""

    def __init__(self, tables: CountTables):
        self.tables = tables
        self._tail = np.zeros(0, np.uint8)

    def copy(self) -> _StaticLane:
        out = _StaticLane(self.tables)
        out._tail = self._tail.copy()
        return out

    def counts(self, chunk_codes: np.ndarray) -> np.ndarray:
        x = _strip(chunk_codes, "chunk_codes")
        ext = np.concatenate([self._tail, x])
        out = self.tables.counts_static(ext)[self._tail.size:]
        self._tail = ext[-max(self.tables.orders):]
        return out


class CountLanes:
    """The count models of ``B`` lanes of :mod:`genorm.engine`: one stream per lane.

    ``update=True`` (predict-then-update, as compressors do): each lane's counts are the tables
    plus the lane's own earlier bases (:class:`CountStream`). ``update=False``: the tables only.
    A lane's stream is part of the lane's state: reset, selected and copied with it.

    >>> tables = CountTables.build([np.array([0, 1, 2, 3] * 5, np.uint8)], CountConfig(orders=(1, 2)))
    >>> lanes = CountLanes(tables)
    >>> streams = lanes.initial(2)
    >>> lanes.features(np.array([[0, 1], [2, 3]]), streams).shape
    (2, 2, 10)
    """

    def __init__(self, tables: CountTables, update: bool = True):
        self.tables = tables
        self.update = check_bool("update", update)

    @property
    def n_features(self) -> int:
        return self.tables.n_features

    STREAM_BYTES_PER_BASE = 800
    """About what a lane's own counts take per base it has read (measured: 768 MiB after 1 Mb, default orders)."""

    def lane_bytes(self, bases: int) -> int:
        """Memory of one lane after ``bases`` bases: its own counts when they update, else its context only."""
        return self.STREAM_BYTES_PER_BASE * int(bases) * len(self.tables.orders) // 13 if self.update else 64

    def _fresh(self):
        return self.tables.stream() if self.update else _StaticLane(self.tables)

    def initial(self, batch: int) -> list:
        """The streams of ``batch`` fresh lanes (tables only, empty context)."""
        return [self._fresh() for _ in range(int(batch))]

    def counts(self, codes: np.ndarray, lanes: list) -> np.ndarray:
        """``(B, T, n_orders, 4) float32`` counts at every position of every lane's chunk, which the
        lanes then read (each base after it was predicted)."""
        codes = np.asarray(codes)
        return np.stack([lane.counts(row) for lane, row in zip(lanes, codes)])

    def features(self, codes: np.ndarray, lanes: list) -> np.ndarray:
        """``(B, T, n_features) float32``: :meth:`counts` as features (:func:`features_from_counts`)."""
        return self.tables.config.features(self.counts(codes, lanes))

    def reset(self, lanes: list, rows) -> list:
        out = list(lanes)
        for i in rows:
            out[i] = self._fresh()
        return out

    def select(self, lanes: list, rows) -> list:
        return [lanes[i] for i in rows]

    def copy(self, lanes: list, src: int, dst: int) -> list:
        out = list(lanes)
        out[dst] = lanes[src].copy()
        return out


__all__ = ["CountConfig", "CountLanes", "CountStream", "CountTables", "DEFAULT_MAX_BYTES", "DEFAULT_ORDERS",
           "features_from_counts", "window_features"]
