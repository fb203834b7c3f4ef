"""Distributed training: the ``tf.distribute`` strategy, ``TF_CONFIG``, and per-worker streams.

``TrainConfig.strategy`` (``genorm train --strategy``) is one of:

============  ==================================================================================
strategy      what runs
============  ==================================================================================
``one``       one device (TensorFlow's default placement: the GPU if there is one, else the CPU)
``mirrored``  ``tf.distribute.MirroredStrategy``: one replica per local GPU, gradients all-reduced
``multiworker``  ``tf.distribute.MultiWorkerMirroredStrategy`` over the cluster in ``TF_CONFIG``
``auto``      ``multiworker`` when ``TF_CONFIG`` names more than one task, else ``mirrored`` when
              there is more than one local GPU, else ``one``. Under a non-TensorFlow Keras
              backend (``KERAS_BACKEND=jax``) always ``one``: ``tf.distribute`` drives TensorFlow
              only (tf.data still feeds the model from the CPU).
============  ==================================================================================

**The scaling rule** (so that a configuration means the same on any number of replicas ``R``
spread over ``W`` workers):

* ``batch_size`` is the *global* batch: the windows of one optimizer step, summed over all
  replicas. Each worker draws ``batch_size / W`` windows per step and each replica gets
  ``batch_size / R`` of them; ``batch_size`` must be divisible by ``R``.
* ``learning_rate`` is unchanged: Keras averages the loss over the global batch, so one step
  is one step of the same size whatever ``R`` is (no linear scaling).
* ``bases_per_epoch`` counts the input bases of all replicas together: an epoch is
  ``ceil(bases_per_epoch / (batch_size * window))`` steps, as on one device, so bases trained,
  epochs, validation, early stopping and ``--resume`` keep their meaning.

**Per-worker streams**: worker ``w`` of ``W`` draws its windows from the stream seed
:func:`worker_seed` ``(seed, w, W)``, which is ``seed`` itself when ``W == 1`` (a mirrored run
sees exactly the windows of a one-device run, split across the GPUs) and otherwise the first
word of ``numpy.random.SeedSequence([seed, W, w])``: different windows on every worker, by
construction, and the same windows again on resume (batch ``k`` of worker ``w`` depends only on
``(seed, W, w, k)``).

**Only the chief writes**: the chief (the ``chief`` task, or worker 0 when the cluster has no
chief) writes the run directory; every other worker writes into a private temporary directory
that is deleted when it finishes (see :func:`worker_scratch`).

>>> choose_strategy("auto", backend="tensorflow", cluster=None, local_gpus=0)
'one'
>>> choose_strategy("auto", backend="tensorflow", cluster=None, local_gpus=4)
'mirrored'
>>> choose_strategy("auto", backend="jax", cluster=None, local_gpus=4)
'one'
>>> worker_seed(7, 0, 1)
7
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np

from genorm import _compat
from genorm.config import STRATEGIES  # noqa: F401  (re-exported)
from genorm.errors import ConfigError
from genorm.validate import invalid

logger = logging.getLogger(__name__)

_TF_CONFIG_EXAMPLE = ('TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
                      '"task": {"type": "worker", "index": 0}}\'')


@dataclass(frozen=True)
class Cluster:
    """This process's place in a ``TF_CONFIG`` cluster.

    Attributes:
        num_workers: tasks that train (``chief`` + ``worker`` tasks).
        worker_index: this task's rank among them (the chief is 0).
        is_chief: whether this task writes the run directory.
        task_type, task_id: as in ``TF_CONFIG``.
    """

    num_workers: int
    worker_index: int
    is_chief: bool
    task_type: str = "worker"
    task_id: int = 0


SINGLE = Cluster(num_workers=1, worker_index=0, is_chief=True)


def parse_tf_config(env: Mapping[str, str] | None = None) -> Cluster | None:
    """The cluster in ``env["TF_CONFIG"]`` (default ``os.environ``), or None when it is unset/empty.

    >>> c = parse_tf_config({"TF_CONFIG": '{"cluster": {"worker": ["a:1", "b:2"]}, '
    ...                                    '"task": {"type": "worker", "index": 1}}'})
    >>> c.num_workers, c.worker_index, c.is_chief
    (2, 1, False)

    Raises:
        ConfigError: ``TF_CONFIG`` is not the JSON ``tf.distribute`` expects.
    """
    env = os.environ if env is None else env
    text = (env.get("TF_CONFIG") or "").strip()
    if not text:
        return None
    from genorm.jsonio import parse_json

    spec = parse_json(text, "TF_CONFIG", ConfigError, expect=dict, hint=f"Expected JSON like {_TF_CONFIG_EXAMPLE}.")
    try:
        cluster = spec.get("cluster") or {}
        task = spec.get("task") or {}
        chiefs = list(cluster.get("chief") or [])
        workers = list(cluster.get("worker") or [])
        task_type = str(task.get("type", "worker"))
        task_id = int(task.get("index", 0))
    except (ValueError, AttributeError, TypeError) as exc:
        raise ConfigError(f"TF_CONFIG is not valid ({exc}); expected JSON like {_TF_CONFIG_EXAMPLE}.") from None
    n = len(chiefs) + len(workers)
    if len(chiefs) > 1 or n == 0:
        raise ConfigError(f"TF_CONFIG must name at most one chief and at least one worker, got {text!r}; "
                          f"for example {_TF_CONFIG_EXAMPLE}.")
    if task_type == "chief":
        index = 0
    elif task_type == "worker":
        if not 0 <= task_id < len(workers):
            raise ConfigError(f"TF_CONFIG task index {task_id} is outside its {len(workers)} worker(s).")
        index = task_id + len(chiefs)
    else:
        raise ConfigError(f"TF_CONFIG task type {task_type!r} does not train (genorm knows 'chief' and 'worker').")
    return Cluster(num_workers=n, worker_index=index, is_chief=index == 0, task_type=task_type, task_id=task_id)


def choose_strategy(name: str, backend: str, cluster: Cluster | None, local_gpus: int) -> str:
    """The concrete strategy (``one``, ``mirrored`` or ``multiworker``) that ``name`` stands for.

    Args:
        name: one of :data:`STRATEGIES`.
        backend: the Keras backend (``keras.backend.backend()``).
        cluster: :func:`parse_tf_config`'s result.
        local_gpus: GPUs visible to this process.

    Raises:
        ConfigError: an unknown name, a tf.distribute strategy under another backend, or
            ``multiworker`` without ``TF_CONFIG``.
    """
    if name not in STRATEGIES:
        raise invalid("strategy", f"one of {', '.join(STRATEGIES)}", name)
    if name == "auto":
        if backend != "tensorflow":
            return "one"
        if cluster is not None and cluster.num_workers > 1:
            return "multiworker"
        return "mirrored" if local_gpus > 1 else "one"
    if name != "one" and backend != "tensorflow":
        raise ConfigError(f"--strategy {name} needs the TensorFlow backend (tf.distribute), but KERAS_BACKEND is "
                          f"{backend!r}; use --strategy one (or auto), or KERAS_BACKEND=tensorflow.")
    if name == "multiworker" and cluster is None:
        raise ConfigError(f"--strategy multiworker needs the TF_CONFIG environment variable on every worker, "
                          f"for example {_TF_CONFIG_EXAMPLE}.")
    return name


def worker_seed(seed: int, worker_index: int, num_workers: int) -> int:
    """The training stream's seed on worker ``worker_index`` of ``num_workers`` (see the module docs)."""
    if num_workers == 1:
        return int(seed)
    return int(np.random.SeedSequence([int(seed), int(num_workers), int(worker_index)]).generate_state(1)[0])


