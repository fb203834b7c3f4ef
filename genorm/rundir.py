"""The run directory: everything needed to reproduce and reuse a training run.

Layout (``FORMAT_VERSION`` 1)::

    run/
      model.keras       best-validation model, Keras 3 format, uncompiled; loaded with safe_mode
      config.json       {"format_version": 1, "config": <TrainConfig.to_dict()>}
      provenance.json   inputs (path, size, sha256), records, split hash, seed, versions, timings
      splits.bed        train / val / test intervals (genorm.genome.splits BED with a sha256 header)
      history.csv       one row per epoch
      baselines.npz     uniform / composition / Markov baselines fitted on the training split
      curves.png        learning curves
      backup/           the state --resume continues from (:mod:`genorm.training.backup` owns what is in it)
      .lock             flock'ed while a process writes the run (holds its pid)

Every file is written atomically (a temporary file in the same directory, then
``os.replace``), so a killed process leaves either the old file or the new one, never half.

This module is storage only: paths and file names, the directory's life cycle (prepare, lock),
reading and writing its files, verifying its inputs. A run read back as a model you can use is
:func:`genorm.trained.load`.
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
from collections.abc import Iterator
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
COUNTS = "counts"
"""The folder of the training split's count tables (:class:`genorm.counts.CountTables`), when the model reads them."""
LOCK = ".lock"
RUN_FILES = (MODEL, CONFIG, PROVENANCE, SPLITS, HISTORY, BASELINES, CURVES, COUNTS, "logs")
"""Names genorm writes in a run directory (``--force`` removes exactly these, plus the backup)."""


BACKUP_DIR = "backup"
"""The folder of a run's resumable backup (:mod:`genorm.training.backup` writes and reads what is in it)."""
BACKUP_STATE = "state.json"
"""The backup's progress file: a backup exists when it does."""


def backup_folder(run_dir: str | os.PathLike) -> Path:
    """The backup folder of ``run_dir``."""
    return Path(run_dir) / BACKUP_DIR


def backup_exists(run_dir: str | os.PathLike) -> bool:
    """True when ``run_dir`` holds a backup to resume from (its ``state.json`` is there)."""
    return (backup_folder(run_dir) / BACKUP_STATE).is_file()


def remove_backup(run_dir: str | os.PathLike) -> None:
    """Delete the backup of ``run_dir`` (if any)."""
    shutil.rmtree(backup_folder(run_dir), ignore_errors=True)


def run_files(run_dir: str | os.PathLike) -> list[Path]:
    """The paths of ``run_dir`` that belong to the run and must never be overwritten by an output:
    the files genorm writes, the lock, the backup folder and each file in it (for
    :func:`genorm.atomic.check_output`'s ``protected``)."""

    root = Path(run_dir)
    if root.is_dir():
        check_readable(root)
    paths = [root / name for name in (*RUN_FILES, LOCK)] + [backup_folder(root)]
    if backup_folder(root).is_dir():
        paths += sorted(p for p in backup_folder(root).iterdir() if p.is_file())
    return paths


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
        try:
            info = file_info(path)
        except OSError as exc:  # another user's genome, unreadable to this one
            raise RunDirError(f"Cannot read {path}, the genome the run {run_dir} was trained on: "
                              f"{(exc.strerror or str(exc)).lower()}{_owner(path)}. The run's split needs it: ask "
                              "its owner for read access, or copy the run and its genome to a place you own.") from None
        got_size, got = info["size"], info["sha256"]
        if (got_size, got) != (want_size, want):
            raise RunDirError(
                f"{path} has changed since the run {run_dir} was trained on it: its SHA-256 is now {got} "
                f"({got_size:,} bytes), but {PROVENANCE} records {want} ({want_size:,} bytes). The run's split, "
                "baselines and model describe the old file. Restore the file the run was trained on, or evaluate "
                f"explicit FASTA files (genorm evaluate {run_dir} FILE.fa), which are reported as not the run's split.")


def save_counts(run_dir: str | os.PathLike, tables) -> dict:
    """Write the count tables into ``<run_dir>/counts/``; their provenance: each file's size and SHA-256."""
    folder = Path(run_dir) / COUNTS
    tables.save(folder)
    from genorm.hashing import sha256_of

    files = {p.name: {"size": p.stat().st_size, "sha256": sha256_of(p)} for p in sorted(folder.iterdir())}
    return {"orders": list(tables.orders), "bytes": tables.nbytes, "files": files}


