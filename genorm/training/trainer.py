"""``genorm train``: from FASTA files to a trained, saved, reproducible next-nucleotide model.

:func:`train` reads the genome (through the on-disk cache), splits every record into
train / validation / test (:mod:`genorm.splits`), streams random training windows
(:mod:`genorm.stream`), and fits the model of :mod:`genorm.model` with Adam and gradient
clipping. Every decision (best checkpoint, learning-rate cuts, early stopping) is made on the
**validation** split; the test split is never looked at. See :mod:`genorm.callbacks` for the
callbacks and :mod:`genorm.run` for the run directory it writes.

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
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras

from genorm.training import distribute
from genorm.training import rundir as rundir
from genorm.training.callbacks import (
    Backup,
    BestCheckpoint,
    CostEstimate,
    EpochLog,
    NanGuard,
    PlateauStopping,
    TimeBudget,
    TrainingState,
)
from genorm.config import RESUMABLE, ModelConfig, TrainConfig, parse_duration  # noqa: F401  (re-exported)
from genorm.errors import ConfigError, OutputFileError, RunDirError
from genorm.evaluation.metrics import LN2
from genorm.model import build_model

logger = logging.getLogger(__name__)

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
    """

    run_dir: Path
    config: TrainConfig
    model: Any
    history: Any
    summary: dict


# ------------------------------------------------------------------------------------------
# Pieces


def load_genome(fasta_paths: Sequence[str], config: TrainConfig, progress=None):
    """The genome of ``fasta_paths`` as ``config`` reads it (through the on-disk cache if available)."""
    try:
        from genorm.cache import cached_genome
    except ImportError:  # pragma: no cover - the cache module is optional
        cached_genome = None
    records = list(config.records) if config.records else None
    if cached_genome is not None:
        return cached_genome(list(fasta_paths), policy=config.policy(), records=records, progress=progress)
    from genorm.genome import read_genome

    return read_genome(list(fasta_paths), policy=config.policy(), records=records, progress=progress)


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


def _check_inputs(fasta_paths, config: TrainConfig) -> tuple[list[str], Any]:
    """The input paths, or ``([], genome)`` for in-memory records (SeqRecords or (name, sequence) pairs)."""
    from genorm import reading

    fasta_paths = reading.as_sources(fasta_paths)
    if reading.is_in_memory(fasta_paths):
        from genorm.genome import read_genome

        return [], read_genome(fasta_paths, policy=config.policy(),
                               records=list(config.records) if config.records else None)
    paths = [str(p) for p in fasta_paths]
    if not paths:
        raise ConfigError("No FASTA file given: genorm train needs at least one genome file.")
    for p in paths:
        if p == "-":
            raise ConfigError("genorm train cannot read standard input ('-'): the run records each input's path "
                              "and SHA-256 so that it can be re-read; save the FASTA to a file first.")
    return paths, None


