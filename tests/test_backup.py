"""Tests of genorm.training.backup: the resumable backup, written and read back (resume exactness is in
test_trainer.py; interrupted and failed writes in test_faults_output.py)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from genorm.errors import RunDirError
from genorm.model import ModelConfig, build_model
from genorm.training import backup
from genorm.training.backup import TrainingState
from genorm.training.trainer import compile_model

from conftest import TINY_TRAIN


def _model(seed: int):
    import keras

    keras.utils.set_random_seed(seed)
    model = compile_model(build_model(ModelConfig(cell="gru", units=4, layers=1)), TINY_TRAIN)
    model.optimizer.build(model.trainable_variables)
    for i, var in enumerate(model.optimizer.variables):
        var.assign(np.full(var.shape, i + seed, var.dtype.name if hasattr(var.dtype, "name") else var.dtype))
    return model


def test_training_state_round_trip():
    state = TrainingState(epochs_done=2, batches_done=12, best_epoch=2, best=1.5, history=[{"epoch": 1}])
    assert TrainingState.from_dict(json.loads(json.dumps(state.to_dict()))) == state
    assert TrainingState().to_dict()["best"] is None and math.isinf(TrainingState.from_dict({}).best)
    other = TrainingState()
    other.assign(state)
    assert other == state


def test_save_then_read_restores_weights_optimizer_and_state(tmp_path):
    saved_model = _model(1)
    state = TrainingState(epochs_done=3, batches_done=18, bases_done=6912, best=1.9, best_epoch=2, learning_rate=0.01)
    assert not backup.exists(tmp_path) and backup.resumable_epochs(tmp_path) == 0
    backup.save(tmp_path, saved_model, TrainingState(epochs_done=2))
    backup.save(tmp_path, saved_model, state)
    assert sorted(p.name for p in backup.folder(tmp_path).iterdir()) == [
        "model.e3.weights.h5", "optimizer.e3.npz", "state.json"]  # the older backup's files are gone
    assert backup.exists(tmp_path) and backup.resumable_epochs(tmp_path) == 3
    read_state, restore = backup.read(tmp_path)
    assert read_state == state
    model = _model(2)
    restore(model)
    for a, b in zip(model.get_weights(), saved_model.get_weights()):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(model.optimizer.variables, saved_model.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    backup.mark_stopped(tmp_path, "epochs")
    assert backup.read(tmp_path)[0].stopped == "epochs"
    backup.copy(tmp_path, tmp_path / "copy")
    assert backup.resumable_epochs(tmp_path / "copy") == 3
    backup.remove(tmp_path)
    assert not backup.exists(tmp_path) and backup.resumable_epochs(tmp_path) == 0


SHAPE = {"format_version": 1, "weights": "model.e1.weights.h5", "optimizer": "optimizer.e1.npz", "state": {}}


@pytest.mark.parametrize("content, message", [
    ({**SHAPE, "weights": "../x.weights.h5"}, r"names the file '../x.weights.h5', which is not a plain file name"),
    ({**SHAPE, "state": {"epochs_done": -1}}, r"is corrupt \(its training state is not what genorm writes\)"),
    ({**SHAPE, "state": [1, 2]}, r"is corrupt \(its training state is not what genorm writes\)"),
    ({"format_version": 99}, "is from a newer genorm; upgrade genorm to resume it"),
    ({"format_version": "1"}, r"is corrupt \(format_version '1'\)"),
    ({**SHAPE}, r"model.e1.weights.h5 is missing: the backup is incomplete"),
    # issue 23: a state.json of the wrong shape was reported as "model.weights.h5 is missing"
    ({}, r"state.json is corrupt: it lacks 'weights', 'optimizer', 'state' \(its keys: none\), so it is not the "
         r"training state genorm writes; the run cannot be resumed: start it again with --force"),
    ({"format_version": 1, "epochs": 3, "model": "x"}, r"it lacks 'weights', 'optimizer', 'state' \(its keys: "
                                                        r"'format_version', 'epochs', 'model'\)"),
])
def test_read_refuses_a_bad_backup(tmp_path, content, message):
    backup.folder(tmp_path).mkdir()
    (backup.folder(tmp_path) / "state.json").write_text(json.dumps(content))
    with pytest.raises(RunDirError, match=message):
        backup.read(tmp_path)


def test_resumable_epochs_of_an_unreadable_backup_is_zero(tmp_path):
    backup.folder(tmp_path).mkdir()
    (backup.folder(tmp_path) / "state.json").write_text("{not json")
    assert backup.resumable_epochs(tmp_path) == 0
    (backup.folder(tmp_path) / "state.json").write_text('{"state": {"epochs_done": true}}')
    assert backup.resumable_epochs(tmp_path) == 0
    (backup.folder(tmp_path) / "state.json").write_text('{"state": 5}')
    backup.mark_stopped(tmp_path, "interrupted")  # a state of the wrong shape: left for read() to report
    assert (backup.folder(tmp_path) / "state.json").read_text() == '{"state": 5}'
