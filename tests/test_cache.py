"""Tests of genorm.genome.cache and `genorm index`: round trip, memory map, invalidation, atomicity, errors."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from genorm.genome.cache import (
    META_FILE,
    PACKED_FILE,
    cached_genome,
    index_genome,
    load_genome,
    save_genome,
)
from genorm.cli import main
from genorm.encoding import EncodingPolicy
from genorm.errors import CacheError
from genorm.genome.array import Genome, read_genome

FASTA = ">chr1 first\nACGTacgtNN\nRYAC\n>chr2\nGGGG\n>chr3\nttaN\n"


def same(a: Genome, b: Genome) -> None:
    np.testing.assert_array_equal(np.asarray(a.packed), np.asarray(b.packed))
    np.testing.assert_array_equal(a.offsets, b.offsets)
    assert a.names == b.names and a.policy == b.policy
    assert [s.to_dict() for s in a.stats] == [s.to_dict() for s in b.stats]


@pytest.mark.parametrize("mmap", [True, False])
def test_round_trip(tmp_path, mmap):
    g = Genome.from_strings({"a": "ACGTNacgt", "b": "GGRR"})
    save_genome(g, tmp_path / "c")
    back = load_genome(tmp_path / "c", mmap=mmap)
    same(g, back)
    assert isinstance(back.packed, np.memmap) is mmap
    if mmap:
        assert not back.packed.flags.writeable
    assert back.sequence("b") == "GGNN" and back.summary().equals(g.summary())


def test_cached_genome_builds_once_then_memory_maps(write_fasta, caplog):
    fa = write_fasta(FASTA)
    first = index_genome(fa)
    assert first.built and first.path == fa.parent / "x.fa.genorm"
    same(first.genome, read_genome(fa))
    second = index_genome(fa)
    assert not second.built and isinstance(second.genome.packed, np.memmap)
    same(first.genome, second.genome)
    assert sorted(p.name for p in first.path.iterdir()) == ["genome.json", "offsets.npy", "packed.npy"]
    assert [p.name for p in fa.parent.iterdir() if p.name.startswith(".")] == []  # no temporary dirs left


def test_rebuilt_when_fasta_policy_or_records_change(write_fasta):
    fa = write_fasta(FASTA)
    assert index_genome(fa).built
    assert index_genome(fa, records=["chr2"]).built
    assert index_genome(fa, records=["chr2"]).genome.names == ["chr2"]
    assert index_genome(fa, policy=EncodingPolicy(u_as_t=True)).built
    assert not index_genome(fa, policy=EncodingPolicy(u_as_t=True)).built
    fa.write_text(FASTA.replace("GGGG", "GGGGCC"))
    os.utime(fa, ns=(fa.stat().st_atime_ns, fa.stat().st_mtime_ns + 10**9))
    result = index_genome(fa, policy=EncodingPolicy(u_as_t=True))
    assert result.built and result.genome.sequence("chr2") == "GGGGCC"


def test_old_memory_map_survives_a_rebuild(write_fasta):
    fa = write_fasta(FASTA)
    old = cached_genome(fa)
    index_genome(fa, force=True)
    assert old.sequence("chr2") == "GGGG"


def test_explicit_cache_dir(write_fasta, tmp_path):
    fa = write_fasta(FASTA)
    g = cached_genome([fa], cache_dir=tmp_path / "deep" / "cache")
    assert (tmp_path / "deep" / "cache" / PACKED_FILE).is_file() and g.names == ["chr1", "chr2", "chr3"]
    assert not (fa.parent / "x.fa.genorm").exists()


def test_refuses_to_overwrite_a_foreign_directory(write_fasta, tmp_path):
    fa = write_fasta(FASTA)
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(CacheError, match=r"exists and is not a genorm cache; genorm will not overwrite it"):
        cached_genome(fa, cache_dir=foreign)
    assert (foreign / "notes.txt").read_text() == "keep me"


def test_unwritable_default_location_falls_back_to_memory(write_fasta, monkeypatch, caplog):
    fa = write_fasta(FASTA)

    def refuse(*args, **kwargs):
        raise CacheError("Cannot create the genome cache in /nowhere: Permission denied.")

    monkeypatch.setattr("genorm.genome.cache.save_genome", refuse)
    result = index_genome(fa)
    assert result.path is None and result.genome.names == ["chr1", "chr2", "chr3"]
    assert "Continuing without a cache" in caplog.text
    with pytest.raises(CacheError, match="Permission denied"):
        index_genome(fa, cache_dir=fa.parent / "explicit")


def test_damaged_caches(tmp_path):
    g = Genome.from_strings({"a": "ACGT"})
    with pytest.raises(CacheError, match=r"is not a genorm genome cache \(no genome.json\)"):
        load_genome(tmp_path)
    save_genome(g, tmp_path / "c")
    meta = json.loads((tmp_path / "c" / META_FILE).read_text())
    (tmp_path / "c" / META_FILE).write_text(json.dumps({**meta, "version": 99}))
    with pytest.raises(CacheError, match=r"version 99, expected 'genorm-genome-cache' version 1"):
        load_genome(tmp_path / "c")
    (tmp_path / "c" / META_FILE).write_text(json.dumps({**meta, "total_length": 5}))
    with pytest.raises(CacheError, match=r"inconsistent \(4 bases stored, 5 expected\)"):
        load_genome(tmp_path / "c")
    (tmp_path / "c" / META_FILE).write_text("{not json")
    with pytest.raises(CacheError, match=r"unreadable .*delete it and run `genorm index` again"):
        load_genome(tmp_path / "c")


def test_damaged_default_cache_is_rebuilt(write_fasta):
    fa = write_fasta(FASTA)
    path = index_genome(fa).path
    (path / META_FILE).write_text("{broken")
    assert index_genome(fa).built


def test_edited_cache_of_the_same_shape_is_detected_and_rebuilt(write_fasta, caplog, capsys):
    """Issue 23: an edited packed.npy (same shape) was trained on while provenance named the FASTA's hash, and
    `genorm index` called it up to date."""
    fa = write_fasta(FASTA)
    want = read_genome(fa)
    path = index_genome(fa).path
    packed = path / PACKED_FILE
    data = bytearray(packed.read_bytes())
    data[-1] ^= 1  # A <-> C in the last base: same size, same shape, same genome.json
    packed.write_bytes(bytes(data))
    with pytest.raises(CacheError, match=rf"^The genome cache {path} is damaged: packed\.npy is not the file genorm "
                                         r"wrote \(its SHA-256 is [0-9a-f]{16}\.\.\., genome\.json records "
                                         r"[0-9a-f]{16}\.\.\.\); delete it and run `genorm index` again\.$"):
        load_genome(path)
    result = index_genome(fa)
    assert result.built and "is damaged: packed.npy is not the file genorm wrote" in caplog.text
    np.testing.assert_array_equal(np.asarray(result.genome.packed), want.packed)
    data = bytearray(packed.read_bytes())
    data[-1] ^= 1
    packed.write_bytes(bytes(data))
    assert main(["index", str(fa)]) == 0
    assert f"cache: {path} (built)" in capsys.readouterr().out  # not "(up to date)"
    meta = json.loads((path / META_FILE).read_text())
    del meta["content_sha256"]  # a cache of an older genorm: rebuilt, never trusted
    (path / META_FILE).write_text(json.dumps(meta))
    with pytest.raises(CacheError, match=r"records no SHA-256 of its arrays \(written by an older genorm\)"):
        load_genome(path)
    caplog.clear()
    assert index_genome(fa).built and "WARNING" not in caplog.text  # rebuilt once, quietly: it is only out of date


def test_cli_index(write_fasta, tmp_path, capsys):
    fa = write_fasta(FASTA)
    assert main(["index", str(fa), "--cache-dir", str(tmp_path / "c")]) == 0
    out = capsys.readouterr().out
    assert f"cache: {tmp_path / 'c'} (built)" in out and "records: 3; bases: 22;" in out
    assert main(["index", str(fa), "--cache-dir", str(tmp_path / "c")]) == 0
    assert "(up to date)" in capsys.readouterr().out
    assert main(["index", str(fa), "--cache-dir", str(tmp_path / "c"), "--records", "chr3"]) == 0
    assert "(built)" in capsys.readouterr().out and load_genome(tmp_path / "c").names == ["chr3"]


def test_cli_index_errors(write_fasta, tmp_path, capsys):
    assert main(["index", str(tmp_path / "missing.fa")]) == 2
    assert capsys.readouterr().err.startswith("error: ")
    assert main(["index", "-"]) == 2
    assert "Standard input cannot be indexed" in capsys.readouterr().err
    fa = write_fasta(FASTA)
    (tmp_path / "file").write_text("x")
    assert main(["index", str(fa), "--cache-dir", str(tmp_path / "file")]) == 2
    assert "is not a genorm cache" in capsys.readouterr().err
