"""Adaptive evaluation ("dynamic evaluation", Krause et al. 2018): the model keeps learning while it reads.

An interval is read chunk by chunk (``chunk`` bases at a time, recurrent state carried). Each
chunk is **first predicted and scored**, with the weights as they are; then the model takes one
gradient step (plain SGD or Adam, ``learning_rate``) on the masked mean cross-entropy of that same
forward pass, and only then reads the next chunk. The loss holds only the *scored* targets of the
chunk (never warm-up context, never N), so no base is ever predicted by weights that were updated
on it. No gradient flows through the carried state (truncated back-propagation over one chunk).

The adapting weights are a copy (:attr:`AdaptiveStepper.model`, built by
:func:`genorm.stepper.make_stepper`): the model you pass, and a run's saved ``model.keras``, are
never changed.

``lanes``: an interval is cut into that many segments that run side by side as the rows of one
batch and share one set of adapting weights. With ``warmup=0`` (default) a segment starts cold:
its first base is predicted from the empty context (as an interval's first base is), before any
update, so every base the model reads, as input or as target, has been scored already. With
``warmup=W`` a segment first reads the ``W`` bases before it from the zero state (read, never
scored, never a target in the loss); those bases may then be read before the previous segment
has scored them (as context only), so ``warmup=0`` is the strict choice.
``carry=False`` (default): weights, optimizer and state restart at every interval, so the numbers
of an interval do not depend on which intervals were evaluated before it; ``carry=True``: the
weights (not the state) carry from one interval to the next, in the order given.

===========  ==========================  ==========================================================
array        shape, dtype                meaning
===========  ==========================  ==========================================================
codes        ``(B, T) int32``            inputs, codes A=0 C=1 G=2 T=3 N=4
targets      ``(B, T) int32``            the base after each input (``codes`` shifted by one)
mask         ``(B, T) float32``          1 where the target is scored and enters the loss, else 0
logits       ``(B, T, 4) float32``       predictions of ``targets``, made before the update
===========  ==========================  ==========================================================
"""

from __future__ import annotations

import logging
import math
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from genorm.encoding import N
from genorm.errors import ConfigError
from genorm.validate import check_bool, check_choice, check_int, check_number, check_positive_int, invalid

logger = logging.getLogger(__name__)

DEFAULT_ADAPT = False
"""Whether ``genorm evaluate`` adds the adaptive model's row unless told (``--adapt / --no-adapt``). Off:
with count models (the default network) the counts updated as the model reads are the memory, and
adapting the weights costs twice the evaluation time for less than the 1 % on validation that
would keep it on by default (README, "Context-model memory"). ``score`` and ``predict`` stay static
unless ``--adapt``, and so does the Python API unless ``adapt=`` is given."""
DEFAULT_CHUNK = 50
DEFAULT_LEARNING_RATE = 0.03
DEFAULT_OPTIMIZER = "sgd"
DEFAULT_LANES = 4
DEFAULT_WARMUP = 0
DEFAULT_CARRY = False
OPTIMIZERS = ("sgd", "adam")
MAX_LEARNING_RATE = 10.0
"""The largest adaptive learning rate accepted (training's bound too): far above any useful one; beyond it
a step overflows float32 and every number of the report would be NaN or infinite."""
ADAPT_ROW = "model+adapt"
"""The report's row of the adaptive model (the static model's row stays ``model``)."""


