"""The textbook recurrent network in NumPy: forward pass, back-propagation through time.

genorm's correctness oracle and teaching aid. Readable first: one time step per loop
iteration, the equations next to the code. ``tests/test_textbook_rnn.py`` proves that genorm's
Keras ``simple_rnn`` model (:func:`genorm.model.build_model`) computes exactly this network,
outputs and gradients.

Notation (column vectors, as in the classic "hello" example)::

    V   vocabulary size (4 for h, e, l, o; 4 for A, C, G, T)     H   hidden units
    x_t ∈ R^V        one-hot input at step t (all zeros for an unknown letter such as N)
    h_t ∈ R^H        hidden state, h_0 = 0 unless given
    W_xh (H, V)      input weights          W_hh (H, H)  recurrent weights    b_h (H,)
    W_hy (V, H)      output weights         b_y (V,)

Forward, for t = 1 … T::

    z_t = W_xh x_t + W_hh h_{t-1} + b_h
    h_t = tanh(z_t)
    y_t = W_hy h_t + b_y                    (logits)
    p_t = softmax(y_t)                      p_t[k] = exp(y_t[k]) / Σ_j exp(y_t[j])
    E   = -Σ_t log p_t[c_t]  = -Σ_t ȳ_tᵀ log p_t     (cross-entropy; ȳ_t one-hot of target c_t)

Back-propagation through time, for t = T … 1, with δh_{T+1} = 0::

    ∂E/∂y_t   = p_t - ȳ_t
    ∂E/∂W_hy += (p_t - ȳ_t) h_tᵀ            ∂E/∂b_y += p_t - ȳ_t
    ∂E/∂h_t   = W_hyᵀ (p_t - ȳ_t) + δh_{t+1}
    ∂E/∂z_t   = (1 - h_t²) ⊙ ∂E/∂h_t        (tanh' = 1 - tanh²)
    ∂E/∂W_xh += ∂E/∂z_t x_tᵀ                ∂E/∂W_hh += ∂E/∂z_t h_{t-1}ᵀ
    ∂E/∂b_h  += ∂E/∂z_t                     δh_t = W_hhᵀ ∂E/∂z_t   (passed to step t-1)

The gradients are *summed* over time steps because the weights are shared by every step.

>>> params = RNNParams.initialize(vocab_size=4, hidden_size=3, seed=0)
>>> fwd = forward(params, one_hot([0, 1, 2, 2], 4), targets=[1, 2, 2, 3])
>>> fwd.logits.shape, fwd.hidden.shape
((4, 4), (5, 3))
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from genorm.errors import ConfigError
from genorm.metrics import softmax  # NumPy only: exp(y - max) / sum exp(y - max)
from genorm.validate import check_int, check_number, invalid

PARAM_NAMES = ("W_xh", "W_hh", "b_h", "W_hy", "b_y")

# The worked example's numbers (vocabulary h, e, l, o; hidden size 3).
EXAMPLE_VOCAB = "helo"
EXAMPLE_W_XH = np.array([[0.287027, 0.84606, 0.572392, 0.486813],
                         [0.902874, 0.871522, 0.691079, 0.18998],
                         [0.537524, 0.09224, 0.558159, 0.491528]])
EXAMPLE_W_HY = np.array([[0.37168, 0.974829459, 0.830034886],
                         [0.39141, 0.282585823, 0.659835709],
                         [0.64985, 0.09821557, 0.334287084],
                         [0.91266, 0.32581642, 0.144630018]])
EXAMPLE_W_HH = 0.427043
"""The example's recurrent weight: one value for every hidden unit, so ``W_hh = 0.427043 * I``."""
EXAMPLE_B_H = 0.567001
"""The example's hidden bias, the same for every unit."""
EXAMPLE_H_H = np.array([0.693168, 0.899554, 0.802119])
"""The hidden state after 'h' (``h_1``) that the example's weights give."""
EXAMPLE_H_E = np.array([0.936534, 0.949104, 0.762341])
"""The hidden state the example shows at the step for 'e' (``h_2``)."""
EXAMPLE_Y_E = np.array([1.90607732, 1.13779113, 0.95666016, 1.27422602])
"""The output the example prints at the step for 'e', computed from its rounded ``h_2``; the
unrounded forward pass gives (1.906075, 1.137792, 0.956664, 1.274228)."""


