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

import dataclasses
import logging
import math
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np

from genorm import run as rundir
from genorm.callbacks import Backup, BestCheckpoint, NanGuard, PlateauStopping, TimeBudget, TrainingState
from genorm.errors import ConfigError, RunDirError
from genorm.model import ModelConfig, build_model, check_positive_int

logger = logging.getLogger(__name__)

LN2 = math.log(2.0)

# Options a resumed run may change (everything else must match the saved configuration).
RESUMABLE = ("epochs", "max_time", "patience", "tensorboard")


def parse_duration(value: str | float | int | None) -> float | None:
    """Seconds in a duration like ``"90s"``, ``"10m"``, ``"1h"``, ``"1h30m"`` or a plain number of seconds.

    >>> parse_duration("10m"), parse_duration("1h30m"), parse_duration(45), parse_duration(None)
    (600.0, 5400.0, 45.0, None)
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise ConfigError(f"Received an invalid value for `max_time`, expected a duration like '10m', got {value!r}.")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        text = str(value).strip().lower().replace(" ", "")
        parts = re.fullmatch(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?:in)?)?(?:(\d+(?:\.\d+)?)s?)?", text)
        if not text or parts is None or not any(parts.groups()):
            raise ConfigError(f"Received an invalid value for `max_time`, expected a duration like '90s', '10m', "
                              f"'1h' or '1h30m', got {value!r}.")
        h, m, s = (float(g) if g else 0.0 for g in parts.groups())
        seconds = 3600 * h + 60 * m + s
    if not seconds > 0 or not math.isfinite(seconds):
        raise ConfigError(f"Received an invalid value for `max_time`, expected a positive duration, got {value!r}.")
    return seconds


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run; saved as ``config.json`` in the run directory.

    The defaults are chosen for a bacterial genome on a 2-core laptop: on E. coli K-12 (4.6 Mb)
    they train a GRU 2×128 on about 60 M bases, which takes about 10 minutes on 2 CPU cores.

    Attributes:
        model: the architecture (:class:`~genorm.model.ModelConfig`, default GRU 2×128).
        window: input window length ``L`` in bases (>= 2). Default 200.
        batch_size: windows per batch. Default 128.
        epochs: maximum number of epochs. Default 30.
        bases_per_epoch: input bases per epoch (an "epoch" is this many bases of random
            windows, then a validation pass). Default 2,000,000; None: about one pass over the
            training split.
        learning_rate: Adam's initial learning rate. Default 2e-3.
        clipnorm: gradient clipping by global norm (per variable, Keras ``clipnorm``). Default 1.0.
        lr_factor: learning-rate multiplier when validation stops improving. Default 0.5.
        lr_patience: epochs without validation improvement before the learning rate is cut.
            Default 2.
        min_learning_rate: lower bound of the learning rate. Default 1e-5.
        patience: epochs without validation improvement before training stops. Default 5.
        val_fraction, test_fraction: tail fractions of every record (see
            :func:`genorm.splits.make_splits`). Defaults 0.05 and 0.10.
        val_records, test_records: record names that go whole into validation / test.
        records: record names to read (default: all).
        iupac: ``"n"`` (ambiguity codes read as N) or ``"error"``.
        u_as_t: read U as T.
        max_val_bases: validation bases per epoch: the whole validation split when it is
            smaller, otherwise a fixed random sample of this many. Default 2,000,000.
        rc_augment: reverse-complement half of the training windows. Default False.
        soft_mask_weight: loss weight of soft-masked (lower-case) targets. Default 1.0.
        max_n_fraction: skip windows that are more than this fraction N. Default 0.5.
        max_time: wall-clock budget for training per invocation, e.g. ``"10m"``; None: no limit.
        seed: seeds weights, window sampling and the split. Default 0.
        tensorboard: write TensorBoard logs to ``<run>/logs``. Default False.
        baselines: fit and save the Markov / composition baselines. Default True.
    """

    model: ModelConfig = field(default_factory=ModelConfig)
    window: int = 200
    batch_size: int = 128
    epochs: int = 30
    bases_per_epoch: int | None = 2_000_000
    learning_rate: float = 2e-3
    clipnorm: float = 1.0
    lr_factor: float = 0.5
    lr_patience: int = 2
    min_learning_rate: float = 1e-5
    patience: int = 5
    val_fraction: float = 0.05
    test_fraction: float = 0.10
    val_records: tuple[str, ...] | None = None
    test_records: tuple[str, ...] | None = None
    records: tuple[str, ...] | None = None
    iupac: str = "n"
    u_as_t: bool = False
    max_val_bases: int = 2_000_000
    rc_augment: bool = False
    soft_mask_weight: float = 1.0
    max_n_fraction: float = 0.5
    max_time: str | None = None
    seed: int = 0
    tensorboard: bool = False
    baselines: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.model, dict):
            object.__setattr__(self, "model", ModelConfig.from_dict(self.model))
        if not isinstance(self.model, ModelConfig):
            raise ConfigError(f"Received an invalid value for `model`, expected a ModelConfig, got {self.model!r}.")
        window = self.window
        if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 2:
            raise ConfigError(f"Received an invalid value for `window`, expected an integer >= 2, got {window!r}.")
        for name in ("batch_size", "epochs", "lr_patience", "patience", "max_val_bases"):
            object.__setattr__(self, name, check_positive_int(name, getattr(self, name)))
        if self.bases_per_epoch is not None:
            object.__setattr__(self, "bases_per_epoch", check_positive_int("bases_per_epoch", self.bases_per_epoch))
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            raise ConfigError(f"Received an invalid value for `seed`, expected an integer >= 0, got {self.seed!r}.")
        for name, lo, hi in (("learning_rate", 0, 10), ("clipnorm", 0, math.inf), ("min_learning_rate", 0, 1),
                             ("soft_mask_weight", -1e-12, math.inf)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo < v < hi:
                raise ConfigError(f"Received an invalid value for `{name}`, expected a positive number, got {v!r}.")
        for name in ("lr_factor", "max_n_fraction", "val_fraction", "test_fraction"):
            v = getattr(self, name)
            lo_ok = (lambda x: x > 0) if name == "lr_factor" else (lambda x: x >= 0)
            hi_ok = (lambda x: x <= 1) if name == "max_n_fraction" else (lambda x: x < 1)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not (lo_ok(v) and hi_ok(v)):
                rng = "(0, 1)" if name == "lr_factor" else "[0, 1]" if name == "max_n_fraction" else "[0, 1)"
                raise ConfigError(f"Received an invalid value for `{name}`, expected a number in {rng}, got {v!r}.")
        if self.iupac not in ("n", "error"):
            raise ConfigError(f"Received an invalid value for `iupac`, expected 'n' or 'error', got {self.iupac!r}.")
        for name in ("val_records", "test_records", "records"):
            v = getattr(self, name)
            if v is not None:
                if isinstance(v, str):
                    v = [v]
                v = tuple(str(x) for x in v)
                if not v:
                    raise ConfigError(f"Received an empty list for `{name}`: name at least one record, or leave it "
                                      "unset.")
                object.__setattr__(self, name, v)
        parse_duration(self.max_time)
        if self.max_time is not None and not isinstance(self.max_time, str):
            object.__setattr__(self, "max_time", f"{float(self.max_time):g}s")

    # -- derived --------------------------------------------------------------------------
    @property
    def max_seconds(self) -> float | None:
        """``max_time`` in seconds."""
        return parse_duration(self.max_time)

    def stream_config(self, **changes):
        """The :class:`~genorm.stream.StreamConfig` of the training stream (``changes`` override)."""
        from genorm.stream import StreamConfig

        kw = dict(window=self.window, batch_size=self.batch_size, bases_per_epoch=self.bases_per_epoch,
                  shuffle=True, rc_augment=self.rc_augment, max_n_fraction=float(self.max_n_fraction),
                  soft_mask_weight=float(self.soft_mask_weight))
        kw.update(changes)
        return StreamConfig(**kw)

    def policy(self):
        from genorm.encoding import EncodingPolicy

        return EncodingPolicy(iupac=self.iupac, u_as_t=self.u_as_t)

    # -- (de)serialisation ----------------------------------------------------------------
    def to_dict(self) -> dict:
        """Plain JSON-able dict; ``model`` nested."""
        d = dataclasses.asdict(self)
        for name in ("val_records", "test_records", "records"):
            if d[name] is not None:
                d[name] = list(d[name])
        return d

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        """Inverse of :meth:`to_dict`; missing keys take their defaults, unknown keys are an error."""
        if not isinstance(d, dict):
            raise ConfigError(f"A training configuration must be a JSON object, got {type(d).__name__}.")
        known = {f.name for f in dataclasses.fields(cls)}
        model_keys = {f.name for f in dataclasses.fields(ModelConfig)}
        d = dict(d)
        model = dict(d.pop("model", None) or {})
        for k in list(d):  # allow flat model keys ("cell": "lstm") in hand-written config files
            if k in model_keys and k not in known:
                model[k] = d.pop(k)
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"Unknown training option(s) {unknown}. Known options: {sorted(known | model_keys)}.")
        return cls(model=ModelConfig.from_dict(model), **d)

    def replace(self, **changes) -> TrainConfig:
        """A copy with some fields changed (model fields may be given flat: ``units=64``)."""
        model_keys = {f.name for f in dataclasses.fields(ModelConfig)}
        model_changes = {k: changes.pop(k) for k in list(changes) if k in model_keys}
        if model_changes:
            changes["model"] = dataclasses.replace(self.model, **model_changes)
        return dataclasses.replace(self, **changes)