def _provenance(paths: list[str], genome, splits, config: TrainConfig, inputs: list[dict]) -> dict:
    return {
        "format_version": rundir.FORMAT_VERSION,
        "inputs": inputs,
        "records": [{"name": n, "length": int(l)} for n, l in zip(genome.names, genome.lengths.tolist())],
        "encoding_policy": genome.policy.to_dict() if hasattr(genome.policy, "to_dict") else {},
        "split_sha256": splits.sha256(),
        "split_bases": splits.bases(),
        "seed": config.seed,
        "versions": rundir.versions(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "status": "running",
    }


def _val_dataset(genome, splits, config: TrainConfig):
    from genorm.dataset import make_dataset

    val_bases = sum(iv.length for iv in splits.val)
    if val_bases <= config.max_val_bases:
        cfg = config.stream_config(shuffle=False, bases_per_epoch=None, rc_augment=False)
    else:  # a fixed random sample: batch k depends only on (seed, k)
        cfg = config.stream_config(shuffle=True, bases_per_epoch=config.max_val_bases, rc_augment=False)
    return make_dataset(genome, splits.val, cfg, seed=config.seed + 1, repeat=False).cache()


def _weighted_targets(genome, intervals, soft_mask_weight: float, block: int = 1 << 20) -> tuple[int, int, int]:
    """``(weighted, soft_masked, with_n)`` target counts of ``intervals``, as the window stream weighs them.

    A target (every base of an interval but its first) carries weight when it and the base before it
    are A/C/G/T and, if it is soft-masked, ``soft_mask_weight > 0``. Stops at the first block that
    has a weighted target, so a usual genome costs one block.
    """
    import numpy as np

    from genorm.encoding import CODE_BITS, N, SOFT_MASK_FLAG

    weighted = soft = with_n = 0
    for iv in intervals:
        record = genome.packed_record(iv.record)
        for a in range(iv.start, iv.end - 1, block):
            packed = record[a:min(a + block + 1, iv.end)]
            codes = packed & CODE_BITS
            ok = (codes[1:] != N) & (codes[:-1] != N)
            masked = ok & ((packed[1:] & SOFT_MASK_FLAG) > 0)
            with_n += int(ok.size - ok.sum())
            soft += int(masked.sum())
            weighted += int(ok.sum()) - (0 if soft_mask_weight > 0 else int(masked.sum()))
            if weighted:
                return weighted, soft, with_n
    return weighted, soft, with_n


def check_targets_carry_weight(genome, splits, config: TrainConfig) -> None:
    """Refuse to train when no training, or no validation, target carries loss weight.

    Such a run would learn nothing and report a loss of 0 (0.0000 bits/base) or NaN as its result.

    Raises:
        SplitError: every target of the split is N, follows an N, or is soft-masked with
            ``soft_mask_weight == 0``.
    """
    from genorm.errors import SplitError

    for name, intervals in (("training", splits.train), ("validation", splits.val)):
        weighted, soft, with_n = _weighted_targets(genome, intervals, config.soft_mask_weight)
        if weighted:
            continue
        why = [f"{soft:,} are soft-masked (lower case) and --soft-mask-weight is 0"] if soft else []
        why += [f"{with_n:,} are N or follow an N"] if with_n else []
        advice = "use --soft-mask-weight > 0 (e.g. 1) to learn from lower-case bases" if soft \
            else "check the input, or choose other records with --records"
        raise SplitError(f"No {name} target carries any weight ({'; '.join(why) or 'the split has no targets'}): "
                         f"the model would learn nothing and report a meaningless loss. Nothing was trained; "
                         f"{advice}.")


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
        raise ConfigError(f"Received an invalid value for `config`, expected a TrainConfig, got {config!r}.")
    paths, preloaded = _check_inputs(fasta_paths, config)
    if config.tensorboard:
        import importlib.util

        if importlib.util.find_spec("tensorboard") is None:
            raise ConfigError("TensorBoard logs (--tensorboard) need the tensorboard package: "
                              "pip install tensorboard, or train without --tensorboard.")
    missing = [p for p in paths if not Path(p).is_file()]
    if missing:
        from genorm.errors import InputFileError

        raise InputFileError(f"FASTA file(s) not found: {', '.join(missing)}.")
    from genorm.training.memory import check_training

    check_training(config.model, config.batch_size, config.window)  # absurd sizes: an error, not an OOM crash
    if threads is not None:
        from genorm.threads import limit_threads

        threads = limit_threads(threads)  # before any TensorFlow operation
    dist = distribute.make_distribution(config.strategy)  # before any other TensorFlow operation
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


def _check_resume(out: Path, config: TrainConfig, inputs: list[dict]) -> dict:
    saved = rundir.read_config(out)
    diff = [k for k, v in config.to_dict().items() if k not in RESUMABLE and saved.to_dict().get(k) != v]
    if diff:
        shown = ", ".join(f"{k}: {saved.to_dict()[k]!r} -> {config.to_dict()[k]!r}" for k in diff)
        raise ConfigError(f"Cannot resume {out} with different options ({shown}). Resume with the run's own "
                          f"options (they are in {out / rundir.CONFIG}), or start a new run.")
    prov = rundir.read_json(out / rundir.PROVENANCE, "inputs, versions and seed")
    old = [(i.get("sha256"), i.get("size")) for i in prov.get("inputs", [])]
    new = [(i["sha256"], i["size"]) for i in inputs]
    if old != new:
        raise ConfigError(f"Cannot resume {out}: the input FASTA file(s) differ from the ones the run started "
                          f"with (sizes/SHA-256 in {out / rundir.PROVENANCE}).")
    return prov


def _train_locked(paths, config, out, resume, verbose, extra_callbacks, progress, wall_start, dist,
                  threads=None, preloaded=None) -> Run:
    from genorm.splits import make_splits
    from genorm.dataset import make_dataset

    if preloaded is None:
        inputs = [rundir.file_info(p) for p in paths]
    else:  # in-memory records: names, lengths and the SHA-256 of the encoded sequence
        from genorm.reading import IN_MEMORY, in_memory_provenance

        inputs, paths = [in_memory_provenance(preloaded)], [IN_MEMORY]
    prov = _check_resume(out, config, inputs) if resume else None
    genome = load_genome(paths, config, progress) if preloaded is None else preloaded
    if genome.total_length and sum(s.n for s in genome.stats) >= genome.total_length:
        from genorm.errors import SplitError

        raise SplitError(f"{', '.join(paths)}: every base is N (or an ambiguity code read as N): there is nothing to "
                         "learn from. Check the file, or choose other records with --records.")
    splits = make_splits(genome, config.window, val_fraction=config.val_fraction,
                         test_fraction=config.test_fraction, val_records=config.val_records,
                         test_records=config.test_records, seed=config.seed)
    if not splits.val:
        raise ConfigError("The validation split is empty: training needs one to choose the best model. Set "
                          "--val-fraction > 0 or name --val-records.")
    check_targets_carry_weight(genome, splits, config)
    val_plain = _val_dataset(genome, splits, config)  # fails here (e.g. every window mostly N) before any write
    if resume:
        if prov.get("split_sha256") != splits.sha256():
            raise ConfigError(f"Cannot resume {out}: the split differs from the saved one ({out / rundir.SPLITS}).")
        prov["status"] = "running"
        prov.setdefault("resumed", []).append(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    else:
        prov = _provenance(paths, genome, splits, config, inputs)
        splits.to_bed(out / rundir.SPLITS)
        if config.baselines:
            _fit_baselines(genome, splits, out)
    prov["distribution"] = {"strategy": dist.name, "replicas": dist.replicas, "workers": dist.cluster.num_workers}
    rundir.write_json(out / rundir.CONFIG, {"format_version": rundir.FORMAT_VERSION, "config": config.to_dict()})
    rundir.write_json(out / rundir.PROVENANCE, prov)

    keras.utils.set_random_seed(config.seed)
    with dist.scope():
        model = compile_model(build_model(config.model), config)
    dist.prepare_model(model, config.window)
    state = TrainingState(learning_rate=float(config.learning_rate))
    if resume:
        saved, restore = rundir.read_backup(out)
        state = TrainingState.from_dict(saved.get("state", {}))
        if state.stopped in ("early_stopping", "nan") or (state.stopped == "epochs"
                                                          and state.epochs_done >= config.epochs):
            raise RunDirError(f"The run in {out} is complete (stopped: {state.stopped}, {state.epochs_done} "
                              "epochs); there is nothing to resume. Raise --epochs to train longer.")
        restore(model)
        state.stopped = ""
        logger.info("Resuming %s after epoch %d (%s bases trained).", out, state.epochs_done,
                    f"{state.bases_done:,}")

    stream_cfg = config.stream_config()
    train_ds = dist.train_dataset(  # per-worker batches and seeds; batch k depends only on (seed, worker, k)
        lambda batch, seed: make_dataset(genome, splits.train, config.stream_config(batch_size=batch), seed=seed,
                                         repeat=True, threads=threads),
        config.batch_size, config.seed, skip=state.batches_done)
    val_ds = dist.eval_dataset(val_plain)
    from genorm.dataset import steps_per_epoch

    steps = steps_per_epoch(genome, splits.train, stream_cfg)
    bases_per_batch = config.batch_size * config.window

    best_model = build_model(config.model)

    def save_best(m):
        best_model.set_weights(m.get_weights())
        rundir.save_model(best_model, out / rundir.MODEL)

    def save_backup(m):  # the backup first: history.csv never lists an epoch the backup does not hold
        rundir.save_backup(out, m, {"state": state.to_dict()}, tag=f".e{state.epochs_done}")
        rundir.write_history(out / rundir.HISTORY, state.history)

    fit_start = time.monotonic()
    time_budget = TimeBudget(state, config.max_seconds, start=wall_start)
    checkpoint = BestCheckpoint(state, save_best)
    backup = Backup(state, bases_per_batch, save_backup, fit_start, saved_epochs=lambda: rundir.backup_epochs(out))
    cbs = [NanGuard(state), time_budget,
           PlateauStopping(state, config.patience, config.lr_patience, config.lr_factor, config.min_learning_rate),
           checkpoint, backup,
           CostEstimate(state, bases_per_batch, config.epochs * steps * bases_per_batch, config.max_seconds,
                        config.max_time)]
    if verbose == 2:  # genorm's own line per epoch, on the progress logger, instead of Keras' on stdout
        cbs.append(EpochLog(state, config.epochs, bases_per_batch))
        verbose = 0
    if config.tensorboard:
        cbs.append(keras.callbacks.TensorBoard(log_dir=str(out / "logs")))
    if dist.cluster.num_workers > 1:
        cbs.append(distribute.SyncStop(dist, state))  # every worker leaves fit() at the same batch
    cbs += extra_callbacks
    bases_before = state.bases_done
    interrupted = False
    try:
        if state.epochs_done < config.epochs:
            model.fit(train_ds, epochs=config.epochs, initial_epoch=state.epochs_done, steps_per_epoch=steps,
                      validation_data=val_ds, callbacks=cbs, verbose=verbose, shuffle=False)
        if not state.stopped:
            state.stopped = "epochs"
    except KeyboardInterrupt:  # perhaps inside a backup write: report what the backup on disk holds
        interrupted = True
        backup.rollback()
        state.stopped = "interrupted"
        logger.warning("Interrupted: the run in %s is saved up to epoch %d; continue it with --resume.",
                       out, state.epochs_done)
    except OutputFileError as exc:  # a full disk while writing the model or the backup
        raise _write_failed(exc, out, backup.rollback()) from None
    fit_seconds = time.monotonic() - fit_start

    if checkpoint.best_weights is not None:
        model.set_weights(checkpoint.best_weights)
    elif (out / rundir.MODEL).is_file():  # resumed: the best epoch came before this invocation
        model.set_weights(keras.saving.load_model(out / rundir.MODEL, compile=False, safe_mode=True).get_weights())
    else:
        save_best(model)
    if not interrupted:  # the state of the last completed epoch stays as it is after Ctrl-C
        state_file = out / rundir.BACKUP / "state.json"
        if state_file.is_file():
            saved = rundir.read_json(state_file, "backup state")
            saved["state"]["stopped"] = state.stopped
            rundir.write_json(state_file, saved)
    rundir.write_history(out / rundir.HISTORY, state.history)
    try:
        rundir.write_curves(out / rundir.CURVES, state.history, title=f"{model.name} on {Path(paths[0]).name}")
    except Exception as exc:  # a plotting problem must not lose a trained run
        logger.warning("Could not draw %s: %s", out / rundir.CURVES, exc)

    best_row = next((r for r in state.history if r["epoch"] == state.best_epoch), {})
    trained_now = state.bases_done - bases_before
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
    prov.update(status="interrupted" if interrupted else "complete",
                finished=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                summary={k: v for k, v in summary.items() if k != "run_dir"})
    rundir.write_json(out / rundir.PROVENANCE, prov)
    if interrupted:
        raise KeyboardInterrupt(f"training interrupted; resume with --resume (run {out})")
    import pandas as pd

    return Run(run_dir=out, config=config, model=model, history=pd.DataFrame(state.history), summary=summary)


def _markov_on_validation(out: Path) -> dict:
    """``markov_order`` and ``markov_val_bits`` of the run's fitted baselines (empty if there are none)."""
    path = out / rundir.BASELINES
    if not path.is_file():
        return {}
    from genorm.evaluation.baselines import Baselines
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
    if epochs > 0 and (out / rundir.BACKUP / "state.json").is_file():
        return OutputFileError(f"{exc} The run in {out} stays resumable from epoch {epochs}, its last complete "
                               "backup: free some space, then continue it with the same command and --resume.")
    return OutputFileError(f"{exc} No epoch was saved, so there is nothing to resume: free some space and start "
                           "the run again.")


def _fit_baselines(genome, splits, out: Path) -> None:
    try:
        from genorm.evaluation.baselines import fit_baselines
    except ImportError:  # pragma: no cover
        return
    from genorm.errors import GenormError

    t = time.monotonic()
    try:
        fit_baselines(genome, splits).save(out / rundir.BASELINES)
    except GenormError as exc:
        logger.warning("Baselines not fitted: %s", exc)
        return
    logger.info("Baselines fitted in %.1f s.", time.monotonic() - t)


