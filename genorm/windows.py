"""The ``tf.data`` window stream: genome intervals to ``(inputs, targets, weights)`` batches.

Each element of :func:`make_dataset` is one batch, a tuple that Keras ``model.fit`` takes as
``(x, y, sample_weight)``:

===========  ================  ==================================================================
name         shape, dtype      meaning
===========  ================  ==================================================================
inputs       ``(B, L) int32``  base codes 0-4 of a window (soft-mask bit stripped; N = 4)
targets      ``(B, L) int32``  codes 0-3: ``targets[b, i]`` is the base *after* ``inputs[b, i]``
                               (record position ``start + i + 1``); 0 where that base is N
weights      ``(B, L) float``  float32: 0 where the target or the input is N (or is padding),
                               ``soft_mask_weight`` where the target is soft-masked, else 1
===========  ================  ==================================================================

How a batch is made: ``B`` window starts are drawn at once in NumPy (uniform over every start
whose ``L + 1`` bases fit in one interval, seeded by ``(seed, batch number)``; or taken in order
with a stride), gathered with one vectorised index into a sliding-window view of the flat
``genome.packed`` array (no copy of the genome; a memory-mapped genome is read through the
stream's own mapping of the cache file, whose pages are released as training moves on, see
:class:`WindowSampler`), and turned into inputs, targets and weights by a few TensorFlow ops.
One-hot is left to the model.

* Windows never cross an interval (hence never a record) boundary.
* An interval shorter than ``L + 1`` bases still gives one window, padded with N (weight 0);
  the number of such intervals is logged.
* Windows whose real bases are more than ``max_n_fraction`` N are redrawn (random mode) or
  left out (strided mode); a window that stays mostly N after redrawing is replaced by all N,
  weight 0. Weights are never all-N-and-nonzero, so the loss stays finite.
* With ``rc_augment`` each window is replaced, with probability 1/2, by its reverse complement
  *before* it is cut into inputs and targets, so targets stay aligned on the reversed strand.
* Batch ``k`` depends only on ``(seed, k)``: the same seed gives the same batches, whatever the
  parallelism.

>>> from genorm.genome import Genome
>>> from genorm.splits import Interval
>>> g = Genome.from_strings({"a": "ACGTACGTAC"})
>>> cfg = StreamConfig(window=4, batch_size=2, shuffle=False)
>>> x, y, w = next(iter(make_dataset(g, [Interval(0, 0, 10)], cfg, repeat=False)))
>>> x.numpy().tolist(), y.numpy().tolist()
([[0, 1, 2, 3], [0, 1, 2, 3]], [[1, 2, 3, 0], [1, 2, 3, 0]])
"""

from __future__ import annotations

import atexit
import logging
import math
import mmap
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from genorm.encoding import CODE_BITS, N, SOFT_MASK_FLAG
from genorm.errors import ConfigError, SplitError
from genorm.config import MAX_SOFT_MASK_WEIGHT
from genorm.validate import check_int, check_number
from genorm.splits import Interval

if TYPE_CHECKING:
    from genorm.genome import Genome

logger = logging.getLogger(__name__)

_REDRAW_ROUNDS = 16
_SCAN_CHUNK = 1 << 22
# Cache path: the stream maps the genome's file itself and, after a read, unmaps (MADV_DONTNEED)
# what it has read once that may exceed _MAP_BUDGET bytes, counting _FOLIO bytes (the largest
# page cache folio a page fault maps on x86-64 Linux) per window.
_MAP_BUDGET = 256 << 20
_FOLIO = 2 << 20

# Interpreter exit while a tf.data thread is inside (or entering) tf.numpy_function can hang
# the process. Every stream's NumPy calls are counted here, and an atexit handler waits until
# the pipelines are idle (their prefetch buffers full) before Python finalizes.
_ACTIVITY_LOCK = threading.Lock()
_ACTIVITY = {"in_flight": 0, "last": 0.0}
_EXIT_HANDLER = {"registered": False}


def _track(fn):
    def tracked(k):
        with _ACTIVITY_LOCK:
            _ACTIVITY["in_flight"] += 1
        try:
            return fn(k)
        finally:
            with _ACTIVITY_LOCK:
                _ACTIVITY["in_flight"] -= 1
                _ACTIVITY["last"] = time.monotonic()

    return tracked