def load_counts(run_dir: str | os.PathLike, provenance: dict):
    """The run's count tables, memory-mapped, each file checked against ``provenance["counts"]``.

    Raises:
        RunDirError: the folder, a file or its record is missing, or a file changed since training.
    """
    from genorm.counts import CountTables
    from genorm.hashing import sha256_of

    folder = Path(run_dir) / COUNTS
    record = provenance.get("counts")
    if not isinstance(record, dict) or not isinstance(record.get("files"), dict):
        raise RunDirError(f"{Path(run_dir) / PROVENANCE} records no count tables, but the run's model reads them: "
                          "the run is incomplete or its provenance was edited. Train the run again (genorm train ... "
                          "--force).")
    for name, want in record["files"].items():
        path = folder / name
        if not path.is_file():
            raise RunDirError(f"{path} is missing: the run's count tables are incomplete. Train the run again "
                              "(genorm train ... --force).")
        size = path.stat().st_size
        if size != want.get("size") or sha256_of(path) != want.get("sha256"):
            raise RunDirError(f"{path} has changed since training ({size:,} bytes; {PROVENANCE} records "
                              f"{want.get('size')!r} bytes and another SHA-256): the count tables are damaged or were "
                              "replaced. Train the run again (genorm train ... --force).")
    return CountTables.load(folder)


def _owner(path: str | os.PathLike) -> str:
    """`` (it belongs to user id N)`` when another user owns ``path``; else empty."""
    uid = os.stat(path).st_uid if os.path.exists(path) else os.geteuid()
    return f" (it belongs to user id {uid})" if uid != os.geteuid() else ""


def check_readable(run_dir: Path) -> None:
    """A :class:`RunDirError` if this user cannot list and read ``run_dir`` or one of genorm's files in it
    (another user's run): said as such, not as a corrupt file."""
    folders = [run_dir, backup_folder(run_dir)]
    unreadable = next((p for p in folders if p.is_dir() and not os.access(p, os.R_OK | os.X_OK)), None)
    if unreadable is None:
        files = [run_dir / name for name in RUN_FILES] + (sorted(folders[1].iterdir()) if folders[1].is_dir() else [])
        unreadable = next((p for p in files if p.is_file() and not os.access(p, os.R_OK)), None)
    if unreadable is not None:
        shown = f"the run directory {unreadable}" if unreadable == run_dir else str(unreadable)
        raise RunDirError(f"Cannot read {shown}: permission denied{_owner(unreadable)}. Ask the run's owner "
                          "for read access, or copy the run to a directory you own.")


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


def _written_by_genorm(path: Path, key: str) -> bool:
    """True if ``path`` is a small JSON object with genorm's ``format_version`` and ``key``: a file genorm
    wrote, not a user's own file of the same name."""
    try:
        if not path.is_file() or path.stat().st_size > 1 << 24:
            return False
        obj = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(obj, dict) and isinstance(obj.get("format_version"), int) and key in obj


def is_run_dir(path: Path) -> bool:
    """True if genorm's own files identify ``path`` as a run: its ``config.json``, ``provenance.json`` or
    backup ``state.json`` is what genorm writes (a ``config.json`` of the user's is not enough)."""
    return (_written_by_genorm(path / CONFIG, "config") or _written_by_genorm(path / PROVENANCE, "inputs")
            or _written_by_genorm(backup_folder(path) / BACKUP_STATE, "weights"))


def stopped_before_first_epoch(path: Path) -> bool:
    """True for a genorm run killed before its first epoch ended (SIGKILL, power loss): genorm's files
    identify it, but it has neither a model nor a backup, so there is nothing to use or resume."""
    return is_run_dir(path) and not backup_exists(path) and not (path / MODEL).is_file()


