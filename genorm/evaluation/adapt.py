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
from genorm.validate import check_bool, check_choice, check_int, check_number, check_positive_int

logger = logging.getLogger(__name__)

DEFAULT_ADAPT = True
"""Whether ``genorm evaluate`` adds the adaptive model's row unless told (``--adapt / --no-adapt``):
the winner on validation of ``benchmarks/bench_memory.py`` (README). ``score`` and ``predict`` stay
static unless ``--adapt`` (their per-base outputs are compared across runs), and so does the Python
API unless ``adapt=`` is given."""
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

    >>> evaluate_adapts(None), evaluate_adapts(None, "window"), evaluate_adapts(False)
    (True, False, False)
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


def _base_stepper(model, source: str | None):
    """A :class:`~genorm.stepper.Stepper` from a Stepper, a loaded run or a Keras model."""
    import keras

    from genorm.stepper import Stepper, make_stepper

    if isinstance(model, Stepper):
        return model
    if callable(getattr(model, "stepper", None)):
        return model.stepper()
    if isinstance(model, keras.Model):
        return make_stepper(model, source=source)
    raise ConfigError(f"Adaptive evaluation needs a genorm model (a Keras model of genorm.model.build_model, a "
                      f"Stepper or a loaded run), got {type(model).__name__}: a stepper without weights cannot "
                      "adapt.")


class AdaptiveStepper:
    """A model that scores a chunk, then takes one gradient step on it (see the module docstring).

    Args:
        model: a Keras model of :func:`genorm.model.build_model`, a :class:`~genorm.stepper.Stepper`
            or a loaded run; its weights are copied, never changed.
        config: an :class:`AdaptConfig`.

    Raises:
        ConfigError: Keras runs on another backend than TensorFlow, or ``model`` is not a genorm model.
    """

    def __init__(self, model, config: AdaptConfig | None = None, source: str | None = None):
        import keras

        _check_backend()

        self.config = config if config is not None else AdaptConfig()
        base = _base_stepper(model, source)
        self.model = keras.models.clone_model(base.model)
        self.model.set_weights(base.model.get_weights())
        self._state_sizes = [int(s.shape[1]) for s in base.initial_state(1)]
        self._original = [np.array(w) for w in self.model.get_weights()]
        cls = keras.optimizers.SGD if self.config.optimizer == "sgd" else keras.optimizers.Adam
        self._optimizer = cls(learning_rate=self.config.learning_rate)
        self._optimizer.build(self.model.trainable_variables)
        self._optimizer_original = [np.array(v) for v in self._optimizer.variables]
        self._logits = self.model.get_layer("logits")
        self._step = self._make_step()
        zeros = np.zeros((1, 1), np.float32)
        self.step(np.full((1, 1), N), self.initial_state(1), np.full((1, 1), N), zeros)  # trace now, not timed later
        self.reset()

    def _make_step(self):
        import tensorflow as tf

        matrix = tf.TensorSpec((None, None), tf.int32)
        signature = [matrix, matrix, tf.TensorSpec((None, None), tf.float32)] + \
            [tf.TensorSpec((None, n), tf.float32) for n in self._state_sizes]
        model, optimizer = self.model, self._optimizer

        @tf.function(input_signature=signature, autograph=False)
        def step(codes, targets, mask, *state):
            variables = model.trainable_variables
            with tf.GradientTape() as tape:
                logits, *new_state = model([codes, *state], training=False)
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
        self.model.set_weights(self._original)
        for variable, value in zip(self._optimizer.variables, self._optimizer_original):
            variable.assign(value)

    def initial_state(self, batch: int) -> list[np.ndarray]:
        """Zero states for ``batch`` sequences: list of ``(batch, units) float32``."""
        batch = check_positive_int("batch", batch)
        return [np.zeros((batch, n), dtype=np.float32) for n in self._state_sizes]

    def initial_logits(self) -> np.ndarray:
        """``(4,) float32`` logits of a first base (empty context), with the current weights."""
        if not self._logits.use_bias:
            return np.zeros(4, np.float32)
        return np.asarray(self._logits.bias, dtype=np.float32).copy()

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
            raise ConfigError(f"Received an invalid value for `codes`, `targets` or `mask`, expected three arrays of "
                              f"one shape (B, T) with T >= 1, got {codes.shape}, {np.shape(targets)} and "
                              f"{np.shape(mask)}.")
        out = self._step(codes.astype(np.int32), np.asarray(targets, np.int32), np.asarray(mask, np.float32),
                         *[np.asarray(s, np.float32) for s in state])
        logits, *new_state = [t.numpy() for t in out]
        return logits, new_state


