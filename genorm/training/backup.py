"""The resumable backup of a run, both ways (the pattern of Keras' ``BackupAndRestore``).

Layout, inside the run directory::

    backup/
      model.eN.weights.h5   the weights after epoch N
      optimizer.eN.npz      the optimizer variables after epoch N
      state.json            {"format_version": 1, "weights": ..., "optimizer": ..., "state": TrainingState}

``state.json`` is written last and names the two weight files, so a process killed half-way
leaves the previous, consistent backup in place; files of older backups are removed afterwards.
This module is the only one that spells these names: the trainer saves through :class:`Backup`
and restores through :func:`read`, the command line asks :func:`resumable_epochs`.

Everything a resumed run needs to continue exactly as an uninterrupted one is in
:class:`TrainingState` (plain numbers, JSON) plus the model and optimizer variables.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np

from genorm.atomic import atomic_path, atomic_write_text
from genorm.errors import RunDirError

FORMAT_VERSION = 1
from genorm.rundir import BACKUP_DIR as DIR, BACKUP_STATE as STATE  # noqa: E402  (the run directory's layout)


@dataclass
class TrainingState:
    """What a run has done so far; saved with every backup, restored by ``--resume``.

    Attributes:
        epochs_done: epochs ended, a partial one (the time budget stopped it) included; the run's budget is
            in batches (``epochs`` × steps per epoch), so a resumed run still trains the batches it missed.
        batches_done: training batches consumed; the stream resumes at this batch number.
        bases_done: input bases trained on (batches × batch size × window).
        best: best validation bits per base so far (inf before the first).
        best_epoch: the epoch (1-based) that reached ``best``; 0 before the first.
        es_wait: epochs since the last improvement (early stopping).
        lr_wait: epochs since the last improvement or learning-rate cut.
        learning_rate: the current learning rate.
        history: one dict per epoch (the rows of ``history.csv``).
        stopped: why training ended: "" while running, "epochs", "early_stopping", "time_budget",
            "nan", "interrupted".
        train_seconds: seconds spent in ``fit`` over all invocations.
    """

    epochs_done: int = 0
    batches_done: int = 0
    bases_done: int = 0
    best: float = math.inf
    best_epoch: int = 0
    es_wait: int = 0
    lr_wait: int = 0
    learning_rate: float = 0.0
    history: list[dict] = field(default_factory=list)
    stopped: str = ""
    train_seconds: float = 0.0

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["best"] = None if math.isinf(self.best) else self.best
        return d

    @classmethod
    def from_dict(cls, d: dict) -> TrainingState:
        d = dict(d)
        d["best"] = math.inf if d.get("best") is None else float(d["best"])
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def assign(self, other: TrainingState) -> None:
        """Make this state (shared by the callbacks) equal to ``other``."""
        for f in dataclasses.fields(TrainingState):
            setattr(self, f.name, getattr(other, f.name))


# ------------------------------------------------------------------------------------------
# The files


from genorm.rundir import backup_exists as exists, backup_folder as folder, remove_backup as remove  # noqa: E402


def copy(src_run: str | os.PathLike, dst_run: str | os.PathLike) -> None:
    """Copy the backup of ``src_run`` (if any) into ``dst_run`` (a worker's scratch run directory)."""
    if folder(src_run).is_dir():
        shutil.copytree(folder(src_run), folder(dst_run))


def _write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2) + "\n")


def _read_json(path: Path) -> dict:
    from genorm.jsonio import read_json_file

    if not path.is_file():
        raise RunDirError(f"{path} is missing: {path.parent.parent} is not a complete genorm run directory "
                          "(the state to resume from).")
    return read_json_file(path, str(path), RunDirError, expect=dict,
                          hint="The run directory is corrupt; re-run `genorm train` to recreate the run.")


def save(run_dir: str | os.PathLike, model, state: TrainingState) -> None:
    """Write the resumable state of epoch ``state.epochs_done``: weights, optimizer variables, then
    ``state.json`` naming them, each atomically; then remove the files of older backups."""
    backup = folder(run_dir)
    backup.mkdir(exist_ok=True)
    tag = f".e{state.epochs_done}"
    weights, opt_name = f"model{tag}.weights.h5", f"optimizer{tag}.npz"
    with atomic_path(backup / weights, suffix=".weights.h5") as tmp:
        model.save_weights(tmp)
    opt = {f"v{i:04d}": np.asarray(v) for i, v in enumerate(model.optimizer.variables)}
    with atomic_path(backup / opt_name, suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **opt)
    _write_json(backup / STATE, {"format_version": FORMAT_VERSION, "weights": weights, "optimizer": opt_name,
                                 "state": state.to_dict()})
    for p in backup.iterdir():
        if p.name not in (weights, opt_name, STATE) and not p.name.startswith("."):
            p.unlink(missing_ok=True)


