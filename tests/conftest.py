"""Shared fixtures: small sequences and the bundled sample data."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# the file-hash cache (genorm.hashing) of the tests: never the user's ~/.cache
os.environ["GENORM_CACHE"] = tempfile.mkdtemp(prefix="genorm-test-cache-")

SAMPLE_DATA = Path(__file__).resolve().parent.parent / "sample_data"

from genorm.config import ModelConfig, TrainConfig  # noqa: E402  (light: no TensorFlow)

TINY_TRAIN = TrainConfig(model=ModelConfig(cell="gru", units=12, layers=1), window=24, batch_size=16, epochs=3,
                         bases_per_epoch=16 * 24 * 6, learning_rate=1e-2, max_val_bases=2000, seed=3, context_orders=())
"""A training configuration that learns ``periodic_fasta`` in seconds (the plain network: count models are
tested in tests/test_context.py)."""


@pytest.fixture(scope="session")
def periodic_fasta(tmp_path_factory):
    """One record of ``ACGTTGCA`` repeated: a tiny model learns it in a few epochs."""
    path = tmp_path_factory.mktemp("data") / "periodic.fa"
    path.write_text(">periodic\n" + "ACGTTGCA" * 600 + "\n")
    return path


@pytest.fixture(scope="session")
def trained(periodic_fasta, tmp_path_factory):
    """A run of ``TINY_TRAIN`` for 6 epochs on ``periodic_fasta`` (trained once per session; do not modify)."""
    from genorm.training.trainer import train

    return train([periodic_fasta], TINY_TRAIN.replace(epochs=6), out_dir=tmp_path_factory.mktemp("runs") / "run")


@pytest.fixture(scope="session")
def tiny_cli_run(tmp_path_factory) -> Path:
    """``genorm train`` as a real process: the lambda sample, ``tests/test_faults_run.py``'s ``TINY`` options.
    Trained once per session for the fault suites (do not modify: copy it)."""
    from tests import test_faults_run as driver

    out = tmp_path_factory.mktemp("cli_run") / "run"
    done = driver.genorm("train", driver.LAMBDA, "--out", out, *driver.TINY, timeout=300)
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture
def sample_data() -> Path:
    return SAMPLE_DATA


@pytest.fixture
def write_fasta(tmp_path):
    """Write bytes or text to a file in tmp_path and return its path."""

    def _write(content: bytes | str, name: str = "x.fa") -> Path:
        path = tmp_path / name
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        return path

    return _write


HOLD_LOCK = r"""
import fcntl, os, socket, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
fcntl.flock(fd, fcntl.LOCK_EX)
os.ftruncate(fd, 0)
os.pwrite(fd, f"{os.getpid()} {sys.argv[2]}\n".encode(), 0)
print("locked", flush=True)
time.sleep(120)
"""


@pytest.fixture
def hold_lock():
    """``hold_lock(run_dir, host="otherhost") -> pid``: a live process holding ``run_dir/.lock`` (flock), as
    genorm's run lock does; killed at the end of the test."""
    import subprocess
    import sys

    procs = []

    def _hold(run_dir, host: str = "otherhost") -> int:
        proc = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(Path(run_dir) / ".lock"), host],
                                stdout=subprocess.PIPE, text=True)
        procs.append(proc)
        assert proc.stdout.readline().strip() == "locked"
        return proc.pid

    yield _hold
    for proc in procs:
        proc.kill()
        proc.wait()
