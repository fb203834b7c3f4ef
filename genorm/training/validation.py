"""The validation pass of training: the model read over the validation split as it will be used.

After every epoch :class:`StreamingValidation` streams the model over the validation intervals
with its recurrent state carried (:func:`genorm.engine.stream`, ``warmup`` lanes of
:data:`VAL_WARMUP` bases), exactly as ``genorm evaluate`` reads a test split, and puts
``val_loss`` (nats), ``val_bits`` and ``val_accuracy`` in the epoch's logs, where the
checkpoint, learning-rate and early-stopping callbacks read them. Both training modes
(independent windows and stateful lanes) are therefore chosen and compared on the same measure:
a model trained on 200-base windows is not judged on 200-base windows only.

Targets are weighted as in training: 0 for N, ``soft_mask_weight`` for soft-masked bases, 1
otherwise. When the split has more than ``max_val_bases`` bases, a fixed set of lanes spread
evenly over it is used.
"""

from __future__ import annotations

import logging
import math
import time

import keras
import numpy as np

from genorm.encoding import CODE_BITS, N, SOFT_MASK_FLAG
from genorm.engine import DEFAULT_BATCH_SIZE, DEFAULT_CHUNK, Lane, plan_lanes, stream
from genorm.metrics import log_softmax
from genorm.genome.splits import as_tuples

logger = logging.getLogger(__name__)

VAL_WARMUP = 2000
"""Warm-up bases of each validation lane (agrees with exact streaming to 3e-7 per probability on E. coli)."""


def plan_validation(intervals, max_bases: int) -> list[Lane]:
    """The lanes of the validation pass: every base of ``intervals``, or lanes spread evenly over them
    holding at least ``max_bases`` bases when there are more.

    >>> from genorm.genome.splits import Interval
    >>> [(l.start, l.end) for l in plan_validation([Interval(0, 0, 30000)], 20000)]
    [(0, 8000), (16000, 24000), (24000, 30000)]
    """
    lanes = plan_lanes(as_tuples(intervals), warmup=VAL_WARMUP, batch_size=DEFAULT_BATCH_SIZE)
    sizes = np.array([lane.end - lane.start for lane in lanes], dtype=np.int64)
    if sizes.sum() <= max_bases:
        return lanes
    n = int(np.searchsorted(np.cumsum(np.sort(sizes)[::-1]), max_bases)) + 1  # at least this many lanes
    while True:
        picks = np.unique(np.linspace(0, len(lanes) - 1, n).round().astype(int))
        if sizes[picks].sum() >= max_bases:
            return [lanes[i] for i in picks.tolist()]
        n += 1


class StreamingValidation(keras.callbacks.Callback):
    """Puts ``val_loss``, ``val_bits`` and ``val_accuracy`` of the streamed validation split in the
    logs of every epoch (run it before the callbacks that read them).

    Args:
        genome: the genome.
        lanes: from :func:`plan_validation`.
        model_config: the architecture (:class:`~genorm.config.ModelConfig`).
        soft_mask_weight: weight of soft-masked targets.
        weights_of: ``weights_of(training_model)`` → the :func:`~genorm.model.build_model` weights.
        counts: the training split's :class:`~genorm.counts.CountTables` when the model reads count features.
    """

    def __init__(self, genome, lanes: list[Lane], model_config, soft_mask_weight: float, weights_of, counts=None):
        super().__init__()
        self.genome, self.lanes = genome, lanes
        self.model_config = model_config
        self.soft_mask_weight = float(soft_mask_weight)
        self.weights_of = weights_of
        self.counts = counts  # the count tables the model reads (None: the plain network)
        self._stepper = None
        self.seconds = 0.0

    def _stepper_with(self, weights):
        if self._stepper is None:
            from genorm.stepper import NetworkStepper

            self._stepper = NetworkStepper(self.model_config, weights)
            if self.counts is not None:  # counts updated as the split is read, as genorm evaluate reads it
                from genorm.counts import CountLanes

                self._stepper.with_counts(CountLanes(self.counts, update=True))
        else:
            self._stepper.set_weights(weights)
        return self._stepper

    def measure(self, weights) -> dict[str, float]:
        """``val_loss`` (nats), ``val_bits``, ``val_accuracy`` and ``val_bases`` of ``weights``."""
        stepper = self._stepper_with(weights)
        total_w = total_ce = total_right = 0.0
        bases = 0
        for records, positions, logits in stream(stepper, self.genome, self.lanes,
                                                        batch_size=DEFAULT_BATCH_SIZE, chunk=DEFAULT_CHUNK):
            packed = self.genome.packed[self.genome.offsets[records] + positions]
            target = (packed & CODE_BITS).astype(np.int64)
            w = np.where(target == N, 0.0, np.where(packed & SOFT_MASK_FLAG, self.soft_mask_weight, 1.0))
            t = np.minimum(target, 3)
            logp = log_softmax(logits.astype(np.float64))
            total_ce -= float((w * logp[np.arange(t.size), t]).sum())
            top = logp == logp.max(axis=1, keepdims=True)  # a tie earns 1/e, as in genorm.metrics
            total_right += float((w * top[np.arange(t.size), t] / top.sum(axis=1)).sum())
            total_w += float(w.sum())
            bases += int((target != N).sum())
        loss = total_ce / total_w if total_w > 0 else math.nan
        return {"val_loss": loss, "val_bits": loss / math.log(2.0),
                "val_accuracy": total_right / total_w if total_w > 0 else math.nan, "val_bases": bases}

    def on_epoch_end(self, epoch, logs=None):
        start = time.monotonic()
        result = self.measure(self.weights_of(self.model))
        self.seconds = time.monotonic() - start
        if logs is not None:
            logs.update({k: v for k, v in result.items() if k != "val_bases"})
        logger.debug("validation: %s bases streamed in %.1f s", f"{result['val_bases']:,}", self.seconds)


__all__ = ["VAL_WARMUP", "StreamingValidation", "plan_validation"]
