"""Evaluation: golden numbers from models whose answers are known by hand; exact streaming."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest

from genorm.baselines import fit_baselines, markov_scores
from genorm.encoding import string_to_codes
from genorm.errors import ConfigError
from genorm.evaluation.evaluate import evaluate
from genorm.genome.array import Genome
from steppers import P_CONST, ConstantStepper, ElmanStepper, LastTwoStepper

GENOME = {"a": "ACGTacgtNNTTGCAAAT", "b": "GGGGCnT", "c": "T"}


def test_constant_model_golden():
    g = Genome.from_strings(GENOME)
    rep = evaluate(ConstantStepper(), g, [(0, 0, 18), (1, 0, 7), (2, 0, 1)], batch_size=2, chunk=4)
    seq = "".join(GENOME.values()).upper().replace("N", "")
    counts = {b: seq.count(b) for b in "ACGT"}
    n = len(seq)
    model = rep.summary.iloc[0]
    assert model["predictor"] == "model" and model["bases"] == n == 23
    assert model["accuracy"] == pytest.approx(counts["T"] / n)  # the most probable base is T
    assert model["top2_accuracy"] == pytest.approx((counts["G"] + counts["T"]) / n)
    bits = -sum(counts[b] * math.log2(p) for b, p in zip("ACGT", P_CONST)) / n
    assert model["bits_per_base"] == pytest.approx(bits)
    assert model["perplexity"] == pytest.approx(2 ** bits)
    uni = rep.summary.set_index("predictor").loc["uniform"]
    assert (uni["accuracy"], uni["top2_accuracy"], uni["bits_per_base"]) == (0.25, 0.5, 2.0)
    pn = rep.per_nucleotide[rep.per_nucleotide.predictor == "model"].set_index("base")
    assert pn["count"].to_dict() == counts
    assert pn["recall"].to_dict() == {"A": 0.0, "C": 0.0, "G": 0.0, "T": 1.0}
    assert pn.loc["T", "precision"] == pytest.approx(counts["T"] / n)
    assert pn.loc["A", "mean_p_true"] == pytest.approx(0.1)
    conf = rep.confusion[rep.confusion.predictor == "model"].set_index("true")
    assert conf["pred_T"].to_dict() == {b: float(c) for b, c in counts.items()}
    assert conf[["pred_A", "pred_C", "pred_G"]].to_numpy().sum() == 0


def test_per_record_and_mask_rows_add_up_to_total():
    g = Genome.from_strings(GENOME)
    b = fit_baselines(g, train=[(0, 0, 18)], val=[(1, 0, 7)], max_order=2)
    rep = evaluate(ElmanStepper(), g, [(0, 2, 18), (1, 0, 7), (2, 0, 1)], baselines=b)
    assert list(rep.summary.predictor) == ["model", "uniform", "composition", f"markov k={b.order}"]
    for table in (rep.per_record, rep.by_mask):
        for pred, rows in table.groupby("predictor"):
            total = rep.summary.set_index("predictor").loc[pred]
            assert rows["bases"].sum() == total["bases"]
            for col in ("accuracy", "bits_per_base", "top2_accuracy"):
                assert (rows[col] * rows["bases"]).sum() / rows["bases"].sum() == pytest.approx(total[col])
    assert rep.per_record[rep.per_record.predictor == "model"].record.tolist() == ["a", "b", "c"]
    masked = rep.by_mask.set_index(["mask", "predictor"]).loc[("soft-masked", "model"), "bases"]
    assert masked == 4  # acgt at positions 4..7 of record a (b's 'n' is N, never a target)
    prof = rep.profile[rep.profile.predictor == "model"]
    assert prof.bases.sum() == rep.summary.bases[0]


def test_n_is_never_a_target():
    g = Genome.from_strings({"x": "NNNNACGTNNNN", "y": "NNN"})
    rep = evaluate(ConstantStepper(), g, [(0, 0, 12), (1, 0, 3)])
    assert rep.summary.bases.tolist() == [4, 4]
    assert rep.per_record.record.unique().tolist() == ["x"]


def test_markov_row_matches_markov_scores():
    g = Genome.from_strings({"x": "ACGTTGCAACGGTTACAATTGGCC" * 20})
    b = fit_baselines(g, train=[(0, 0, 300)], val=[(0, 300, 400)], max_order=3)
    rep = evaluate(ConstantStepper(), g, [(0, 400, 480)], baselines=b)
    (s,) = markov_scores(b.tables, [string_to_codes(g.sequence(0)[400:480])], [b.order])
    row = rep.summary.set_index("predictor").loc[f"markov k={b.order}"]
    assert row["bits_per_base"] == pytest.approx(s["bits_per_base"])
    assert row["accuracy"] == pytest.approx(s["accuracy"])


def test_window_mode_in_the_report():
    g = Genome.from_strings({"x": "ACGTACGTACGT"})
    rep = evaluate(LastTwoStepper(), g, [(0, 0, 12)], window=5)
    assert rep.meta["mode"] == "window" and rep.meta["lanes"] == 3


@pytest.mark.parametrize("kwargs, match", [
    ({"intervals": [(0, 0, 5), (0, 3, 8)]}, r"overlap: each base must be scored once"),
    ({"intervals": [(0, 0, 50)]}, r"outside record 'a' of length 18"),
    ({"intervals": [(7, 0, 5)]}, r"record index 7, but the genome has 3 records"),
    ({"warmup": 10, "window": 5}, "Received both `warmup` and `window`"),
    ({"warmup": -1}, "`warmup`, expected an integer >= 0, got -1"),
    ({"batch_size": 0}, "`batch_size`, expected a positive integer, got 0"),
])
def test_errors(kwargs, match):
    g = Genome.from_strings(GENOME)
    kwargs = {"intervals": [(0, 0, 18)], **kwargs}
    with pytest.raises(ConfigError, match=match):
        evaluate(ConstantStepper(), g, **kwargs)


def test_keras_model_evaluates_every_non_n_base():
    from genorm.model import ModelConfig, build_model

    model = build_model(ModelConfig(cell="gru", units=8, layers=1))
    codes = np.random.default_rng(2).choice(5, p=[.24, .24, .24, .24, .04], size=300).astype(np.uint8)
    g = Genome.from_strings({"x": "".join("ACGTN"[c] for c in codes)})
    rep = evaluate(model, g, [(0, 0, 300)], chunk=37)
    assert rep.summary.bases[0] == int((codes < 4).sum())


# ------------------------------------------------------------------------------------------
# the command line, on a tiny trained run


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    from genorm.config import ModelConfig, TrainConfig
    from genorm.training.trainer import train

    root = tmp_path_factory.mktemp("run")
    rng = np.random.default_rng(3)
    seqs = {"chr1": "".join(rng.choice(list("ACGT"), size=3000)),
            "chr2": "".join(rng.choice(list("ACGTacgt"), size=2000))}
    fasta = root / "g.fa"
    fasta.write_text("".join(f">{k}\n{v}\n" for k, v in seqs.items()))
    cfg = TrainConfig(model=ModelConfig(units=8, layers=1), window=20, batch_size=8, epochs=1, bases_per_epoch=400,
                      context_orders=())
    train([str(fasta)], cfg, out_dir=root / "run")
    return root / "run", fasta


def test_cli_evaluate_run_split(tiny_run, tmp_path, capsys):
    from genorm.cli import main
    from genorm.trained import load

    run_dir, _ = tiny_run
    out, png = tmp_path / "report.json", tmp_path / "report.png"
    assert main(["evaluate", str(run_dir), "--output", str(out), "--plot", str(png), "--chunk", "50", "--no-adapt"]) == 0
    text = capsys.readouterr().out
    assert "exact streaming" in text and "markov k=" in text and "per record:" in text
    data = json.loads(out.read_text())
    run = load(run_dir)
    assert data["summary"][0]["bases"] == sum(iv.end - iv.start for iv in run.splits.test)
    assert png.stat().st_size > 10_000
    # the Python API on the loaded run picks up its baselines.npz and gives the same numbers
    rep = evaluate(run, run.genome, run.splits.test)
    assert rep.summary.predictor.tolist() == [row["predictor"] for row in data["summary"]]
    assert rep.summary.bits_per_base.tolist() == pytest.approx([row["bits_per_base"] for row in data["summary"]])
    if hasattr(run, "evaluate"):  # LoadedRun.evaluate delegates here
        assert run.evaluate().summary.bits_per_base.tolist() == pytest.approx(rep.summary.bits_per_base.tolist())
    # warm-up lanes and window mode run too; val split
    assert main(["evaluate", str(run_dir), "--split", "val", "--warmup", "10", "--segment", "30",
                 "-o", str(tmp_path / "r.tsv")]) == 0
    assert "warm-up lanes (10 bases of warm-up" in capsys.readouterr().out
    assert main(["evaluate", str(run_dir), "--context", "window"]) == 0
    assert "context limited to windows of 20 bases" in capsys.readouterr().out
    assert main(["evaluate", str(run_dir), "--records", "chr2"]) == 0
    n_chr2 = sum(iv.end - iv.start for iv in run.splits.test if iv.record == 1)
    assert f"evaluated {n_chr2:,} bases" in capsys.readouterr().out
    assert main(["evaluate", str(run_dir), "--records", "chrX"]) == 2
    assert "No record named 'chrX'" in capsys.readouterr().err


def test_cli_evaluate_fasta_and_errors(tiny_run, tmp_path, capsys):
    from genorm.cli import main

    run_dir, fasta = tiny_run
    assert main(["evaluate", str(run_dir), str(fasta)]) == 2  # issue 23: the run's own training FASTA
    assert "bases the run in" in capsys.readouterr().err
    assert main(["evaluate", str(run_dir), str(fasta), "--allow-train-overlap"]) == 0
    assert re.search(r"evaluated 5,000 bases of 2 record\(s\) of .* \(explicit files, NOT the run's split; [\d,]+ of "
                     r"its bases in the training split\)", capsys.readouterr().out)
    assert main(["evaluate", str(run_dir), "-o", str(tmp_path / "r.csv")]) == 2
    assert "expected a file name ending in .json or .tsv" in capsys.readouterr().err
    assert main(["evaluate", str(run_dir), "--warmup", "5", "--context", "window"]) == 2
    assert "exclude each other" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_evaluate_fasta_path_whole_records(write_fasta):
    path = write_fasta(">x\nTTTGA\n>y\nNNT\n")
    rep = evaluate(ConstantStepper(), str(path))
    assert rep.summary.bases.tolist() == [6, 6]
    assert rep.summary.accuracy[0] == pytest.approx(4 / 6)
    assert rep.per_record[rep.per_record.predictor == "model"].bases.tolist() == [5, 1]


# ------------------------------------------------------------------------------------------
# evaluate_run: the one definition of "evaluate a run"


def test_evaluate_run_fits_missing_baselines_and_says_so(tiny_run, tmp_path):
    import shutil

    from genorm.evaluation.evaluate import evaluate_run
    from genorm.trained import load
    from genorm.rundir import BASELINES

    run_dir, _ = tiny_run
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    with_file = evaluate_run(load(copy), chunk=50)
    (copy / BASELINES).unlink()
    notes = []
    rep = evaluate_run(load(copy), chunk=50, on_note=notes.append)
    assert notes == [f"{copy / BASELINES} is missing; fitting the baselines on the run's training split"]
    assert not (copy / BASELINES).exists()  # fitted for this report only
    assert rep.summary.predictor.tolist() == with_file.summary.predictor.tolist()
    assert rep.summary.bits_per_base.tolist() == pytest.approx(with_file.summary.bits_per_base.tolist())
    assert rep.description == f"the test split of {copy} (the run's held-out split)"
    assert rep.meta["targets"]["run_split"] and rep.meta["mode"] == "exact"


def test_evaluate_run_window_context_and_errors(tiny_run):
    from genorm.evaluation.evaluate import evaluate_run
    from genorm.trained import load

    run = load(tiny_run[0])
    notes = []
    rep = evaluate_run(run, split="val", context="window", chunk=50, on_note=notes.append)
    assert rep.meta["mode"] == "window" and rep.meta["window"] == run.config.window == 20 and notes == []
    assert rep.summary.bases[0] == sum(iv.end - iv.start for iv in run.splits.val)
    assert rep.description.startswith("the val split of")
    with pytest.raises(ConfigError, match=r"`context`, expected one of full, window, got 'windows'"):
        evaluate_run(run, context="windows")
    with pytest.raises(ConfigError, match=r"--warmup and --context window\) exclude each other"):
        evaluate_run(run, warmup=5, context="window")
    with pytest.raises(ConfigError, match=r"`warmup`, expected an integer >= 0, got -1"):
        evaluate_run(run, warmup=-1)
