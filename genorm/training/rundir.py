"""The run directory: everything needed to reproduce and reuse a training run.

Layout (``FORMAT_VERSION`` 1)::

    run/
      model.keras       best-validation model, Keras 3 format, uncompiled; loaded with safe_mode
      config.json       {"format_version": 1, "config": <TrainConfig.to_dict()>}
      provenance.json   inputs (path, size, sha256), records, split hash, seed, versions, timings
      splits.bed        train / val / test intervals (genorm.splits BED with a sha256 header)
      history.csv       one row per epoch
      baselines.npz     uniform / composition / Markov baselines fitted on the training split
      curves.png        learning curves
      backup/           model.eN.weights.h5, optimizer.eN.npz, state.json: the state --resume continues from
      .lock             flock'ed while a process writes the run (holds its pid)

Every file is written atomically (a temporary file in the same directory, then
``os.replace``), so a killed process leaves either the old file or the new one, never half.

>>> run = load("runs/ecoli")                                    # doctest: +SKIP
>>> run.model.predict(np.zeros((1, 10), np.int32)).shape        # doctest: +SKIP
(1, 10, 4)
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import logging
import os
import shutil
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from genorm.atomic import atomic_path, atomic_write_text, pid_alive
from genorm.errors import RunDirError

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
MODEL = "model.keras"
CONFIG = "config.json"
PROVENANCE = "provenance.json"
SPLITS = "splits.bed"
HISTORY = "history.csv"
BASELINES = "baselines.npz"
CURVES = "curves.png"
BACKUP = "backup"
LOCK = ".lock"
RUN_FILES = (MODEL, CONFIG, PROVENANCE, SPLITS, HISTORY, BASELINES, CURVES, "logs")
"""Names genorm writes in a run directory (``--force`` removes exactly these, plus backup/)."""


# ------------------------------------------------------------------------------------------
# Atomic writes

def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    atomic_write_text(path, text)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def save_model(model, path: str | os.PathLike) -> None:
    """``model.save`` to a temporary ``.keras`` file, then ``os.replace``."""
    with atomic_path(path, suffix=".keras") as tmp:
        model.save(tmp)


def read_json(path: Path, what: str) -> dict:
    """Parse a JSON object file of a run directory; missing, corrupt (not UTF-8, not JSON, nested too
    deeply, not an object) is a :class:`RunDirError`."""
    from genorm.jsonio import read_json_file

    if not path.is_file():
        raise RunDirError(f"{path} is missing: {path.parent} is not a complete genorm run directory ({what}).")
    return read_json_file(path, str(path), RunDirError, expect=dict,
                          hint="The run directory is corrupt; re-run `genorm train` to recreate the run.")


# ------------------------------------------------------------------------------------------
# Provenance


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 22) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def file_info(path: str | os.PathLike) -> dict:
    """``{"path": absolute path, "size": bytes, "sha256": hex}`` of an input file (the hash is
    remembered while the file is unchanged: :func:`genorm.hashing.sha256_of`)."""
    from genorm.hashing import sha256_of

    p = Path(path)
    return {"path": str(p.resolve()), "size": p.stat().st_size, "sha256": sha256_of(p)}


def verify_inputs(run_dir: Path, provenance: dict) -> None:
    """Check that every input of ``provenance`` still exists with its recorded size and SHA-256.

    Raises:
        RunDirError: a file is missing or has changed (naming the file, both hashes and what to do),
            or the provenance records no size / SHA-256 for it.
    """
    inputs = provenance.get("inputs") or []
    missing = [i["path"] for i in inputs if not Path(i["path"]).is_file()]
    if missing:
        raise RunDirError(f"The run's input file(s) {', '.join(missing)} no longer exist; the genome "
                          "(and its splits) cannot be re-read.")
    for item in inputs:
        path, want, want_size = item["path"], item.get("sha256"), item.get("size")
        if not isinstance(want, str) or not isinstance(want_size, int):
            raise RunDirError(f"{run_dir / PROVENANCE} is corrupt: it records no size and SHA-256 for {path}, so "
                              "the run's genome cannot be verified. Train the run again.")
        info = file_info(path)
        got_size, got = info["size"], info["sha256"]
        if (got_size, got) != (want_size, want):
            raise RunDirError(
                f"{path} has changed since the run {run_dir} was trained on it: its SHA-256 is now {got} "
                f"({got_size:,} bytes), but {PROVENANCE} records {want} ({want_size:,} bytes). The run's split, "
                "baselines and model describe the old file. Restore the file the run was trained on, or evaluate "
                f"explicit FASTA files (genorm evaluate {run_dir} FILE.fa), which are reported as not the run's split.")


def versions() -> dict:
    """Versions of genorm and the libraries a run depends on."""
    import platform

    import keras
    import tensorflow as tf

    from genorm._version import __version__

    return {"genorm": __version__, "tensorflow": tf.__version__, "keras": keras.__version__,
            "numpy": np.__version__, "python": platform.python_version(), "platform": platform.platform(),
            "host": socket.gethostname()}


# ------------------------------------------------------------------------------------------
# Directory life cycle


def is_run_dir(path: Path) -> bool:
    return (path / CONFIG).is_file() or (path / BACKUP).is_dir()


def prepare(out_dir: str | os.PathLike, force: bool = False, resume: bool = False) -> Path:
    """Make ``out_dir`` ready for a new run (or check it for ``resume``).

    A fresh run needs a missing or empty directory; ``force`` clears a previous genorm run
    (only the files genorm writes) but never a directory holding anything else.

    Raises:
        RunDirError: the directory exists and is not empty (without ``force``), holds files that
            are not genorm's (with ``force``), or (``resume``) holds no run to resume.
    """
    from genorm.atomic import check_output_dir

    out = check_output_dir(out_dir)
    if resume:
        if not (out / BACKUP / "state.json").is_file():
            raise RunDirError(f"Nothing to resume in {out}: it has no {BACKUP}/state.json. Start a new run "
                              f"(without --resume) or point --out at the interrupted run.")
        return out
    if out.exists() and not out.is_dir():
        raise RunDirError(f"{out} exists and is not a directory; choose another --out.")
    if out.is_dir() and any(p.name != LOCK for p in out.iterdir()):  # a lock is dealt with by lock()
        holder = lock_holder(out)
        if holder is not None:  # checked before --force deletes anything of a run still being written
            raise RunDirError(f"{out} is being written by process {holder} (lock file {out / LOCK}). Wait for it "
                              "to finish, or choose another --out.")
        if not force:
            raise RunDirError(f"Run directory {out} already exists and is not empty. Use --force to overwrite "
                              f"it, --resume to continue it, or choose another --out.")
        foreign = [p.name for p in out.iterdir() if p.name not in RUN_FILES and p.name not in (BACKUP, LOCK)
                   and not p.name.startswith(".")]
        if foreign or not is_run_dir(out):
            shown = ", ".join(sorted(foreign)[:5]) or "no genorm config.json"
            raise RunDirError(f"Refusing to overwrite {out}: it is not a genorm run directory ({shown}). "
                              "Choose an empty or new --out.")
        for name in RUN_FILES:
            p = out / name
            if p.is_dir():
                shutil.rmtree(p)
            else:
                p.unlink(missing_ok=True)
        shutil.rmtree(out / BACKUP, ignore_errors=True)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunDirError(f"Cannot create the run directory {out}: {exc.strerror or exc}. Choose another "
                          "--out.") from None
    return out


def lock_holder(run_dir: str | os.PathLike) -> int | None:
    """The pid of the process holding ``run_dir/.lock`` (not this one), or None.

    The lock is an ``fcntl.flock`` on the open file: the kernel releases it when its holder
    exits or is killed, so a lock file left behind by a dead process is simply not held.
    """
    path = Path(run_dir) / LOCK
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _lock_pid(fd)
            return None if pid == os.getpid() else (pid if pid > 0 else -1)
        except OSError:  # a file system without flock: trust the pid
            pid = _lock_pid(fd)
            return pid if pid > 0 and pid != os.getpid() and pid_alive(pid) else None
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _lock_pid(fd: int, tries: int = 20) -> int:
    """The pid written in an open lock file; its holder writes it just after locking, so an empty
    file is read again for up to 0.2 s (-1 if it stays unreadable)."""
    import time

    for _ in range(tries):
        try:
            return int(os.pread(fd, 64, 0).split()[0])
        except (OSError, ValueError, IndexError):
            time.sleep(0.01)
    return -1


def discard_unfinished(run_dir: str | os.PathLike, remove_dir: bool = False) -> None:
    """Remove what a fresh run that failed before its first backup wrote (only genorm's files).

    Nothing is removed once ``backup/state.json`` exists: that run can be resumed. With
    ``remove_dir`` the directory itself goes too, if it is left empty. A failed start then
    leaves nothing that blocks the next attempt, and nothing that looks like a run.
    """
    out = Path(run_dir)
    if not out.is_dir() or (out / BACKUP / "state.json").is_file():
        return
    for name in RUN_FILES:
        p = out / name
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
    shutil.rmtree(out / BACKUP, ignore_errors=True)
    if remove_dir:
        with contextlib.suppress(OSError):
            out.rmdir()  # only if empty


@contextlib.contextmanager
def lock(run_dir: str | os.PathLike) -> Iterator[None]:
    """Hold ``run_dir/.lock`` while a run is written: an exclusive ``fcntl.flock`` on the open file.

    The kernel releases the lock when the holder exits, however it dies, so there is no stale
    lock to take over and no check-then-act race between two processes that start at once. The
    file holds the holder's pid and host, for messages; it is removed, still locked, on release.

    Raises:
        RunDirError: another process holds the lock.
    """
    path = Path(run_dir) / LOCK
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _lock_pid(fd)
            os.close(fd)
            who = f"process {pid}" if pid > 0 else "another process"
            raise RunDirError(f"{run_dir} is being written by {who} (lock file {path}). Wait for it to "
                              "finish, or choose another --out.") from None
        except OSError as exc:
            os.close(fd)
            raise RunDirError(f"Cannot lock {path}: {exc.strerror or exc} (the file system does not support "
                              "locks?). Choose another --out.") from None
        try:  # the file may have been removed (released) between our open and our flock: lock the new one
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
    try:
        yield
    finally:
        path.unlink(missing_ok=True)  # still holding the lock: nobody can take the old file meanwhile
        os.close(fd)


# ------------------------------------------------------------------------------------------
# History and curves


def write_history(path: str | os.PathLike, rows: list[dict]) -> None:
    """``history.csv`` from the epoch rows, atomically."""
    import pandas as pd

    with atomic_path(path) as tmp:
        pd.DataFrame(rows).to_csv(tmp, index=False)


def write_curves(path: str | os.PathLike, rows: list[dict], title: str = "") -> None:
    """``curves.png``: bits per base (train, validation) and accuracy per epoch."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    if not rows:
        return
    epochs = [r["epoch"] for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key, label in ((axes[0], "bits", "bits per base"), (axes[1], "accuracy", "accuracy")):
        for prefix, style in (("", "-o"), ("val_", "-s")):
            ys = [r.get(prefix + key, np.nan) for r in rows]
            ax.plot(epochs, ys, style, ms=3, label=("validation" if prefix else "training"))
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)


# ------------------------------------------------------------------------------------------
# Loading


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
            from genorm.training.trainer import load_genome

            from genorm.reading import IN_MEMORY

            if IN_MEMORY in self.fasta_paths:
                raise RunDirError(f"The run in {self.run_dir} was trained on in-memory records: there is no file to "
                                  "re-read its genome (and splits) from. Evaluate on the records themselves, e.g. "
                                  "run.evaluate(records).")
            verify_inputs(self.run_dir, self.provenance)
            _check_config_policy(self.run_dir, self.config, self.provenance)
            genome = load_genome(self.fasta_paths, self.config)
            _check_records(self.run_dir, genome, self.provenance)
            self._genome = genome
        return self._genome

    @property
    def splits(self):
        """The run's :class:`~genorm.splits.Splits`, read from ``splits.bed`` (needs the genome) and
        checked against the split hash in ``provenance.json``."""
        if self._splits is None:
            self._splits = _load_splits(self.run_dir, self.genome, self.config, self.provenance)
        return self._splits

    def stepper(self):
        """A :class:`~genorm.stepper.Stepper` for streaming the model over long sequences."""
        from genorm.stepper import make_stepper

        return make_stepper(self.model, source=str(self.run_dir / MODEL))

    # -- the analysis API (DESIGN.md): thin delegations ------------------------------------
    def predictor(self):
        """A :class:`~genorm.predict.Predictor` over this model (made once)."""
        if getattr(self, "_predictor", None) is None:
            from genorm.predict import Predictor

            self._predictor = Predictor(self.stepper(), policy=self.config.policy())
        return self._predictor

    def predict_proba(self, seq) -> np.ndarray:
        """``(L, 4) float32``: row i is P(base i | bases before i) (see :class:`~genorm.predict.Predictor`)."""
        return self.predictor().predict_proba(seq)

    def score(self, seq) -> float:
        """Log-likelihood of ``seq`` in bits."""
        return self.predictor().score(seq)

    def sample(self, length: int, prime: str = "", temperature: float = 1.0, seed: int | None = None) -> str:
        """A sequence of ``length`` bases drawn from the model after ``prime``."""
        return self.predictor().sample(length, prime=prime, temperature=temperature, seed=seed)

    def evaluate(self, fasta=None, *, split: str = "test", intervals=None, allow_train_overlap: bool = False,
                 **kwargs):
        """A :class:`~genorm.evaluation.evaluate.Report` on the run's ``split`` (default ``"test"``), on custom
        ``intervals`` of the run's genome (a BED path or ``(record, start, end)`` tuples; refused where
        they overlap the training split unless ``allow_train_overlap``), or on whole records of
        ``fasta`` (path(s) or a Genome: explicit files, not the run's split). ``report.meta["targets"]``
        says which. Other ``kwargs`` go to :func:`genorm.evaluation.evaluate.evaluate`."""
        from genorm.evaluation.evaluate import evaluate, run_targets

        targets = run_targets(self, fasta, split=split, intervals=intervals,
                              allow_train_overlap=allow_train_overlap)
        return evaluate(self, targets.genome, targets.intervals, targets=targets, **kwargs)


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
    from genorm.splits import Splits, bed_header

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
    """The :class:`~genorm.training.trainer.TrainConfig` saved in ``run_dir/config.json``."""
    from genorm.errors import ConfigError
    from genorm.config import TrainConfig

    path = Path(run_dir) / CONFIG
    obj = read_json(path, "the run's configuration")
    version = obj.get("format_version")
    if not isinstance(version, int):
        raise RunDirError(f"{path} has no format_version: it was not written by genorm train.")
    if version > FORMAT_VERSION:
        raise RunDirError(f"{path} has format version {version}, newer than this genorm understands "
                          f"({FORMAT_VERSION}); upgrade genorm to read this run.")
    try:
        return TrainConfig.from_dict(obj.get("config", {}))
    except (ConfigError, TypeError) as exc:
        raise RunDirError(f"{path} holds an invalid configuration: {exc}") from None


def load(run_dir: str | os.PathLike) -> LoadedRun:
    """Read a run directory written by :func:`genorm.training.trainer.train`.

    The model is loaded with Keras safe mode: no code from the file is executed.

    Raises:
        RunDirError: the directory, ``model.keras``, ``config.json`` or ``provenance.json`` is
            missing, corrupt, or of a newer format.
    """
    import keras

    import genorm.model  # noqa: F401  (registers the custom layers)

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunDirError(f"Run directory {run_dir} does not exist. Train one with `genorm train GENOME.fa "
                          f"--out {run_dir}`.")
    holder = lock_holder(run_dir)
    if holder is not None and not (run_dir / MODEL).is_file():
        raise RunDirError(f"{run_dir} is still being trained by process {holder} and has no model yet (it is written "
                          "when the first epoch ends). Wait for that epoch, then try again.")
    if holder is not None:
        logger.warning("%s is still being trained by process %d: using the best model saved so far.", run_dir, holder)
    config = read_config(run_dir)
    provenance = read_json(run_dir / PROVENANCE, "inputs, versions and seed")
    model_path = run_dir / MODEL
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

    try:  # streaming inference rebuilds the model from its layers: it must be what config.json describes
        check_model(model, config.model, source=str(model_path), described=f"{CONFIG}'s model")
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
                     fasta_paths=[i["path"] for i in inputs], history=history)