@dataclass
class Run:
    """What :func:`train` returns.

    Attributes:
        run_dir: the run directory.
        config: the configuration used.
        model: the trained model with the best validation weights.
        history: ``pandas.DataFrame``, one row per epoch (as ``history.csv``).
        summary: ``val_bits``, ``val_accuracy`` (of the best epoch), ``best_epoch``, ``epochs``,
            ``bases_trained``, ``bases_per_second``, ``wall_seconds``, ``stopped``.
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


def _check_inputs(fasta_paths) -> list[str]:
    if isinstance(fasta_paths, (str, os.PathLike)):
        fasta_paths = [fasta_paths]
    paths = [str(p) for p in fasta_paths]
    if not paths:
        raise ConfigError("No FASTA file given: genorm train needs at least one genome file.")
    for p in paths:
        if p == "-":
            raise ConfigError("genorm train cannot read standard input ('-'): the run records each input's path "
                              "and SHA-256 so that it can be re-read; save the FASTA to a file first.")
    return paths


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
    from genorm.stream import make_dataset

    val_bases = sum(iv.length for iv in splits.val)
    if val_bases <= config.max_val_bases:
        cfg = config.stream_config(shuffle=False, bases_per_epoch=None, rc_augment=False)
    else:  # a fixed random sample: batch k depends only on (seed, k)
        cfg = config.stream_config(shuffle=True, bases_per_epoch=config.max_val_bases, rc_augment=False)
    return make_dataset(genome, splits.val, cfg, seed=config.seed + 1, repeat=False).cache()


# ------------------------------------------------------------------------------------------
# train()


def train(fasta_paths: str | os.PathLike | Sequence[str | os.PathLike], config: TrainConfig | None = None,
          out_dir: str | os.PathLike = "genorm_run", resume: bool = False, force: bool = False,
          verbose: int | str = 0, callbacks: Sequence[keras.callbacks.Callback] = (),
          progress: Callable | None = None) -> Run:
    """Train a model on ``fasta_paths`` and write the run directory ``out_dir``.

    Args:
        fasta_paths: FASTA file(s) (plain, gzip, bgzip).
        config: a :class:`TrainConfig` (default: the defaults). With ``resume`` it must equal the
            saved configuration except for ``epochs``, ``max_time``, ``patience``, ``tensorboard``.
        out_dir: the run directory; must be new or empty unless ``force`` or ``resume``.
        resume: continue the run in ``out_dir`` from its last completed epoch.
        force: overwrite a previous run in ``out_dir``.
        verbose: Keras progress display: 0 silent, 1 progress bar, 2 one line per epoch.
        callbacks: extra Keras callbacks, run after genorm's own.
        progress: ``progress(bytes, total, label)`` while FASTA is read.

    Returns:
        A :class:`Run`.

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
    paths = _check_inputs(fasta_paths)
    missing = [p for p in paths if not Path(p).is_file()]
    if missing:
        from genorm.errors import InputFileError

        raise InputFileError(f"FASTA file(s) not found: {', '.join(missing)}.")
    out = rundir.prepare(out_dir, force=force, resume=resume)
    with rundir.lock(out):
        return _train_locked(paths, config, out, resume, verbose, list(callbacks), progress, wall_start)


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