@dataclass(frozen=True)
class AdaptConfig:
    """How the model adapts while it is evaluated (see the module docstring).

    Attributes:
        chunk: bases read (and scored) between two gradient steps (>= 2).
        learning_rate: step size (>= 0; 0 gives the static model's numbers).
        optimizer: ``"sgd"`` (plain) or ``"adam"``.
        lanes: segments of one interval run side by side, sharing the adapting weights.
        warmup: bases of context each segment but the first reads before its first scored base.
        carry: False: weights and state restart at each interval; True: weights carry across
            intervals in order.

    >>> AdaptConfig(chunk=50, learning_rate=0.01).optimizer
    'sgd'
    """

    chunk: int = DEFAULT_CHUNK
    learning_rate: float = DEFAULT_LEARNING_RATE
    optimizer: str = DEFAULT_OPTIMIZER
    lanes: int = DEFAULT_LANES
    warmup: int = DEFAULT_WARMUP
    carry: bool = DEFAULT_CARRY

    def __post_init__(self) -> None:
        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731
        set_("chunk", check_int("adapt.chunk", self.chunk, 2, expected="an integer >= 2 (bases per update)"))
        set_("learning_rate", check_number("adapt.learning_rate", self.learning_rate, 0.0, MAX_LEARNING_RATE))
        set_("optimizer", check_choice("adapt.optimizer", self.optimizer, OPTIMIZERS))
        set_("lanes", check_positive_int("adapt.lanes", self.lanes))
        set_("warmup", check_int("adapt.warmup", self.warmup, 0))
        set_("carry", check_bool("adapt.carry", self.carry))

    def describe(self) -> str:
        """One line, e.g. ``adaptive: sgd lr 0.03, one step every 50 bases, 4 lane(s) per interval (...), ...``."""
        how = "weights carried across intervals" if self.carry else "weights and state restart at each interval"
        return (f"adaptive: {self.optimizer} lr {self.learning_rate:g}, one step every {self.chunk} bases, "
                f"{self.lanes} lane(s) per interval ({self.warmup} bases warm-up), {how}")

    def to_dict(self) -> dict:
        return {"chunk": self.chunk, "learning_rate": self.learning_rate, "optimizer": self.optimizer,
                "lanes": self.lanes, "warmup": self.warmup, "carry": self.carry}


_FLAGS = {"chunk": "--adapt-chunk", "learning_rate": "--adapt-lr", "optimizer": "--adapt-optimizer",
          "lanes": "--adapt-lanes"}


def evaluate_adapts(adapt: bool | None, context: str = "full") -> bool:
    """Whether ``genorm evaluate`` adapts: ``adapt`` when given (``--adapt`` / ``--no-adapt``), else
    :data:`DEFAULT_ADAPT`, except with ``context="window"`` or a Keras backend other than TensorFlow
    (which adaptive evaluation does not support: the default then leaves the adaptive row out; an
    explicit ``--adapt`` is an error).

    >>> evaluate_adapts(None), evaluate_adapts(True), evaluate_adapts(False)
    (False, True, False)
    """
    if adapt is None:
        return DEFAULT_ADAPT and context != "window" and _backend() == "tensorflow"
    return bool(adapt)


def adapt_config(adapt: bool, **settings) -> AdaptConfig | None:
    """The configuration for ``adapt`` (on / off) and the ``settings`` given (None: the default).

    Raises:
        ConfigError: a setting given while ``adapt`` is off (it would be silently ignored), or a bad value.

    >>> adapt_config(False) is None, adapt_config(True, chunk=50).chunk
    (True, 50)
    """
    given = {k: v for k, v in settings.items() if v is not None}
    if not adapt:
        if given:
            flags = ", ".join(_FLAGS.get(k, k) for k in given)
            raise ConfigError(f"{flags} {'applies' if len(given) == 1 else 'apply'} only to adaptive evaluation: add "
                              f"--adapt (adapt=True), or leave {'it' if len(given) == 1 else 'them'} out.")
        return None
    return AdaptConfig(**given)


def _backend() -> str:
    import keras

    return keras.backend.backend()


def _check_backend() -> None:
    backend = _backend()
    if backend != "tensorflow":
        raise ConfigError(f"Adaptive evaluation needs the TensorFlow backend of Keras, but Keras runs on "
                          f"{backend!r} (KERAS_BACKEND); set KERAS_BACKEND=tensorflow, or evaluate without --adapt.")


def adapted_variables(network) -> list:
    """The weights adaptive evaluation steps: the recurrent stack and its output layer. The count
    features' projection and direct path (``context_*``) stay fixed: their inputs are log-probabilities
    and log-counts far larger than one-hot bases, and one SGD step at the adaptive learning rate
    sends them astray."""
    return [v for v in network.trainable_variables if not v.path.startswith("context")]


