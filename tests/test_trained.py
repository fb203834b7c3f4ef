"""Tests of genorm.trained: a run directory read back as a model you can use (LoadedRun, load, read_config)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from genorm.errors import RunDirError
from genorm.trained import load, read_config

from conftest import TINY_TRAIN as TINY


def test_save_load_identical_predictions(trained):
    loaded = load(trained.run_dir)
    assert loaded.config == TINY.replace(epochs=6)
    codes = np.random.default_rng(0).integers(0, 5, (2, 50)).astype(np.int32)
    np.testing.assert_array_equal(loaded.model.predict_on_batch(codes), trained.model.predict_on_batch(codes))
    assert loaded.splits.sha256() == json.loads((trained.run_dir / "provenance.json").read_text())["split_sha256"]
    stepper = loaded.stepper()
    logits, _ = stepper.step(codes, stepper.initial_state(2))
    np.testing.assert_allclose(logits, trained.model.predict_on_batch(codes), atol=1e-5)


def test_load_errors(trained, tmp_path):
    with pytest.raises(RunDirError, match="does not exist"):
        load(tmp_path / "nope")
    bad = tmp_path / "bad"
    bad.mkdir()
    with pytest.raises(RunDirError, match="config.json is missing"):
        load(bad)
    (bad / "config.json").write_text("{not json")
    with pytest.raises(RunDirError, match="corrupt"):
        load(bad)
    (bad / "config.json").write_text(json.dumps({"format_version": 99, "config": {}}))
    with pytest.raises(RunDirError, match="newer"):
        load(bad)
    (bad / "config.json").write_text((trained.run_dir / "config.json").read_text())
    (bad / "provenance.json").write_text((trained.run_dir / "provenance.json").read_text())
    (bad / "model.keras").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(RunDirError, match="cannot be loaded"):
        load(bad)


def test_loaded_run_analysis_api(trained):
    import genorm

    assert genorm.train.__module__ == "genorm.training.trainer" and genorm.load.__module__ == "genorm.trained"
    loaded = genorm.load(trained.run_dir)
    proba = loaded.predict_proba("ACGTTGCAACGTTGCA")
    assert proba.shape == (16, 4)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    assert proba[12:].argmax(axis=1).tolist() == [3, 2, 1, 0]  # bases 12-15 are T G C A: learned
    assert loaded.score("ACGTTGCA") < 0
    report = loaded.evaluate()
    assert report.summary.bases.iloc[0] == loaded.splits.bases()["test"]


def test_read_config_names_an_invalid_configuration(trained, tmp_path):
    assert read_config(trained.run_dir) == TINY.replace(epochs=6)
    (tmp_path / "config.json").write_text(json.dumps({"format_version": 1, "config": {"window": 1}}))
    with pytest.raises(RunDirError, match=r"config.json holds an invalid configuration: .*`window`"):
        read_config(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"config": {}}))
    with pytest.raises(RunDirError, match="has no format_version: it was not written by genorm train"):
        read_config(tmp_path)
