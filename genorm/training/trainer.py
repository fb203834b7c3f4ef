"""``genorm train``: from FASTA files to a trained, saved, reproducible next-nucleotide model.

:func:`train` reads the genome (through the on-disk cache), splits every record into
train / validation / test (:mod:`genorm.genome.splits`), streams random training windows
(:mod:`genorm.batches.windows`), and fits the model of :mod:`genorm.model` with Adam and gradient
clipping. Every decision (best checkpoint, learning-rate cuts, early stopping) is made on the
**validation** split; the test split is never looked at. See :mod:`genorm.training.callbacks` for the
callbacks, :mod:`genorm.training.backup` for the resumable backup and :mod:`genorm.rundir`
for the run directory it writes.

Metrics (all weighted by the stream's weights, so N positions count for nothing):

* ``loss``: mean cross-entropy per position, in nats (what the optimizer minimises);
* ``bits``: cross-entropy per weighted base in bits (``nats / ln 2``); 2.0 is uniform guessing;
* ``accuracy``: fraction of weighted bases whose most probable prediction is right.

>>> run = train(["genome.fa"], TrainConfig(max_time="10m"), out_dir="runs/x")   # doctest: +SKIP
>>> run.summary["val_bits"]                                                       # doctest: +SKIP
1.87
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras

from genorm import rundir
from genorm.training import backup, data, distribute
from genorm.training.backup import Backup, TrainingState
from genorm.training.data import Data, set_up_data
from genorm.training.callbacks import (
    BestCheckpoint,
    CostEstimate,
    EpochLog,
    NanGuard,
    PlateauStopping,
    StopAtBatches,
    StopOnInterrupt,
    TimeBudget,
    interrupt_between_batches,
)
from genorm.config import RESUMABLE, ModelConfig, TrainConfig, parse_duration  # noqa: F401  (re-exported)
from genorm.errors import ConfigError, OutputFileError, RunDirError
from genorm.validate import check_path, invalid
from genorm.model import build_model
from genorm.training.stateful import StatefulTrainer, base_weights
from genorm.training.validation import StreamingValidation

logger = logging.getLogger(__name__)

LN2 = math.log(2.0)

@dataclass
class Run:
    """What :func:`train` returns.

    Attributes:
        run_dir: the run directory.
        config: the configuration used.
        model: the trained model with the best validation weights.
        history: ``pandas.DataFrame``, one row per epoch (as ``history.csv``).
        summary: ``val_bits``, ``val_accuracy`` (of the best epoch), ``best_epoch``, ``epochs``,
            ``bases_trained``, ``bases_per_second``, ``wall_seconds``, ``stopped``, ``strategy``,
            ``replicas``, ``is_chief``. On a worker that is not the chief, ``run_dir`` is its
            scratch directory, already deleted: only the chief writes the run directory.
        counts: the training split's count tables the model reads (None: the plain network).
    """

    run_dir: Path
    config: TrainConfig
    model: Any
    history: Any
    summary: dict
    counts: Any = None

    def stepper(self, update_counts: bool = True):
        """The model as a :class:`~genorm.stepper.NetworkStepper` (with its count tables, counts updated
        as it reads unless ``update_counts`` is False), e.g. for :func:`genorm.evaluate`."""
        from genorm.stepper import make_stepper

        counts = None
        if self.counts is not None:
            from genorm.counts import CountLanes

            counts = CountLanes(self.counts, update=update_counts)
        return make_stepper(self.model, source=f"the model of {self.run_dir}", config=self.config.model, counts=counts)


# ------------------------------------------------------------------------------------------
# Pieces


@keras.saving.register_keras_serializable(package="genorm")
class BitsPerBase(keras.metrics.Mean):
    """Weighted mean cross-entropy in bits per base: ``Σ w·CE / Σ w / ln 2`` (logits in)."""

    def __init__(self, name: str = "bits", **kwargs):
        super().__init__(name=name, **kwargs)

    def update_state(self, y_true, y_pred, sample_weight=None):
        ce = keras.losses.sparse_categorical_crossentropy(y_true, y_pred, from_logits=True) / LN2
        return super().update_state(ce, sample_weight=sample_weight)


def compile_model(model: keras.Model, config: TrainConfig) -> keras.Model:
    """Adam with clipping; loss in nats; weighted ``accuracy`` and ``bits`` metrics."""
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=config.learning_rate, clipnorm=config.clipnorm),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        weighted_metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy"), BitsPerBase(name="bits")],
        jit_compile=False,  # XLA is slower for these RNNs on CPU, and cuDNN RNNs do not compile
    )
    return model


# ------------------------------------------------------------------------------------------
# train()


def train(fasta_paths: str | os.PathLike | Sequence[str | os.PathLike], config: TrainConfig | None = None,
          out_dir: str | os.PathLike = "genorm_run", resume: bool = False, force: bool = False,
          verbose: int | str = 0, callbacks: Sequence[keras.callbacks.Callback] = (),
          progress: Callable | None = None, threads: int | None = None) -> Run:
    """Train a model on ``fasta_paths`` and write the run directory ``out_dir``.

    Args:
        fasta_paths: genome file(s) (FASTA, GenBank, EMBL, 2bit; plain, gzip, bgzip), or an iterable
            of ``Bio.SeqRecord.SeqRecord`` / ``(name, sequence)`` pairs (e.g. ``SeqIO.parse(...)``),
            recorded in provenance by names, lengths and the SHA-256 of the encoded sequence.
        config: a :class:`TrainConfig` (default: the defaults). With ``resume`` it must equal the
            saved configuration except for ``epochs``, ``max_time``, ``patience``, ``tensorboard``.
        out_dir: the run directory; must be new or empty unless ``force`` or ``resume``.
        resume: continue the run in ``out_dir`` from its last completed epoch.
        force: overwrite a previous run in ``out_dir``.
        verbose: 0 silent, 1 Keras' progress bar (on standard output), 2 one line per epoch on the
            ``genorm.progress`` logger (for logs: no carriage returns). The cost estimate after
            the first batches is logged there whatever ``verbose`` is.
        callbacks: extra Keras callbacks, run after genorm's own.
        progress: ``progress(bytes, total, label)`` while FASTA is read.
        threads: use at most this many CPU threads (:func:`genorm.threads.limit_threads`; must
            be set before TensorFlow's first operation); None leaves TensorFlow's setting alone.

    Returns:
        A :class:`Run`.

    Seeds Python's, NumPy's and TensorFlow's global random generators with ``config.seed``
    (``keras.utils.set_random_seed``): the same inputs and configuration give the same run.

    Raises:
        ConfigError: invalid options, or a resumed run whose options or inputs changed.
        RunDirError: ``out_dir`` exists (without ``force``/``resume``), is locked, or its backup
            is unreadable.
        KeyboardInterrupt: re-raised after Ctrl-C, once the last completed epoch is safely on disk
            (resume with ``resume=True``).
    """
    wall_start = time.monotonic()
    config = config or TrainConfig()
    if not isinstance(config, TrainConfig):
        raise invalid("config", "a TrainConfig", config)
    if not isinstance(out_dir, str):  # an empty string gets the run directory's own message
        check_path("out_dir", out_dir, "the path of the run directory to write")
    paths, preloaded = data.check_inputs(fasta_paths, config)
    if config.tensorboard:
        import importlib.util

        if importlib.util.find_spec("tensorboard") is None:
            raise ConfigError("TensorBoard logs (--tensorboard) need the tensorboard package: "
                              "pip install tensorboard, or train without --tensorboard.")
    missing = [p for p in paths if not Path(p).is_file()]
    if missing:
        from genorm.errors import InputFileError

        raise InputFileError(f"FASTA file(s) not found: {', '.join(missing)}.")
    from genorm.memory import check_training

    check_training(config.model, config.batch_size, config.window)  # absurd sizes: an error, not an OOM crash
    if threads is not None:
        from genorm.threads import limit_threads

        threads = limit_threads(threads)  # before any TensorFlow operation
    dist = _distribution(config)  # before any other TensorFlow operation
    if not dist.is_chief:  # only the chief writes the run directory; this worker writes a deleted scratch copy
        with distribute.worker_scratch(out_dir, resume) as scratch:
            out = rundir.prepare(scratch, resume=resume)
            return _train_locked(paths, config, out, resume, verbose, list(callbacks), progress, wall_start, dist,
                                 threads, preloaded)
    existed = Path(out_dir).exists()
    out = rundir.prepare(out_dir, force=force, resume=resume)
    locked = False
    try:
        with rundir.lock(out):
            locked = True
            return _train_locked(paths, config, out, resume, verbose, list(callbacks), progress, wall_start, dist,
                                 threads, preloaded)
    except BaseException:
        if locked and not resume:  # a fresh start that failed before its first backup leaves nothing behind
            rundir.discard_unfinished(out, remove_dir=not existed)
        raise


def _distribution(config: TrainConfig):
    dist = distribute.make_distribution(config.strategy)
    if config.tbptt and dist.strategy is not None:
        raise ConfigError(f"Stateful training (--tbptt) runs on one device; the {dist.name} strategy "
                          f"({dist.replicas} replicas, {dist.cluster.num_workers} worker(s)) is not supported with "
                          "it yet: train with --strategy one, or without --tbptt.")
    return dist


def _build_or_restore(config: TrainConfig, out: Path, resume: bool, dist) -> tuple[keras.Model, TrainingState]:
    """The compiled model and its :class:`TrainingState`: fresh, or restored from the run's backup."""
    keras.utils.set_random_seed(config.seed)
    with dist.scope():
        model = StatefulTrainer(config.model, config.batch_size, config.window) if config.tbptt \
            else build_model(config.model)
        compile_model(model, config)
    dist.prepare_model(model, config.window, config.model.context)
    if not resume:
        return model, TrainingState(learning_rate=float(config.learning_rate))
    state, restore = backup.read(out)
    if state.stopped in ("early_stopping", "nan") or (state.stopped == "epochs" and state.epochs_done >= config.epochs):
        raise RunDirError(f"The run in {out} is complete (stopped: {state.stopped}, {state.epochs_done} "
                          "epochs); there is nothing to resume. Raise --epochs to train longer.")
    restore(model)
    state.stopped = ""
    logger.info("Resuming %s after epoch %d (%s bases trained).", out, state.epochs_done, f"{state.bases_done:,}")
    return model, state


def _datasets(data: Data, config: TrainConfig, dist, state: TrainingState, threads):
    """``(train_ds, steps)``: the distributed training stream (resumed at the batch the state reached)
    and the training steps per epoch."""
    from genorm.batches.dataset import make_dataset, steps_per_epoch

    train_ds = dist.train_dataset(  # per-worker batches and seeds; batch k depends only on (seed, worker, k)
        lambda batch, seed: make_dataset(data.genome, data.splits.train, config.stream_config(batch_size=batch),
                                         seed=seed, repeat=True, threads=threads, counts=data.counts),
        config.batch_size, config.seed, skip=state.batches_done)
    return train_ds, steps_per_epoch(data.genome, data.splits.train, config.stream_config())


def _callbacks(config: TrainConfig, out: Path, state: TrainingState, steps: int, wall_start: float, dist,
               save_best, verbose, extra_callbacks, data: Data) -> tuple[list, BestCheckpoint, Backup, int]:
    """genorm's callbacks in their order, then ``extra_callbacks``; also the checkpoint and backup
    callbacks (the trainer asks them afterwards) and Keras' ``verbose`` (0 when genorm logs epochs)."""
    bases_per_batch = config.batch_size * config.window
    checkpoint = BestCheckpoint(state, save_best)
    backup_cb = Backup(state, bases_per_batch, out, time.monotonic(),  # the backup first: history.csv never
                       after_save=lambda: rundir.write_history(out / rundir.HISTORY, state.history))  # lists more
    validation = StreamingValidation(data.genome, data.val_lanes, config.model, config.soft_mask_weight,
                                     base_weights, counts=data.counts)  # first: the callbacks after it read its logs
    cbs = [validation, NanGuard(state), TimeBudget(state, config.max_seconds, start=wall_start),
           PlateauStopping(state, config.patience, config.lr_patience, config.lr_factor, config.min_learning_rate),
           checkpoint, backup_cb,
           CostEstimate(state, bases_per_batch, config.epochs * steps * bases_per_batch, config.max_seconds,
                        config.max_time)]
    if verbose == 2:  # genorm's own line per epoch, on the progress logger, instead of Keras' on stdout
        cbs.append(EpochLog(state, _target_epochs(config, state, steps), bases_per_batch))
        verbose = 0
    if config.tensorboard:
        cbs.append(keras.callbacks.TensorBoard(log_dir=str(out / "logs")))
    if dist.cluster.num_workers > 1:
        cbs.append(distribute.SyncStop(dist, state))  # every worker leaves fit() at the same batch
    return cbs + list(extra_callbacks), checkpoint, backup_cb, verbose


def _target_epochs(config: TrainConfig, state: TrainingState, steps: int) -> int:
    """The epoch number training ends at: ``config.epochs``, or more after a partial epoch (a time-budget stop),
    so that the batches trained reach ``config.epochs × steps``."""
    remaining = config.epochs * steps - state.batches_done
    return state.epochs_done + max(0, -(-remaining // steps))


def _fit(model, train_ds, steps: int, config: TrainConfig, state: TrainingState, out: Path, cbs,
         backup_cb: Backup, verbose, dist) -> bool:
    """``model.fit`` from the state's epoch on; returns whether Ctrl-C interrupted it (the state is then
    the one of the last complete backup). A failed write becomes an error saying what stays resumable."""
    # the budget is epochs × steps batches: an epoch the time budget cut short is not a complete one, so a
    # resumed run trains the batches it missed (in as many more epochs as they need, the last one partial)
    total = config.epochs * steps
    try:
        if state.batches_done < total:
            epochs = _target_epochs(config, state, steps)
            # Keras workarounds for the strategy (genorm._compat) around fit only; Ctrl-C at a batch boundary
            with dist.fitting(model), interrupt_between_batches() as flag:
                model.fit(train_ds, epochs=epochs, initial_epoch=state.epochs_done, steps_per_epoch=steps,
                          callbacks=[StopAtBatches(total - state.batches_done), *cbs, StopOnInterrupt(flag)],
                          verbose=verbose, shuffle=False)
        if not state.stopped:
            state.stopped = "epochs"
    except KeyboardInterrupt:  # perhaps inside a backup write: report what the backup on disk holds
        backup_cb.rollback()
        state.stopped = "interrupted"
        logger.warning("Interrupted: the run in %s is saved up to epoch %d; continue it with --resume.",
                       out, state.epochs_done)
        return True
    except OutputFileError as exc:  # a full disk while writing the model or the backup
        raise _write_failed(exc, out, backup_cb.rollback()) from None
    return False


def _train_locked(paths, config, out, resume, verbose, extra_callbacks, progress, wall_start, dist,
                  threads=None, preloaded=None) -> Run:
    data = set_up_data(paths, config, out, resume, progress, preloaded, dist)
    model, state = _build_or_restore(config, out, resume, dist)
    train_ds, steps = _datasets(data, config, dist, state, threads)
    best_model = build_model(config.model)

    def save_best(m):
        best_model.set_weights(base_weights(m))
        rundir.save_model(best_model, out / rundir.MODEL)

    cbs, checkpoint, backup_cb, verbose = _callbacks(config, out, state, steps, wall_start, dist, save_best,
                                                     verbose, extra_callbacks, data)
    bases_before, fit_start = state.bases_done, time.monotonic()
    interrupted = _fit(model, train_ds, steps, config, state, out, cbs, backup_cb, verbose, dist)
    fit_seconds = time.monotonic() - fit_start
    if checkpoint.best_weights is not None:
        best_model.set_weights(checkpoint.best_weights)
    elif (out / rundir.MODEL).is_file():  # resumed: the best epoch came before this invocation
        best_model.set_weights(keras.saving.load_model(out / rundir.MODEL, compile=False,
                                                       safe_mode=True).get_weights())
    else:
        save_best(model)
    return _finish(best_model, config, out, data, state, dist, interrupted, state.bases_done - bases_before,
                   fit_seconds, wall_start)


def _finish(model, config: TrainConfig, out: Path, data: Data, state: TrainingState, dist, interrupted: bool,
            trained_now: int, fit_seconds: float, wall_start: float) -> Run:
    """Write the history, curves and final provenance; the :class:`Run` with its summary (or, after
    Ctrl-C, re-raise the interrupt once everything says what the backup holds)."""
    if not interrupted:  # the state of the last completed epoch stays as it is after Ctrl-C
        backup.mark_stopped(out, state.stopped)
    rundir.write_history(out / rundir.HISTORY, state.history)
    try:
        rundir.write_curves(out / rundir.CURVES, state.history, title=f"{model.name} on {Path(data.paths[0]).name}")
    except Exception as exc:  # a plotting problem must not lose a trained run
        logger.warning("Could not draw %s: %s", out / rundir.CURVES, exc)
    best_row = next((r for r in state.history if r["epoch"] == state.best_epoch), {})
    summary = {
        "val_bits": best_row.get("val_bits", float("nan")),
        "val_accuracy": best_row.get("val_accuracy", float("nan")),
        "best_epoch": state.best_epoch,
        "epochs": state.epochs_done,
        "bases_trained": state.bases_done,
        "bases_per_second": trained_now / fit_seconds if fit_seconds > 0 else float("nan"),
        "wall_seconds": time.monotonic() - wall_start,
        "stopped": state.stopped,
        "run_dir": str(out),
        "strategy": dist.name,
        "replicas": dist.replicas,
        "is_chief": dist.is_chief,
        **_markov_on_validation(out),
    }
    data.prov.update(status="interrupted" if interrupted else "complete",
                     finished=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                     summary={k: v for k, v in summary.items() if k != "run_dir"})
    rundir.write_json(out / rundir.PROVENANCE, data.prov)
    if interrupted:
        raise KeyboardInterrupt(f"training interrupted; resume with --resume (run {out})")
    import pandas as pd

    return Run(run_dir=out, config=config, model=model, history=pd.DataFrame(state.history), summary=summary,
               counts=data.counts)


def _markov_on_validation(out: Path) -> dict:
    """``markov_order`` and ``markov_val_bits`` of the run's fitted baselines (empty if there are none)."""
    path = out / rundir.BASELINES
    if not path.is_file():
        return {}
    from genorm.baselines import Baselines
    from genorm.errors import GenormError

    try:
        b = Baselines.load(path)
    except GenormError as exc:
        logger.warning("Could not read %s: %s", path, exc)
        return {}
    chosen = [s for s in b.selection if s["order"] == b.order]
    return {"markov_order": b.order, "markov_val_bits": chosen[0]["bits_per_base"]} if chosen else {}


def compare_with_markov(summary: dict) -> str:
    """The result of a run beside its order-k Markov baseline, with what to do about it.

    Both are bits per base on the validation split (the Markov order is chosen on it too, from
    a sample of up to 2 M bases).

    >>> compare_with_markov({"val_bits": 1.925, "markov_val_bits": 1.9347, "markov_order": 6, "stopped": "time_budget"})
    '1.925 bits/base, 0.5 % better than order-6 Markov (1.935): train longer for a better model'
    >>> compare_with_markov({"val_bits": 1.95, "markov_val_bits": 1.93, "markov_order": 6, "stopped": "epochs"})
    '1.950 bits/base, 1.0 % worse than order-6 Markov (1.930): it predicts no better than counting 6-base contexts yet; train longer'
    """
    bits, markov = summary.get("val_bits", math.nan), summary.get("markov_val_bits")
    text = f"{bits:.3f} bits/base"
    if markov is None or not math.isfinite(bits) or not markov > 0:
        return text + " (no Markov baseline to compare with)"
    k = summary.get("markov_order")
    change = 100 * (markov - bits) / markov
    than = f"than order-{k} Markov ({markov:.3f})"
    if change < 0:
        return (f"{text}, {-change:.1f} % worse {than}: it predicts no better than counting {k}-base contexts "
                "yet; train longer")
    advice = ""
    if change < 2:
        advice = (": a larger model (--units, --layers) may do better" if summary.get("stopped") == "early_stopping"
                  else ": train longer for a better model")
    return f"{text}, {change:.1f} % better {than}{advice}"


def _write_failed(exc: OutputFileError, out: Path, epochs: int) -> OutputFileError:
    """``exc`` (a failed write during training), saying what the run directory still holds."""
    if epochs > 0 and backup.exists(out):
        return OutputFileError(f"{exc} The run in {out} stays resumable from epoch {epochs}, its last complete "
                               "backup: free some space, then continue it with the same command and --resume.")
    return OutputFileError(f"{exc} No epoch was saved, so there is nothing to resume: free some space and start "
                           "the run again.")
