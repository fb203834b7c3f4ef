"""genorm._compat: each Keras/TF workaround's bug still exists here, and each patch is undone after its block.

The ``*_still_needed`` tests reproduce, on the installed Keras/TensorFlow, the bug a workaround avoids (the checks that
need two replicas or two workers run inside tests/test_distribute.py's mirrored and two-worker tests, in the processes
that train genorm that way, so that TensorFlow starts once for both). They fail with
"workaround ... no longer needed: delete it" the day Keras or TensorFlow fixes it: then delete the workaround (and the
test), and widen the version pins in pyproject.toml.
"""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
import keras  # noqa: E402
from keras.src.backend.tensorflow import trainer as tf_trainer  # noqa: E402  (what the workarounds patch)

from genorm import _compat  # noqa: E402

SCALAR_AXIS_0 = "Invalid reduction dimension 0 for input with 0 dimensions"
PER_REPLICA_TO_TENSOR = r"Attempt to convert a value \(PerReplica"


def _tiny_model():
    model = keras.Sequential([keras.Input((4,), dtype="int32"), keras.layers.Embedding(5, 2), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse", metrics=["mae"])
    return model


# ------------------------------------------------------------------------------------------
# multiworker_scalar_reduce


def _keras_multiworker_reduce(monkeypatch):
    """Keras' reduction of a step's scalar results, as it runs under a multi-worker strategy."""
    monkeypatch.setattr(tf_trainer, "_collective_all_reduce_multi_worker", lambda strategy: True)
    strategy = tf.distribute.get_strategy()

    @tf.function
    def step_results():
        return tf_trainer.reduce_per_replica({"loss": tf.constant(1.5)}, strategy, "auto")

    return step_results


def test_multiworker_scalar_reduce_still_needed(monkeypatch):
    step_results = _keras_multiworker_reduce(monkeypatch)
    try:
        step_results()
    except ValueError as exc:
        assert SCALAR_AXIS_0 in str(exc)
    else:
        pytest.fail("workaround _compat.multiworker_scalar_reduce no longer needed: Keras reduces scalar step "
                    "results of a multi-worker strategy now; delete it")


def test_multiworker_scalar_reduce_fixes_it(monkeypatch):
    step_results = _keras_multiworker_reduce(monkeypatch)
    with _compat.multiworker_scalar_reduce():
        assert float(step_results()["loss"]) == 1.5


def test_multiworker_scalar_reduce_restores_keras():
    original = tf_trainer.reduce_per_replica
    with _compat.multiworker_scalar_reduce():
        assert tf_trainer.reduce_per_replica is not original
    assert tf_trainer.reduce_per_replica is original
    with pytest.raises(RuntimeError, match="inside fit"):
        with _compat.multiworker_scalar_reduce():
            raise RuntimeError("inside fit")
    assert tf_trainer.reduce_per_replica is original


# ------------------------------------------------------------------------------------------
# build_for_fit + fit_without_build_batch


def test_multiworker_reduce_of_a_batch_still_fails():
    """Multi-worker: a cross-device reduce (as MultiWorkerMirroredStrategy's) cannot take Keras' batch tuple."""
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    x = strategy.experimental_distribute_values_from_function(lambda ctx: tf.zeros((2, 4), tf.int32))
    try:
        tf.distribute.ReductionToOneDevice().reduce("MEAN", (x, x), "/cpu:0")
    except ValueError as exc:
        assert "PerReplica" in str(exc)
    else:
        pytest.fail("workaround _compat.fit_without_build_batch no longer needed: TensorFlow reduces a tuple of "
                    "per-replica values now; delete it (and build_for_fit)")


# fit_without_build_batch still needed for a batch split unevenly over two replicas (two logical CPUs): checked by
# tests/test_distribute.py::test_mirrored_equals_one_device, in the process that trains genorm mirrored.


def test_fit_without_build_batch_restores_the_model():
    model = _tiny_model()
    method = model._maybe_symbolic_build
    with _compat.fit_without_build_batch(model):
        assert model._maybe_symbolic_build() is None and model._maybe_symbolic_build != method
    assert "_maybe_symbolic_build" not in model.__dict__ and model._maybe_symbolic_build == method
    with pytest.raises(KeyboardInterrupt):
        with _compat.fit_without_build_batch(model):
            raise KeyboardInterrupt
    assert "_maybe_symbolic_build" not in model.__dict__
    own = model._maybe_symbolic_build = lambda **kw: "own"  # an instance attribute set before is put back
    with _compat.fit_without_build_batch(model):
        assert model._maybe_symbolic_build() is None
    assert model._maybe_symbolic_build is own


def test_build_for_fit_builds_everything_fit_needs():
    model = _tiny_model()
    assert not model.optimizer.built and [v.path for v in model.metrics_variables] == ["loss/total", "loss/count"]
    _compat.build_for_fit(model, tf.distribute.get_strategy(),
                          (np.zeros((1, 4), np.int32), np.zeros((1, 4, 1), np.float32), np.ones((1, 4), np.float32)))
    assert model.built and model.optimizer.built
    assert [v.path for v in model.metrics_variables] == ["loss/total", "loss/count", "mean_absolute_error/total",
                                                         "mean_absolute_error/count"]
    assert all(getattr(m, "built", True) for m in model.metrics)


# both, on two workers (the real thing): tests/test_distribute.py::test_two_workers checks, in the same two worker
# processes that train genorm, that plain multi-worker fit and fit with build_for_fit alone still fail.
