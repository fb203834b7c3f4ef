"""genorm.hashing: a file's SHA-256, remembered while the file is unchanged."""

import hashlib
import os

import pytest

from genorm import hashing


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("GENORM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(hashing, "RACY_NS", 0)  # the test's files are written just before they are hashed
    return tmp_path / "cache"


def test_sha256_of_is_the_files_sha256_and_is_remembered(tmp_path, cache_dir):
    path = tmp_path / "g.fa"
    path.write_bytes(b">a\nACGT\n")
    assert hashing.sha256_of(path) == hashlib.sha256(b">a\nACGT\n").hexdigest()
    assert hashing.cache_file().is_file()
    assert hashing.sha256_of(path) == hashlib.sha256(b">a\nACGT\n").hexdigest()


def test_a_same_size_edit_with_its_mtime_restored_is_hashed_again(tmp_path, cache_dir):
    path = tmp_path / "g.fa"
    path.write_bytes(b">a\nACGT\n")
    hashing.sha256_of(path)
    before = path.stat()
    path.write_bytes(b">a\nTTTT\n")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # the ctime still moves: the remembered hash is not used
    assert hashing.sha256_of(path) == hashlib.sha256(b">a\nTTTT\n").hexdigest()


def test_cache_off(monkeypatch):
    monkeypatch.setenv("GENORM_CACHE", "off")
    assert hashing.cache_file() is None
