"""Stateful training (--tbptt): the lane model, resume, the streaming validation pass."""

from __future__ import annotations

import json

import keras
import numpy as np
import pandas as pd
import pytest

from genorm.config import ModelConfig
from genorm.errors import ConfigError
from genorm.model import build_model
from genorm.stepper import make_stepper
from genorm.training import distribute
from genorm.training.stateful import StatefulTrainer
from genorm.training.trainer import train

from conftest import TINY_TRAIN

TINY = TINY_TRAIN.replace(tbptt=True, walk=4)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_carried_state_equals_one_long_forward_pass(cell):
    config = ModelConfig(cell=cell, units=6, layers=2)
    base = build_model(config)
    lanes = StatefulTrainer(config, lanes=3, window=5)
    lanes.set_base_weights(base.get_weights())
    seq = np.random.default_rng(1).integers(0, 5, (3, 20)).astype(np.int32)
    out = [np.asarray(lanes((seq[:, i:i + 5], np.full(3, float(i > 0), np.float32)))) for i in range(0, 20, 5)]
    np.testing.assert_allclose(np.concatenate(out, axis=1), np.asarray(base(seq)), atol=1e-5)
    # keep = 0 resets one lane: it continues as a fresh sequence, the others carry on
    again = np.asarray(lanes((seq[:, :5], np.array([1, 0, 1], np.float32))))
    np.testing.assert_allclose(again[1], np.asarray(base(seq[1:2, :5]))[0], atol=1e-5)
    assert not np.allclose(again[0], np.asarray(base(seq[0:1, :5]))[0], atol=1e-3)


def test_base_weights_round_trip_and_reset():
    config = ModelConfig(units=4, layers=1)
    lanes = StatefulTrainer(config, lanes=2, window=3)
    base = build_model(config)
    lanes.set_base_weights(base.get_weights())
    for a, b in zip(lanes.base_weights(), base.get_weights()):
        np.testing.assert_array_equal(a, b)
    lanes((np.ones((2, 3), np.int32), np.zeros(2, np.float32)))
    assert np.abs(np.asarray(lanes.carried[0][0])).sum() > 0
    lanes.reset_lanes()
    assert np.abs(np.asarray(lanes.carried[0][0])).sum() == 0


def test_tbptt_run_learns_and_saves_a_plain_model(periodic_fasta, tmp_path):
    run = train([periodic_fasta], TINY.replace(epochs=5), out_dir=tmp_path / "run")
    assert run.summary["val_bits"] < 1.0  # ACGTTGCA repeated: learnable from 4 bases of context
    saved = json.loads((tmp_path / "run" / "config.json").read_text())["config"]
    assert saved["tbptt"] is True and saved["walk"] == 4
    model = keras.saving.load_model(tmp_path / "run" / "model.keras", compile=False)
    assert [type(x).__name__ for x in model.layers] == ["InputLayer", "OneHotBases", "GRU", "Dense"]
    make_stepper(model)  # a plain build_model model: streams exactly
    for a, b in zip(model.get_weights(), run.model.get_weights()):
        np.testing.assert_array_equal(a, b)


class _InterruptAfterFirstEpoch(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 0:
            raise KeyboardInterrupt


def test_resume_restores_lanes_and_states_exactly(periodic_fasta, tmp_path):
    whole = train([periodic_fasta], TINY, out_dir=tmp_path / "whole")
    with pytest.raises(KeyboardInterrupt):
        train([periodic_fasta], TINY, out_dir=tmp_path / "cut", callbacks=[_InterruptAfterFirstEpoch()])
    resumed = train([periodic_fasta], TINY, out_dir=tmp_path / "cut", resume=True)
    history = pd.read_csv(tmp_path / "cut" / "history.csv")
    np.testing.assert_allclose(history.loss, whole.history.loss, rtol=1e-5)
    np.testing.assert_allclose(history.val_bits, whole.history.val_bits, rtol=1e-5)
    for a, b in zip(resumed.model.get_weights(), whole.model.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_tbptt_with_a_strategy_is_a_clear_error(periodic_fasta, tmp_path, monkeypatch):
    fake = distribute.Distribution(name="mirrored", strategy=object(), replicas=2, cluster=distribute.SINGLE)
    monkeypatch.setattr(distribute, "make_distribution", lambda name, env=None: fake)
    with pytest.raises(ConfigError, match=r"Stateful training \(--tbptt\) runs on one device; the mirrored strategy"):
        train([periodic_fasta], TINY, out_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_cli_tbptt_flags(periodic_fasta, tmp_path):
    from genorm.cli import main

    args = ["train", str(periodic_fasta), "--units", "8", "--window", "24", "--batch-size", "8", "--epochs", "1",
            "--bases-per-epoch", "400", "--no-baselines"]
    assert main(args + ["--out", str(tmp_path / "a"), "--tbptt", "--walk", "3"]) == 0
    assert json.loads((tmp_path / "a" / "config.json").read_text())["config"]["tbptt"] is True
    assert main(args + ["--out", str(tmp_path / "b"), "--no-tbptt"]) == 0
    assert json.loads((tmp_path / "b" / "config.json").read_text())["config"]["tbptt"] is False
