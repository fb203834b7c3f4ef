"""Training windows in NumPy: where windows start in a genome's intervals, and the windows themselves.

A window is ``L + 1`` consecutive bases of one interval (``window = L``), as ``uint8`` packed
codes (bits 0-2 the base, A=0 C=1 G=2 T=3 N=4; bit 3 the soft mask, see
:mod:`genorm.encoding`). :class:`WindowSampler` makes batch ``k`` of ``B`` windows, ``(B, L + 1)
uint8``, from ``(seed, k)`` alone:

* starts drawn at once in NumPy, uniform over every start whose ``L + 1`` bases fit in one
  interval (random mode), or taken in order every ``stride`` bases (strided mode);
* the windows gathered with one vectorised index into a sliding-window view of the flat
  ``genome.packed`` array (no copy of the genome); a memory-mapped genome is read through the
  sampler's own mapping of the cache file, whose pages are released as training moves on
  (:class:`_MappedGenome`);
* windows never cross an interval (hence never a record) boundary; an interval shorter than
  ``L + 1`` bases still gives one window, padded with N;
* windows whose real bases are more than ``max_n_fraction`` N are redrawn (random mode) or left
  out (strided mode); a window still mostly N after redrawing becomes all N;
* with ``rc_augment`` each window is replaced, with probability 1/2, by its reverse complement
  (:func:`genorm.encoding.reverse_complement`) *before* it is cut into inputs and targets, so
  targets stay aligned on the reversed strand.

:func:`windows_to_arrays` cuts windows into inputs, targets and weights, the NumPy reference
of what :mod:`genorm.batches.dataset` does in TensorFlow.

>>> from genorm.genome.array import Genome
>>> from genorm.genome.splits import Interval
>>> g = Genome.from_strings({"a": "ACGTACGTAC"})
>>> sampler = WindowSampler(g, [Interval(0, 0, 10)], StreamConfig(window=4, batch_size=2, shuffle=False))
>>> sampler.batch(0).tolist()
[[0, 1, 2, 3, 0], [0, 1, 2, 3, 0]]
"""

from __future__ import annotations

import logging
import math
import mmap
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from genorm.encoding import CODE_BITS, N, SOFT_MASK_FLAG, reverse_complement
from genorm.errors import ConfigError, SplitError
from genorm.genome.splits import Interval
from genorm.validate import MAX_SOFT_MASK_WEIGHT, check_int, check_stream_option, invalid  # noqa: F401 (re-exported)

if TYPE_CHECKING:
    from genorm.genome.array import Genome

logger = logging.getLogger(__name__)


_REDRAW_ROUNDS = 16
_SCAN_CHUNK = 1 << 22
# Cache path: the sampler maps the genome's file itself and, after a read, unmaps (MADV_DONTNEED)
# what it has read once that may exceed _MAP_BUDGET bytes, counting _FOLIO bytes (the largest
# page cache folio a page fault maps on x86-64 Linux) per window.
_MAP_BUDGET = 256 << 20
_FOLIO = 2 << 20


@dataclass(frozen=True)
class StreamConfig:
    """How windows are drawn and batched (the sampler's and the dataset's configuration).

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
        walk: None (default): independent windows (:class:`WindowSampler`). ``K``: stateful lanes
            (:class:`genorm.batches.walks.WalkSampler`): each row walks consecutive windows, its state reset
            when its walk ends and at least every ``K`` windows (random mode only).

    The options :class:`~genorm.config.TrainConfig` has too are checked under its rules, with its messages
    (:data:`genorm.validate.STREAM_OPTIONS`: ``batch_size`` a positive integer, ``walk`` at most
    :data:`~genorm.validate.MAX_WALK`, ...).
    """

    window: int = 200
    batch_size: int = 128
    bases_per_epoch: int | None = None
    shuffle: bool = True
    stride: int | None = None
    rc_augment: bool = False
    max_n_fraction: float = 0.5
    soft_mask_weight: float = 1.0
    walk: int | None = None

    def __post_init__(self) -> None:
        # the options TrainConfig has too are checked under its rules (genorm.validate.STREAM_OPTIONS)
        for name in ("window", "batch_size", "shuffle", "rc_augment", "max_n_fraction", "soft_mask_weight"):
            check_stream_option(name, getattr(self, name))
        if self.bases_per_epoch is not None:
            check_stream_option("bases_per_epoch", self.bases_per_epoch)
        if self.stride is not None:
            check_int("stride", self.stride, 1)
        if self.walk is not None:
            check_stream_option("walk", self.walk)
            if not self.shuffle:
                raise ConfigError("Received shuffle=False with walk set: stateful lanes (walk) are drawn at random; "
                                  "use shuffle=True, or walk=None for a strided pass.")

    @property
    def effective_stride(self) -> int:
        """``stride``, or ``window`` when it is None."""
        return int(self.stride or self.window)