@dataclass
class RNNParams:
    """The parameters of the network (float64 by default).

    Attributes:
        W_xh: ``(H, V)`` input → hidden.
        W_hh: ``(H, H)`` hidden → hidden.
        b_h: ``(H,)`` hidden bias.
        W_hy: ``(O, H)`` hidden → output logits (``O = V`` for next-letter prediction).
        b_y: ``(O,)`` output bias.
    """

    W_xh: np.ndarray
    W_hh: np.ndarray
    b_h: np.ndarray
    W_hy: np.ndarray
    b_y: np.ndarray

    @property
    def hidden_size(self) -> int:
        return self.W_xh.shape[0]

    @property
    def vocab_size(self) -> int:
        return self.W_xh.shape[1]

    @classmethod
    def initialize(cls, vocab_size: int, hidden_size: int, seed: int = 0, scale: float = 0.5) -> RNNParams:
        """Random weights uniform in ``[-scale, scale)``, zero biases."""
        if vocab_size <= 0 or hidden_size <= 0:
            raise invalid(("vocab_size", "hidden_size"), "positive integers",
                          shown=f"{vocab_size!r}/{hidden_size!r}")
        rng = np.random.default_rng(seed)
        u = lambda *shape: rng.uniform(-scale, scale, size=shape)  # noqa: E731
        return cls(W_xh=u(hidden_size, vocab_size), W_hh=u(hidden_size, hidden_size), b_h=np.zeros(hidden_size),
                   W_hy=u(vocab_size, hidden_size), b_y=np.zeros(vocab_size))

    @classmethod
    def example(cls) -> RNNParams:
        """The worked example's network: its ``W_xh`` and ``W_hy``, ``W_hh = 0.427043 * I`` and
        ``b_h = 0.567001`` for every unit (one recurrent weight and one bias shared by the three
        units), and no output bias.

        >>> fwd = forward(RNNParams.example(), encode_text("he", EXAMPLE_VOCAB))
        >>> _vec(fwd.hidden[2])
        '(0.936534, 0.949104, 0.762341)'
        """
        H = EXAMPLE_W_XH.shape[0]
        return cls(W_xh=EXAMPLE_W_XH.copy(), W_hh=EXAMPLE_W_HH * np.eye(H), b_h=np.full(H, EXAMPLE_B_H),
                   W_hy=EXAMPLE_W_HY.copy(), b_y=np.zeros(EXAMPLE_W_HY.shape[0]))

    def as_dict(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in PARAM_NAMES}

    def copy(self) -> RNNParams:
        return RNNParams(**{k: v.copy() for k, v in self.as_dict().items()})

    def to_keras_weights(self) -> list[np.ndarray]:
        """The weights of a one-layer ``simple_rnn`` model of :func:`genorm.model.build_model`, in
        ``model.get_weights()`` order: SimpleRNN ``kernel = W_xhᵀ``, ``recurrent_kernel = W_hhᵀ``,
        ``bias = b_h``; Dense ``kernel = W_hyᵀ``, ``bias = b_y`` (float32)."""
        return [np.asarray(a, np.float32) for a in (self.W_xh.T, self.W_hh.T, self.b_h, self.W_hy.T, self.b_y)]

    @classmethod
    def from_keras_weights(cls, weights: Sequence[np.ndarray]) -> RNNParams:
        """Inverse of :meth:`to_keras_weights` (float64)."""
        k, rk, b, dk, db = (np.asarray(w, np.float64) for w in weights)
        return cls(W_xh=k.T.copy(), W_hh=rk.T.copy(), b_h=b, W_hy=dk.T.copy(), b_y=db)


