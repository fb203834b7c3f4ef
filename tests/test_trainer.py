"""Training and the run directory: learning, save/load, resume, refusal to overwrite, errors, CLI."""

from __future__ import annotations

import json
import re

import keras
import numpy as np
import pandas as pd
import pytest

from genorm.cli import main
from genorm.errors import ConfigError, RunDirError, SplitError
from genorm.model import ModelConfig
from genorm.rundir import LOCK
from genorm.training.trainer import TrainConfig, parse_duration, train

from conftest import TINY_TRAIN as TINY


# ------------------------------------------------------------------------------------------
# options


@pytest.mark.parametrize("changes, message", [
    ({"window": 1}, "`window`, expected an integer >= 2, got 1"),
    ({"units": 0}, "`units`, expected a positive integer, got 0"),
    ({"cell": "rnn"}, "`cell`, expected one of simple_rnn, gru, lstm, got 'rnn'"),
    ({"batch_size": -1}, "`batch_size`, expected a positive integer, got -1"),
    ({"learning_rate": 0.0}, "`learning_rate`, expected a positive number below 10, got 0.0"),
    ({"soft_mask_weight": -1.0}, "`soft_mask_weight`, expected a number in \\[0, 1000\\], got -1.0"),
    ({"max_time": "soon"}, "`max_time`, expected a duration like '90s', '10m', '1h' or '1h30m', got 'soon'"),
    ({"val_fraction": 1.5}, r"`val_fraction`, expected a number in \[0, 1\), got 1.5"),
    ({"records": []}, r"`records`, expected at least one record name \(or leave it unset\), got \[\]"),
    ({"seed": 2**32}, r"`seed`, expected an integer in \[0, 2\*\*32\), got 4294967296"),
    ({"baselines": 1}, "`baselines`, expected true or false, got 1"),
    ({"strategy": "ring"}, "`strategy`, expected one of auto, one, mirrored, multiworker, got 'ring'"),
    ({"walk": 1001}, r"`walk`, expected an integer in \[1, 1000\] \(windows\), got 1001"),
    ({"tbptt": "yes"}, "`tbptt`, expected true or false, got 'yes'"),
])
def test_invalid_options(changes, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig().replace(**changes)


@pytest.mark.parametrize("text, seconds", [("90s", 90), ("10m", 600), ("1h", 3600), ("1h30m", 5400), ("45", 45),
                                           (12.5, 12.5), ("2min", 120)])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


def test_config_json_round_trip_and_flat_model_keys():
    cfg = TINY.replace(records=["a", "b"], max_time="10m")
    assert TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    assert TrainConfig.from_dict({"units": 64, "cell": "lstm"}).model == ModelConfig(cell="lstm", units=64, context=65,
                                                                                     mix=0.0005)  # counts, mixed
    assert TrainConfig.from_dict({"units": 64, "context_orders": []}).model == ModelConfig(units=64)
    with pytest.raises(ConfigError, match="Unknown training option"):
        TrainConfig.from_dict({"learning_rat": 1})


# ------------------------------------------------------------------------------------------
# training


def test_tiny_model_learns_periodic_sequence(trained):
    assert trained.summary["val_accuracy"] > 0.95
    assert trained.summary["val_bits"] < 0.7  # the first bases of a cold window are ambiguous
    assert trained.summary["epochs"] == 6 and trained.summary["stopped"] == "epochs"
    assert trained.summary["bases_trained"] == 6 * TINY.bases_per_epoch
    assert trained.summary["markov_order"] >= 0 and 0 < trained.summary["markov_val_bits"] <= 2.1


@pytest.mark.parametrize("summary, expected", [
    ({"val_bits": 1.925, "markov_val_bits": 1.9347, "markov_order": 6, "stopped": "time_budget"},
     "1.925 bits/base, 0.5 % better than order-6 Markov (1.935): train longer for a better model"),
    ({"val_bits": 1.925, "markov_val_bits": 1.9347, "markov_order": 6, "stopped": "early_stopping"},
     "1.925 bits/base, 0.5 % better than order-6 Markov (1.935): a larger model (--units, --layers) may do better"),
    ({"val_bits": 1.80, "markov_val_bits": 1.93, "markov_order": 6, "stopped": "epochs"},
     "1.800 bits/base, 6.7 % better than order-6 Markov (1.930)"),
    ({"val_bits": 1.987, "markov_val_bits": 1.974, "markov_order": 2, "stopped": "epochs"},
     "1.987 bits/base, 0.7 % worse than order-2 Markov (1.974): it predicts no better than counting 2-base "
     "contexts yet; train longer"),
    ({"val_bits": 1.9, "stopped": "epochs"}, "1.900 bits/base (no Markov baseline to compare with)"),
])
def test_compare_with_markov(summary, expected):
    from genorm.training.trainer import compare_with_markov

    assert compare_with_markov(summary) == expected


def test_run_directory_contents(trained):
    files = {p.name for p in trained.run_dir.iterdir()}
    assert {"model.keras", "config.json", "provenance.json", "splits.bed", "history.csv", "curves.png",
            "baselines.npz", "backup"} <= files
    assert LOCK not in files
    assert sorted(p.name for p in (trained.run_dir / "backup").iterdir()) == [
        "model.e6.weights.h5", "optimizer.e6.npz", "state.json"]  # only the last epoch's backup is kept
    prov = json.loads((trained.run_dir / "provenance.json").read_text())
    assert prov["inputs"][0]["size"] > 0 and len(prov["inputs"][0]["sha256"]) == 64
    assert prov["records"] == [{"name": "periodic", "length": 4800}]
    assert prov["seed"] == 3 and prov["status"] == "complete" and "keras" in prov["versions"]
    history = pd.read_csv(trained.run_dir / "history.csv")
    assert history.epoch.tolist() == [1, 2, 3, 4, 5, 6]
    assert {"loss", "bits", "accuracy", "val_bits", "val_accuracy", "learning_rate"} <= set(history.columns)


def test_bits_metric_is_weighted_cross_entropy_in_bits():
    from genorm.training.trainer import BitsPerBase

    logits = np.log(np.array([[[0.5, 0.25, 0.125, 0.125], [0.25, 0.25, 0.25, 0.25]]], np.float32))
    metric = BitsPerBase()
    metric.update_state(np.array([[0, 3]]), logits, sample_weight=np.array([[1.0, 0.0]], np.float32))
    assert float(metric.result()) == pytest.approx(1.0, abs=1e-6)  # -log2(0.5); the N position has weight 0
    metric.update_state(np.array([[2, 3]]), logits, sample_weight=np.array([[1.0, 1.0]], np.float32))
    assert float(metric.result()) == pytest.approx((1 + 3 + 2) / 3, abs=1e-6)


class _InterruptAfterFirstEpoch(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 0:
            raise KeyboardInterrupt


def test_resume_after_interruption_matches_uninterrupted(periodic_fasta, tmp_path):
    whole = train([periodic_fasta], TINY, out_dir=tmp_path / "whole")
    with pytest.raises(KeyboardInterrupt):
        train([periodic_fasta], TINY, out_dir=tmp_path / "cut", callbacks=[_InterruptAfterFirstEpoch()])
    assert json.loads((tmp_path / "cut" / "provenance.json").read_text())["status"] == "interrupted"
    resumed = train([periodic_fasta], TINY, out_dir=tmp_path / "cut", resume=True)
    assert resumed.summary["epochs"] == whole.summary["epochs"] == 3
    history = pd.read_csv(tmp_path / "cut" / "history.csv")
    assert history.epoch.tolist() == [1, 2, 3]  # no gap, no repeat
    assert history.bases.tolist() == pd.read_csv(tmp_path / "whole" / "history.csv").bases.tolist()
    np.testing.assert_allclose(history.val_bits, whole.history.val_bits, rtol=1e-4)
    for a, b in zip(resumed.model.get_weights(), whole.model.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-4)
    with pytest.raises(RunDirError, match="complete"):
        train([periodic_fasta], TINY, out_dir=tmp_path / "cut", resume=True)
    with pytest.raises(ConfigError, match="different options"):
        train([periodic_fasta], TINY.replace(units=8, epochs=5), out_dir=tmp_path / "cut", resume=True)


def test_time_budget_stops_cleanly(periodic_fasta, tmp_path):
    run = train([periodic_fasta], TINY.replace(epochs=1000, patience=1000, max_time="6s"), out_dir=tmp_path / "t")
    assert run.summary["stopped"] == "time_budget"
    # Stopped by the budget, around 6 s (the margin allows for a heavily loaded machine: not a timing test).
    assert 1 <= run.summary["epochs"] < 1000 and 2 < run.summary["wall_seconds"] < 6 + 20
    assert (tmp_path / "t" / "model.keras").is_file()


# ------------------------------------------------------------------------------------------
# CLI


def test_cli_train_end_to_end(sample_data, tmp_path, capsys):
    cfg = tmp_path / "small.json"
    cfg.write_text(json.dumps({"units": 8, "layers": 1, "window": 40, "batch_size": 16, "max_val_bases": 2000,
                               "epochs": 5}))
    out = tmp_path / "cli"
    fasta = str(sample_data / "phiX174_NC_001422.fa")
    argv = ["train", fasta, "--out", str(out), "--config", str(cfg), "--epochs", "2", "--bases-per-epoch", "3000"]
    assert main(argv) == 0
    printed, log = capsys.readouterr()
    assert "validation: accuracy" in printed and "bits/base" in printed
    assert re.search(r"^validation: \d\.\d{3} bits/base, \d+\.\d % (better|worse) than order-\d+ Markov", printed, re.M)
    # stderr is not a terminal here: plain lines, one per epoch, after the cost estimate; no carriage returns
    assert "\r" not in log and "\r" not in printed
    assert re.search(r"^training: about .* bases at .* bases/s on this machine; use --max-time to bound it$", log, re.M)
    assert [line.split(":")[0] for line in log.splitlines() if line.startswith("epoch")] == ["epoch 1/2", "epoch 2/2"]
    assert f"run written to {out}" in printed and f"genorm evaluate {out}" in printed
    saved = json.loads((out / "config.json").read_text())["config"]
    assert saved["epochs"] == 2 and saved["model"]["units"] == 8 and saved["window"] == 40  # flags > file
    assert main(argv) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["train", fasta, "--out", str(out), "--resume", "--epochs", "3", "-q"]) == 0  # run config reused
    printed, log = capsys.readouterr()
    assert log == "" and "validation: accuracy" in printed  # --quiet: errors only on stderr, results on stdout
    assert pd.read_csv(out / "history.csv").epoch.tolist() == [1, 2, 3]
    assert main(["train", fasta, "--out", str(tmp_path / "x"), "--window", "1"]) == 2
    assert "`window`, expected an integer >= 2, got 1" in capsys.readouterr().err


def test_cli_ctrl_c_says_how_to_resume(monkeypatch, tmp_path, capsys):
    import genorm.training.trainer as train_module

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_module, "train", interrupted)
    assert main(["train", "g.fa", "--out", str(tmp_path / "r")]) == 130
    assert "nothing to resume" in capsys.readouterr().err
    (tmp_path / "r" / "backup").mkdir(parents=True)
    (tmp_path / "r" / "backup" / "state.json").write_text('{"state": {"epochs_done": 2}}')
    assert main(["train", "g.fa", "--out", str(tmp_path / "r")]) == 130
    err = capsys.readouterr().err
    assert "saved up to epoch 2, its last complete backup" in err
    assert f"genorm train g.fa --out {tmp_path / 'r'} --resume" in err