def _base_stepper(model, source: str | None):
    """A :class:`~genorm.stepper.NetworkStepper` from a NetworkStepper, a loaded run or a Keras model."""
    from genorm.stepper import NetworkStepper, as_stepper

    stepper = as_stepper(model, source)
    if isinstance(stepper, NetworkStepper):
        return stepper
    raise ConfigError(f"Adaptive evaluation needs a genorm model (a Keras model of genorm.model.build_model, a "
                      f"NetworkStepper or a loaded run), got {type(model).__name__}: a stepper without weights cannot "
                      "adapt.")


class AdaptiveStepper:
    """A model that scores a chunk, then takes one gradient step on it (see the module docstring).

    A stepper of :mod:`genorm.engine` that ``learns``: its network is
    :func:`genorm.model.build_network` (``state=True``) with a copy of the model's weights.

    Args:
        model: a Keras model of :func:`genorm.model.build_model`, a :class:`~genorm.stepper.NetworkStepper`
            or a loaded run; its weights are copied, never changed.
        config: an :class:`AdaptConfig`.

    Raises:
        ConfigError: Keras runs on another backend than TensorFlow, or ``model`` is not a genorm model.
    """

    learns = True

    def __init__(self, model, config: AdaptConfig | None = None, source: str | None = None):
        import keras

        from genorm.model import build_network, state_sizes

        _check_backend()

        self.config = config if config is not None else AdaptConfig()
        base = _base_stepper(model, source)
        self.base = base  # gives the count features and the lane operations of its state
        self.model = build_network(base.config, state=True)
        self.model.set_weights(base.model.get_weights())
        self._state_sizes = state_sizes(base.config)
        self._context = base.config.context
        self._original = [np.array(w) for w in self.model.get_weights()]
        cls = keras.optimizers.SGD if self.config.optimizer == "sgd" else keras.optimizers.Adam
        self._optimizer = cls(learning_rate=self.config.learning_rate)
        self._variables = adapted_variables(self.model)
        self._optimizer.build(self._variables)
        self._optimizer_original = [np.array(v) for v in self._optimizer.variables]
        self._step = self._make_step()
        self._steps = 0
        zeros = np.zeros((1, 1), np.float32)
        self.step(np.full((1, 1), N), self.initial_state(1), np.full((1, 1), N), zeros)  # trace now, not timed later
        self.reset()

    def _make_step(self):
        import tensorflow as tf

        matrix = tf.TensorSpec((None, None), tf.int32)
        extra = [tf.TensorSpec((None, None, self._context), tf.float32)] if self._context else []
        signature = [matrix, matrix, tf.TensorSpec((None, None), tf.float32)] + extra + \
            [tf.TensorSpec((None, n), tf.float32) for n in self._state_sizes]
        model, optimizer = self.model, self._optimizer

        @tf.function(input_signature=signature, autograph=False)
        def step(codes, targets, mask, *rest):
            variables = self._variables
            with tf.GradientTape() as tape:
                logits, *new_state = model([codes, *rest], training=False)
                ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.minimum(targets, 3), logits=logits)
                loss = tf.reduce_sum(ce * mask) / tf.maximum(tf.reduce_sum(mask), 1.0)
            grads = tape.gradient(loss, variables)
            optimizer.apply_gradients(zip(grads, variables))
            return [logits, *new_state]

        return step

    def configure(self, config: AdaptConfig) -> None:
        """Take ``config`` (its optimizer must be this stepper's: one traced step per optimizer), and reset."""
        if config.optimizer != self.config.optimizer:
            raise ConfigError(f"This adaptive stepper was built for {self.config.optimizer!r}, not "
                              f"{config.optimizer!r}: use make_adaptive(model, config).")
        self.reset()
        self.config = config
        self._optimizer.learning_rate = config.learning_rate
        self._optimizer_original = [np.array(v) for v in self._optimizer.variables]

    def reset(self) -> None:
        """Restore the original weights and the optimizer's initial state."""
        self._steps = 0
        self.model.set_weights(self._original)
        for variable, value in zip(self._optimizer.variables, self._optimizer_original):
            variable.assign(value)

    def initial_state(self, batch: int) -> list:
        """Fresh states for ``batch`` sequences (as the base stepper's: recurrent zeros, count streams)."""
        return self.base.initial_state(batch)

    def reset_lanes(self, state, rows):
        return self.base.reset_lanes(state, rows)

    def select_lanes(self, state, rows):
        return self.base.select_lanes(state, rows)

    def copy_lane(self, state, src, dst):
        return self.base.copy_lane(state, src, dst)

    def lane_bytes(self, bases: int) -> int:
        return self.base.lane_bytes(bases)

    def initial_logits(self) -> np.ndarray:
        """``(4,) float32`` logits of a first base (empty context), with the current weights."""
        from genorm.stepper import initial_logits_of

        return initial_logits_of(self.model, self.base.config, self.base.empty_features())

    def step(self, codes: np.ndarray, state: list[np.ndarray], targets: np.ndarray,
             mask: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """Score one chunk, then take one gradient step on its masked targets.

        Args:
            codes, targets: ``(B, T) int`` codes 0-4; mask: ``(B, T)`` 1 for targets in the loss.
            state: from :meth:`initial_state` or the previous step.

        Returns:
            ``(logits (B, T, 4) float32, new_state)``: logits computed before the update.
        """
        codes = np.asarray(codes)
        if codes.ndim != 2 or codes.shape[1] < 1 or np.shape(targets) != codes.shape or np.shape(mask) != codes.shape:
            raise invalid(("codes", "targets", "mask"), "three arrays of one shape (B, T) with T >= 1",
                          shown=f"{codes.shape}, {np.shape(targets)} and {np.shape(mask)}")
        inputs, arrays = self.base.inputs(codes.astype(np.int32), state)
        out = self._step(inputs[0], np.asarray(targets, np.int32), np.asarray(mask, np.float32), *inputs[1:], *arrays)
        logits, *new_state = [t.numpy() for t in out]
        self._steps += 1
        logits, rest = self.base.mix(logits, codes, inputs, list(state[len(arrays):]))  # the online mixer, if any
        return logits, new_state + rest


_SHARED: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
"""One adaptive copy per (Stepper, optimizer): a Stepper's weights are a snapshot that never changes."""


def make_adaptive(model, config: AdaptConfig | None = None, source: str | None = None) -> AdaptiveStepper:
    """An :class:`AdaptiveStepper` for ``model`` with ``config`` (default: the defaults), reset.

    For a :class:`~genorm.stepper.Stepper` (whose weights never change), the adaptive copy is made
    (and traced) once per optimizer and shared: each call reconfigures and resets it.
    """
    from genorm.stepper import NetworkStepper

    config = config if config is not None else AdaptConfig()
    _check_backend()
    if not isinstance(model, NetworkStepper):
        return AdaptiveStepper(model, config, source=source)
    shared = _SHARED.setdefault(model, {})
    if config.optimizer not in shared:
        shared[config.optimizer] = AdaptiveStepper(model, config, source=source)
    adaptive = shared[config.optimizer]
    adaptive.configure(config)
    return adaptive


def plan_segments(record: int, start: int, end: int, config: AdaptConfig) -> list:
    """The :class:`~genorm.engine.Lane` s of one interval: ``config.lanes`` segments side by side
    (none shorter than two chunks), each with ``config.warmup`` bases of context before it."""
    from genorm.engine import Lane

    n = end - start
    lanes = max(1, min(config.lanes, n // (2 * config.chunk)))
    size = math.ceil(n / lanes)
    return [Lane(record, start + max(0, a - config.warmup), start + a, start + min(a + size, n))
            for a in range(0, n, size)]


def _check_finite(logits, config: AdaptConfig, steps: int) -> None:
    """A step that made the weights NaN or infinite is an error: no NaN or infinite metric is ever reported."""
    if not np.isfinite(np.asarray(logits)).all():
        raise ConfigError(f"Adaptive evaluation diverged: after {steps:,} updates with learning rate "
                          f"{config.learning_rate:g} ({config.optimizer}) the model's predictions are NaN or "
                          f"infinite, so no metric can be reported. Use a smaller --adapt-lr (default "
                          f"{DEFAULT_LEARNING_RATE:g}), or evaluate without --adapt.")


def _stream_interval(stepper: AdaptiveStepper, genome, record: int, start: int, end: int):
    """The adaptive predictions of one interval through :func:`genorm.engine.stream` (not reset here);
    a step that made the predictions NaN or infinite is an error."""
    from genorm.engine import stream

    lanes = plan_segments(record, start, end, stepper.config)
    for scored in stream(stepper, genome, lanes, batch_size=len(lanes), chunk=stepper.config.chunk):
        _check_finite(scored[2], stepper.config, getattr(stepper, "_steps", 0))
        yield scored


def adapt_interval(stepper: AdaptiveStepper, codes: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Adaptive predictions of every base of one sequence of ``codes (n,)`` (the stepper is not reset here).

    Yields:
        ``(positions (m,) int64, logits (m, 4) float32)`` blocks; base 0 from the empty context,
        every base once, N included (scored by the caller or not, never in the loss).
    """
    from genorm.engine import Sequences

    codes = np.asarray(codes, np.uint8)
    for _, pos, logits in _stream_interval(stepper, Sequences([codes]), 0, 0, int(codes.size)):
        yield pos, logits


def stream_adaptive(stepper: AdaptiveStepper, genome, intervals: Sequence[tuple[int, int, int]],
                    progress: Callable[[int, int | None, str], None] | None = None,
                    ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Adaptive predictions of every base of ``intervals`` of ``genome``, interval after interval, in order.

    Weights, optimizer and state restart at each interval (``carry=False``), or only at the first
    (``carry=True``: weights carried, state still restarted).

    Yields:
        ``(records (n,) int64, positions (n,) int64, logits (n, 4) float32)`` as
        :func:`genorm.engine.stream` does.
    """
    total = sum(max(0, e - s) for _, s, e in intervals)
    done = 0
    for k, (r, s, e) in enumerate(intervals):
        if e <= s:
            continue
        if k == 0 or not stepper.config.carry:
            stepper.reset()
        for scored in _stream_interval(stepper, genome, r, s, e):
            done += scored[0].size
            yield scored
            if progress is not None:
                progress(done, total, "adapt")


def adaptive_logits(stepper: AdaptiveStepper, codes: np.ndarray, block: int) -> Iterator[tuple[int, np.ndarray]]:
    """``(start, logits (m, 4))`` blocks of one sequence in order, ``m <= block`` (for :class:`genorm.predict.Predictor`).

    One lane: streamed as computed. More lanes: the whole sequence's logits are held
    (16 bytes per base) and then given in blocks.
    """
    from genorm.engine import Sequences, in_blocks

    codes = np.asarray(codes, np.uint8)
    n = int(codes.size)
    scored = _stream_interval(stepper, Sequences([codes]), 0, 0, n)
    if len(plan_segments(0, 0, n, stepper.config)) == 1:
        yield from in_blocks(scored, n, block)
        return
    from genorm.memory import check_memory

    check_memory(16 * n, f"Adaptive prediction of a sequence of {n:,} bases in {stepper.config.lanes} lanes",
                 "use one lane (--adapt-lanes 1), which streams")
    out = np.empty((n, 4), np.float32)
    for _, pos, logits in scored:
        out[pos] = logits
    for a in range(0, n, block):
        yield a, out[a:a + block]


def resolve_adapt(adapt, default: AdaptConfig | None = None) -> AdaptConfig | None:
    """The configuration a call uses: ``adapt`` when given, ``default`` when None, none for False.

    Raises:
        ConfigError: ``adapt`` is neither None, False nor an :class:`AdaptConfig`.
    """
    adapt = default if adapt is None else (None if adapt is False else adapt)
    if adapt is not None and not isinstance(adapt, AdaptConfig):
        raise invalid("adapt", "None, False or an AdaptConfig (genorm.evaluation.adapt)", adapt)
    return adapt


__all__ = ["ADAPT_ROW", "AdaptConfig", "AdaptiveStepper", "DEFAULT_ADAPT", "DEFAULT_CARRY", "DEFAULT_CHUNK",
           "DEFAULT_LANES", "DEFAULT_LEARNING_RATE", "DEFAULT_OPTIMIZER", "DEFAULT_WARMUP", "MAX_LEARNING_RATE",
           "OPTIMIZERS", "adapt_config", "adapt_interval", "evaluate_adapts", "plan_segments", "adaptive_logits",
           "make_adaptive", "resolve_adapt", "stream_adaptive"]