def one_hot(indices: Sequence[int], size: int) -> np.ndarray:
    """``(T, size) float64`` one-hot rows; an index outside ``[0, size)`` (e.g. N = 4 for DNA) is all zeros."""
    idx = np.asarray(indices, dtype=np.int64)
    out = np.zeros((idx.size, size))
    ok = (idx >= 0) & (idx < size)
    out[np.nonzero(ok)[0], idx[ok]] = 1.0
    return out


@dataclass
class ForwardPass:
    """Everything the forward pass computed, kept for back-propagation and for ``explain``.

    Attributes:
        inputs: ``(T, V)`` the one-hot inputs ``x_t``.
        input_part: ``(T, H)`` ``W_xh x_t``.
        recurrent_part: ``(T, H)`` ``W_hh h_{t-1} + b_h``.
        hidden: ``(T + 1, H)`` ``h_0 … h_T`` (row 0 is the initial state).
        logits: ``(T, O)`` ``y_t``.
        probs: ``(T, O)`` ``p_t = softmax(y_t)``.
        targets: ``(T,)`` target indices, or None.
        losses: ``(T,)`` ``-w_t log p_t[c_t]`` per step, or None.
        weights: ``(T,)`` ``w_t``, the weight of each step's loss (1 unless given; 0 for an N target).
    """

    inputs: np.ndarray
    input_part: np.ndarray
    recurrent_part: np.ndarray
    hidden: np.ndarray
    logits: np.ndarray
    probs: np.ndarray
    targets: np.ndarray | None = None
    losses: np.ndarray | None = None
    weights: np.ndarray | None = None

    @property
    def loss(self) -> float:
        """``E = Σ_t -log p_t[c_t]`` (nats)."""
        if self.losses is None:
            raise ConfigError("This forward pass had no targets: call forward(..., targets=...) to get a loss.")
        return float(self.losses.sum())


def forward(params: RNNParams, inputs: np.ndarray, targets: Sequence[int] | None = None,
            h0: np.ndarray | None = None, weights: Sequence[float] | None = None) -> ForwardPass:
    """Run the network over ``inputs``.

    Args:
        params: the weights.
        inputs: ``(T, V)`` one-hot rows (see :func:`one_hot`).
        targets: ``T`` target indices ``c_t`` (the letter after input t), or None.
        h0: ``(H,)`` initial state; zeros by default.
        weights: ``T`` loss weights ``w_t`` (default 1): ``E = -Σ_t w_t log p_t[c_t]``.

    Returns:
        A :class:`ForwardPass`.
    """
    xs = np.asarray(inputs, dtype=params.W_xh.dtype)
    if xs.ndim != 2 or xs.shape[1] != params.vocab_size:
        raise invalid("inputs", f"shape (T, {params.vocab_size})", xs.shape)
    T, H = xs.shape[0], params.hidden_size
    hs = np.zeros((T + 1, H), dtype=xs.dtype)
    if h0 is not None:
        hs[0] = h0
    input_part = np.zeros((T, H))
    recurrent_part = np.zeros((T, H))
    for t in range(T):
        input_part[t] = params.W_xh @ xs[t]                        # W_xh x_t
        recurrent_part[t] = params.W_hh @ hs[t] + params.b_h       # W_hh h_{t-1} + b_h
        hs[t + 1] = np.tanh(input_part[t] + recurrent_part[t])     # h_t = tanh(z_t)
    ys = hs[1:] @ params.W_hy.T + params.b_y                       # y_t = W_hy h_t + b_y
    ps = softmax(ys)
    fwd = ForwardPass(inputs=xs, input_part=input_part, recurrent_part=recurrent_part, hidden=hs,
                      logits=ys, probs=ps)
    if targets is not None:
        c = np.asarray(targets, dtype=np.int64)
        if c.shape != (T,):
            raise invalid("targets", f"{T} indices", shown=f"shape {c.shape}")
        w = np.ones(T) if weights is None else np.asarray(weights, dtype=np.float64)
        fwd.targets, fwd.weights = c, w
        fwd.losses = -w * np.log(ps[np.arange(T), c])               # -w_t log p_t[c_t]
    return fwd