def save_backup(run_dir: Path, model, state: dict, tag: str = "") -> None:
    """Write the resumable state: weights, optimizer variables, and ``state`` (JSON), each atomically.

    The weight files carry ``tag`` (e.g. the epoch) in their names and ``state.json``, written
    last, names them: a process killed half-way leaves the previous, consistent backup in place.
    Files of older backups are removed afterwards.
    """
    backup = Path(run_dir) / BACKUP
    backup.mkdir(exist_ok=True)
    weights, opt_name = f"model{tag}.weights.h5", f"optimizer{tag}.npz"
    with atomic_path(backup / weights, suffix=".weights.h5") as tmp:
        model.save_weights(tmp)
    opt = {f"v{i:04d}": np.asarray(v) for i, v in enumerate(model.optimizer.variables)}
    with atomic_path(backup / opt_name, suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **opt)
    write_json(backup / "state.json", {"format_version": FORMAT_VERSION, "weights": weights, "optimizer": opt_name,
                                       **state})
    for p in backup.iterdir():
        if p.name not in (weights, opt_name, "state.json") and not p.name.startswith("."):
            p.unlink(missing_ok=True)


def backup_epochs(run_dir: str | os.PathLike) -> int:
    """Epochs completed in the resumable backup of ``run_dir`` (0 when there is none or it is unreadable)."""
    path = Path(run_dir) / BACKUP / "state.json"
    try:
        n = read_json(path, "the state to resume from").get("state", {}).get("epochs_done", 0)
    except (RunDirError, AttributeError):
        return 0
    return n if isinstance(n, int) and not isinstance(n, bool) else 0