# ------------------------------------------------------------------------------------------
# intervals as flat positions


@dataclass(frozen=True)
class FlatIntervals:
    """The usable intervals (2 or more bases) as flat positions in ``genome.packed``.

    Attributes:
        start, end: ``(I,) int64`` flat ``[start, end)`` of each interval.
        has_n: ``(I,) bool``: its record holds N (only those are scanned for mostly-N windows).
        unusable: intervals of fewer than 2 bases (no target), left out.
    """

    start: np.ndarray
    end: np.ndarray
    has_n: np.ndarray
    unusable: int

    @property
    def lengths(self) -> np.ndarray:
        """``(I,) int64`` bases of each interval."""
        return self.end - self.start


def flat_intervals(genome: Genome, intervals) -> FlatIntervals:
    """Check ``intervals`` against ``genome`` and give them as flat positions (see :class:`FlatIntervals`).

    Raises:
        SplitError: no intervals, one outside its record, or none with 2 or more bases.
        ConfigError: an item that is not an :class:`~genorm.genome.splits.Interval`.
    """
    if isinstance(intervals, Interval):
        intervals = [intervals]
    intervals = list(intervals)
    if not intervals:
        raise SplitError("Received an empty list of intervals: this split has no bases to stream.")
    lengths = genome.lengths
    rec, a, b = (np.empty(len(intervals), dtype=np.int64) for _ in range(3))
    for i, iv in enumerate(intervals):
        if not isinstance(iv, Interval):
            raise invalid(f"intervals[{i}]", "Interval", iv)
        if not 0 <= iv.record < len(lengths) or not 0 <= iv.start < iv.end <= lengths[iv.record]:
            size = f"of length {int(lengths[iv.record])}" if 0 <= iv.record < len(lengths) else "(no such record)"
            raise SplitError(
                f"{iv} is not inside record {iv.record} {size}: the split does not belong to this genome."
            )
        rec[i], a[i], b[i] = iv.record, iv.start, iv.end
    n_counts = np.array([getattr(s, "n", 1) for s in genome.stats], dtype=np.int64) \
        if len(genome.stats) == len(lengths) else np.ones(len(lengths), dtype=np.int64)
    keep = b - a >= 2
    unusable = int((~keep).sum())
    if unusable:
        logger.warning("%d interval(s) of fewer than 2 bases have no target and are not used.", unusable)
    if not keep.any():
        raise SplitError("No interval has 2 or more bases: there is nothing to predict.")
    offsets = genome.offsets[rec[keep]]
    return FlatIntervals(offsets + a[keep], offsets + b[keep], n_counts[rec[keep]] > 0, unusable)


# ------------------------------------------------------------------------------------------
# the sampler