def _quiesce(idle: float = 0.25, timeout: float = 10.0) -> None:
    """Wait (at most ``timeout`` s) until no stream has made a batch for ``idle`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with _ACTIVITY_LOCK:
            busy = _ACTIVITY["in_flight"] > 0 or time.monotonic() - _ACTIVITY["last"] < idle
        if not busy:
            return
        time.sleep(0.02)


@dataclass(frozen=True)
class StreamConfig:
    """How windows are drawn and batched.

    Args:
        window: input length ``L`` (each window reads ``L + 1`` bases). Default 200.
        batch_size: windows per batch ``B``. Default 128.
        bases_per_epoch: input bases per epoch (``steps = ceil(bases / (B * L))``). Default None:
            about one pass over the intervals (random mode), or exactly one strided pass.
        shuffle: True (default): random window starts, drawn afresh each epoch (seeded).
            False: starts every ``stride`` bases, in order.
        stride: step between window starts when ``shuffle=False``. Default None: ``window``, so
            that every base of an interval but its first is a target exactly once.
        rc_augment: replace each window by its reverse complement with probability 1/2.
            Default False.
        max_n_fraction: skip windows whose real bases are more than this fraction N. Default
            0.5; 1.0 keeps every window.
        soft_mask_weight: weight of soft-masked (lower-case) targets. Default 1.0.
    """

    window: int = 200
    batch_size: int = 128
    bases_per_epoch: int | None = None
    shuffle: bool = True
    stride: int | None = None
    rc_augment: bool = False
    max_n_fraction: float = 0.5
    soft_mask_weight: float = 1.0

    def __post_init__(self) -> None:
        check_int("window", self.window, 2)
        check_int("batch_size", self.batch_size, 1)
        if self.bases_per_epoch is not None:
            check_int("bases_per_epoch", self.bases_per_epoch, 1)
        if self.stride is not None:
            check_int("stride", self.stride, 1)
        for name in ("shuffle", "rc_augment"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise ConfigError(
                    f"Received an invalid value for `{name}`, expected True or False, got {getattr(self, name)!r}."
                )
        check_number("max_n_fraction", self.max_n_fraction, 0.0, 1.0)
        check_number("soft_mask_weight", self.soft_mask_weight, 0.0, MAX_SOFT_MASK_WEIGHT)

    @property
    def effective_stride(self) -> int:
        """``stride``, or ``window`` when it is None."""
        return int(self.stride or self.window)


# ------------------------------------------------------------------------------------------
# The NumPy side: window starts and the gather


def _complement_table() -> np.ndarray:
    table = np.arange(256, dtype=np.uint8)
    for code, comp in enumerate((3, 2, 1, 0, N)):
        table[code] = comp
        table[code | SOFT_MASK_FLAG] = comp | SOFT_MASK_FLAG
    return table


_COMPLEMENT_PACKED = _complement_table()


class WindowSampler:
    """Window starts over intervals of a genome, and the windows themselves, batch by batch.

    The NumPy half of :func:`make_dataset`, usable on its own (tests, benchmarks).

    Args:
        genome: a :class:`~genorm.genome.Genome` (``packed`` may be a read-only memory map).
        intervals: :class:`~genorm.splits.Interval` s to draw windows from.
        config: a :class:`StreamConfig`.
        seed: integer seed.

    Memory: when ``genome.packed`` is a memory map of a file (the cache), the sampler maps the
    file itself (:class:`_MappedGenome`, advised ``MADV_RANDOM`` for random windows and
    ``MADV_SEQUENTIAL`` for a strided pass) and gathers windows from that mapping exactly as
    from memory, with one fancy index per batch; the pages it maps are released
    (``madvise(MADV_DONTNEED)``) whenever they may exceed a budget of 256 MB, so the resident set
    does not grow with the genome and a genome larger than memory is streamed with bounded
    memory. Same seed, same batches as from memory.

    Attributes:
        steps: batches per epoch.
        padded_intervals: intervals shorter than ``L + 1`` bases (their one window is padded).
        unusable_intervals: intervals of fewer than 2 bases (no target: not used).
        skipped_windows: strided windows left out as mostly N.
    """

    def __init__(self, genome: Genome, intervals: Sequence[Interval], config: StreamConfig, seed: int = 0):
        if not isinstance(config, StreamConfig):
            raise ConfigError(f"Received an invalid value for `config`, expected a StreamConfig, got {config!r}.")
        check_int("seed", seed, 0)
        self.config = config
        self.seed = int(seed)
        L = config.window
        self.size = int(genome.packed.shape[0])
        self._mapped = _MappedGenome.of(genome.packed, random=config.shuffle)
        self.packed = genome.packed if self._mapped is None else self._mapped.packed
        starts, ends, has_n = self._flat_intervals(genome, intervals)
        lengths = ends - starts
        unusable = lengths < 2
        self.unusable_intervals = int(unusable.sum())
        if self.unusable_intervals:
            logger.warning("%d interval(s) of fewer than 2 bases have no target and are not used.",
                           self.unusable_intervals)
        keep = ~unusable
        starts, ends, has_n, lengths = starts[keep], ends[keep], has_n[keep], lengths[keep]
        if starts.size == 0:
            raise SplitError("No interval has 2 or more bases: there is nothing to predict.")
        self.padded_intervals = int((lengths < L + 1).sum())
        if self.padded_intervals:
            logger.info("%d interval(s) shorter than %d bases: each gives one window padded with N (weight 0).",
                        self.padded_intervals, L + 1)
        self.iv_start, self.iv_end, self.iv_has_n = starts, ends, has_n
        self.total_bases = int(lengths.sum())
        self.skipped_windows = 0
        from numpy.lib.stride_tricks import sliding_window_view

        self._view = sliding_window_view(self.packed, L + 1) if self.size >= L + 1 else None
        self._arange = np.arange(L + 1, dtype=np.int64)
        B = config.batch_size
        if config.shuffle:
            self._cum = np.cumsum(np.maximum(lengths - L, 1))
            self.steps = max(1, math.ceil((config.bases_per_epoch or self.total_bases) / (B * L)))
            self.window_starts = None
        else:
            self.window_starts, self.window_ends = self._strided_starts()
            n = int(self.window_starts.size)
            if n == 0:
                raise SplitError(
                    f"Every strided window is more than {config.max_n_fraction:g} N: nothing to stream. "
                    "Raise max_n_fraction (--max-n-fraction; 1.0 keeps every window), or check the input."
                )
            if config.bases_per_epoch:
                self.steps = max(1, math.ceil(config.bases_per_epoch / (B * L)))
            else:
                self.steps = math.ceil(n / B)

    # -- setup ----------------------------------------------------------------------------
    @staticmethod
    def _flat_intervals(genome: Genome, intervals) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if isinstance(intervals, Interval):
            intervals = [intervals]
        intervals = list(intervals)
        if not intervals:
            raise SplitError("Received an empty list of intervals: this split has no bases to stream.")
        lengths = genome.lengths
        offsets = genome.offsets
        rec = np.empty(len(intervals), dtype=np.int64)
        a = np.empty(len(intervals), dtype=np.int64)
        b = np.empty(len(intervals), dtype=np.int64)
        for i, iv in enumerate(intervals):
            if not isinstance(iv, Interval):
                raise ConfigError(f"Received an invalid value in `intervals`, expected Interval, got {iv!r}.")
            if not 0 <= iv.record < len(lengths) or not 0 <= iv.start < iv.end <= lengths[iv.record]:
                size = f"of length {int(lengths[iv.record])}" if 0 <= iv.record < len(lengths) else "(no such record)"
                raise SplitError(
                    f"{iv} is not inside record {iv.record} {size}: the split does not belong to this genome."
                )
            rec[i], a[i], b[i] = iv.record, iv.start, iv.end
        n_counts = np.array([getattr(s, "n", 1) for s in genome.stats], dtype=np.int64) \
            if len(genome.stats) == len(lengths) else np.ones(len(lengths), dtype=np.int64)
        return offsets[rec] + a, offsets[rec] + b, n_counts[rec] > 0

    def _strided_starts(self) -> tuple[np.ndarray, np.ndarray]:
        """Strided starts ``(W,) int64`` (flat) and their interval ends, mostly-N windows left out."""
        S = self.config.effective_stride
        all_s, all_e = [], []
        for a, e, has_n in zip(self.iv_start.tolist(), self.iv_end.tolist(), self.iv_has_n.tolist()):
            s = np.arange(a, e - 1, S, dtype=np.int64)
            if has_n and self.config.max_n_fraction < 1.0:
                s = s[self._n_ok(s, e)]
            all_s.append(s)
            all_e.append(np.full(s.size, e, dtype=np.int64))
        starts, ends = np.concatenate(all_s), np.concatenate(all_e)
        total = sum(max(0, math.ceil((e - 1 - a) / S)) for a, e in zip(self.iv_start.tolist(), self.iv_end.tolist()))
        self.skipped_windows = total - int(starts.size)
        if self.skipped_windows:
            logger.info("%d of %d strided window(s) are more than %g N and are left out.",
                        self.skipped_windows, total, self.config.max_n_fraction)
        return starts, ends

    def _n_ok(self, starts: np.ndarray, end: int) -> np.ndarray:
        """``(W,) bool``: windows at ``starts`` (all in one interval ending at ``end``) that are not mostly N."""
        L = self.config.window
        ok = np.empty(starts.size, dtype=bool)
        per = max(1, _SCAN_CHUNK // max(self.config.effective_stride, 1))
        for i in range(0, starts.size, per):
            s = starts[i:i + per]
            lo, hi = int(s[0]), min(int(s[-1]) + L + 1, end)
            is_n = (np.bitwise_and(self.packed[lo:hi], CODE_BITS) == N)
            if self._mapped is not None:
                self._mapped.read(hi - lo + _FOLIO)
            cs = np.concatenate([[0], np.cumsum(is_n, dtype=np.int64)])
            stop = np.minimum(s + L + 1, end)
            n = cs[stop - lo] - cs[s - lo]
            ok[i:i + per] = n <= self.config.max_n_fraction * (stop - s)
        return ok

    # -- batches --------------------------------------------------------------------------
    def _sample(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``n`` uniform random window starts (flat) and the ends of their intervals."""
        u = rng.integers(0, int(self._cum[-1]), n)
        j = np.searchsorted(self._cum, u, side="right")
        before = np.where(j > 0, self._cum[j - 1], 0)
        return self.iv_start[j] + (u - before), self.iv_end[j]

    def _gather(self, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """Windows ``(n, L + 1) uint8`` packed codes at ``starts``; positions at or past ``ends`` are N.

        One fancy index into a sliding-window view of ``packed`` (the genome in memory, or the
        stream's own mapping of the cache file, whose pages are then released by budget).
        """
        L = self.config.window
        short = starts + L + 1 > ends
        if not short.any():
            out = self._view[starts]
        else:
            out = np.empty((starts.size, L + 1), dtype=np.uint8)
            if (~short).any():
                out[~short] = self._view[starts[~short]]
            pos = starts[short, None] + self._arange
            valid = pos < ends[short, None]
            out[short] = np.where(valid, self.packed[np.minimum(pos, self.size - 1)], np.uint8(N))
        if self._mapped is not None:
            self._mapped.read(starts.size * (_FOLIO + L + 1))
        return out

    def _mostly_n(self, windows: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        real = np.minimum(ends - starts, self.config.window + 1)
        n = np.count_nonzero((windows & CODE_BITS) == N, axis=1) - (self.config.window + 1 - real)
        return n > self.config.max_n_fraction * real

    def batch(self, k: int) -> np.ndarray:
        """Batch number ``k``: windows ``(B', L + 1) uint8`` of packed codes, reverse-complemented
        where ``rc_augment`` drew a flip.

        ``B' = batch_size``, except for the last batch of a strided pass. Depends only on
        ``(seed, k)``.
        """
        cfg = self.config
        k = int(k)
        rng = np.random.default_rng([self.seed, k])
        if cfg.shuffle:
            starts, ends = self._sample(rng, cfg.batch_size)
            windows = self._gather(starts, ends)
            if cfg.max_n_fraction < 1.0 and self.iv_has_n.any():
                bad = np.flatnonzero(self._mostly_n(windows, starts, ends))
                for _ in range(_REDRAW_ROUNDS):
                    if bad.size == 0:
                        break
                    s, e = self._sample(rng, bad.size)
                    w = self._gather(s, e)
                    windows[bad], starts[bad], ends[bad] = w, s, e
                    bad = bad[self._mostly_n(w, s, e)]
                if bad.size:
                    windows[bad] = N
        else:
            n = self.window_starts.size
            if cfg.bases_per_epoch:
                idx = (k * cfg.batch_size + np.arange(cfg.batch_size)) % n
            else:
                j = k % self.steps
                idx = np.arange(j * cfg.batch_size, min((j + 1) * cfg.batch_size, n))
            windows = self._gather(self.window_starts[idx], self.window_ends[idx])
        if cfg.rc_augment:
            flips = np.flatnonzero(rng.random(windows.shape[0]) < 0.5)
            if not windows.flags.writeable:
                windows = windows.copy()
            windows[flips] = _COMPLEMENT_PACKED[windows[flips, ::-1]]
        return windows


class _MappedGenome:
    """The stream's own read-only mapping of the genome cache file, and the release of its pages.

    Reading windows through a mapping is one vectorised gather, but each page fault maps a whole
    page cache folio (up to 2 MB on recent Linux kernels) into the process, so the resident set
    would grow towards the genome's size. After each read, :meth:`read` counts (an upper bound
    of) what has been mapped since the last release and, past ``_MAP_BUDGET``, unmaps it all
    with ``madvise(MADV_DONTNEED)``: the pages stay in the page cache (the kernel drops them when
    it needs the memory), between batches the process holds at most the budget of the genome
    mapped (during one, the budget plus that batch's folios), and its anonymous memory does not
    grow with the genome. A genome no larger than the budget is
    never released (its mapping is the bound). Thread-safe: tf.data calls batches in parallel.

    Attributes:
        packed: ``(G,) uint8`` read-only view of the genome's bases in the mapping.
        budget: bytes that may stay mapped (``_MAP_BUDGET`` when the mapping was made).
        releases: how many times the pages were released.
    """

    def __init__(self, name: str, offset: int, size: int, random: bool):
        with open(name, "rb") as fh:
            self.mapping = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        self.packed = np.frombuffer(self.mapping, dtype=np.uint8, count=size, offset=offset)
        self.size = size
        self.budget = _MAP_BUDGET
        self.releases = 0
        self._since = 0
        self._lock = threading.Lock()
        self._advise(getattr(mmap, "MADV_RANDOM" if random else "MADV_SEQUENTIAL", None))

    @classmethod
    def of(cls, packed: np.ndarray, random: bool) -> _MappedGenome | None:
        """A mapping of the file behind ``packed`` when it is a contiguous ``uint8`` view of a
        ``np.memmap`` (the cache), else None.

        Public attributes only: the ``np.memmap`` at the root of ``packed.base`` knows its file
        (``filename``) and where its data start in it (``offset``).
        """
        root = packed
        while isinstance(root.base, np.ndarray):
            root = root.base
        name = getattr(root, "filename", None)
        if not isinstance(root, np.memmap) or not name or packed.dtype != np.uint8 or packed.ndim != 1 \
                or packed.size == 0 or (packed.size > 1 and packed.strides[0] != 1):
            return None
        try:
            offset = int(root.offset) + packed.ctypes.data - root.ctypes.data
            return cls(name, offset, int(packed.size), random)
        except (OSError, ValueError, TypeError):
            return None

    def _advise(self, advice: int | None, *, count: bool = False) -> None:
        if advice is None or not hasattr(self.mapping, "madvise"):
            return
        try:
            self.mapping.madvise(advice)
            self.releases += count
        except OSError:
            pass

    def read(self, nbytes: int) -> None:
        """Count ``nbytes`` (an upper bound of what a read has mapped); past the budget, release the pages."""
        with self._lock:
            self._since = min(self._since + int(nbytes), self.size)
            if self._since > self.budget:
                self._advise(getattr(mmap, "MADV_DONTNEED", None), count=True)
                self._since = 0


def windows_to_arrays(windows: np.ndarray, soft_mask_weight: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The NumPy reference of the stream's TensorFlow map (used by tests).

    Args:
        windows: ``(B, L + 1) uint8`` packed codes.
        soft_mask_weight: weight of soft-masked targets.

    Returns:
        ``inputs (B, L) int32``, ``targets (B, L) int32``, ``weights (B, L) float32``.
    """
    w = np.asarray(windows, dtype=np.uint8)
    codes = (w & CODE_BITS).astype(np.int32)
    inputs, nxt = codes[:, :-1], codes[:, 1:]
    soft = (w[:, 1:] & SOFT_MASK_FLAG) != 0
    weights = np.where((inputs != N) & (nxt != N), np.where(soft, soft_mask_weight, 1.0), 0.0).astype(np.float32)
    return inputs, np.where(nxt == N, 0, nxt).astype(np.int32), weights


def reverse_complement_windows(windows: np.ndarray) -> np.ndarray:
    """Reverse complement of each row of ``(B, L + 1) uint8`` packed windows (soft-mask bits kept)."""
    return _COMPLEMENT_PACKED[np.asarray(windows, dtype=np.uint8)[:, ::-1]]


# ------------------------------------------------------------------------------------------
# The TensorFlow side


def _to_batch(windows, soft_mask_weight: float):
    """TensorFlow: ``(B, L + 1) uint8`` packed windows to ``(inputs, targets, weights)``."""
    import tensorflow as tf

    w = tf.cast(windows, tf.int32)
    codes = tf.bitwise.bitwise_and(w, CODE_BITS)
    inputs, nxt = codes[:, :-1], codes[:, 1:]
    weights = tf.cast((inputs < N) & (nxt < N), tf.float32)
    if soft_mask_weight != 1.0:
        soft = tf.cast(tf.bitwise.bitwise_and(w[:, 1:], SOFT_MASK_FLAG), tf.float32) * (1.0 / SOFT_MASK_FLAG)
        weights = weights * (1.0 + (soft_mask_weight - 1.0) * soft)
    targets = tf.where(nxt < N, nxt, 0)
    return inputs, targets, weights


def make_dataset(genome: Genome, intervals: Sequence[Interval], config: StreamConfig, seed: int = 0,
                 repeat: bool = True, threads: int | None = None):
    """A ``tf.data.Dataset`` of ``(inputs, targets, weights)`` batches from ``intervals`` of ``genome``.

    Args:
        genome: a :class:`~genorm.genome.Genome`.
        intervals: the :class:`~genorm.splits.Interval` s to read (e.g. ``splits.train``).
        config: a :class:`StreamConfig`.
        seed: integer seed; batch ``k`` depends only on ``(seed, k)``.
        repeat: True (default): endless, ``steps_per_epoch`` batches make an epoch (random starts
            drawn afresh every epoch). False: exactly ``steps_per_epoch`` batches, then the end.
        threads: the most batches made at once, and the size of the dataset's own thread pool
            (``tf.data`` private thread pool). Default None: all cores (``tf.data.AUTOTUNE``).
            The batches do not depend on it.

    Returns:
        A dataset whose elements are ``inputs (B, L) int32``, ``targets (B, L) int32`` and
        ``weights (B, L) float32`` (see the module docstring). ``repeat=False, shuffle=False`` is a
        finite, deterministic pass (validation).

    Raises:
        ConfigError: an invalid config, seed or thread count.
        SplitError: no intervals, or intervals that do not fit the genome.
    """
    import tensorflow as tf

    if threads is not None:
        check_int("threads", threads, 1)
    sampler = WindowSampler(genome, intervals, config, seed)
    L, B = config.window, config.batch_size
    fixed = config.shuffle or bool(config.bases_per_epoch)
    smw = float(config.soft_mask_weight)

    def load(k):
        windows = tf.numpy_function(_track(sampler.batch), [k], tf.uint8, stateful=False, name="genorm_windows")
        windows.set_shape((B if fixed else None, L + 1))
        return _to_batch(windows, smw)

    if not _EXIT_HANDLER["registered"]:  # after TensorFlow's own handlers, so that it runs before them
        atexit.register(_quiesce)
        _EXIT_HANDLER["registered"] = True
    with tf.device("/CPU:0"):
        ds = tf.data.Dataset.counter() if repeat else tf.data.Dataset.range(sampler.steps)
        ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE if threads is None else int(threads),
                    deterministic=True)
        ds = ds.prefetch(tf.data.AUTOTUNE)
        if threads is not None:
            options = tf.data.Options()
            options.threading.private_threadpool_size = int(threads)
            ds = ds.with_options(options)
    logger.info("stream: %d interval(s), %s bases, %d steps/epoch of %d x %d (%s)", sampler.iv_start.size,
                f"{sampler.total_bases:,}", sampler.steps, B, L, "random" if config.shuffle else "strided")
    return ds


def steps_per_epoch(genome: Genome, intervals: Sequence[Interval], config: StreamConfig) -> int:
    """Batches in one epoch of :func:`make_dataset` with the same arguments.

    Random mode: ``ceil(bases_per_epoch / (B * L))``, ``bases_per_epoch`` defaulting to the
    bases in ``intervals``. Strided mode: the batches of one pass (the last may be short), or
    ``ceil(bases_per_epoch / (B * L))`` when given.
    """
    return WindowSampler(genome, intervals, config).steps
