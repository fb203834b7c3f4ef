"""The Keras callbacks of ``genorm train``, sharing one resumable :class:`TrainingState`.

In the order :func:`genorm.training.trainer.train` installs them:

* :class:`NanGuard` – a non-finite loss restores the weights of the last completed epoch and
  stops (recurrent models on DNA are known to diverge mid-training).
* :class:`TimeBudget` – stops after the batch that leaves just enough time to validate and
  save, so ``max_time`` is a wall-clock promise; the partial epoch is validated as usual.
* :class:`PlateauStopping` – on the **validation** bits per base: halves the learning rate
  after ``lr_patience`` epochs without improvement, stops after ``patience``.
* :class:`BestCheckpoint` – keeps the best weights (in memory and, through ``save_best``, on
  disk) whenever validation improves.
* :class:`~genorm.training.backup.Backup` – after each epoch, appends the history row and writes
  the resumable state (weights, optimizer, :class:`TrainingState`); it lives in
  :mod:`genorm.training.backup`, which owns the backup format.
* :class:`CostEstimate` – after the first batches, logs the measured bases per second and what
  the configured budget will cost on this machine (:func:`cost_message`).
* :class:`EpochLog` – one line per epoch (with ``verbose=2``), instead of Keras' printout.
* :class:`StopOnInterrupt` – with :func:`interrupt_between_batches`: Ctrl-C stops training at
  the next batch boundary, never inside a library callback that would swallow it.

Progress lines (the cost estimate, one line per epoch) go to the ``genorm.progress`` logger
(:data:`progress_logger`), which the command line shows by default and hides with ``--quiet``;
details go to the module loggers, shown with ``--verbose``.
"""

from __future__ import annotations

import contextlib
import logging
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator

import keras
import numpy as np

from genorm import interrupts
from genorm.training.backup import TrainingState

logger = logging.getLogger(__name__)
progress_logger = logging.getLogger("genorm.progress")
"""Lines a user wants to see while a long command runs (shown by default on the command line)."""

MONITOR = "val_bits"
"""The quantity every decision is made on: validation bits per base (lower is better)."""
MIN_DELTA = 1e-4
"""An improvement smaller than this (bits per base) does not count."""


def _finite(x) -> bool:
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


class NanGuard(keras.callbacks.Callback):
    """Stops on a non-finite loss and puts back the weights of the last completed epoch."""

    def __init__(self, state: TrainingState):
        super().__init__()
        self.state = state
        self._good: list[np.ndarray] | None = None

    def on_epoch_begin(self, epoch, logs=None):
        self._good = self.model.get_weights()

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not _finite(loss):
            logger.warning("Loss became %s at epoch %d, batch %d: restoring the weights of the last completed "
                           "epoch and stopping. Try a lower --learning-rate.", loss, self.state.epochs_done + 1,
                           batch + 1)
            if self._good is not None:
                self.model.set_weights(self._good)
            self.state.stopped = "nan"
            self.model.stop_training = True


class TimeBudget(keras.callbacks.Callback):
    """Stops when ``seconds`` (wall clock, from ``start``) would be exceeded.

    ``reserve`` estimates the seconds still needed after the last batch of an epoch (validation,
    checkpoint and backup); it is measured from the end of the first epoch on.
    """

    def __init__(self, state: TrainingState, seconds: float | None, start: float, reserve_guess: float = 2.0):
        super().__init__()
        self.state = state
        self.seconds = seconds
        self.start = start
        self.reserve = reserve_guess
        self._batch_time = 0.0
        self._last = None
        self._last_end = None  # end of the last batch: the epoch's remainder (validation, saving) starts there

    def _left(self) -> float:
        return self.seconds - (time.monotonic() - self.start)

    def on_train_batch_begin(self, batch, logs=None):
        self._last = time.monotonic()

    def on_train_batch_end(self, batch, logs=None):
        now = self._last_end = time.monotonic()
        if self.seconds is None:
            return
        if self._last is not None:
            dt = now - self._last
            self._batch_time = dt if self._batch_time == 0 else 0.9 * self._batch_time + 0.1 * dt
        if self._left() < self.reserve + self._batch_time:
            if not self.state.stopped:
                self.state.stopped = "time_budget"
                logger.info("Time budget of %.0f s reached: stopping after this batch.", self.seconds)
            self.model.stop_training = True

    def on_epoch_begin(self, epoch, logs=None):
        if self._last_end is not None:  # validation + checkpointing + backup took about this long: keep a margin
            self.reserve = 1.5 * (time.monotonic() - self._last_end) + 1.0

    def on_epoch_end(self, epoch, logs=None):
        if self.seconds is not None and self._left() < self.reserve + self._batch_time and not self.state.stopped:
            self.state.stopped = "time_budget"
            self.model.stop_training = True


