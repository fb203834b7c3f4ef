"""A trained model you can use: a run directory read back (:func:`load`) as a :class:`LoadedRun`.

This is the top of the data flow: it reads the run through :mod:`genorm.rundir` (storage),
re-reads and verifies its genome and split, and delegates to :mod:`genorm.predict` (probabilities,
scores, samples) and :func:`genorm.evaluation.evaluate.evaluate_run` (reports).

>>> run = load("runs/ecoli")                                    # doctest: +SKIP
>>> run.model.predict(np.zeros((1, 10), np.int32)).shape        # doctest: +SKIP
(1, 10, 4)
>>> run.evaluate().summary                                      # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from genorm.errors import RunDirError
from genorm import rundir
from genorm.rundir import CONFIG, HISTORY, MODEL, PROVENANCE, SPLITS

logger = logging.getLogger(__name__)


@dataclass
class LoadedRun:
    """A run directory read back.

    Attributes:
        run_dir: the directory.
        model: the best-validation Keras model (uncompiled; loaded with ``safe_mode=True``).
        config: the :class:`~genorm.training.trainer.TrainConfig` the run used.
        provenance: the parsed ``provenance.json``.
        fasta_paths: the input FASTA paths as recorded (absolute).
        history: per-epoch ``pandas.DataFrame`` (empty if the file is missing).
    """

    run_dir: Path
    model: Any
    config: Any
    provenance: dict
    fasta_paths: list[str]
    history: Any = None
    _genome: Any = field(default=None, repr=False)
    _splits: Any = field(default=None, repr=False)
    _predictor: Any = field(default=None, repr=False)
    _stepper: Any = field(default=None, repr=False)
    counts: Any = field(default=None, repr=False)
    """The training split's :class:`~genorm.counts.CountTables` when the model reads count features
    (memory-mapped from the run directory, checked against its provenance), else None."""

    @property
    def genome(self):
        """The training genome, re-read from ``fasta_paths`` (through the cache when available).

        Every input is first checked against the size and SHA-256 in ``provenance.json``, and the
        records read are checked against the ones it lists.

        Raises:
            RunDirError: an input is missing or changed, or ``config.json`` no longer describes the
                records the run was trained on (it was edited).
        """
        if self._genome is None:
            from genorm.reading.records import IN_MEMORY
            from genorm.training.data import load_genome

            if IN_MEMORY in self.fasta_paths:
                raise RunDirError(f"The run in {self.run_dir} was trained on in-memory records: there is no file to "
                                  "re-read its genome (and splits) from. Evaluate on the records themselves, e.g. "
                                  "run.evaluate(records).")
            rundir.verify_inputs(self.run_dir, self.provenance)
            _check_config_policy(self.run_dir, self.config, self.provenance)
            genome = load_genome(self.fasta_paths, self.config)
            _check_records(self.run_dir, genome, self.provenance)
            self._genome = genome
        return self._genome

    @property
    def splits(self):
        """The run's :class:`~genorm.genome.splits.Splits`, read from ``splits.bed`` (needs the genome) and
        checked against the split hash in ``provenance.json``."""
        if self._splits is None:
            self._splits = _load_splits(self.run_dir, self.genome, self.config, self.provenance)
        return self._splits

    def stepper(self, update_counts: bool = True):
        """The :class:`~genorm.stepper.NetworkStepper` of the model (the network of ``config.json``
        with the model's weights, checked on load), for streaming it over long sequences.

        ``update_counts``: with count features, True (default) counts each base after it was
        predicted (predict-then-update); False reads the training split's tables only.
        """
        if self._stepper is None:
            from genorm.stepper import check_model

            self._stepper = check_model(self.model, self.config.model, source=str(self.run_dir / MODEL),
                                        described=f"{CONFIG}'s model")
        if self.counts is None or update_counts:
            return self._stepper
        from genorm.counts import CountLanes

        return self._stepper.variant(CountLanes(self.counts, update=False))

    # -- the analysis API (docs/architecture.md): thin delegations ---------------------------
    def predictor(self):
        """A :class:`~genorm.predict.Predictor` over this model (made once)."""
        if getattr(self, "_predictor", None) is None:
            from genorm.predict import Predictor

            self._predictor = Predictor(self.stepper(), policy=self.config.policy())
        return self._predictor

    def predict_proba(self, seq, adapt=None) -> np.ndarray:
        """``(L, 4) float32``: row i is P(base i | bases before i) (see :class:`~genorm.predict.Predictor`);
        ``adapt``: an :class:`~genorm.evaluation.adapt.AdaptConfig` to predict adaptively."""
        return self.predictor().predict_proba(seq, adapt)

    def score(self, seq, adapt=None) -> float:
        """Log-likelihood of ``seq`` in bits (``adapt``: as :meth:`predict_proba`)."""
        return self.predictor().score(seq, adapt)

    def sample(self, length: int, prime: str = "", temperature: float = 1.0, seed: int | None = None) -> str:
        """A sequence of ``length`` bases drawn from the model after ``prime``."""
        return self.predictor().sample(length, prime=prime, temperature=temperature, seed=seed)

    def evaluate(self, fasta=None, **kwargs):
        """A :class:`~genorm.evaluation.evaluate.Report` on the run's ``split`` (default ``"test"``), on custom
        ``intervals`` of the run's genome (a BED path or ``(record, start, end)`` tuples; refused where
        they overlap the training split unless ``allow_train_overlap``), or on whole records of
        ``fasta`` (path(s) or a Genome: explicit files, not the run's split). ``report.meta["targets"]``
        says which; ``adapt=AdaptConfig(...)`` adds the adaptive model's row. ``kwargs`` are those of :func:`genorm.evaluation.evaluate.evaluate_run`, the one
        definition of "evaluate a run" (the command line's ``genorm evaluate`` calls it too)."""
        from genorm.evaluation.evaluate import evaluate_run

        return evaluate_run(self, fasta, **kwargs)


def _check_config_policy(run_dir: Path, config, provenance: dict) -> None:
    recorded = provenance.get("encoding_policy")
    current = config.policy().to_dict()
    # only the keys the provenance has: a policy option added by a later genorm is not a difference
    if isinstance(recorded, dict) and any(current.get(k) != v for k, v in recorded.items()):
        raise RunDirError(f"{run_dir / CONFIG} does not describe the run: its encoding policy "
                          f"{current} differs from the one the run was trained with ({recorded}, "
                          f"in {PROVENANCE}): config.json was edited. Restore it (train again if it is lost).")


def _check_records(run_dir: Path, genome, provenance: dict) -> None:
    """The records read with the run's configuration must be those ``provenance.json`` lists."""
    recorded = provenance.get("records")
    if not isinstance(recorded, list):
        return  # very old runs; the split check still guards the records used
    want = [(r.get("name"), r.get("length")) for r in recorded if isinstance(r, dict)]
    got = list(zip(genome.names, (int(n) for n in genome.lengths)))
    if got != want:
        shown = lambda pairs: ", ".join(str(n) for n, _ in pairs[:5]) + (" ..." if len(pairs) > 5 else "")  # noqa: E731
        raise RunDirError(f"{run_dir / CONFIG} does not describe the run: with its records option the inputs give "
                          f"{len(got)} record(s) ({shown(got)}), but the run was trained on {len(want)} "
                          f"({shown(want)}; {PROVENANCE}); the input files are unchanged, so config.json was edited. "
                          "Restore it.")


def _load_splits(run_dir: Path, genome, config, provenance: dict):
    """``splits.bed`` read and compared with ``provenance.json``'s ``split_sha256``; the message says
    which file was edited (a ``config.json`` window that differs is not blamed on ``splits.bed``)."""
    from genorm.genome.splits import Splits, bed_header

    path = run_dir / SPLITS
    if not path.is_file():
        raise RunDirError(f"{path} is missing: {run_dir} is not a complete genorm run directory.")
    want = provenance.get("split_sha256")
    if not isinstance(want, str):
        raise RunDirError(f"{run_dir / PROVENANCE} is corrupt: it records no split_sha256, so {path} cannot be "
                          "verified. Train the run again.")
    header = bed_header(path)
    window = int(header["window"]) if str(header.get("window", "")).isdigit() else config.window
    splits = Splits.from_bed(path, genome, window=window)
    if splits.sha256() != want:
        raise RunDirError(
            f"{path} is not the split the run was trained with (its SHA-256 {splits.sha256()[:16]}... differs "
            f"from {want[:16]}... in {PROVENANCE}): the file was edited or replaced. Restore it (train again if "
            f"it is lost); to evaluate other intervals use genorm evaluate {run_dir} --intervals FILE.bed, which "
            "reports them as custom intervals, not the run's split.")
    if splits.window != config.window:
        raise RunDirError(f"{run_dir / CONFIG} says window {config.window}, but the run was trained with window "
                          f"{splits.window} ({path} and the split hash in {PROVENANCE} agree): config.json was "
                          f"edited. Restore \"window\": {splits.window} in it.")
    return splits


def read_config(run_dir: str | os.PathLike):
    """The :class:`~genorm.config.TrainConfig` saved in ``run_dir/config.json``.

    Raises:
        RunDirError: the file is missing, corrupt, of a newer format, or holds invalid options.
    """
    from genorm.config import TrainConfig

    return TrainConfig.from_saved(rundir.read_config_dict(run_dir), Path(run_dir) / CONFIG)


def load(run_dir: str | os.PathLike) -> LoadedRun:
    """Read a run directory written by :func:`genorm.training.trainer.train`.

    The model is loaded with Keras safe mode: no code from the file is executed.

    Raises:
        RunDirError: the directory, ``model.keras``, ``config.json`` or ``provenance.json`` is
            missing, corrupt, or of a newer format.
    """
    import keras

    import genorm.model  # noqa: F401  (registers the custom layers)

    from genorm.validate import check_path

    run_dir = Path(check_path("run_dir", run_dir, "the path of a run directory written by genorm train"))
    if not run_dir.is_dir():
        raise RunDirError(f"Run directory {run_dir} does not exist. Train one with `genorm train GENOME.fa "
                          f"--out {run_dir}`.")
    rundir.check_readable(run_dir)
    holder = rundir.lock_holder(run_dir)
    if holder is not None and not (run_dir / MODEL).is_file():
        raise RunDirError(f"{run_dir} is still being trained by process {holder} and has no model yet (it is written "
                          "when the first epoch ends). Wait for that epoch, then try again.")
    if holder is not None:
        logger.warning("%s is still being trained by process %d: using the best model saved so far.", run_dir, holder)
    config = read_config(run_dir)
    provenance = rundir.read_json(run_dir / PROVENANCE, "inputs, versions and seed")
    model_path = run_dir / MODEL
    if not model_path.is_file() and rundir.stopped_before_first_epoch(run_dir):
        raise RunDirError(rundir.restart_advice(run_dir))
    if not model_path.is_file():
        raise RunDirError(f"{model_path} is missing: the run has not finished its first epoch, or the file was "
                          f"removed. Continue it with `genorm train ... --out {run_dir} --resume`.")
    import zipfile

    if not zipfile.is_zipfile(model_path):  # Keras would say "File not found" about a file that is there
        raise RunDirError(f"{model_path} cannot be loaded: it is not a Keras model file (not a .keras zip archive); "
                          "the file is corrupt or not a genorm model. Train the run again (genorm train ... --force).")
    try:
        model = keras.saving.load_model(model_path, compile=False, safe_mode=True)
    except Exception as exc:  # Keras raises ValueError, OSError, zipfile errors, ...
        raise RunDirError(f"{model_path} cannot be loaded ({type(exc).__name__}: {str(exc)[:200]}); the file is "
                          "corrupt or not a genorm model.") from None
    from genorm.errors import ConfigError
    from genorm.stepper import check_model

    counts = None
    if config.model.context:  # the model reads count features: the run's tables, checked against provenance
        from genorm.counts import CountLanes

        counts = CountLanes(rundir.load_counts(run_dir, provenance), update=True)
    try:  # the network config.json describes must take the model's weights and give its logits
        stepper = check_model(model, config.model, source=str(model_path), described=f"{CONFIG}'s model",
                              counts=counts)
    except ConfigError as exc:
        raise RunDirError(str(exc)) from None
    history = None
    if (run_dir / HISTORY).is_file():
        import pandas as pd

        try:
            history = pd.read_csv(run_dir / HISTORY)
        except (ValueError, OSError) as exc:
            raise RunDirError(f"{run_dir / HISTORY} is corrupt ({exc}).") from None
    inputs = provenance.get("inputs")
    if not isinstance(inputs, list) or not all(isinstance(i, dict) and isinstance(i.get("path"), str) for i in inputs):
        raise RunDirError(f"{run_dir / PROVENANCE} is corrupt: no list of inputs with paths.")
    return LoadedRun(run_dir=run_dir, model=model, config=config, provenance=provenance,
                     fasta_paths=[i["path"] for i in inputs], history=history, _stepper=stepper,
                     counts=counts.tables if counts is not None else None)


