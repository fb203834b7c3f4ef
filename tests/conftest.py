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