def mark_stopped(run_dir: str | os.PathLike, stopped: str) -> None:
    """Record why training ended in the backup's state (nothing when there is no backup)."""
    path = folder(run_dir) / STATE
    if path.is_file():
        saved = _read_json(path)
        if isinstance(saved.get("state"), dict):  # a state of another shape is reported by read()
            saved["state"]["stopped"] = stopped
            _write_json(path, saved)


def resumable_epochs(run_dir: str | os.PathLike) -> int:
    """Epochs completed in the resumable backup of ``run_dir`` (0 when there is none or it is unreadable)."""
    try:
        n = _read_json(folder(run_dir) / STATE).get("state", {}).get("epochs_done", 0)
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


def _restorer(backup: Path, weights: Path, opt: Path) -> Callable[[Any], None]:
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

    return restore


def read(run_dir: str | os.PathLike) -> tuple[TrainingState, Callable[[Any], None]]:
    """The saved :class:`TrainingState`, and a function that restores weights and optimizer into a
    compiled model.

    Raises:
        RunDirError: ``state.json`` is missing, corrupt, from a newer genorm, or names a file that is
            missing or not a plain file name.
    """
    backup = folder(run_dir)
    source = backup / STATE
    saved = _read_json(source)
    version = saved.get("format_version", 0)
    if not isinstance(version, int):
        raise RunDirError(f"{source} is corrupt (format_version {version!r}); start the run again with --force.")
    if version > FORMAT_VERSION:
        raise RunDirError(f"{source} is from a newer genorm; upgrade genorm to resume it.")
    lacking = [key for key in ("weights", "optimizer", "state") if key not in saved]
    if lacking:  # the wrong shape: not a missing weights file
        raise RunDirError(f"{source} is corrupt: it lacks {', '.join(repr(k) for k in lacking)} (its keys: "
                          f"{', '.join(map(repr, list(saved)[:8])) or 'none'}), so it is not the training state genorm "
                          "writes; the run cannot be resumed: start it again with --force.")
    _check_state(saved["state"], source)
    weights = backup / _file_name(saved["weights"], source)
    opt = backup / _file_name(saved["optimizer"], source)
    for p in (weights, opt):
        if not p.is_file():
            raise RunDirError(f"{p} is missing: the backup is incomplete and the run cannot be resumed; "
                              "start it again with --force.")
    return TrainingState.from_dict(saved.get("state", {})), _restorer(backup, weights, opt)


# ------------------------------------------------------------------------------------------
# The callback


class Backup(keras.callbacks.Callback):
    """Records each epoch in the history and saves the resumable state in ``run_dir``'s backup.

    ``after_save()`` runs after each backup (the trainer writes ``history.csv`` there: it never
    lists an epoch the backup does not hold). :meth:`rollback` puts the shared
    :class:`TrainingState` back to what the backup on disk holds, so that after an interrupt or
    a failed write (even one inside :func:`save`) the messages, ``history.csv`` and provenance
    describe what ``--resume`` will actually continue from.
    """

    def __init__(self, state: TrainingState, bases_per_batch: int, run_dir: str | os.PathLike, clock_start: float,
                 after_save: Callable[[], None] | None = None):
        super().__init__()
        self.state = state
        self.bases_per_batch = bases_per_batch
        self.run_dir = Path(run_dir)
        self.after_save = after_save
        self._clock_start = clock_start
        self._epoch_batches = 0
        self._epoch_start = 0.0
        self._saved = state.to_dict()  # the state the backup on disk holds

    def on_train_begin(self, logs=None):
        self._saved = self.state.to_dict()

    def rollback(self) -> int:
        """Make the state the one of the last complete backup (unless the last save completed after all);
        returns its number of epochs."""
        if resumable_epochs(self.run_dir) == self.state.epochs_done:
            return self.state.epochs_done  # the backup of the current state is on disk
        self.state.assign(TrainingState.from_dict(self._saved))
        return self.state.epochs_done

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_batches = 0
        self._epoch_start = time.monotonic()

    def on_train_batch_end(self, batch, logs=None):
        self._epoch_batches += 1

    def on_epoch_end(self, epoch, logs=None):
        s = self.state
        logs = logs or {}
        seconds = time.monotonic() - self._epoch_start
        s.epochs_done = epoch + 1
        s.batches_done += self._epoch_batches
        s.bases_done += self._epoch_batches * self.bases_per_batch
        row = {"epoch": epoch + 1, "steps": self._epoch_batches, "bases": s.bases_done}
        for key in ("loss", "accuracy", "bits", "val_loss", "val_accuracy", "val_bits"):
            if key in logs:
                row[key] = float(logs[key])
        row["learning_rate"] = float(logs.get("learning_rate", s.learning_rate))
        row["seconds"] = round(seconds, 3)
        s.history.append(row)
        s.train_seconds += seconds
        save(self.run_dir, self.model, s)
        if self.after_save is not None:
            self.after_save()
        self._saved = s.to_dict()
