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

How a batch is made: :class:`~genorm.batches.windows.WindowSampler` draws and gathers the ``(B, L + 1)``
windows of batch ``k`` in NumPy from ``(seed, k)`` alone (see :mod:`genorm.batches.windows`), inside
``tf.numpy_function``, and a few TensorFlow ops cut them into inputs, targets and weights
(:func:`~genorm.batches.windows.windows_to_arrays` is the NumPy reference). One-hot is left to the model.
The configuration is :class:`StreamConfig` (defined in :mod:`genorm.batches.windows`, which the sampler
needs; this module is where users import it from).

* Windows never cross an interval (hence never a record) boundary; short intervals give one
  window padded with N (weight 0). Weights are never all-N-and-nonzero, so the loss stays finite.
* With ``rc_augment`` half the windows are reverse-complemented before they are cut, so targets
  stay aligned on the reversed strand.
* Batch ``k`` depends only on ``(seed, k)``: the same seed gives the same batches, whatever the
  parallelism.

>>> from genorm.genome.array import Genome
>>> from genorm.genome.splits import Interval
>>> g = Genome.from_strings({"a": "ACGTACGTAC"})
>>> cfg = StreamConfig(window=4, batch_size=2, shuffle=False)
>>> x, y, w = next(iter(make_dataset(g, [Interval(0, 0, 10)], cfg, repeat=False)))
>>> x.numpy().tolist(), y.numpy().tolist()
([[0, 1, 2, 3], [0, 1, 2, 3]], [[1, 2, 3, 0], [1, 2, 3, 0]])
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from genorm.encoding import CODE_BITS, N, SOFT_MASK_FLAG
from genorm.genome.splits import Interval
from genorm.validate import check_int
from genorm.batches.windows import StreamConfig, WindowSampler

if TYPE_CHECKING:
    from genorm.genome.array import Genome

logger = logging.getLogger(__name__)

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
                 repeat: bool = True, threads: int | None = None, counts=None):
    """A ``tf.data.Dataset`` of ``(inputs, targets, weights)`` batches from ``intervals`` of ``genome``.

    Args:
        genome: a :class:`~genorm.genome.array.Genome`.
        intervals: the :class:`~genorm.genome.splits.Interval` s to read (e.g. ``splits.train``).
        config: a :class:`StreamConfig`.
        seed: integer seed; batch ``k`` depends only on ``(seed, k)``.
        repeat: True (default): endless, ``steps_per_epoch`` batches make an epoch (random starts
            drawn afresh every epoch). False: exactly ``steps_per_epoch`` batches, then the end.
        threads: the most batches made at once, and the size of the dataset's own thread pool
            (``tf.data`` private thread pool). Default None: all cores (``tf.data.AUTOTUNE``).
            The batches do not depend on it.
        counts: :class:`~genorm.counts.CountTables` of the training split, or None. With tables, the
            inputs are ``(codes, context)``: ``context (B, L, F) float32`` the leave-one-out count
            features of every input position (:meth:`~genorm.counts.CountTables.window_features`),
            computed per batch in NumPy beside the windows.

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
    if config.walk:
        from genorm.batches.walks import WalkSampler

        sampler = WalkSampler(genome, intervals, config, seed)
    else:
        sampler = WindowSampler(genome, intervals, config, seed)
    L, B = config.window, config.batch_size
    fixed = config.shuffle or bool(config.bases_per_epoch)
    smw = float(config.soft_mask_weight)
    rows = B if fixed or config.walk else None
    make = _batch_function(sampler, counts, config)
    types = (tf.uint8,) + ((tf.float32,) if counts is not None else ()) + ((tf.float32,) if config.walk else ())

    def load(k):
        out = list(tf.numpy_function(_track(make), [k], types, stateful=False, name="genorm_batch"))
        windows = out.pop(0)
        windows.set_shape((rows, L + 1))
        inputs, targets, weights = _to_batch(windows, smw)
        x = [inputs]
        if counts is not None:
            context = out.pop(0)
            context.set_shape((rows, L, counts.n_features))
            x.append(context)
        if config.walk:  # stateful lanes: keep flags after the inputs
            keep = out.pop(0)
            keep.set_shape((B,))
            x.append(keep)
        return (tuple(x) if len(x) > 1 else x[0]), targets, weights

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
    logger.info("stream: %s bases, %d steps/epoch of %d x %d (%s)", f"{sampler.total_bases:,}", sampler.steps, B, L,
                f"stateful lanes, walks of up to {config.walk} windows" if config.walk
                else "random" if config.shuffle else "strided")
    return ds


def _batch_function(sampler, counts, config: StreamConfig):
    """``k -> [windows (B, L + 1) uint8, (context (B, L, F) float32), (keep (B,) float32)]`` in NumPy."""
    if counts is None:
        if config.walk:
            return lambda k: list(sampler.batch(k))
        return lambda k: [sampler.batch(k)]
    sampler.lead = counts.reach

    def make(k):
        out = sampler.batch(k)
        ext, rest = (out[0], list(out[1:])) if config.walk else (out, [])
        return [ext[:, counts.reach:], counts.window_features(ext, counts.reach)] + rest

    return make


def steps_per_epoch(genome: Genome, intervals: Sequence[Interval], config: StreamConfig) -> int:
    """Batches in one epoch of :func:`make_dataset` with the same arguments.

    Random mode: ``ceil(bases_per_epoch / (B * L))``, ``bases_per_epoch`` defaulting to the
    bases in ``intervals``. Strided mode: the batches of one pass (the last may be short), or
    ``ceil(bases_per_epoch / (B * L))`` when given.
    """
    return WindowSampler(genome, intervals, config).steps


__all__ = ["StreamConfig", "make_dataset", "steps_per_epoch"]
