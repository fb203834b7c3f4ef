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
    cfg = TrainConfig(model=ModelConfig(units=8, layers=1), window=20, batch_size=8, epochs=1, bases_per_epoch=400,
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