def _train_locked(paths, config, out, resume, verbose, extra_callbacks, progress, wall_start) -> Run:
    from genorm.splits import make_splits
    from genorm.stream import make_dataset

    inputs = [rundir.file_info(p) for p in paths]
    prov = _check_resume(out, config, inputs) if resume else None
    genome = load_genome(paths, config, progress)
    splits = make_splits(genome, config.window, val_fraction=config.val_fraction,
                         test_fraction=config.test_fraction, val_records=config.val_records,
                         test_records=config.test_records, seed=config.seed)
    if not splits.val:
        raise ConfigError("The validation split is empty: training needs one to choose the best model. Set "
                          "--val-fraction > 0 or name --val-records.")
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
    rundir.write_json(out / rundir.CONFIG, {"format_version": rundir.FORMAT_VERSION, "config": config.to_dict()})
    rundir.write_json(out / rundir.PROVENANCE, prov)

    keras.utils.set_random_seed(config.seed)
    model = compile_model(build_model(config.model), config)
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
    train_ds = make_dataset(genome, splits.train, stream_cfg, seed=config.seed, repeat=True)
    if state.batches_done:
        train_ds = train_ds.skip(state.batches_done)  # batch k depends only on (seed, k)
    val_ds = _val_dataset(genome, splits, config)
    from genorm.stream import steps_per_epoch

    steps = steps_per_epoch(genome, splits.train, stream_cfg)
    bases_per_batch = config.batch_size * config.window

    best_model = build_model(config.model)

    def save_best(m):
        best_model.set_weights(m.get_weights())
        rundir.save_model(best_model, out / rundir.MODEL)

    def save_backup(m):
        rundir.write_history(out / rundir.HISTORY, state.history)
        rundir.save_backup(out, m, {"state": state.to_dict()})

    fit_start = time.monotonic()
    time_budget = TimeBudget(state, config.max_seconds, start=wall_start)
    checkpoint = BestCheckpoint(state, save_best)
    cbs = [NanGuard(state), time_budget,
           PlateauStopping(state, config.patience, config.lr_patience, config.lr_factor, config.min_learning_rate),
           checkpoint, Backup(state, bases_per_batch, save_backup, fit_start)]
    if config.tensorboard:
        cbs.append(keras.callbacks.TensorBoard(log_dir=str(out / "logs")))
    cbs += extra_callbacks
    bases_before = state.bases_done
    interrupted = False
    try:
        if state.epochs_done < config.epochs:
            model.fit(train_ds, epochs=config.epochs, initial_epoch=state.epochs_done, steps_per_epoch=steps,
                      validation_data=val_ds, callbacks=cbs, verbose=verbose, shuffle=False)
        if not state.stopped:
            state.stopped = "epochs"
    except KeyboardInterrupt:
        interrupted = True
        state.stopped = "interrupted"
        logger.warning("Interrupted: the run in %s is saved up to epoch %d; continue it with --resume.",
                       out, state.epochs_done)
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
    }
    prov.update(status="interrupted" if interrupted else "complete",
                finished=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                summary={k: v for k, v in summary.items() if k != "run_dir"})
    rundir.write_json(out / rundir.PROVENANCE, prov)
    if interrupted:
        raise KeyboardInterrupt(f"training interrupted; resume with --resume (run {out})")
    import pandas as pd

    return Run(run_dir=out, config=config, model=model, history=pd.DataFrame(state.history), summary=summary)


def _fit_baselines(genome, splits, out: Path) -> None:
    try:
        from genorm.baselines import fit_baselines
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
