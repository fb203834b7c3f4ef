"""How many CPU threads genorm may use: one number for TensorFlow, tf.data and BLAS.

On a shared node a job gets N cores (Snakemake ``threads:``, Nextflow ``cpus``, SLURM
``--cpus-per-task``) and must not use more. genorm's default is every core this process may
run on (``os.sched_getaffinity``, which already honours ``taskset`` and cgroup CPU sets), not
every core of the machine.

What can be bounded, and when:

* **TensorFlow**'s intra-op (one kernel split over cores) and inter-op (independent kernels at
  once) thread pools: :func:`limit_threads` sets both through ``tf.config.threading``. This only
  works before TensorFlow runs its first operation; afterwards TensorFlow raises, and
  :func:`limit_threads` reports it as an error instead of silently using every core.
* **tf.data**'s own thread pool (``make_dataset(..., threads=N)``: a private thread pool of N).
* **BLAS / OpenMP** (NumPy's OpenBLAS, MKL, oneDNN's OpenMP): these libraries read
  ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS`` and ``MKL_NUM_THREADS`` once, when they are
  loaded. :func:`limit_threads` sets the variables, which bounds every library loaded later
  and every child process; NumPy is already loaded by then (``import genorm`` imports it), so
  its OpenBLAS pool is bounded only if ``threadpoolctl`` is installed (it is then used), or
  when the variables are set before Python starts (``OMP_NUM_THREADS=4 genorm ...``).
  genorm's NumPy work is element-wise (no large matrix products), so this pool stays idle.

>>> available_cores() >= 1
True
"""

from __future__ import annotations

import logging
import os

from genorm.errors import ConfigError
from genorm.validate import check_positive_int

logger = logging.getLogger(__name__)

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
"""Environment variables that bound BLAS / OpenMP thread pools when those libraries load."""


OVERSUBSCRIBE = 4
"""``threads`` may be at most this many times the available cores."""


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity; ``os.cpu_count()`` where that is unknown)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def resolve_threads(threads: int | None) -> int:
    """``threads`` checked (a positive integer, at most :data:`OVERSUBSCRIBE` × the available cores), or
    :func:`available_cores` when None.

    More threads than cores only adds switching; tens of thousands take TensorFlow minutes to create and
    then abort it, so the number is bounded.
    """
    if threads is None:
        return available_cores()
    n = check_positive_int("threads", threads)
    cores = available_cores()
    if n > OVERSUBSCRIBE * cores:
        from genorm.validate import invalid

        raise invalid("threads", f"a positive integer up to {OVERSUBSCRIBE * cores} ({OVERSUBSCRIBE} × the {cores} "
                                 "cores this process may use)", threads)
    return n


def set_thread_variables(threads: int) -> None:
    """Set :data:`THREAD_VARIABLES` to ``threads`` (for libraries loaded later and child processes),
    and bound NumPy's already-loaded BLAS through ``threadpoolctl`` when it is installed."""
    for name in THREAD_VARIABLES:
        os.environ[name] = str(threads)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(threads)


def limit_threads(threads: int | None = None) -> int:
    """Use at most ``threads`` CPU threads (default: all available cores); returns the number.

    Sets the BLAS/OpenMP variables (:func:`set_thread_variables`) and TensorFlow's intra-op and
    inter-op thread pools. Call it before TensorFlow runs any operation; calling it again with
    the same number is harmless. With ``threads=None`` in a process where TensorFlow has
    already started, its pools are left as they are.

    Raises:
        ConfigError: ``threads`` is not a positive integer, or TensorFlow has already started
            with other settings (call it earlier, before building a model or a dataset).
    """
    n = resolve_threads(threads)
    set_thread_variables(n)
    import tensorflow as tf  # after the variables: oneDNN's OpenMP reads them when it loads

    threading = tf.config.threading
    if (threading.get_intra_op_parallelism_threads(), threading.get_inter_op_parallelism_threads()) == (n, n):
        return n
    try:
        threading.set_intra_op_parallelism_threads(n)
        threading.set_inter_op_parallelism_threads(n)
    except RuntimeError as exc:
        if threads is None:
            logger.debug("TensorFlow has already started: its thread pools are left as they are.")
            return n
        raise ConfigError(f"Cannot limit TensorFlow to {n} thread(s): it has already started ({exc}). Set the "
                          "threads before building a model or a dataset.") from None
    logger.info("threads: %d (TensorFlow intra-op and inter-op, tf.data, BLAS/OpenMP)", n)
    return n
