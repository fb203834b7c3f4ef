"""genorm.cli.evaluate: `genorm evaluate` (the end-to-end cases on a trained run are in tests/test_evaluate.py)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from genorm.cli import build_parser, main
from genorm.cli.evaluate import _report_kind, cmd_evaluate
from genorm.errors import ConfigError


@pytest.mark.parametrize("path, kind", [(None, None), ("-", "json"), ("r.JSON", "json"), ("out/r.tsv", "tsv")])
def test_report_kind_from_the_output_name(path, kind):
    assert _report_kind(path) == kind


def test_report_kind_refuses_other_names():
    with pytest.raises(ConfigError, match=r"^--output 'r\.csv': expected a file name ending in \.json or \.tsv\.$"):
        _report_kind("r.csv")


@pytest.mark.parametrize("flags, message", [
    (["--warmup", "-1"], r"^--warmup must be 0 or more bases, got -1\.$"),
    (["--warmup", "5", "--context", "window"], r"^--warmup and --context window exclude each other: choose one\.$"),
    (["--no-adapt", "--adapt-lr", "0.1"], r"^--adapt-lr applies only to adaptive evaluation: add --adapt \(adapt=True\), or leave it "
                            r"out\.$"),
    (["--adapt", "--adapt-lr", "-1"], r"^Received an invalid value for `adapt\.learning_rate`, expected a number "
                                      r"in \[0, 10\], got -1\.0\.$"),
    # issue 23: 3.4e38 printed accuracy inf and bits NaN, exit 0
    (["--adapt", "--adapt-lr", "3.4e38"], r"^Received an invalid value for `adapt\.learning_rate`, expected a number "
                                          r"in \[0, 10\], got 3\.4e\+38\.$"),
    # issue 23: options silently ignored
    (["x.fa", "--split", "val"], r"^--split val chooses the run's own split; with FASTA files it would be ignored"),
    (["--split", "test", "--intervals", "x.bed"], r"^--split test chooses the run's own split; with --intervals it "
                                                  r"would be ignored \(those are scored instead\)\. Leave --split out, "
                                                  r"or leave out --intervals\.$"),
    (["--segment", "50"], r"^--segment applies only with --warmup \(segments are the lanes of warm-up evaluation; "
                          r"exact streaming reads each interval in one lane\)\. Add --warmup BASES, or leave "
                          r"--segment out\.$"),
    (["--iupac", "error"], r"^--iupac error applies only to FASTA files given to evaluate; the run's own split is "
                           r"read as the run was trained \(its config\.json\), so it would be ignored\. Leave it "
                           r"out, or give FASTA files\.$"),
    (["--u-as-t", "--intervals", "x.bed"], r"^--u-as-t applies only to FASTA files given to evaluate; --intervals of "
                                           r"the run's genome is read as the run was trained"),
    (["--iupac", "error", "--u-as-t", "--format", "2bit"], r"^--iupac error, --u-as-t, --format apply only to FASTA "
                                                           r"files given to evaluate; .* so they would be ignored\. Leave them out"),
    (["--allow-train-overlap"], r"^--allow-train-overlap applies to --intervals or FASTA files that hold training "
                                r"bases; the run's own split never does: leave it out, or give the intervals or files "
                                r"to score\.$"),
])
def test_option_conflicts_fail_before_the_run_is_read(tmp_path, flags, message):
    args = build_parser().parse_args(["evaluate", str(tmp_path / "no_run"), *flags])
    with pytest.raises(ConfigError, match=message):
        cmd_evaluate(args)


@pytest.fixture(scope="module")
def run_without_baselines(tmp_path_factory):
    from genorm.config import ModelConfig, TrainConfig
    from genorm.training.trainer import train

    root = tmp_path_factory.mktemp("cli_evaluate")
    rng = np.random.default_rng(3)
    fasta = root / "g.fa"
    fasta.write_text(">chr1\n" + "".join(rng.choice(list("ACGT"), size=3000)) + "\n")
    cfg = TrainConfig(model=ModelConfig(units=8, layers=1), window=20, batch_size=8, epochs=1, bases_per_epoch=400, context_orders=(),
                      baselines=False)
    train([str(fasta)], cfg, out_dir=root / "run")
    return root / "run"


def test_missing_baselines_are_fitted_with_a_note(run_without_baselines, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(run_without_baselines, run)
    assert not (run / "baselines.npz").exists()
    assert main(["evaluate", str(run), "-o", "-"]) == 0
    out, err = capsys.readouterr()
    assert f"note: {run / 'baselines.npz'} is missing; fitting the baselines on the run's training split" in err
    assert "markov k=" in err and "evaluated " in err  # the printed report goes to stderr with -o -
    report = json.loads(out)
    assert report["meta"]["targets"]["kind"] == "split" and report["meta"]["markov_order"] is not None
    assert main(["-q", "evaluate", str(run), "-o", str(tmp_path / "r.json")]) == 0
    assert "note:" not in capsys.readouterr().err


def test_adapt_shows_static_and_adaptive_rows_and_leaves_the_model_unchanged(run_without_baselines, tmp_path, capsys):
    import hashlib

    from genorm.trained import load

    run = tmp_path / "run"
    shutil.copytree(run_without_baselines, run)
    digest = hashlib.sha256((run / "model.keras").read_bytes()).hexdigest()
    weights = load(run).model.get_weights()
    out = tmp_path / "r.json"
    assert main(["evaluate", str(run), "--adapt", "--adapt-chunk", "40", "--adapt-lr", "0.05", "--adapt-optimizer",
                 "adam", "--adapt-lanes", "2", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "model: static (exact); " in printed and " bases/s" in printed
    assert "model+adapt: adaptive: adam lr 0.05, one step every 40 bases, 2 lane(s) per interval" in printed
    summary = printed.split("\n\n")[2].splitlines()
    assert [line.split()[0] for line in summary[1:3]] == ["model", "model+adapt"]
    assert printed.count("model+adapt") >= 1 + 1 + 4  # the modes line, the summary and the per-nucleotide table
    meta = json.loads(out.read_text())["meta"]
    assert meta["adapt"]["chunk"] == 40 and set(meta["bases_per_second"]) == {"model", "model+adapt"}
    assert hashlib.sha256((run / "model.keras").read_bytes()).hexdigest() == digest
    assert all(np.array_equal(a, b) for a, b in zip(load(run).model.get_weights(), weights))


def test_adapt_refuses_the_window_context(run_without_baselines, capsys):
    from cli_checks import assert_one_error

    rc = main(["evaluate", str(run_without_baselines), "--adapt", "--context", "window"])
    assert_one_error(rc, capsys.readouterr().err, "--adapt and --context window exclude each other")


def test_no_adapt_output_is_unchanged(run_without_baselines, capsys):
    assert main(["evaluate", str(run_without_baselines), "--no-adapt"]) == 0
    printed = capsys.readouterr().out
    assert "model+adapt" not in printed and "bases/s" not in printed


def test_evaluate_adapts_only_when_asked(run_without_baselines, capsys):
    from genorm.evaluation.adapt import DEFAULT_ADAPT

    assert DEFAULT_ADAPT is False  # costs 2x for less than 1 % on validation over the counts (README)
    assert main(["evaluate", str(run_without_baselines)]) == 0
    assert "model+adapt" not in capsys.readouterr().out
    assert main(["evaluate", str(run_without_baselines), "--adapt"]) == 0
    printed = capsys.readouterr().out
    summary = printed.split("\n\n")[2].splitlines()
    assert [line.split()[0] for line in summary[1:3]] == ["model", "model+adapt"]
    assert "model+adapt: adaptive: sgd lr 0.03, one step every 50 bases" in printed