def backward(params: RNNParams, fwd: ForwardPass) -> RNNParams:
    """Back-propagation through time: ``∂E/∂θ`` for every parameter, summed over the steps.

    Args:
        params: the weights used for ``fwd``.
        fwd: a :class:`ForwardPass` computed with targets.

    Returns:
        The gradients, as an :class:`RNNParams` with the same shapes.
    """
    if fwd.targets is None:
        raise ConfigError("backward() needs a forward pass with targets: forward(params, inputs, targets=...).")
    grads = RNNParams(**{k: np.zeros_like(v) for k, v in params.as_dict().items()})
    T = fwd.inputs.shape[0]
    dh_next = np.zeros(params.hidden_size)
    for t in reversed(range(T)):
        h_t, h_prev = fwd.hidden[t + 1], fwd.hidden[t]
        dy = fwd.probs[t].copy()
        dy[fwd.targets[t]] -= 1.0                                  # ∂E/∂y_t = p_t - ȳ_t
        dy *= fwd.weights[t]                                       # (times w_t when weighted)
        grads.W_hy += np.outer(dy, h_t)
        grads.b_y += dy
        dh = params.W_hy.T @ dy + dh_next                          # ∂E/∂h_t
        dz = (1.0 - h_t ** 2) * dh                                 # ∂E/∂z_t
        grads.W_xh += np.outer(dz, fwd.inputs[t])
        grads.W_hh += np.outer(dz, h_prev)
        grads.b_h += dz
        dh_next = params.W_hh.T @ dz                               # δh for step t-1
    return grads


def numerical_gradient(params: RNNParams, inputs: np.ndarray, targets: Sequence[int],
                       eps: float = 1e-5, weights: Sequence[float] | None = None) -> RNNParams:
    """Central finite differences ``(E(θ + ε) - E(θ - ε)) / 2ε`` for every parameter entry (slow; for checks)."""
    grads = RNNParams(**{k: np.zeros_like(v) for k, v in params.as_dict().items()})
    for name in PARAM_NAMES:
        theta, g = getattr(params, name), getattr(grads, name)
        for i in np.ndindex(theta.shape):
            old = theta[i]
            theta[i] = old + eps
            plus = forward(params, inputs, targets, weights=weights).loss
            theta[i] = old - eps
            minus = forward(params, inputs, targets, weights=weights).loss
            theta[i] = old
            g[i] = (plus - minus) / (2 * eps)
    return grads


def relative_error(a: RNNParams, b: RNNParams) -> float:
    """``max |a - b| / max(|a| + |b|, tiny)`` over all parameters."""
    num = max(float(np.abs(getattr(a, n) - getattr(b, n)).max()) for n in PARAM_NAMES)
    den = max(float((np.abs(getattr(a, n)) + np.abs(getattr(b, n))).max()) for n in PARAM_NAMES)
    return num / max(den, 1e-300)


def sgd_step(params: RNNParams, grads: RNNParams, learning_rate: float) -> RNNParams:
    """Plain gradient descent ``θ ← θ - η ∂E/∂θ`` (returns new parameters)."""
    return RNNParams(**{n: getattr(params, n) - learning_rate * getattr(grads, n) for n in PARAM_NAMES})


@dataclass
class TrainedText:
    """What :func:`train_on_text` returns: the weights, the vocabulary and the loss per step."""

    params: RNNParams
    vocab: str
    losses: list[float] = dataclasses.field(default_factory=list)

    def predict_next(self, prefix: str) -> str:
        """The most probable letter after ``prefix``."""
        return self.vocab[int(forward(self.params, encode_text(prefix, self.vocab)).probs[-1].argmax())]