_SHARED: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
"""One adaptive copy per (Stepper, optimizer): a Stepper's weights are a snapshot that never changes."""


def make_adaptive(model, config: AdaptConfig | None = None, source: str | None = None) -> AdaptiveStepper:
    """An :class:`AdaptiveStepper` for ``model`` with ``config`` (default: the defaults), reset.

    For a :class:`~genorm.stepper.Stepper` (whose weights never change), the adaptive copy is made
    (and traced) once per optimizer and shared: each call reconfigures and resets it.
    """
    from genorm.stepper import Stepper

    config = config if config is not None else AdaptConfig()
    _check_backend()
    if not isinstance(model, Stepper):
        return AdaptiveStepper(model, config, source=source)
    shared = _SHARED.setdefault(model, {})
    if config.optimizer not in shared:
        shared[config.optimizer] = AdaptiveStepper(model, config, source=source)
    adaptive = shared[config.optimizer]
    adaptive.configure(config)
    return adaptive


Block = tuple[np.ndarray, np.ndarray]
"""``(positions (n,) int64, logits (n, 4) float32)`` of scored bases, positions relative to the interval."""


def _segments(n: int, config: AdaptConfig) -> list[tuple[int, int, int]]:
    """``(context start, first scored, end)`` of each lane of an interval of ``n`` bases."""
    lanes = max(1, min(config.lanes, n // (2 * config.chunk)))  # no lane shorter than two chunks
    size = math.ceil(n / lanes)
    return [(max(0, a - config.warmup), a, min(a + size, n)) for a in range(0, n, size)]


def _check_finite(logits, config: AdaptConfig, ctx_base: int) -> None:
    """A step that made the weights NaN or infinite is an error: no NaN or infinite metric is ever reported."""
    if not np.isfinite(np.asarray(logits)).all():
        raise ConfigError(f"Adaptive evaluation diverged: after {ctx_base:,} bases of updates with learning rate "
                          f"{config.learning_rate:g} ({config.optimizer}) the model's predictions are NaN or "
                          f"infinite, so no metric can be reported. Use a smaller --adapt-lr (default "
                          f"{DEFAULT_LEARNING_RATE:g}), or evaluate without --adapt.")


def adapt_interval(stepper: AdaptiveStepper, codes: np.ndarray) -> Iterator[Block]:
    """Adaptive predictions of every base of one interval (the stepper is not reset here).

    Args:
        stepper: an :class:`AdaptiveStepper`.
        codes: ``(n,)`` codes 0-4 of the interval.

    Yields:
        ``(positions, logits)`` blocks; base 0 from the empty context, every base once, N included
        (scored by the caller or not, never in the loss). With one lane, positions come in order.
    """
    codes = np.asarray(codes)
    n = int(codes.size)
    if n == 0:
        return
    lanes = _segments(n, stepper.config)
    cold = np.array([first for ctx, first, _ in lanes if ctx == first], np.int64)  # no context: scored first
    yield cold, np.repeat(stepper.initial_logits()[None, :], cold.size, axis=0)
    if n < 2:
        return
    chunk = stepper.config.chunk
    steps = max(end - 1 - ctx for ctx, _, end in lanes)
    state = stepper.initial_state(len(lanes))
    for t0 in range(0, steps, chunk):
        t = min(chunk, steps - t0)
        inputs = np.full((len(lanes), t), N, np.int32)
        targets = np.full((len(lanes), t), N, np.int32)
        mask = np.zeros((len(lanes), t), np.float32)
        spans = []
        for i, (ctx, first, end) in enumerate(lanes):
            p0 = ctx + t0
            m = min(t, end - 1 - p0)
            lo = max(0, first - (p0 if ctx == first else p0 + 1))  # input p predicts base p + 1 > first (cold)
            if m <= lo:
                continue
            inputs[i, :m] = codes[p0:p0 + m]
            targets[i, :m] = codes[p0 + 1:p0 + 1 + m]
            mask[i, lo:m] = targets[i, lo:m] != N
            spans.append((i, p0, lo, m))
        logits, state = stepper.step(inputs, state, targets, mask)
        _check_finite(logits, stepper.config, ctx_base=t0)
        for i, p0, lo, m in spans:
            yield np.arange(p0 + 1 + lo, p0 + 1 + m, dtype=np.int64), logits[i, lo:m]


def stream_adaptive(stepper: AdaptiveStepper, genome, intervals: Sequence[tuple[int, int, int]],
                    progress: Callable[[int, int | None, str], None] | None = None,
                    ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Adaptive predictions of every base of ``intervals`` of ``genome``, interval after interval, in order.

    Weights, optimizer and state restart at each interval (``carry=False``), or only at the first
    (``carry=True``: weights carried, state still restarted).

    Yields:
        ``(records (n,) int64, positions (n,) int64, logits (n, 4) float32)`` as
        :func:`genorm.evaluation.lanes.stream_logits` does.
    """
    from genorm.encoding import CODE_BITS

    total = sum(max(0, e - s) for _, s, e in intervals)
    done = 0
    for k, (r, s, e) in enumerate(intervals):
        if k == 0 or not stepper.config.carry:
            stepper.reset()
        codes = genome.packed_record(r)[s:e] & CODE_BITS
        for pos, logits in adapt_interval(stepper, codes):
            done += pos.size
            yield np.full(pos.size, r, np.int64), pos + s, np.asarray(logits, np.float32)
            if progress is not None:
                progress(done, total, "adapt")


def adaptive_logits(stepper: AdaptiveStepper, codes: np.ndarray, block: int) -> Iterator[tuple[int, np.ndarray]]:
    """``(start, logits (m, 4))`` blocks of one sequence in order, ``m <= block`` (for :class:`genorm.predict.Predictor`).

    One lane: streamed as computed. More lanes: the whole sequence's logits are held
    (16 bytes per base) and then given in blocks.
    """
    codes = np.asarray(codes, np.int32)
    n = int(codes.size)
    if stepper.config.lanes == 1 or n < 4 * stepper.config.chunk:  # one lane (see _segments)
        parts = ((int(pos[0]), logits) for pos, logits in adapt_interval(stepper, codes) if pos.size)
    else:
        from genorm.training.memory import check_memory

        check_memory(16 * n, f"Adaptive prediction of a sequence of {n:,} bases in {stepper.config.lanes} lanes",
                     "use one lane (--adapt-lanes 1), which streams")
        out = np.empty((n, 4), np.float32)
        for pos, logits in adapt_interval(stepper, codes):
            out[pos] = logits
        parts = iter([(0, out)])
    for start, logits in parts:
        for a in range(0, len(logits), block):
            yield start + a, logits[a:a + block]


def resolve_adapt(adapt, default: AdaptConfig | None = None) -> AdaptConfig | None:
    """The configuration a call uses: ``adapt`` when given, ``default`` when None, none for False.

    Raises:
        ConfigError: ``adapt`` is neither None, False nor an :class:`AdaptConfig`.
    """
    adapt = default if adapt is None else (None if adapt is False else adapt)
    if adapt is not None and not isinstance(adapt, AdaptConfig):
        raise ConfigError(f"Received an invalid value for `adapt`, expected None, False or an AdaptConfig "
                          f"(genorm.evaluation.adapt), got {adapt!r}.")
    return adapt


__all__ = ["ADAPT_ROW", "AdaptConfig", "AdaptiveStepper", "DEFAULT_ADAPT", "DEFAULT_CARRY", "DEFAULT_CHUNK",
           "DEFAULT_LANES", "DEFAULT_LEARNING_RATE", "DEFAULT_OPTIMIZER", "DEFAULT_WARMUP", "MAX_LEARNING_RATE",
           "OPTIMIZERS",
           "adapt_config", "adapt_interval", "evaluate_adapts", "adaptive_logits", "make_adaptive", "resolve_adapt", "stream_adaptive"]
