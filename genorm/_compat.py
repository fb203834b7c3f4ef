"""Fenced Keras / TensorFlow workarounds: the only genorm module that touches their private APIs.

Everything here works around a bug of a specific Keras / TensorFlow release and should be
deleted the day it is fixed. Each workaround is one small function whose docstring names

* the versions it targets (the range ``pyproject.toml`` pins and the suite is run on),
* the bug it avoids: what fails without it, with the error text,
* the test in ``tests/test__compat.py`` that reproduces the bug on the installed versions and
  fails with "workaround ... no longer needed: delete it" once the bug is gone.

Patches are context managers applied around the one call that needs them and undone on exit,
also when the call raises; nothing is patched at import or process-wide for longer than that call.

Tested with Keras 3.15.1 and TensorFlow 2.21.0 (pinned: ``keras>=3.15,<3.16``,
``tensorflow>=2.21,<2.22``). ``tools/check_layout.py`` reports any private Keras/TF use
(``keras.src``, ``tensorflow.python``, underscored attributes of Keras/TF objects) outside this module.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

#: The Keras / TensorFlow releases the workarounds below were written for and tested on.
TESTED = {"keras": "3.15.1", "tensorflow": "2.21.0"}

_MISSING = object()


def build_for_fit(model, strategy, data_batch: tuple) -> None:
    """Build a compiled model's layer, loss, metric and optimizer variables under ``strategy``.

    Targets: Keras 3.15 (TensorFlow backend), TensorFlow 2.21; needed with
    :func:`fit_without_build_batch`, which stops ``fit`` from building them itself.

    Bug avoided: ``fit`` must not build the model itself under a strategy (see
    :func:`fit_without_build_batch`), and the public ``model.build(shape)`` builds the layers
    only, not the compiled loss and metrics. Keras' own ``Model._symbolic_build`` builds all of
    them from symbolic inputs shaped like ``data_batch`` (no step runs, no weight changes).
    Without the build, variables would be created inside ``fit``'s traced step and fail under the
    strategy. Tests: ``tests/test__compat.py::test_build_for_fit_builds_everything_fit_needs`` and the
    tests of :func:`fit_without_build_batch`.

    Args:
        model: a compiled ``keras.Model`` made in ``strategy.scope()``.
        strategy: its ``tf.distribute.Strategy``.
        data_batch: ``(x, y, sample_weight)`` NumPy arrays of one (any size) batch.
    """
    with strategy.scope():
        model._symbolic_build(data_batch=data_batch)
        model.optimizer.build(model.trainable_variables)


@contextlib.contextmanager
def fit_without_build_batch(model) -> Iterator[None]:
    """Inside the block, ``model.fit`` / ``evaluate`` do not pull a batch to build the model (build it first).

    Targets: Keras 3.15 (TensorFlow backend) with TensorFlow 2.21, under ``tf.distribute.MirroredStrategy``
    and ``MultiWorkerMirroredStrategy``.

    Bug avoided: Keras' TensorFlow ``fit`` and ``evaluate`` (also the validation inside ``fit``) call
    ``Model._maybe_symbolic_build(iterator=...)``, which under a strategy takes the first batch off the
    distributed iterator and averages the whole ``(x, y, weight)`` tuple across replicas with
    ``strategy.reduce("MEAN", batch, axis=None)``, only to learn its shapes. That fails

    * under ``MirroredStrategy`` when the replicas' shares of that batch differ in size, as they do for
      genorm's validation batches (a batch of 3 windows over 2 replicas)::

          InvalidArgumentError: ... Inputs to operation AddN of type AddN must have the same size and
          shape.  Input 0: [2,4] != input 1: [1,4] [Op:AddN]

    * under ``MultiWorkerMirroredStrategy`` with several workers, always: its cross-device reduce
      converts the tuple to one tensor::

          ValueError: Attempt to convert a value (PerReplica:{ 0: <tf.Tensor: shape=(2, 4),
          dtype=int32, ...> }) with an unsupported type
          (<class 'tensorflow.python.distribute.values.PerReplica'>) to a Tensor.

    The instance's ``_maybe_symbolic_build`` is replaced by a no-op for the block; the class method is
    visible again on exit. :func:`build_for_fit` must have built the model before. Tests:
    ``tests/test_distribute.py::test_mirrored_equals_one_device`` (two replicas on two logical CPUs,
    slow), ``tests/test__compat.py::test_multiworker_reduce_of_a_batch_still_fails`` (the failing
    multi-worker reduce, fast) and ``tests/test_distribute.py::test_two_workers`` (two workers, slow).
    """
    saved = model.__dict__.get("_maybe_symbolic_build", _MISSING)
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None
    try:
        yield
    finally:
        if saved is _MISSING:
            del model._maybe_symbolic_build
        else:
            model._maybe_symbolic_build = saved


@contextlib.contextmanager
def clip_after_all_reduce(optimizer) -> Iterator[None]:
    """Inside the block, ``optimizer`` clips each gradient by ``clipnorm`` after the replicas' gradients
    are summed, as on one device, not each replica's share before.

    Targets: Keras 3.15 (TensorFlow backend) with TensorFlow 2.21, under ``tf.distribute.MirroredStrategy``
    and ``MultiWorkerMirroredStrategy``.

    Bug avoided: ``BaseOptimizer.apply`` calls ``_clip_gradients`` on the gradients of one replica,
    then ``_backend_update_step`` all-reduces them. Two replicas whose shares of the gradient are
    ``[0.8, 0]`` and ``[0, 0.8]`` are not clipped by ``clipnorm=1`` and step by ``[0.8, 0.8]``
    (norm 1.13), where one device clips the same batch's gradient to norm 1. No error: training
    under a strategy silently differs from one device whenever clipping is active (genorm's default
    ``clipnorm`` is 1; measured: the network that reads count models, 4 steps, weights off by 0.02).

    For the block, the instance's ``_clip_gradients`` passes gradients through and its
    ``update_step`` (which runs per variable on the summed gradient) clips first; both are the
    class's again on exit. It must enclose the whole ``fit`` call (its step is traced inside).
    Test: ``tests/test_distribute.py::test_mirrored_equals_one_device`` (two replicas on two
    logical CPUs, slow), which also checks that Keras alone still clips per replica.
    """
    clipnorm = getattr(optimizer, "clipnorm", None)
    if not clipnorm:
        yield
        return
    import tensorflow as tf

    saved = {name: optimizer.__dict__.get(name, _MISSING) for name in ("_clip_gradients", "update_step")}
    update_step = optimizer.update_step
    optimizer._clip_gradients = lambda grads: grads
    optimizer.update_step = lambda grad, variable, learning_rate: update_step(
        tf.clip_by_norm(grad, clipnorm), variable, learning_rate)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is _MISSING:
                optimizer.__dict__.pop(name, None)
            else:
                setattr(optimizer, name, value)


@contextlib.contextmanager
def multiworker_scalar_reduce() -> Iterator[None]:
    """Inside the block, Keras averages scalar step results across workers with ``axis=None``.

    Targets: Keras 3.15 (TensorFlow backend) with TensorFlow 2.21, under
    ``tf.distribute.MultiWorkerMirroredStrategy`` with more than one worker.

    Bug avoided: ``keras.src.backend.tensorflow.trainer.reduce_per_replica`` reduces every
    per-replica step output of a multi-worker strategy with ``strategy.reduce("MEAN", v, axis=0)``,
    and ``axis=0`` does not exist for the scalar loss and metric results; tracing the train step
    fails::

        ValueError: Invalid reduction dimension 0 for input with 0 dimensions. for
        '{{node Sum_3}} = Sum[T=DT_FLOAT, Tidx=DT_INT32, keep_dims=false](div_no_nan, ...)'

    For the block, the module function is replaced by one that reduces scalars with
    ``axis=None`` (everything else goes to Keras' own function); the original is put back on
    exit. The replacement is looked up when ``fit`` traces its step functions, so the block must
    enclose the whole ``fit`` call. Tests: ``tests/test__compat.py::test_multiworker_scalar_reduce_still_needed``
    (fast) and ``tests/test_distribute.py::test_two_workers`` (two workers, slow).
    """
    from keras.src import tree
    from keras.src.backend.tensorflow import trainer as tf_trainer

    original = tf_trainer.reduce_per_replica

    def reduce_per_replica(values: Any, strategy, reduction: str):
        if reduction not in ("auto", "mean") or not tf_trainer._collective_all_reduce_multi_worker(strategy):
            return original(values, strategy, reduction)

        def _reduce(v):
            rank = strategy.experimental_local_results(v)[0].shape.rank
            return strategy.reduce("MEAN", v, axis=0 if rank else None)

        return tree.map_structure(_reduce, values)

    tf_trainer.reduce_per_replica = reduce_per_replica
    try:
        yield
    finally:
        tf_trainer.reduce_per_replica = original