def encode_text(text: str, vocab: str) -> np.ndarray:
    """``(T, V)`` one-hot rows of ``text`` over ``vocab``; an unknown letter is a :class:`ConfigError`."""
    missing = sorted(set(text) - set(vocab))
    if missing:
        raise ConfigError(f"Letters {missing} of {text!r} are not in the vocabulary {vocab!r}.")
    return one_hot([vocab.index(ch) for ch in text], len(vocab))


def vocab_of(text: str) -> str:
    """The distinct letters of ``text`` in order of first appearance ("hello" → "helo")."""
    return "".join(dict.fromkeys(text))


def train_on_text(text: str, hidden_size: int = 3, steps: int = 500, learning_rate: float = 0.1,
                  seed: int = 0, vocab: str | None = None) -> TrainedText:
    """Learn to predict each letter of ``text`` from the ones before it (inputs ``text[:-1]``,
    targets ``text[1:]``) by full-batch gradient descent.

    >>> trained = train_on_text("hello", steps=300)
    >>> trained.predict_next("hell")
    'o'
    """
    if len(text) < 2:
        raise invalid("text", "at least 2 letters", text)
    if len(text) > MAX_EXPLAIN_LETTERS:  # every step is printed: a teaching size
        raise invalid("text", f"at most {MAX_EXPLAIN_LETTERS} letters (every step is printed)",
                      shown=f"{len(text):,} letters ({text[:20]!r}...); explain a short piece, and train a model on "
                            "long sequences with genorm train")
    learning_rate = check_number("learning_rate", learning_rate, 0.0, MAX_LEARNING_RATE, lo_open=True, hi_open=True)
    steps = check_int("steps", steps, 0)
    vocab = vocab or vocab_of(text)
    xs = encode_text(text[:-1], vocab)
    targets = [vocab.index(ch) for ch in text[1:]]
    params = RNNParams.initialize(len(vocab), hidden_size, seed=seed)
    losses = []
    for _ in range(steps):
        fwd = forward(params, xs, targets)
        losses.append(fwd.loss)
        params = sgd_step(params, backward(params, fwd), learning_rate)
    return TrainedText(params=params, vocab=vocab, losses=losses)


# ------------------------------------------------------------------------------------------
# The step-by-step printout of `genorm explain`

DNA_VOCAB = "ACGT"


def _vec(v: np.ndarray, digits: int = 6) -> str:
    return "(" + ", ".join(f"{x:.{digits}f}" for x in np.ravel(v)) + ")"


def _matrix(name: str, m: np.ndarray, rows: str | None = None, cols: str | None = None, digits: int = 6) -> list[str]:
    width = digits + 4
    lines = [f"  {name} {m.shape[0]}x{m.shape[1]}" + (f"  (columns {', '.join(cols)})" if cols else "")]
    for i, row in enumerate(m):
        label = f"{rows[i]:>3s} " if rows else "    "
        lines.append("  " + label + " ".join(f"{x:{width}.{digits}f}" for x in row))
    return lines


MAX_LEARNING_RATE = 10.0
"""Largest learning rate :func:`explain` and :func:`train_on_text` take (as ``genorm train``): a larger
step only overflows the weights (``nan`` and ``1e308`` printed a NaN loss)."""

MAX_EXPLAIN_HIDDEN = 64
"""Largest hidden size :func:`explain` prints."""

MAX_EXPLAIN_LETTERS = 200
"""Longest text :func:`explain` steps through: every step prints its vectors (100,000 letters printed 48 MB)."""

MAX_EXPLAIN_VOCAB = 64
"""Largest vocabulary :func:`explain` prints (every matrix has a column per letter; 3,000 letters printed 276 MB)."""


