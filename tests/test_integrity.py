"""Run directory integrity: a run's inputs, split and configuration are checked against its
provenance on every load, the genome cache is keyed on content, and custom intervals are labelled.

Each case is a row of docs/robustness.md ("Run directory integrity").
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from genorm import hashing
from genorm.genome.cache import META_FILE, index_genome, load_genome
from genorm.errors import CacheError, ConfigError, RunDirError, SplitError
from genorm.genome.array import Genome
from genorm.genome.splits import Interval, Splits, make_splits, overlap_bases, read_intervals

# records named like BED header lines: `browser x` is the record `browser` (the name is the first word)
NAMES = ["track_1", "#1", "browser"]


def _seqs(seed: int = 5) -> dict[str, str]:
    rng = np.random.default_rng(seed)
    return {name: "".join(rng.choice(list("ACGT"), size=n)) for name, n in zip(NAMES, (2500, 2000, 1500))}


def _fasta_text(seqs: dict[str, str]) -> str:
    return "".join(f">{name}{' x' if name == 'browser' else ''}\n{seq}\n" for name, seq in seqs.items())


@pytest.fixture(scope="module")
def base_run(tmp_path_factory):
    """train -> a run on records named `track_1`, `#1`, `browser x` (tiny model, few bases)."""
    from genorm.config import ModelConfig, TrainConfig
    from genorm.training.trainer import train

    root = tmp_path_factory.mktemp("integrity")
    fasta = root / "g.fa"
    fasta.write_text(_fasta_text(_seqs()))
    cfg = TrainConfig(model=ModelConfig(units=8, layers=1), window=20, batch_size=8, epochs=1, bases_per_epoch=400,
                      context_orders=())
    train([str(fasta)], cfg, out_dir=root / "run")
    return root / "run", fasta


@pytest.fixture
def run(base_run, tmp_path):
    """A copy of the run and of its FASTA, its provenance pointing at the copy (free to edit)."""
    src_run, src_fasta = base_run
    fasta = tmp_path / "g.fa"
    shutil.copy2(src_fasta, fasta)
    run_dir = tmp_path / "run"
    shutil.copytree(src_run, run_dir)
    prov = json.loads((run_dir / "provenance.json").read_text())
    prov["inputs"][0]["path"] = str(fasta)
    (run_dir / "provenance.json").write_text(json.dumps(prov))
    return run_dir, fasta


def cli(capsys, *argv) -> tuple[int, str, str]:
    from genorm.cli import main

    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def one_error(rc: int, err: str, *needles: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("error: "), err
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"
    return lines[0]


# ------------------------------------------------------------------------------------------
# item 3: records named like BED header lines, end to end


def test_train_then_evaluate_records_named_like_bed_headers(base_run, capsys, tmp_path):
    run_dir, _ = base_run
    first = (run_dir / "splits.bed").read_text().splitlines()[0]
    assert first.startswith("# genorm-splits-v2 window=20 ")
    out = tmp_path / "r.json"
    rc, text, err = cli(capsys, "evaluate", run_dir, "-o", out)
    assert rc == 0, err
    assert "of the test split of" in text and "(the run's held-out split)" in text
    report = json.loads(out.read_text())
    assert report["meta"]["targets"]["kind"] == "split" and report["meta"]["targets"]["run_split"] is True
    model_rows = [r for r in report["per_record"] if r["predictor"] == "model"]
    assert [r["record"] for r in model_rows] == NAMES  # no record's test bases lost
    from genorm.trained import load

    splits = load(run_dir).splits
    assert report["summary"][0]["bases"] == splits.bases()["test"]
    assert {splits.names[iv.record] for iv in splits.test} == set(NAMES)


def test_split_file_layout_is_unambiguous(tmp_path):
    g = Genome.from_strings({name: "ACGT" * 250 for name in NAMES})
    s = make_splits(g, window=10)
    path = tmp_path / "s.bed"
    s.to_bed(path)
    back = Splits.from_bed(path, g)
    assert (back.train, back.val, back.test) == (s.train, s.val, s.test)
    # an old (v1) run directory: the same layout under the old name still loads
    path.write_text(path.read_text().replace("genorm-splits-v2", "genorm-splits-v1", 1))
    assert Splits.from_bed(path, g).sha256() == s.sha256()


def test_foreign_bed_header_line_that_is_also_an_interval_is_an_error(tmp_path):
    g = Genome.from_strings({"track_1": "ACGT" * 100, "chr": "ACGT" * 100})
    path = tmp_path / "mine.bed"
    path.write_text("track_1\t0\t50\n")
    with pytest.raises(SplitError, match=r"mine.bed, line 1: 'track_1\\t0\\t50' could be a BED header line or an "
                                         r"interval of record 'track_1'; BED cannot tell them apart. Make line 1 "
                                         r"of the file '# genorm-intervals-v1'"):
        read_intervals(path, g)
    path.write_text("# genorm-intervals-v1\ntrack_1\t0\t50\n#1\t0\t5\n")
    with pytest.raises(SplitError, match=r"line 3: record '#1' is not in the genome"):
        read_intervals(path, g)
    path.write_text("track name=x\n#comment\nchr\t0\t10\ntrack_1\t0\t50\n")  # after the first interval: intervals
    assert read_intervals(path, g) == [Interval(0, 0, 50), Interval(1, 0, 10)]


@pytest.mark.parametrize("text, match", [
    ("", r"holds no intervals"),
    ("a\t0\t50\na\t40\t60\n", r"line 1 and line 2: intervals 0-50 and 40-60 of record 'a' overlap"),
    ("a\t0\t500\n", r"line 1: interval 0-500 is not inside record 'a' of length 400"),
    ("a\t0\n", r"line 1: expected 3 columns \(record, start, end\), got 2"),
])
def test_custom_interval_file_errors(tmp_path, text, match):
    path = tmp_path / "i.bed"
    path.write_text(text)
    with pytest.raises(SplitError, match=match):
        read_intervals(path, Genome.from_strings({"a": "ACGT" * 100}))


def test_overlap_bases():
    assert overlap_bases([(0, 0, 100), (1, 5, 10)], [Interval(0, 50, 200), Interval(1, 0, 6)]) == 51
    assert overlap_bases([(0, 0, 10)], [Interval(1, 0, 10)]) == 0


# ------------------------------------------------------------------------------------------
# item 1: the genome changed since training


def test_changed_genome_is_refused(run, capsys):
    run_dir, fasta = run
    want = json.loads((run_dir / "provenance.json").read_text())["inputs"][0]["sha256"]
    fasta.write_text(_fasta_text(_seqs(seed=6)))  # same names and lengths, other bases
    got = hashing.sha256_of(fasta)
    rc, _, err = cli(capsys, "evaluate", run_dir)
    one_error(rc, err, f"{fasta} has changed since the run", f"its SHA-256 is now {got}", f"records {want}",
              "Restore the file the run was trained on", "not the run's split")
    import genorm

    with pytest.raises(RunDirError, match=r"has changed since the run .* Restore the file"):
        genorm.load(run_dir).evaluate()


def test_explicit_fasta_is_reported_as_not_the_run_split(run, capsys, tmp_path):
    run_dir, fasta = run
    other = tmp_path / "other.fa"
    other.write_text(_fasta_text(_seqs(seed=6)))
    fasta.write_text(">changed\nACGT\n")  # the run's own input changed: explicit files are still allowed
    out = tmp_path / "r.json"
    rc, text, err = cli(capsys, "evaluate", run_dir, other, "-o", out)
    assert rc == 0, err
    # issue 23: explicit records are compared with the training genome; here it is gone, and the report says so
    label = f"3 record(s) of {other} (explicit files, NOT the run's split; not compared with the training genome, " \
            "which cannot be re-read)"
    assert label in text
    assert json.loads(out.read_text())["meta"]["targets"] == {
        "kind": "files", "run_split": False, "description": label, "train_overlap_bases": 0}


# ------------------------------------------------------------------------------------------
# item 2: the split was edited; custom intervals, honestly labelled


def _edit_split(run_dir: Path, keep_hash: bool) -> None:
    path = run_dir / "splits.bed"
    lines = path.read_text().splitlines()
    if not keep_hash:
        lines[0] = " ".join(w for w in lines[0].split(" ") if not w.startswith("sha256="))
    name, a, b, split = lines[1].split("\t")
    lines[1] = "\t".join([name, a, str(int(b) - 100), split])  # train shortened: still a consistent split
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("keep_hash, needles", [
    (True, ["do not match the sha256 in its header", "Restore the file genorm train wrote", "--intervals FILE.bed"]),
    (False, ["is not the split the run was trained with", "in provenance.json", "Restore it",
             "--intervals FILE.bed", "custom intervals, not the run's split"]),
])
def test_edited_split_is_refused_without_a_way_around(run, capsys, keep_hash, needles):
    run_dir, _ = run
    _edit_split(run_dir, keep_hash)
    rc, _, err = cli(capsys, "evaluate", run_dir)
    line = one_error(rc, err, "splits.bed", *needles)
    assert "Remove" not in line and "delete" not in line.lower()


def test_custom_intervals_overlapping_training_are_refused(run, capsys, tmp_path):
    run_dir, _ = run
    from genorm.trained import load

    train0 = load(run_dir).splits.train[0]  # track_1 0-...
    bed = tmp_path / "mine.bed"
    bed.write_text(f"# genorm-intervals-v1\ntrack_1\t{train0.end - 30}\t{train0.end + 10}\n")  # 30 in train
    rc, _, err = cli(capsys, "evaluate", run_dir, "--intervals", bed)
    one_error(rc, err, f"30 of the 40 bases of the custom intervals ({bed}) lie in the training split",
              "--allow-train-overlap")
    with pytest.raises(ConfigError, match=r"30 of the 40 bases of the custom intervals"):
        load(run_dir).evaluate(intervals=bed)
    out = tmp_path / "r.json"
    rc, text, err = cli(capsys, "evaluate", run_dir, "--intervals", bed, "--allow-train-overlap", "-o", out)
    assert rc == 0, err
    assert f"custom intervals ({bed}) of the run's genome (NOT the run's split; 30 of its bases in the training " \
           "split)" in text
    meta = json.loads(out.read_text())["meta"]["targets"]
    assert (meta["kind"], meta["run_split"], meta["train_overlap_bases"]) == ("intervals", False, 30)


def test_custom_intervals_outside_training(run, capsys, tmp_path):
    run_dir, _ = run
    from genorm.trained import load

    loaded = load(run_dir)
    test0 = loaded.splits.test[0]
    bed = tmp_path / "held_out.bed"
    bed.write_text(f"# genorm-intervals-v1\n{NAMES[test0.record]}\t{test0.start}\t{test0.end}\n")
    rc, text, err = cli(capsys, "evaluate", run_dir, "--intervals", bed)
    assert rc == 0, err
    assert f"evaluated {test0.length:,} bases of custom intervals ({bed})" in text
    report = loaded.evaluate(intervals=[(test0.record, test0.start, test0.end)])
    assert report.meta["targets"]["kind"] == "intervals" and int(report.summary.bases[0]) == test0.length
    import genorm.evaluation.evaluate

    assert genorm.evaluation.evaluate.evaluate(loaded, intervals=bed).meta["targets"]["train_overlap_bases"] == 0
    rc, _, err = cli(capsys, "evaluate", run_dir, run_dir.parent / "g.fa", "--intervals", bed)
    one_error(rc, err, "Received both FASTA files and `intervals`")


# ------------------------------------------------------------------------------------------
# item 5: an edited config.json is blamed on config.json, not on splits.bed


@pytest.mark.parametrize("edit, needles", [
    ({"window": 30}, ["config.json says window 30, but the run was trained with window 20", "config.json was edited",
                      'Restore "window": 20']),
    ({"records": ["track_1"]}, ["config.json does not describe the run", "give 1 record(s) (track_1)",
                                "trained on 3", "config.json was edited"]),
    ({"iupac": "error"}, ["config.json does not describe the run: its encoding policy", "config.json was edited"]),
])
def test_edited_config_is_blamed_on_config(run, capsys, edit, needles):
    run_dir, _ = run
    path = run_dir / "config.json"
    obj = json.loads(path.read_text())
    obj["config"].update(edit)
    path.write_text(json.dumps(obj))
    rc, _, err = cli(capsys, "evaluate", run_dir)
    line = one_error(rc, err, str(path), *needles)
    assert "splits.bed" not in line.split("(")[0]


# ------------------------------------------------------------------------------------------
# the file-hash cache (item 1's "hash once") and the genome cache (item 7)


@pytest.fixture
def hash_store(tmp_path, monkeypatch):
    store = tmp_path / "hcache"
    monkeypatch.setenv("GENORM_CACHE", str(store))
    return store / hashing.HASHES_FILE


def _count_hashing(monkeypatch) -> list:
    calls = []
    real = hashing._hash

    def counting(path):
        calls.append(path)
        return real(path)

    monkeypatch.setattr(hashing, "_hash", counting)
    return calls


def test_hash_is_remembered_until_the_file_changes(tmp_path, hash_store, monkeypatch):
    fa = tmp_path / "a.fa"
    fa.write_text(">a\nACGT\n")
    calls = _count_hashing(monkeypatch)
    first = hashing.sha256_of(fa)
    assert hashing.sha256_of(fa) == first and len(calls) == 2  # just written (racily clean): hashed again
    monkeypatch.setattr(hashing, "RACY_NS", 0)
    hashing.sha256_of(fa)
    assert hashing.sha256_of(fa) == first and len(calls) == 3  # remembered
    assert json.loads(hash_store.read_text())["files"][str(fa.resolve())]["sha256"] == first
    time.sleep(0.05)  # past the file system's timestamp granularity
    mtime = fa.stat().st_mtime_ns
    fa.write_text(">a\nACGA\n")  # same size, mtime restored: only ctime tells
    os.utime(fa, ns=(mtime, mtime))
    assert hashing.sha256_of(fa) != first and len(calls) == 4


@pytest.mark.parametrize("content", ["not json{", "[1, 2]", '{"format": "genorm-file-hashes-v1", "files": [1]}',
                                     '{"format": "genorm-file-hashes-v1", "files": {"X": {"sha256": 5}}}'])
def test_corrupt_hash_cache_is_ignored(tmp_path, hash_store, monkeypatch, content):
    monkeypatch.setattr(hashing, "RACY_NS", 0)
    fa = tmp_path / "a.fa"
    fa.write_text(">a\nACGT\n")
    hash_store.parent.mkdir(parents=True)
    hash_store.write_text(content.replace("X", str(fa.resolve())))
    assert hashing.sha256_of(fa) == "ec93753459551ffadb17f616d5e6bd45de641c045083fac84c4fa223987b232b"
    assert json.loads(hash_store.read_text())["format"] == hashing.FORMAT  # rewritten whole


def test_hash_cache_location(tmp_path, monkeypatch):
    monkeypatch.delenv("GENORM_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert hashing.cache_file() == tmp_path / "xdg" / "genorm" / "file-hashes.json"
    monkeypatch.setenv("GENORM_CACHE", "off")
    assert hashing.cache_file() is None
    monkeypatch.setenv("GENORM_CACHE", str(tmp_path / "g"))
    assert hashing.cache_file() == tmp_path / "g" / "file-hashes.json"


def test_genome_cache_is_not_served_stale_after_a_same_size_edit(tmp_path, hash_store, monkeypatch):
    monkeypatch.setattr(hashing, "RACY_NS", 0)  # the file's hash is remembered, as on a real machine
    fa = tmp_path / "g.fa"
    fa.write_text(">a\nACGTACGT\n")
    assert index_genome(fa).built
    assert not index_genome(fa).built
    time.sleep(0.05)
    st = fa.stat()
    fa.write_text(">a\nTTTTACGT\n")
    os.utime(fa, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert fa.stat().st_size == st.st_size and fa.stat().st_mtime_ns == st.st_mtime_ns
    again = index_genome(fa)
    assert again.built and again.genome.sequence("a") == "TTTTACGT"


@pytest.mark.parametrize("meta, match", [
    ([1, 2], r"genome.json holds a JSON list, not an object"),
    ({"names": "ab"}, r"not what genorm writes"),
    ({"stats": [{"bogus": 1}]}, r"not what genorm writes"),
    ({"policy": None}, r"not what genorm writes"),
])
def test_cache_meta_of_the_wrong_shape(tmp_path, meta, match):
    fa = tmp_path / "g.fa"
    fa.write_text(">a\nACGT\n>b\nGG\n")
    path = index_genome(fa).path
    good = json.loads((path / META_FILE).read_text())
    (path / META_FILE).write_text(json.dumps(meta if isinstance(meta, list) else {**good, **meta}))
    with pytest.raises(CacheError, match=match):
        load_genome(path)
    rebuilt = index_genome(fa)
    assert rebuilt.built and rebuilt.genome.names == ["a", "b"]


@pytest.mark.parametrize("data", [b"\x1f\x8b\x08\x00" + bytes(range(128, 200)), b"\x87\x89\xf2\xeb" + bytes(200)])
def test_a_binary_intervals_file_is_not_told_to_be_recreated_by_train(tmp_path, data):
    """issue 23: a binary --intervals file (bed.gz, bigBed) was told "re-create it (genorm train writes splits.bed)"."""
    g = Genome.from_strings({"chr": "ACGT" * 100})
    path = tmp_path / "mine.bed.gz"
    path.write_bytes(data)
    with pytest.raises(SplitError, match=r"Intervals file '.*mine.bed.gz' is not a text BED file \(.*\); give a text "
                                         r"BED file of lines 'record<TAB>start<TAB>end' \(0-based, half-open\); a "
                                         r"compressed or binary file \(bigBed, .bed.gz\) must be converted first") as err:
        read_intervals(path, g)
    assert "genorm train" not in str(err.value)