def _file_name(name: Any, source: Path) -> str:
    """``name`` if it is a plain file name; a path (``../x``, ``/etc/x``) read from ``source`` is refused,
    so that a run directory's files can never point outside it."""
    if not isinstance(name, str) or name in ("", ".", "..") or Path(name).name != name or "\\" in name:
        raise RunDirError(f"{source} names the file {name!r}, which is not a plain file name in its directory: "
                          "the run directory is corrupt or was tampered with; start the run again with --force.")
    return name


def _check_state(state: Any, source: Path) -> None:
    """The training state of a backup: an object whose counters are integers >= 0 and history a list."""
    ok = isinstance(state, dict) and isinstance(state.get("history", []), list) and all(
        isinstance(state.get(k, 0), int) and not isinstance(state.get(k, 0), bool) and state.get(k, 0) >= 0
        for k in ("epochs_done", "batches_done", "bases_done", "best_epoch", "es_wait", "lr_wait"))
    if not ok:
        raise RunDirError(f"{source} is corrupt (its training state is not what genorm writes); the run cannot be "
                          "resumed: start it again with --force.")


def read_backup(run_dir: Path) -> tuple[dict, Callable[[Any], None]]:
    """The saved state dict, and a function that restores weights and optimizer into a compiled model."""
    backup = Path(run_dir) / BACKUP
    state = read_json(backup / "state.json", "the state to resume from")
    version = state.get("format_version", 0)
    if not isinstance(version, int):
        raise RunDirError(f"{backup / 'state.json'} is corrupt (format_version {version!r}); start the run again "
                          "with --force.")
    if version > FORMAT_VERSION:
        raise RunDirError(f"{backup / 'state.json'} is from a newer genorm; upgrade genorm to resume it.")
    _check_state(state.get("state", {}), backup / "state.json")
    weights = backup / _file_name(state.get("weights", "model.weights.h5"), backup / "state.json")
    opt = backup / _file_name(state.get("optimizer", "optimizer.npz"), backup / "state.json")
    for p in (weights, opt):
        if not p.is_file():
            raise RunDirError(f"{p} is missing: the backup is incomplete and the run cannot be resumed; "
                              "start it again with --force.")

    def restore(model) -> None:
        model.optimizer.build(model.trainable_variables)
        try:
            model.load_weights(weights)
            with np.load(opt, allow_pickle=False) as z:
                values = [z[k] for k in sorted(z.files)]
        except Exception as exc:  # h5py / zip / shape errors
            raise RunDirError(f"The backup in {backup} cannot be read ({type(exc).__name__}: {exc}); start the "
                              "run again with --force.") from None
        variables = model.optimizer.variables
        if len(values) != len(variables):
            raise RunDirError(f"The optimizer state in {opt} does not match the model ({len(values)} vs "
                              f"{len(variables)} variables); start the run again with --force.")
        for var, val in zip(variables, values):
            var.assign(val)

    return state, restore


def as_dict(obj) -> dict:
    """A dataclass (nested) as a plain dict."""
    return dataclasses.asdict(obj)