def _explain_network(text: str, hidden_size: int, seed: int, example: bool) -> tuple[str, RNNParams, str, bool]:
    """``(vocab, params, where the numbers come from, is_dna)`` for :func:`explain`."""
    dna = set(text.upper()) <= set("ACGTN")
    if example:
        if set(text) - set(EXAMPLE_VOCAB):
            raise ConfigError(f"--example uses the worked example's vocabulary h, e, l, o; {text!r} has other "
                              "letters. Drop --example to use random weights.")
        source = (f"the worked example's weights: W_xh and W_hy as it prints them, W_hh = {EXAMPLE_W_HH}·I "
                  f"(its one recurrent weight, applied to every unit), b_h = {EXAMPLE_B_H} for every unit, "
                  "no output bias")
        return EXAMPLE_VOCAB, RNNParams.example(), source, False
    vocab = DNA_VOCAB if dna else vocab_of(text)
    if len(vocab) > MAX_EXPLAIN_VOCAB:
        raise ConfigError(f"Received an invalid value for `text`, expected at most {MAX_EXPLAIN_VOCAB} different "
                          f"letters (every matrix has a column per letter), got {len(vocab):,} different letters.")
    if not 0 < hidden_size <= MAX_EXPLAIN_HIDDEN:  # every matrix is printed: a teaching size
        raise invalid("hidden", f"a positive integer up to {MAX_EXPLAIN_HIDDEN} (every matrix is printed)",
                      shown=str(hidden_size))
    params = RNNParams.initialize(len(vocab), hidden_size, seed=seed)
    return vocab, params, f"random weights uniform in [-0.5, 0.5) with seed {seed}, zero biases", dna


def _example_notes(t: int) -> list[str]:
    """What the worked example itself shows at step ``t`` (0-based), beside genorm's numbers."""
    if t == 0:
        return ["    (h_0 = 0, so the sum is W_xh x_1 + b_h: the example's h_1)"]
    if t == 1:
        return [f"    (the example's hidden state for 'e' is h_2 = {_vec(EXAMPLE_H_E)}; it prints "
                f"y_2 = {_vec(EXAMPLE_Y_E, 8)}, computed from that rounded h_2)"]
    return []


def _explain_step(t: int, seq: str, vocab: str, xs: np.ndarray, fwd: ForwardPass, scored: bool) -> list[str]:
    p = fwd.probs[t]
    guess = vocab[int(p.argmax())]
    out = [f"step {t + 1}: input {seq[t]!r} -> predict the letter after it (target {seq[t + 1]!r})",
           f"    x_t              = {_vec(xs[t], 0)}",
           f"    W_xh x_t         = {_vec(fwd.input_part[t])}",
           f"    W_hh h_(t-1) + b = {_vec(fwd.recurrent_part[t])}",
           f"    h_t = tanh(sum)  = {_vec(fwd.hidden[t + 1])}",
           f"    y_t = W_hy h_t   = {_vec(fwd.logits[t])}",
           f"    p_t = softmax    = {_vec(p, 4)}  " + " ".join(f"{ch}:{q:.1%}" for ch, q in zip(vocab, p))]
    if scored:
        verdict = "right" if guess == seq[t + 1] else "wrong"
        loss = float(fwd.losses[t])
        out.append(f"    most probable {guess!r} ({verdict}); loss = -ln p[{seq[t + 1]!r}] = {loss:.6f}")
    else:
        out.append("    target is N: not scored (weight 0), as in genorm's training")
    return out


