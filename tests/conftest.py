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