def split_batch(batch_size: int, replicas: int, workers: int) -> tuple[int, int]:
    """``(per_worker, per_replica)`` batch sizes of a global ``batch_size``.

    >>> split_batch(256, 4, 2)
    (128, 64)

    Raises:
        ConfigError: ``batch_size`` is not divisible by ``replicas``.
    """
    if batch_size % replicas:
        lo = batch_size - batch_size % replicas
        raise ConfigError(f"--batch-size {batch_size} is the global batch of one step over {replicas} replicas and "
                          f"must be divisible by {replicas}; use {lo or replicas} or {lo + replicas}.")
    return batch_size // workers, batch_size // replicas


@dataclass
class Distribution:
    """The strategy of one training run, as :func:`make_distribution` sets it up.

    Attributes:
        name: ``one``, ``mirrored`` or ``multiworker``.
        strategy: the ``tf.distribute.Strategy``, or None for ``one``.
        replicas: replicas in sync (1 for ``one``).
        cluster: this process's :class:`Cluster` (:data:`SINGLE` outside a cluster).
    """

    name: str
    strategy: Any
    replicas: int
    cluster: Cluster

    @property
    def is_chief(self) -> bool:
        return self.cluster.is_chief

    def scope(self):
        """The strategy's scope (build and compile the model in it), or a no-op context."""
        return self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()

    def prepare_model(self, model, window: int, context: int = 0) -> None:
        """Build the compiled model's, metrics' and optimizer's variables before ``fit`` (under a strategy).

        Under a ``tf.distribute`` strategy, Keras 3's ``fit`` cannot build them itself
        (:func:`genorm._compat.fit_without_build_batch` says why); they are built here, before a
        resumed run restores its backup into them, and :meth:`fitting` keeps ``fit`` from trying.
        """
        if self.strategy is None:
            return
        codes = np.zeros((1, window), np.int32)  # the model's inputs: codes, and count features when it reads them
        x = (codes, np.zeros((1, window, context), np.float32)) if context else codes
        batch = (x, np.zeros((1, window), np.int32), np.ones((1, window), np.float32))
        _compat.build_for_fit(model, self.strategy, batch)

    @contextlib.contextmanager
    def fitting(self, model) -> Iterator[None]:
        """The Keras workarounds ``model.fit`` needs under this strategy, for the ``fit`` call only.

        None for ``one``. Under a strategy (after :meth:`prepare_model`):
        :func:`genorm._compat.fit_without_build_batch` and :func:`genorm._compat.clip_after_all_reduce`,
        and for ``multiworker`` also :func:`genorm._compat.multiworker_scalar_reduce`; all are undone
        when the block ends.
        """
        with contextlib.ExitStack() as stack:
            if self.strategy is not None:
                stack.enter_context(_compat.fit_without_build_batch(model))
                stack.enter_context(_compat.clip_after_all_reduce(model.optimizer))
            if self.name == "multiworker":
                stack.enter_context(_compat.multiworker_scalar_reduce())
            yield

    def train_dataset(self, make, batch_size: int, seed: int, skip: int = 0):
        """The training data for ``model.fit``.

        Args:
            make: ``make(per_worker_batch, stream_seed)`` → an endless ``tf.data.Dataset`` of
                per-worker batches (:func:`genorm.batches.dataset.make_dataset`).
            batch_size: the global batch.
            seed: the run's seed (:func:`worker_seed` derives this worker's).
            skip: batches already trained (resume): batch ``k`` depends only on the seed and ``k``.
        """
        n_workers = self.cluster.num_workers
        stream_seed = worker_seed(seed, self.cluster.worker_index, n_workers)
        if self.strategy is None:
            ds = make(batch_size, stream_seed)
            return ds.skip(skip) if skip else ds
        per_worker, per_replica = split_batch(batch_size, self.replicas, n_workers)

        def dataset_fn(context):
            ds = make(per_worker, stream_seed)
            if skip:
                ds = ds.skip(skip)
            if per_replica != per_worker:  # several local replicas: each takes a slice of the worker's batch
                ds = ds.rebatch(per_replica)
            return ds

        return self.strategy.distribute_datasets_from_function(dataset_fn)