class StopAtBatches(keras.callbacks.Callback):
    """Stops ``fit`` after ``batches`` training batches: a run resumed after a partial epoch (the time budget
    stopped it mid-epoch) trains exactly the batches its budget still holds, no more."""

    def __init__(self, batches: int):
        super().__init__()
        self.batches = batches
        self._seen = 0

    def on_train_batch_end(self, batch, logs=None):
        self._seen += 1
        if self._seen >= self.batches:
            self.model.stop_training = True


class PlateauStopping(keras.callbacks.Callback):
    """Reduce-on-plateau and early stopping on validation bits per base, with resumable counters."""

    def __init__(self, state: TrainingState, patience: int, lr_patience: int, lr_factor: float, min_lr: float):
        super().__init__()
        self.state = state
        self.patience, self.lr_patience = patience, lr_patience
        self.lr_factor, self.min_lr = lr_factor, min_lr

    def on_epoch_begin(self, epoch, logs=None):
        self.model.optimizer.learning_rate = self.state.learning_rate

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        current = logs.get(MONITOR)
        s = self.state
        logs["learning_rate"] = s.learning_rate
        if current is None or not _finite(current):
            return
        if current < s.best - MIN_DELTA:
            s.best, s.best_epoch = float(current), epoch + 1
            s.es_wait = s.lr_wait = 0
            return
        s.es_wait += 1
        s.lr_wait += 1
        if s.lr_wait >= self.lr_patience and s.learning_rate > self.min_lr:
            new = max(s.learning_rate * self.lr_factor, self.min_lr)
            logger.info("Epoch %d: validation did not improve for %d epoch(s); learning rate %.3g -> %.3g.",
                        epoch + 1, s.lr_wait, s.learning_rate, new)
            s.learning_rate = float(new)
            s.lr_wait = 0
        if s.es_wait >= self.patience:
            logger.info("Epoch %d: no validation improvement for %d epochs: early stopping (best epoch %d).",
                        epoch + 1, s.es_wait, s.best_epoch)
            if not s.stopped:
                s.stopped = "early_stopping"
            self.model.stop_training = True


class BestCheckpoint(keras.callbacks.Callback):
    """Keeps the weights of the best validation epoch; ``save_best(model)`` writes them to disk."""

    def __init__(self, state: TrainingState, save_best: Callable[[keras.Model], None]):
        super().__init__()
        self.state = state
        self.save_best = save_best
        self.best_weights: list[np.ndarray] | None = None

    def on_epoch_end(self, epoch, logs=None):
        if self.state.best_epoch == epoch + 1:
            from genorm.training.stateful import base_weights

            self.best_weights = base_weights(self.model)
            self.save_best(self.model)


# ------------------------------------------------------------------------------------------
# What training costs, and one line per epoch


def _amount(x: float) -> str:
    """60 M, 7.8 M, 850 k, 120: a count of bases, short."""
    for div, suffix in ((1e9, " G"), (1e6, " M"), (1e3, " k")):
        if x >= div:
            v = x / div
            return f"{v:.2g}{suffix}" if v < 10 else f"{v:.0f}{suffix}"
    return f"{x:.0f}"


def _duration(seconds: float) -> str:
    """45 s, 38 min, 2.5 h."""
    if seconds < 90:
        return f"{max(seconds, 1):.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def cost_message(rate: float, budget_bases: int, max_seconds: float | None = None,
                 max_time: str | None = None) -> str:
    """What the configured training budget costs at ``rate`` bases per second.

    Args:
        rate: measured training bases per second (validation not included).
        budget_bases: training bases still to go (epochs x bases per epoch, less those done).
        max_seconds: the wall-clock budget in seconds, or None.
        max_time: how the user wrote it (e.g. "5m"), for the message.

    >>> cost_message(26_000, 60_000_000)
    'about 38 min for 60 M bases at 26 k bases/s on this machine; use --max-time to bound it'
    >>> cost_message(26_000, 60_000_000, 300, "5m")
    'about 38 min for 60 M bases at 26 k bases/s on this machine; --max-time 5m stops it after about 7.8 M bases'
    """
    text = (f"about {_duration(budget_bases / rate)} for {_amount(budget_bases)} bases at {_amount(rate)} bases/s "
            f"on this machine")
    if max_seconds is None:
        return text + "; use --max-time to bound it"
    if max_seconds * rate < budget_bases:
        return text + f"; --max-time {max_time or _duration(max_seconds)} stops it after about " \
                      f"{_amount(max_seconds * rate)} bases"
    return text + f", within --max-time {max_time or _duration(max_seconds)}"