def test_tensorboard_without_package_is_a_clear_error(periodic_fasta, tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else real(name, *a))
    with pytest.raises(ConfigError, match="pip install tensorboard"):
        train([periodic_fasta], TINY.replace(tensorboard=True), out_dir=tmp_path / "tb")


def test_train_help_does_not_import_tensorflow():
    import subprocess
    import sys

    code = ("import sys, genorm.cli; genorm.cli.build_parser(); "
            "print('tensorflow' in sys.modules or 'keras' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


@pytest.mark.slow
def test_ctrl_c_in_a_real_process_then_resume(sample_data, tmp_path):
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "sig"
    fasta = str(sample_data / "phage_lambda_NC_001416.1.fa")
    args = [sys.executable, "-m", "genorm.cli", "train", fasta, "--out", str(out), "--units", "8", "--layers", "1",
            "--window", "40", "--batch-size", "16", "--bases-per-epoch", "3000", "--max-val-bases", "1000",
            "--epochs", "100000", "--patience", "100000"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    state = out / "backup" / "state.json"
    deadline = time.monotonic() + 120
    while not state.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    if not state.exists():
        proc.kill()
        pytest.fail(f"no epoch completed within 120 s: {proc.communicate()[1][-2000:]}")
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"genorm train did not exit within 60 s of SIGINT: {proc.communicate()[1][-2000:]}")
    assert proc.returncode == 130
    assert "--resume" in err and not (out / LOCK).exists()
    done = json.loads(state.read_text())["state"]["epochs_done"]
    assert main(["train", fasta, "--out", str(out), "--resume", "--epochs", str(done + 2)]) == 0
    assert pd.read_csv(out / "history.csv").epoch.tolist() == list(range(1, done + 3))


def test_genome_too_short_for_the_window(write_fasta, tmp_path):
    fasta = write_fasta(">tiny\n" + "ACGT" * 50 + "\n")
    for _ in range(2):  # a failed start leaves nothing that blocks the next attempt
        with pytest.raises(SplitError, match="no record is long enough to split"):
            train([fasta], TrainConfig(), out_dir=tmp_path / "r")
    assert not (tmp_path / "r" / LOCK).exists()