def local_gpus() -> int:
    """GPUs TensorFlow sees (0 without TensorFlow or without a GPU build)."""
    try:
        import tensorflow as tf
    except ImportError:  # pragma: no cover - TensorFlow is a dependency
        return 0
    return len(tf.config.list_physical_devices("GPU"))


def make_distribution(name: str = "auto", env: Mapping[str, str] | None = None) -> Distribution:
    """Set up the strategy ``name`` stands for in this process.

    Call it before any other TensorFlow operation of the process: ``MultiWorkerMirroredStrategy``
    must configure the collective ops at start-up.
    """
    cluster = parse_tf_config(env)
    backend = keras.backend.backend()
    chosen = choose_strategy(name, backend, cluster, local_gpus() if backend == "tensorflow" else 0)
    if chosen == "one":
        if cluster is not None and cluster.num_workers > 1:
            logger.warning("TF_CONFIG names %d workers but the strategy is 'one': this process trains alone.",
                           cluster.num_workers)
        return Distribution("one", None, 1, SINGLE)
    import tensorflow as tf

    if chosen == "mirrored":
        strategy = tf.distribute.MirroredStrategy()
        cluster = SINGLE
    else:
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    dist = Distribution(chosen, strategy, int(strategy.num_replicas_in_sync), cluster)
    logger.info("strategy %s: %d replica(s) in sync, worker %d of %d%s", chosen, dist.replicas,
                cluster.worker_index, cluster.num_workers, " (chief)" if cluster.is_chief else "")
    return dist


