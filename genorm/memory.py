"""Up-front memory estimates, so that an absurd option is a clear error, not an out-of-memory crash.

A model or a batch that cannot fit in this machine's memory would otherwise fail deep inside
TensorFlow (``ResourceExhaustedError``, ``MemoryError``, a C++ cast error for a too-large
integer) or be killed by the kernel, after the run directory was already started. The
estimates are deliberately rough upper bounds (within a small factor): they exist to catch
values that are off by orders of magnitude, not to plan a run.

>>> training_bytes(ModelConfig(cell="gru", units=128, layers=2), batch_size=128, window=200) < 1e9
True
>>> check_memory(10**30, "a test", "use less")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
genorm.errors.ConfigError: a test needs about 1e+21 GB of memory, but this machine has ... GB; use less.
"""

from __future__ import annotations

import logging
import os

from genorm.config import CELL_TABLE, ModelConfig
from genorm.errors import ConfigError

logger = logging.getLogger(__name__)

GATES = {name: cell.gates for name, cell in CELL_TABLE.items()}
"""Weight blocks per recurrent cell (from :data:`genorm.config.CELL_TABLE`)."""


def physical_memory() -> int | None:
    """Bytes of physical memory of this machine, or None where the system does not say."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return None


def model_parameters(model: ModelConfig) -> int:
    """Number of weights of the model :func:`genorm.model.build_model` makes (recurrent stack + Dense(4))."""
    gates, u = GATES.get(model.cell, 4), model.units
    first = gates * (4 * u + u * u + 2 * u)  # closed form: --layers may be absurd, never loop over it
    rest = (model.layers - 1) * gates * (u * u + u * u + 2 * u)
    return first + rest + u * 4 + 4


def training_bytes(model: ModelConfig, batch_size: int, window: int) -> int:
    """Rough memory of training: weights x 6 (model, best copy, gradients, two Adam moments, a saved
    copy) plus the activations kept for back-propagation of one batch (float32)."""
    gates = GATES.get(model.cell, 4)
    weights = 4 * 6 * model_parameters(model)
    activations = 4 * 2 * batch_size * window * model.layers * model.units * (gates + 2)
    inputs = batch_size * window * (16 + 4 + 4 + 4)  # one-hot, codes, targets, weights
    return weights + activations + inputs


def check_memory(need: int, what: str, advice: str) -> None:
    """Raise :class:`ConfigError` when ``need`` bytes exceed this machine's physical memory.

    Args:
        need: estimated bytes.
        what: what needs them, e.g. "a GRU of 2 layers x 100,000 units with batches of 128 x 200".
        advice: what to do, e.g. "reduce --units".
    """
    total = physical_memory()
    if total is None or need <= total:
        return
    raise ConfigError(f"{what} needs about {need / 1e9:.3g} GB of memory, but this machine has "
                      f"{total / 1e9:.3g} GB; {advice}.")


def check_training(model: ModelConfig, batch_size: int, window: int) -> None:
    """:func:`check_memory` for training ``model`` on batches of ``batch_size`` x ``window`` bases."""
    check_memory(training_bytes(model, batch_size, window),
                 f"Training a {model.cell} of {model.layers:,} layer(s) x {model.units:,} units on batches of "
                 f"{batch_size:,} windows x {window:,} bases",
                 "reduce --units, --layers, --batch-size or --window")