class WindowSampler:
    """Window starts over intervals of a genome, and the windows themselves, batch by batch.

    The NumPy half of :func:`genorm.batches.dataset.make_dataset`, usable on its own (tests, benchmarks).

    Args:
        genome: a :class:`~genorm.genome.Genome` (``packed`` may be a read-only memory map).
        intervals: :class:`~genorm.genome.splits.Interval` s to draw windows from.
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
            raise invalid("config", "a StreamConfig", config)
        check_int("seed", seed, 0)
        self.config = config
        self.seed = int(seed)
        L = config.window
        self.size = int(genome.packed.shape[0])
        self._mapped = _MappedGenome.of(genome.packed, random=config.shuffle)
        self.packed = genome.packed if self._mapped is None else self._mapped.packed
        flat = flat_intervals(genome, intervals)
        self.unusable_intervals = flat.unusable
        lengths = flat.lengths
        self.padded_intervals = int((lengths < L + 1).sum())
        if self.padded_intervals:
            logger.info("%d interval(s) shorter than %d bases: each gives one window padded with N (weight 0).",
                        self.padded_intervals, L + 1)
        self.iv_start, self.iv_end, self.iv_has_n = flat.start, flat.end, flat.has_n
        self.total_bases = int(lengths.sum())
        self.skipped_windows = 0
        from numpy.lib.stride_tricks import sliding_window_view

        self._view = sliding_window_view(self.packed, L + 1) if self.size >= L + 1 else None
        self._arange = np.arange(L + 1, dtype=np.int64)
        if config.shuffle:
            self._cum = np.cumsum(np.maximum(lengths - L, 1))
            self.window_starts = None
            self.steps = _steps(config.bases_per_epoch or self.total_bases, config)
        else:
            self.window_starts, self.window_ends = self._strided_starts()
            self.steps = _steps(config.bases_per_epoch, config) if config.bases_per_epoch \
                else math.ceil(self.window_starts.size / config.batch_size)

    # -- strided mode ---------------------------------------------------------------------
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
        if starts.size == 0:
            raise SplitError(
                f"Every strided window is more than {self.config.max_n_fraction:g} N: nothing to stream. "
                "Raise max_n_fraction (--max-n-fraction; 1.0 keeps every window), or check the input."
            )
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

    # -- gathering windows ----------------------------------------------------------------
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

    # -- batches --------------------------------------------------------------------------
    def batch(self, k: int) -> np.ndarray:
        """Batch number ``k``: windows ``(B', L + 1) uint8`` of packed codes, reverse-complemented
        where ``rc_augment`` drew a flip.

        ``B' = batch_size``, except for the last batch of a strided pass. Depends only on
        ``(seed, k)``. With :attr:`lead` ``> 0``, each window comes with the ``lead`` bases before
        it on its strand (N where its interval has none): ``(B', lead + L + 1)``, the window last.
        """
        k = int(k)
        rng = np.random.default_rng([self.seed, k])
        windows, starts, ends = self._random_batch(rng) if self.config.shuffle else self._strided_batch(k)
        if self.lead:
            windows = self._with_lead(windows, starts, ends)
        if self.config.rc_augment:
            windows = _flip_some(windows, rng, self.lead)
        elif self.lead:
            windows = windows[:, :-self.lead]
        return windows

    lead = 0
    """Bases of context gathered before every window (count features need them: :mod:`genorm.counts`)."""

    def _with_lead(self, windows: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """``(n, lead + L + 1 + lead)``: ``lead`` bases before each window and after it (the context of a
        reverse-complemented window), N outside the window's interval."""
        lead, L = self.lead, self.config.window
        order = np.argsort(self.iv_start, kind="stable")
        j = np.searchsorted(self.iv_start[order], starts, side="right") - 1
        begins = self.iv_start[order][np.maximum(j, 0)]
        before = starts[:, None] + np.arange(-lead, 0, dtype=np.int64)[None, :]
        after = (starts + L + 1)[:, None] + np.arange(lead, dtype=np.int64)[None, :]
        pos = np.concatenate([before, after], axis=1)
        ok = (pos >= begins[:, None]) & (pos < ends[:, None])
        side = np.where(ok, self.packed[np.clip(pos, 0, self.size - 1)], np.uint8(N)).astype(np.uint8)
        return np.concatenate([side[:, :lead], windows, side[:, lead:]], axis=1)

    def _random_batch(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``B`` random windows, mostly-N ones redrawn (up to ``_REDRAW_ROUNDS`` times, then all N);
        with their starts and interval ends."""
        starts, ends = self._sample(rng, self.config.batch_size)
        windows = self._gather(starts, ends)
        if self.config.max_n_fraction < 1.0 and self.iv_has_n.any():
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
        return windows, starts, ends

    def _strided_batch(self, k: int) -> np.ndarray:
        """Batch ``k`` of the strided pass (cycling through the starts when ``bases_per_epoch`` is set)."""
        cfg, n = self.config, self.window_starts.size
        if cfg.bases_per_epoch:
            idx = (k * cfg.batch_size + np.arange(cfg.batch_size)) % n
        else:
            j = k % self.steps
            idx = np.arange(j * cfg.batch_size, min((j + 1) * cfg.batch_size, n))
        starts, ends = self.window_starts[idx], self.window_ends[idx]
        return self._gather(starts, ends), starts, ends


def _steps(bases: int, config: StreamConfig) -> int:
    """Batches of ``B`` windows of ``L`` input bases that make ``bases`` (at least 1)."""
    return max(1, math.ceil(bases / (config.batch_size * config.window)))


def _flip_some(windows: np.ndarray, rng: np.random.Generator, lead: int = 0) -> np.ndarray:
    """Each window replaced by its reverse complement with probability 1/2 (``rng`` draws the flips).

    With ``lead`` (rows of ``lead + L + 1 + lead`` bases, the window between its context on either
    strand) the whole row is reversed and the last ``lead`` bases dropped: ``(n, lead + L + 1)``.
    """
    flips = np.flatnonzero(rng.random(windows.shape[0]) < 0.5)
    if not windows.flags.writeable:
        windows = windows.copy()
    windows[flips] = reverse_complement(windows[flips])
    return windows[:, :windows.shape[1] - lead] if lead else windows


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
    """The NumPy reference of :mod:`genorm.batches.dataset`'s TensorFlow map (used by tests).

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
    """Reverse complement of each row of ``(B, L + 1) uint8`` packed windows (soft-mask bits kept):
    :func:`genorm.encoding.reverse_complement` along the rows."""
    return reverse_complement(np.asarray(windows, dtype=np.uint8))


__all__ = ["MAX_SOFT_MASK_WEIGHT", "FlatIntervals", "StreamConfig", "WindowSampler", "flat_intervals",
           "reverse_complement_windows", "windows_to_arrays"]
