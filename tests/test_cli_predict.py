"""genorm.cli.predict: `genorm predict`, `score` and `generate` on a tiny trained run."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from genorm.cli import main


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    from genorm.config import ModelConfig, TrainConfig
    from genorm.training.trainer import train

    root = tmp_path_factory.mktemp("predict")
    rng = np.random.default_rng(5)
    fasta = root / "g.fa"
    fasta.write_text(">chr1\n" + "".join(rng.choice(list("ACGT"), size=3000)) + "\n")
    cfg = TrainConfig(model=ModelConfig(units=8, layers=1), window=20, batch_size=8, epochs=1, bases_per_epoch=400,
                      context_orders=())
    train([str(fasta)], cfg, out_dir=root / "run")
    return root / "run"


def test_cli_predict_bedgraph_and_tsv(tiny_run, tmp_path, capsys):
    from genorm.trained import load

    fa = tmp_path / "q.fa"
    fa.write_text(">q1 a query\nACGTNNAC\n>q2\nGGT\n")
    bg = tmp_path / "q.bedgraph"
    assert main(["predict", str(tiny_run), str(fa), "-o", str(bg)]) == 0
    assert "wrote bedgraph predictions for 11 bases" in capsys.readouterr().out
    rows = [line.split("\t") for line in bg.read_text().splitlines()[1:]]
    assert [(r[0], int(r[1]), int(r[2])) for r in rows] == [
        ("q1", 0, 1), ("q1", 1, 2), ("q1", 2, 3), ("q1", 3, 4), ("q1", 6, 7), ("q1", 7, 8),
        ("q2", 0, 1), ("q2", 1, 2), ("q2", 2, 3)]
    expected = -load(tiny_run).predictor().log2_probs("GGT")
    np.testing.assert_allclose([float(r[3]) for r in rows[-3:]], expected, rtol=1e-5)
    tsv = tmp_path / "q.tsv"
    assert main(["predict", str(tiny_run), str(fa), "-o", str(tsv), "--records", "q2"]) == 0
    lines = tsv.read_text().splitlines()
    assert len(lines) == 4 and lines[1].startswith("q2\t0\tG\t")
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary file left behind


def test_cli_score_and_generate(tiny_run, tmp_path, capsys):

    fa = tmp_path / "q.fa"
    fa.write_text(">a\nACGTACGT\n>b\nNNGG\n")
    out = tmp_path / "scores.tsv"
    assert main(["score", str(tiny_run), str(fa), "-o", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert lines[0].split("\t") == ["record", "length", "bases_scored", "log2_likelihood", "bits_per_base"]
    assert [line.split("\t")[:3] for line in lines[1:]] == [["a", "8", "8"], ["b", "4", "2"]]
    capsys.readouterr()
    assert main(["generate", str(tiny_run), "--length", "70", "--prime", "ACG", "--seed", "4"]) == 0
    first = capsys.readouterr().out
    assert main(["generate", str(tiny_run), "--length", "70", "--prime", "ACG", "--seed", "4", "-o", str(tmp_path / "s.fa")]) == 0
    header, *seq = first.splitlines()
    assert header.startswith(">genorm_sample length=70") and [len(s) for s in seq] == [60, 10]
    assert (tmp_path / "s.fa").read_text() == first


@pytest.mark.parametrize("args, message", [
    (["generate", "{run}", "--length", "5", "--prime", "MKV*"], r"^error: prime: Invalid character '\*' at position 4"),
    (["generate", "{run}", "--length", "5", "--temperature", "-2"], r"^error: Received an invalid value for `temperature`"),
    (["score", "{missing}", "{fasta}"], r"^error: Run directory .*missing does not exist"),
    (["predict", "{run}", "{fasta}", "-o", "{out}", "--records", "nope"], r"^error: Record\(s\) not found: nope"),
])
def test_cli_errors(tiny_run, tmp_path, capsys, args, message):
    import re


    fa = tmp_path / "q.fa"
    fa.write_text(">a\nACGT\n")
    out = tmp_path / "o.tsv"
    argv = [a.format(run=tiny_run, missing=tmp_path / "missing", fasta=fa, out=out) for a in args]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and re.search(message, err), err
    assert not out.exists()


def test_cli_predict_bigwig(tiny_run, tmp_path, capsys, monkeypatch):
    pybigtools = pytest.importorskip("pybigtools")

    fa = tmp_path / "q.fa"
    fa.write_text(">q2\nGGT\n>q1\nACGTNNAC\n")
    out = tmp_path / "q.bw"
    assert main(["predict", str(tiny_run), str(fa), "-o", str(out)]) == 0
    assert "wrote bigwig predictions for 11 bases" in capsys.readouterr().out
    assert pybigtools.open(str(out)).chroms() == {"q1": 8, "q2": 3}
    monkeypatch.setitem(sys.modules, "pybigtools", None)
    assert main(["predict", str(tiny_run), str(fa), "-o", str(tmp_path / "y.bigwig")]) == 2
    assert "pip install genorm[tracks]" in capsys.readouterr().err


def test_cli_generate_rejects_a_bad_record_name_before_loading(tmp_path, capsys):
    # --name is checked before the run is read: a missing run directory does not hide the message
    assert main(["generate", str(tmp_path / "missing"), "--length", "5", "--name", "a b"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "--name" in err and len(err.strip().splitlines()) == 1


def test_cli_predict_format_flag_overrides_the_extension(tiny_run, tmp_path, capsys):
    fa = tmp_path / "q.fa"
    fa.write_text(">q\nACGT\n")
    out = tmp_path / "q.bedgraph"
    assert main(["predict", str(tiny_run), str(fa), "-o", str(out), "--format", "tsv"]) == 0
    assert "wrote tsv predictions for 4 bases" in capsys.readouterr().out
    assert out.read_text().startswith("record\tposition\tbase")


def test_cli_score_and_predict_adapt(tiny_run, tmp_path, capsys):
    import hashlib

    fa = tmp_path / "q.fa"
    fa.write_text(">a\n" + "ACGGTCATTG" * 30 + "\n>b\nNNGG\n")
    digest = hashlib.sha256((tiny_run / "model.keras").read_bytes()).hexdigest()
    static, adapted = tmp_path / "static.tsv", tmp_path / "adapt.tsv"
    assert main(["score", str(tiny_run), str(fa), "-o", str(static)]) == 0
    assert main(["score", str(tiny_run), str(fa), "-o", str(adapted), "--adapt", "--adapt-chunk", "10",
                 "--adapt-lr", "0.05", "--adapt-optimizer", "adam", "--adapt-lanes", "1"]) == 0
    rows = lambda path: [line.split("\t") for line in path.read_text().splitlines()[1:]]  # noqa: E731
    assert [r[:3] for r in rows(adapted)] == [r[:3] for r in rows(static)] == [["a", "300", "300"], ["b", "4", "2"]]
    assert float(rows(adapted)[0][4]) < float(rows(static)[0][4]) - 0.2  # the repeat is learnt while read
    tsv = tmp_path / "p.tsv"
    assert main(["predict", str(tiny_run), str(fa), "-o", str(tsv), "--adapt", "--adapt-chunk", "10"]) == 0
    assert len(tsv.read_text().splitlines()) == 1 + 304
    assert hashlib.sha256((tiny_run / "model.keras").read_bytes()).hexdigest() == digest
    capsys.readouterr()
    assert main(["score", str(tiny_run), str(fa), "--adapt-chunk", "10"]) == 2
    assert capsys.readouterr().err.strip() == ("error: --adapt-chunk applies only to adaptive evaluation: add --adapt "
                                              "(adapt=True), or leave it out.")