def restart_advice(out: Path) -> str:
    """The one piece of advice for a run :func:`stopped_before_first_epoch`: start it again with --force."""
    return (f"The run in {out} stopped before its first epoch ended (it has no model and no backup): there is "
            f"nothing to use or resume. Start it again with the same `genorm train ... --out {out}` command and "
            "--force (which replaces the unfinished run).")


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
        if out.is_dir():
            check_readable(out)
        if not backup_exists(out) and out.is_dir() and lock_holder(out) is None and stopped_before_first_epoch(out):
            raise RunDirError(restart_advice(out))
        if not backup_exists(out):
            raise RunDirError(f"Nothing to resume in {out}: it has no {BACKUP_DIR}/{BACKUP_STATE}. Start a new run "
                              f"(without --resume) or point --out at the interrupted run.")
        return out
    if out.exists() and not out.is_dir():
        raise RunDirError(f"{out} exists and is not a directory; choose another --out.")
    if out.is_dir() and any(p.name != LOCK for p in out.iterdir()):  # a lock is dealt with by lock()
        holder = lock_holder(out)
        if holder is not None:  # checked before --force deletes anything of a run still being written
            raise RunDirError(f"{out} is being written by process {holder} (lock file {out / LOCK}). Wait for it "
                              "to finish, or choose another --out.")
        if not force and stopped_before_first_epoch(out):
            raise RunDirError(restart_advice(out))
        if not force:
            raise RunDirError(f"Run directory {out} already exists and is not empty. Use --force to overwrite "
                              f"it, --resume to continue it, or choose another --out.")
        foreign = [p.name for p in out.iterdir() if p.name not in RUN_FILES and p.name not in (BACKUP_DIR, LOCK)
                   and not p.name.startswith(".")]
        if foreign:
            raise RunDirError(f"Refusing to overwrite {out}: it is not a genorm run directory ("
                              f"{', '.join(sorted(foreign)[:5])}). Choose an empty or new --out.")
        if not is_run_dir(out):
            raise RunDirError(f"Refusing to overwrite {out}: it is not a genorm run directory (none of its "
                              f"{CONFIG}, {PROVENANCE} or {BACKUP_DIR}/{BACKUP_STATE} is one genorm wrote), and "
                              "--force only replaces a genorm run. Choose an empty or new --out.")
        for name in RUN_FILES:
            p = out / name
            if p.is_dir():
                shutil.rmtree(p)
            else:
                p.unlink(missing_ok=True)
        remove_backup(out)
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

    Nothing is removed once a backup exists: that run can be resumed. With
    ``remove_dir`` the directory itself goes too, if it is left empty. A failed start then
    leaves nothing that blocks the next attempt, and nothing that looks like a run.
    """

    out = Path(run_dir)
    if not out.is_dir() or backup_exists(out):
        return
    for name in RUN_FILES:
        p = out / name
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
    remove_backup(out)
    if remove_dir:
        with contextlib.suppress(OSError):
            out.rmdir()  # only if empty


def _open_lock(path: Path) -> int:
    """The lock file, opened (created) for writing; never through a symbolic link, never a directory."""
    import errno
    import stat

    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise RunDirError(f"Cannot read the lock file {path}: {exc.strerror or exc}. Choose another --out.") from None
    if st is not None and not stat.S_ISREG(st.st_mode):
        kind = ("a symbolic link" if stat.S_ISLNK(st.st_mode) else "a directory" if stat.S_ISDIR(st.st_mode)
                else "not a regular file")
        raise RunDirError(f"{path} is {kind}, not the lock file genorm writes; genorm will not lock or remove "
                          f"it. Remove it yourself (rm -r {path}) if no genorm process uses this run, or choose "
                          "another --out.")
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM):
            owner = f" (it belongs to user id {st.st_uid})" if st is not None and st.st_uid != os.geteuid() else ""
            raise RunDirError(f"Cannot open the lock file {path}: permission denied{owner}. If no process of its "
                              "owner is training this run, ask them (or an administrator) to remove it; or choose "
                              "another --out.") from None
        if exc.errno in (errno.ELOOP, errno.EISDIR):  # replaced between the lstat and the open
            raise RunDirError(f"{path} is not the lock file genorm writes (a link or a directory). Remove it, "
                              "or choose another --out.") from None
        raise RunDirError(f"Cannot open the lock file {path}: {exc.strerror or exc}. Choose another "
                          "--out.") from None


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
        fd = _open_lock(path)
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
# The configuration


def read_config_dict(run_dir: str | os.PathLike) -> dict:
    """The training options saved in ``run_dir/config.json`` (a dict for
    :meth:`genorm.config.TrainConfig.from_dict`), after checking the file's format version.

    Raises:
        RunDirError: the file is missing, corrupt, not written by genorm, or of a newer format.
    """
    path = Path(run_dir) / CONFIG
    obj = read_json(path, "the run's configuration")
    version = obj.get("format_version")
    if not isinstance(version, int):
        raise RunDirError(f"{path} has no format_version: it was not written by genorm train.")
    if version > FORMAT_VERSION:
        raise RunDirError(f"{path} has format version {version}, newer than this genorm understands "
                          f"({FORMAT_VERSION}); upgrade genorm to read this run.")
    return obj.get("config", {})


def write_config(run_dir: str | os.PathLike, config) -> None:
    """``config.json``: the run's :class:`~genorm.config.TrainConfig`, with the format version."""
    write_json(Path(run_dir) / CONFIG, {"format_version": FORMAT_VERSION, "config": config.to_dict()})


def as_dict(obj) -> dict:
    """A dataclass (nested) as a plain dict."""
    return dataclasses.asdict(obj)
