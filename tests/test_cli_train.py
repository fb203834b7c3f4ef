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


@pytest.mark.parametrize("fasta, out", [("data/ecoli.fna.gz", "runs/ecoli"), ("x.fa", "runs/x"),
                                        ("g.fasta.bgz", "runs/g"), (".fa", "runs/genome")])
def test_default_run_directory(fasta, out):
    assert default_out(fasta) == out.replace("/", os.sep)