class CostEstimate(keras.callbacks.Callback):
    """Logs :func:`cost_message` once, after the first batches.

    The first ``skip`` batches (graph tracing, warm-up) are not timed; the rate is measured over
    the next batches until ``measure_batches`` of them or ``measure_seconds`` have passed, or
    the first epoch ends (validation time is not counted).

    Args:
        state: the run's :class:`TrainingState` (bases already done, on resume).
        bases_per_batch: input bases per training batch.
        budget_bases: the configured budget in bases (epochs x bases per epoch).
        max_seconds, max_time: the wall-clock budget (seconds, as written), or None.
        clock: a monotonic clock in seconds (tests pass a fake one).
    """

    def __init__(self, state: TrainingState, bases_per_batch: int, budget_bases: int,
                 max_seconds: float | None = None, max_time: str | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 skip: int = 2, measure_batches: int = 50, measure_seconds: float = 20.0):
        super().__init__()
        self.state, self.bases_per_batch, self.budget_bases = state, bases_per_batch, budget_bases
        self.max_seconds, self.max_time, self.clock = max_seconds, max_time, clock
        self.skip, self.measure_batches, self.measure_seconds = skip, measure_batches, measure_seconds
        self._seen = 0
        self._t0: float | None = None
        self._timed, self._elapsed = 0, 0.0
        self._done_at_start = state.bases_done
        self.rate: float | None = None

    def on_train_begin(self, logs=None):
        self._done_at_start = self.state.bases_done  # a resumed run: only what is left counts

    def on_train_batch_end(self, batch, logs=None):
        if self.rate is not None:
            return
        self._seen += 1
        now = self.clock()
        if self._seen == self.skip:
            self._t0 = now
            return
        if self._t0 is None:
            return
        self._timed, self._elapsed = self._seen - self.skip, now - self._t0
        if self._timed >= self.measure_batches or self._elapsed >= self.measure_seconds:
            self._report()

    def on_epoch_end(self, epoch, logs=None):
        if self.rate is None:  # a short first epoch: report what its batches measured
            self._report()

    def _report(self) -> None:
        if self._timed < 1 or self._elapsed <= 0:
            return
        self.rate = self._timed * self.bases_per_batch / self._elapsed
        left = max(self.budget_bases - self._done_at_start, 0)
        progress_logger.info("training: %s", cost_message(self.rate, left, self.max_seconds, self.max_time))


class EpochLog(keras.callbacks.Callback):
    """One line per epoch on :data:`progress_logger`, from the history row :class:`Backup` wrote
    (install it after :class:`Backup`)."""

    def __init__(self, state: TrainingState, epochs: int, bases_per_batch: int):
        super().__init__()
        self.state, self.epochs, self.bases_per_batch = state, epochs, bases_per_batch

    def on_epoch_end(self, epoch, logs=None):
        row = self.state.history[-1] if self.state.history else {}
        seconds = row.get("seconds", 0.0)
        rate = row.get("steps", 0) * self.bases_per_batch / seconds if seconds > 0 else 0.0
        parts = [f"{key} {row[key]:.4f}" for key in ("bits", "accuracy", "val_bits", "val_accuracy") if key in row]
        progress_logger.info("epoch %d/%d: %s; %s bases trained; %s (%s bases/s)", epoch + 1, self.epochs,
                             ", ".join(parts), _amount(row.get("bases", 0)), _duration(seconds), _amount(rate))


# ------------------------------------------------------------------------------------------
# Ctrl-C at a safe point


@contextlib.contextmanager
def interrupt_between_batches() -> Iterator[dict]:
    """While the block runs, the first Ctrl-C (SIGINT) is only recorded; :class:`StopOnInterrupt`
    raises ``KeyboardInterrupt`` at the next batch boundary. A second Ctrl-C raises at once.

    Why: Python raises ``KeyboardInterrupt`` wherever the main thread happens to be. Inside a
    garbage-collection callback (JAX registers one, and Keras imports JAX when it is installed)
    the exception is printed as "Exception ignored" and lost, and training carries on. Outside
    the main thread, or when someone else installed a SIGINT handler, nothing changes. An
    interrupt that arrived before the block and may have been lost that way
    (:func:`genorm.interrupts.pending`) counts as recorded: training stops at its first batch.

    Yields:
        ``{"interrupted": bool}``, shared with :class:`StopOnInterrupt`.
    """
    flag = {"interrupted": interrupts.pending()}
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield flag
        return

    def record(signum, frame):
        if flag["interrupted"]:
            raise KeyboardInterrupt
        flag["interrupted"] = True

    previous = signal.signal(signal.SIGINT, record)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


class StopOnInterrupt(keras.callbacks.Callback):
    """Raises ``KeyboardInterrupt`` at the first batch or epoch boundary after a recorded Ctrl-C
    (see :func:`interrupt_between_batches`; install it last, after the backup)."""

    def __init__(self, flag: dict):
        super().__init__()
        self.flag = flag

    def _check(self, *args, **kwargs) -> None:
        if self.flag["interrupted"]:
            raise KeyboardInterrupt

    on_train_batch_end = on_test_batch_end = on_epoch_end = _check