def explain(text: str, hidden_size: int = 3, seed: int = 0, example: bool = False,
            learning_rate: float = 0.1) -> list[str]:
    """The forward pass over ``text[:-1]`` predicting ``text[1:]``, then one BPTT step, as lines of text.

    DNA (only A/C/G/T/N) uses the vocabulary ``ACGT`` with N as the zero vector, as genorm's
    model does; any other text uses its own letters in order of appearance ("hello" → h, e, l, o).
    ``example=True`` uses the worked example's network (:meth:`RNNParams.example`; text over
    h, e, l, o); otherwise the weights are drawn with ``seed``.

    >>> lines = explain("hello", example=True)
    >>> [line for line in lines if "h_t = tanh(sum)" in line][1].strip()
    'h_t = tanh(sum)  = (0.936534, 0.949104, 0.762341)'
    """
    if len(text) < 2:
        raise invalid("text", "at least 2 letters", text)
    if len(text) > MAX_EXPLAIN_LETTERS:  # every step is printed: a teaching size
        raise invalid("text", f"at most {MAX_EXPLAIN_LETTERS} letters (every step is printed)",
                      shown=f"{len(text):,} letters ({text[:20]!r}...); explain a short piece, and train a model on "
                            "long sequences with genorm train")
    learning_rate = check_number("learning_rate", learning_rate, 0.0, MAX_LEARNING_RATE, lo_open=True, hi_open=True)
    vocab, params, source, dna = _explain_network(text, hidden_size, seed, example)
    seq = text.upper() if dna else text
    index = {ch: i for i, ch in enumerate(vocab)}
    codes = [index.get(ch, len(vocab)) for ch in seq]  # N -> out of range -> zero vector
    xs = one_hot(codes[:-1], len(vocab))
    targets = codes[1:]
    scored = [t < len(vocab) for t in targets]
    if not any(scored):
        raise ConfigError(f"{text!r} has no letter to predict (every target is N).")
    fwd = forward(params, xs, [t if ok else 0 for t, ok in zip(targets, scored)], weights=[float(s) for s in scored])

    out = [f"The textbook recurrent network on {text!r}: inputs {seq[:-1]!r}, targets {seq[1:]!r}",
           f"vocabulary {', '.join(vocab)} (one-hot columns{'; N is the zero vector' if dna else ''}),"
           f" hidden size {params.hidden_size}; {source}.", "",
           "  h_t = tanh(W_xh x_t + W_hh h_{t-1} + b_h)    y_t = W_hy h_t + b_y    p_t = softmax(y_t)    "
           "loss_t = -ln p_t[target]", ""]
    out += _matrix("W_xh", params.W_xh, cols=vocab) + _matrix("W_hh", params.W_hh) + \
        [f"  b_h = {_vec(params.b_h)}"] + _matrix("W_hy", params.W_hy, rows=vocab) + [""]
    for t in range(len(seq) - 1):
        out += _explain_step(t, seq, vocab, xs, fwd, scored[t])
        out += (_example_notes(t) if example else []) + [""]
    total = float(sum(fwd.losses[t] for t in range(len(scored)) if scored[t]))
    out.append(f"total loss E = {total:.6f} nats = {total / np.log(2):.6f} bits "
               f"({total / np.log(2) / sum(scored):.4f} bits per letter)")
    return out + [""] + _explain_update(params, fwd, xs, vocab, total, learning_rate)


def _explain_update(params: RNNParams, fwd: ForwardPass, xs: np.ndarray, vocab: str, total: float,
                    learning_rate: float) -> list[str]:
    """The gradients of one BPTT step and the loss after one gradient-descent update."""
    grads = backward(params, fwd)
    out = ["back-propagation through time (gradients summed over the steps, the weights are shared):"]
    out += _matrix("dE/dW_hy", grads.W_hy, rows=vocab) + _matrix("dE/dW_hh", grads.W_hh) + \
        _matrix("dE/dW_xh", grads.W_xh, cols=vocab)
    out.append(f"  dE/db_h = {_vec(grads.b_h)}")
    out.append(f"  dE/db_y = {_vec(grads.b_y)}")
    new = sgd_step(params, grads, learning_rate)
    after = forward(new, xs, fwd.targets, weights=fwd.weights).loss
    out += ["", f"one gradient-descent step (learning rate {learning_rate:g}): W <- W - {learning_rate:g} dE/dW; "
            f"loss {total:.6f} -> {after:.6f}"]
    return out
