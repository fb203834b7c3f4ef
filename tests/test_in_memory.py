"""Records already in memory (genorm.reading.in_memory): SeqRecords, (name, sequence) pairs and mappings, read like files."""

from __future__ import annotations

import io

import numpy as np
import pytest
from Bio import SeqIO
from Bio.Seq import Seq
from Bio.SeqRecord import SeqRecord

import genorm
from genorm.errors import ConfigError, EncodingPolicyError, FastaFormatError, GenormError
from genorm.reading.in_memory import IN_MEMORY, InMemory, as_sources, is_in_memory
from genorm.reading.records import read_fasta

PROTEIN = [SeqRecord(Seq("MKTAYIAKQR"), id="P1.1", name="P1", annotations={"molecule_type": "protein"})]


def _written(fmt: str) -> bytes:
    records = [SeqRecord(Seq("ACGTNNNNACGTTGCA" * 3), id="chrA.1", name="chrA", description="first",
                         annotations={"molecule_type": "DNA"}),
               SeqRecord(Seq("GGGCCCNAT"), id="chrB.2", name="chrB", description="second",
                         annotations={"molecule_type": "DNA"})]
    handle = io.StringIO()
    SeqIO.write(records, handle, fmt)
    return handle.getvalue().encode()


def test_as_sources_tells_records_from_paths_and_handles(tmp_path):
    handle = io.BytesIO(b">a\nAC\n")
    assert as_sources("g.fa") == ["g.fa"] and as_sources(handle) == [handle]
    assert as_sources(["a.fa", tmp_path]) == ["a.fa", tmp_path]
    with pytest.raises(ConfigError, match=r"^Received an invalid value for `sources`, expected at least one path or "
                                          r"record, got \[\]\.$"):  # issue 23: an empty genome, silently
        as_sources([])
    for records in ([("a", "AC")], iter([("a", "AC")]), {"a": "AC"}, [SeqRecord(Seq("AC"), id="a")]):
        (group,) = as_sources(records)
        assert isinstance(group, InMemory) and is_in_memory([group])
        assert [r.name for r in read_fasta(group)] == ["a"]
    assert not is_in_memory(as_sources(["a.fa"])) and IN_MEMORY == "<records>"


def test_seqrecords_and_pairs_are_read_like_files(tmp_path):
    handle = io.StringIO(_written("genbank").decode())
    got = [(r.name, r.sequence) for r in read_fasta(SeqIO.parse(handle, "genbank"))]
    assert got == [("chrA.1", "ACGTNNNNACGTTGCA" * 3), ("chrB.2", "GGGCCCNAT")]
    g = genorm.read_genome([("a", "ACgtR"), ("b", b"NNA"), ("c", Seq("T"))])
    assert g.names == ["a", "b", "c"] and g.sequence(0) == "ACgtN" and g.stats[0].iupac == {"R": 1}
    assert g.sources == [{"path": "<records>", "format": "records", "compression": "none", "size": None}]
    assert genorm.cached_genome([("a", "ACGT")]).names == ["a"]
    assert genorm.read_genome({"x": "AC", "y": "GT"}).names == ["x", "y"]
    from genorm.reading.records import in_memory_provenance

    prov = in_memory_provenance(g)
    assert prov["records"] == [{"name": "a", "length": 5}, {"name": "b", "length": 3}, {"name": "c", "length": 1}]
    assert prov["sha256"] == __import__("hashlib").sha256(bytes(g.packed)).hexdigest()


@pytest.mark.parametrize("items, error, message", [
    ([("a", "AC1")], FastaFormatError, r"<records>, record 'a', base 3: invalid character '1'"),
    ([("a", "ACé")], FastaFormatError, r"<records>, record 'a', base 3: invalid character 'é'"),
    ([("a", "AC"), ("a", "GT")], FastaFormatError, r"<records>, record 2: duplicate record name 'a'"),
    ([("a b", "AC")], FastaFormatError, r"item 1: the record name 'a b' is empty or holds white space"),
    ([("a", 5)], FastaFormatError, r"record 'a': expected the sequence as a str, bytes or Bio.Seq.Seq, got int"),
    ([SeqRecord(Seq(None, length=10), id="u")], FastaFormatError, r"record 'u': the entry has no sequence"),
    (PROTEIN, FastaFormatError, r"record 'P1.1': is a protein entry"),
    ([("a", "ACU")], EncodingPolicyError, r"Found 'U' in <records>, record 'a', base 3"),
])
def test_in_memory_record_errors(items, error, message):
    with pytest.raises(error, match=message):
        list(read_fasta(items))


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["seqio", "pairs"])
def test_train_and_evaluate_on_in_memory_records(tmp_path, kind):
    import json

    from genorm.model import ModelConfig
    from genorm.training.trainer import TrainConfig

    rng = np.random.default_rng(0)
    seqs = {"r1": "".join(rng.choice(list("ACGT"), 3000)), "r2": "ACGTTGCA" * 250}
    if kind == "seqio":
        handle = io.StringIO()
        SeqIO.write([SeqRecord(Seq(s), id=n, description="", annotations={"molecule_type": "DNA"})
                     for n, s in seqs.items()], handle, "genbank")
        handle.seek(0)
        source = SeqIO.parse(handle, "genbank")
    else:
        source = iter(seqs.items())
    config = TrainConfig(model=ModelConfig(cell="gru", units=8, layers=1), window=24, batch_size=8, epochs=1,
                         bases_per_epoch=8 * 24 * 4, max_val_bases=500, seed=1, baselines=False,
                         context_orders=())
    run = genorm.train(source, config, out_dir=tmp_path / "run")
    prov = json.loads((tmp_path / "run" / "provenance.json").read_text())
    (inp,) = prov["inputs"]
    genome = genorm.read_genome(list(seqs.items()))
    assert inp["path"] == "<records>" and inp["kind"] == "in-memory records"
    assert inp["records"] == [{"name": "r1", "length": 3000}, {"name": "r2", "length": 2000}]
    assert inp["sha256"] == __import__("hashlib").sha256(bytes(genome.packed)).hexdigest()
    report = genorm.evaluate(run.model, list(seqs.items()))
    row = report.summary.iloc[0]
    assert row["bases"] == 5000 and 0.0 <= row["accuracy"] <= 1.0
    loaded = genorm.load(tmp_path / "run")
    assert loaded.evaluate([("r2", seqs["r2"])]).summary.iloc[0]["bases"] == 2000
    with pytest.raises(GenormError, match=r"trained on in-memory records: there is no file to re-read"):
        loaded.genome
