"""genorm.cli.train: the training options come from TrainConfig (types, defaults, help), layered as documented."""

from __future__ import annotations

import dataclasses
import json
import os

import pytest

from genorm.cli import build_parser
from genorm.cli.train import TRAIN_OPTIONS, default_out, field_docs, train_config_from_args, train_fields
from genorm.config import ModelConfig, TrainConfig


def _args(argv):
    return build_parser().parse_args(["train", "g.fa", *argv])


def test_every_config_field_is_documented_once_in_plain_text():
    docs = {**field_docs(ModelConfig), **field_docs(TrainConfig)}
    fields = [f.name for cls in (ModelConfig, TrainConfig) for f in dataclasses.fields(cls)]
    assert set(docs) == set(fields)
    for name, text in docs.items():
        assert text and "``" not in text and ":func:" not in text and not text.endswith("."), name
        assert "Default " not in text and "(default" not in text, name
    assert docs["window"] == "input window length L in bases (>= 2)"
    assert docs["model"] == "the architecture (ModelConfig, default GRU 2×128)"  # "(ModelConfig" is not a default


def test_flags_take_type_default_and_help_from_the_config():
    fields = train_fields()
    flagged = [name for _, options in TRAIN_OPTIONS for _, name in options]
    assert len(flagged) == len(set(flagged)) and set(flagged) <= set(fields)
    assert fields["units"][:2] == (int, 128) and fields["rc_augment"][:2] == (bool, False)
    assert fields["val_records"][0] == "names" and fields["max_time"][0] is str
    text = " ".join(build_parser()._subparsers._group_actions[0].choices["train"].format_help().split())
    assert "hidden units per recurrent layer (default: 128)" in text
    assert "--val-records NAMES" in text and "record names that go whole into validation" in text


def test_options_are_layered_defaults_config_file_flags(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"units": 64, "window": 50}))
    config = train_config_from_args(_args(["--config", str(path), "--window", "30", "--val-records", "b, c",
                                           "--rc-augment", "--no-baselines"]))
    assert config.model.units == 64 and config.window == 30 and config.val_records == ("b", "c")
    assert config.rc_augment is True and config.baselines is False and config.epochs == TrainConfig().epochs


def test_bad_config_file_names_the_file(tmp_path):
    from genorm.errors import ConfigError

    path = tmp_path / "c.json"
    path.write_text("{units: 3")
    with pytest.raises(ConfigError, match=r"--config .*c\.json"):
        train_config_from_args(_args(["--config", str(path)]))


@pytest.mark.parametrize("argv, config, message", [
    # issue 23: options that were silently ignored
    (["--walk", "10"], None, r"^--walk 10 applies only to stateful training \(how many windows a row walks before "
                             r"its state is reset\): add --tbptt, or leave --walk out\.$"),
    (["--walk", "10", "--no-tbptt"], {"tbptt": True}, r"^--walk 10 applies only to stateful training"),
    ([], '{"units": 8, "epochs": 2, "units": 64}', r"^--config .*c\.json has the key 'units' twice in one object: "
                                                     r"only one value would be used, silently\. Keep one\.$"),
])
def test_options_that_would_be_ignored_are_errors(tmp_path, argv, config, message):
    from genorm.errors import ConfigError

    if config is not None:
        (tmp_path / "c.json").write_text(config if isinstance(config, str) else json.dumps(config))
        argv = [*argv, "--config", str(tmp_path / "c.json")]
    with pytest.raises(ConfigError, match=message):
        train_config_from_args(_args(argv))
    assert train_config_from_args(_args(["--walk", "10", "--tbptt"])).walk == 10


@pytest.mark.parametrize("fasta, out", [("data/ecoli.fna.gz", "runs/ecoli"), ("x.fa", "runs/x"),
                                        ("g.fasta.bgz", "runs/g"), (".fa", "runs/genome")])
def test_default_run_directory(fasta, out):
    assert default_out(fasta) == out.replace("/", os.sep)


def test_summary_of_a_worker_and_of_a_time_budget(capsys):
    from genorm.cli.train import _print_summary

    _print_summary({"is_chief": False, "epochs": 2, "bases_trained": 1000}, TrainConfig(), "runs/x", "RESUME")
    assert capsys.readouterr().out == "\nworker done (2 epochs, 1,000 bases in all); the chief wrote the run to runs/x\n"
    summary = {"stopped": "time_budget", "val_accuracy": 0.5, "val_bits": 1.5, "best_epoch": 1, "epochs": 2,
               "wall_seconds": 150, "bases_trained": 2000, "bases_per_second": 10.0}
    _print_summary(summary, TrainConfig(max_time="2m"), "runs/x", "genorm train g.fa --out runs/x --resume")
    out = capsys.readouterr().out
    assert "validation: accuracy 50.00 %, 1.5000 bits/base (best epoch 1 of 2)" in out
    assert "wall time 2.5 min; stopped: time budget (2m) reached" in out
    assert out.endswith("train it further with: genorm train g.fa --out runs/x --resume --max-time 2m\n")