class SyncStop(keras.callbacks.Callback):
    """Makes every worker stop training at the same batch (multi-worker runs).

    A worker that leaves ``fit`` while another waits for it in a collective would hang the
    cluster. Losses and validation metrics are already reduced over all workers, so NaN and
    plateau decisions agree; the wall-clock budget (``max_time``) does not: after each batch and
    each epoch this callback stops every worker when any worker set ``model.stop_training`` (a sum of flags). A
    worker stopped by another's budget records ``state.stopped = "time_budget"``.

    Args:
        dist: the run's :class:`Distribution`.
        state: the run's :class:`~genorm.training.callbacks.TrainingState`.
    """

    def __init__(self, dist: Distribution, state):
        super().__init__()
        import tensorflow as tf

        self.state = state
        strategy = dist.strategy

        @tf.function
        def any_stop(flag):
            per_replica = strategy.run(lambda: tf.identity(flag))
            return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

        self._any_stop = any_stop
        self._tf = tf

    def _sync(self) -> None:
        mine = bool(self.model.stop_training)
        stop = bool(self._any_stop(self._tf.constant(1.0 if mine else 0.0)).numpy() > 0)
        if stop and not mine:
            logger.info("Another worker reached the time budget: stopping after this batch.")
            if not self.state.stopped:
                self.state.stopped = "time_budget"
        self.model.stop_training = stop

    def on_train_batch_end(self, batch, logs=None):
        self._sync()

    def on_epoch_end(self, epoch, logs=None):
        self._sync()


@contextlib.contextmanager
def worker_scratch(out_dir: str | os.PathLike, resume: bool) -> Iterator[Path]:
    """A private temporary run directory for a non-chief worker, deleted on exit.

    With ``resume`` the chief's ``config.json``, ``provenance.json``, ``splits.bed`` and
    backup are copied in first (the run directory must then be on a filesystem every worker
    sees), so that the worker restores the same state as the chief.
    """
    from genorm import rundir
    from genorm.training import backup

    scratch = Path(tempfile.mkdtemp(prefix="genorm-worker-"))
    try:
        if resume:
            src = Path(out_dir)
            for name in (rundir.CONFIG, rundir.PROVENANCE, rundir.SPLITS, rundir.MODEL):
                if (src / name).is_file():
                    shutil.copy2(src / name, scratch / name)
            backup.copy(src, scratch)
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
