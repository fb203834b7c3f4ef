"""The rows of an evaluation report: predictors registered by name, as ``Bio.SeqIO`` registers formats.

Each row is a :class:`Row`: a ``name``, a function that says how the row is labelled in *this*
evaluation (or None: not shown, e.g. the adaptive row when no adaptation was asked for), and a
function that predicts every base of the evaluation's intervals. :func:`genorm.evaluation.evaluate.evaluate`
iterates :data:`ROWS` in order and knows no row by name; a new row is one :func:`register` call.

The rows genorm registers: ``model`` (the network streamed over the intervals, static weights; with
count features, counts updated as it reads and, with ``mix > 0``, its output mixed online with the
count models', :mod:`genorm.mixer`), ``model, no online mix`` (the network's output alone, when
there is a mixer), ``model, static counts`` (the training split's counts only, no mixing), ``model+adapt`` (the network adapting its weights while it reads, when ``adapt=`` is given),
``counts, updating`` and ``counts, static`` (the count models mixed without the network,
:class:`genorm.mixer.CountStepper`), ``uniform``, and the fitted baselines ``composition`` and
``markov`` (when the run has them). Rows with counts appear only for a model that reads them.

A row's ``predict(ev)`` yields ``(records (n,) int64, positions (n,) int64, probabilities (n, 4) float64)``,
each base of ``ev.intervals`` once (N targets included; they are not scored).

>>> list(ROWS)[:4]
['model', 'model, no online mix', 'model, static counts', 'model+adapt']
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from genorm.engine import stream
from genorm.validate import invalid
from genorm.metrics import log_softmax

Predicted = tuple[np.ndarray, np.ndarray, np.ndarray]
_BASELINE_BLOCK = 1 << 20  # bases of one interval predicted by a baseline at once


@dataclass
class Evaluation:
    """What the rows of one evaluation share: the predictors, the bases and the report's notes.

    Attributes:
        stepper: the model as a stepper of :mod:`genorm.engine`.
        genome: the genome the intervals refer to; intervals: ``(record, start, end)`` tuples.
        lanes: the model's lanes (:func:`genorm.engine.plan_lanes`); batch_size, chunk: its loop.
        baselines: fitted :class:`~genorm.baselines.Baselines` or None.
        adapt: an :class:`~genorm.evaluation.adapt.AdaptConfig` or None.
        progress: ``progress(done, total, what)`` or None.
        meta: the report's ``meta``; rows add what they measured (``modes``, ``bases_per_second``).
    """

    stepper: Any
    genome: Any
    intervals: list
    lanes: list
    batch_size: int
    chunk: int
    baselines: Any = None
    adapt: Any = None
    progress: Callable | None = None
    meta: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)

    @property
    def bases(self) -> int:
        return sum(max(0, e - s) for _, s, e in self.intervals)


@dataclass(frozen=True)
class Row:
    """One predictor of the report: ``label(ev)`` (None: not in this report) and ``predict(ev)``."""

    name: str
    label: Callable[[Evaluation], str | None]
    predict: Callable[[Evaluation], Iterator[Predicted]]


ROWS: dict[str, Row] = {}
"""The registered rows, in report order."""


def register(name: str, label: Callable[[Evaluation], str | None],
             predict: Callable[[Evaluation], Iterator[Predicted]], *, before: str | None = None) -> Row:
    """Add (or replace) the row ``name``; ``before``: the name of the row it comes before (default: last).

    Raises:
        ConfigError: ``before`` names no registered row.
    """
    row = Row(name, label, predict)
    items = [(k, v) for k, v in ROWS.items() if k != name]
    if before is not None:
        if before not in ROWS:
            raise invalid("before", f"one of {', '.join(ROWS)}", before)
        at = [k for k, _ in items].index(before)
        items.insert(at, (name, row))
    else:
        items.append((name, row))
    ROWS.clear()
    ROWS.update(items)
    return row


def unregister(name: str) -> None:
    """Remove the row ``name`` (a no-op when it is not registered)."""
    ROWS.pop(name, None)


def _probabilities(scored) -> Iterator[Predicted]:
    for rec, pos, logits in scored:
        yield rec, pos, np.exp(log_softmax(logits))


def _timed(ev: Evaluation, name: str, scored) -> Iterator[Predicted]:
    began = time.perf_counter()
    for block in scored:
        ev.seconds[name] = ev.seconds.get(name, 0.0) + time.perf_counter() - began
        yield block
        began = time.perf_counter()
    ev.seconds[name] = ev.seconds.get(name, 0.0) + time.perf_counter() - began


MODEL_ROW = "model"


def _model(ev: Evaluation) -> Iterator[Predicted]:
    scored = stream(ev.stepper, ev.genome, ev.lanes, batch_size=ev.batch_size, chunk=ev.chunk, progress=ev.progress)
    return _probabilities(_timed(ev, MODEL_ROW, scored))


def _adapt_label(ev: Evaluation) -> str | None:
    from genorm.evaluation.adapt import ADAPT_ROW

    return ADAPT_ROW if ev.adapt is not None else None


def _adaptive(ev: Evaluation) -> Iterator[Predicted]:
    from genorm.evaluation.adapt import ADAPT_ROW, make_adaptive, stream_adaptive

    adaptive = make_adaptive(ev.stepper, ev.adapt)
    yield from _probabilities(_timed(ev, ADAPT_ROW, stream_adaptive(adaptive, ev.genome, ev.intervals,
                                                                    progress=ev.progress)))
    ev.meta["adapt"] = ev.adapt.to_dict()


def describe(ev: Evaluation) -> None:
    """Put ``modes`` (how each stepped row predicted) and ``bases_per_second`` in the report's meta,
    when more than the static model was stepped (adaptive weights, count models)."""
    if set(ev.seconds) == {MODEL_ROW}:
        return
    counts = _tables(ev) is not None
    mixed = getattr(ev.stepper, "mixer", None) is not None
    modes = {MODEL_ROW: f"static ({ev.meta['mode']})" + (", counts updated as it reads" if counts else "")
             + (", mixed online with the count models" if mixed else ""),
             NO_MIX_ROW: f"static ({ev.meta['mode']}), counts updated as it reads, the network's output alone",
             STATIC_ROW: f"static weights ({ev.meta['mode']}), the training split's counts only, no online mixing",
             COUNTS_ROW: "the counts mixed without the network, updated as they read",
             COUNTS_STATIC_ROW: "the counts mixed without the network, the training split's only"}
    if ev.adapt is not None:
        from genorm.evaluation.adapt import ADAPT_ROW

        modes[ADAPT_ROW] = ev.adapt.describe()
    ev.meta["modes"] = {name: modes[name] for name in ev.seconds if name in modes}
    ev.meta["bases_per_second"] = {name: ev.bases / max(ev.seconds[name], 1e-9) for name in ev.meta["modes"]}


def _baseline(name: str) -> Callable[[Evaluation], Iterator[Predicted]]:
    """Predict every base of the intervals with baseline ``name`` (``uniform`` needs no fitted baselines)."""

    def predict(ev: Evaluation) -> Iterator[Predicted]:
        from genorm.encoding import CODE_BITS

        overlap = ev.baselines.order if ev.baselines is not None else 0
        for r, s, e in ev.intervals:
            packed_all = ev.genome.packed_record(r)
            for a in range(s, e, _BASELINE_BLOCK):
                b = min(a + _BASELINE_BLOCK, e)
                lo = max(s, a - overlap)
                if name == "uniform":
                    probs = np.full((b - a, 4), 0.25)
                else:
                    probs = ev.baselines.predict_proba(packed_all[lo:b] & CODE_BITS, name)[a - lo:]
                yield np.full(b - a, r, np.int64), np.arange(a, b, dtype=np.int64), probs

    return predict


def _baseline_label(name: str) -> Callable[[Evaluation], str | None]:
    def label(ev: Evaluation) -> str | None:
        if name == "uniform":
            return "uniform"
        return ev.baselines.labels()[name] if ev.baselines is not None else None

    return label


def _tables(ev: Evaluation):
    counts = getattr(ev.stepper, "counts", None)
    return counts.tables if counts is not None else None


STATIC_ROW = "model, static counts"
NO_MIX_ROW = "model, no online mix"
COUNTS_ROW = "counts, updating"
COUNTS_STATIC_ROW = "counts, static"


def _model_static(ev: Evaluation) -> Iterator[Predicted]:
    from genorm.counts import CountLanes

    stepper = ev.stepper.variant(CountLanes(_tables(ev), update=False), mix=False)
    scored = stream(stepper, ev.genome, ev.lanes, batch_size=ev.batch_size, chunk=ev.chunk, progress=ev.progress,
                    label="static counts")
    return _probabilities(_timed(ev, STATIC_ROW, scored))


def _model_no_mix(ev: Evaluation) -> Iterator[Predicted]:
    stepper = ev.stepper.variant(ev.stepper.counts, mix=False)
    scored = stream(stepper, ev.genome, ev.lanes, batch_size=ev.batch_size, chunk=ev.chunk, progress=ev.progress,
                    label="network alone")
    return _probabilities(_timed(ev, NO_MIX_ROW, scored))


def _no_mix_label(ev: Evaluation) -> str | None:
    return NO_MIX_ROW if getattr(ev.stepper, "mixer", None) is not None else None


def _counts_only(update: bool, name: str) -> Callable[[Evaluation], Iterator[Predicted]]:
    def predict(ev: Evaluation) -> Iterator[Predicted]:
        from genorm.mixer import CountStepper

        scored = stream(CountStepper(_tables(ev), update=update), ev.genome, ev.lanes, batch_size=ev.batch_size,
                        chunk=ev.chunk, progress=ev.progress, label=name)
        return _probabilities(_timed(ev, name, scored))

    return predict


def _with_counts(name: str) -> Callable[[Evaluation], str | None]:
    return lambda ev: name if _tables(ev) is not None else None


register(MODEL_ROW, lambda ev: MODEL_ROW, _model)
register(NO_MIX_ROW, _no_mix_label, _model_no_mix)
register(STATIC_ROW, _with_counts(STATIC_ROW), _model_static)
register("model+adapt", _adapt_label, _adaptive)
register(COUNTS_ROW, _with_counts(COUNTS_ROW), _counts_only(True, COUNTS_ROW))
register(COUNTS_STATIC_ROW, _with_counts(COUNTS_STATIC_ROW), _counts_only(False, COUNTS_STATIC_ROW))
for _name in ("uniform", "composition", "markov"):
    register(_name, _baseline_label(_name), _baseline(_name))


__all__ = ["COUNTS_ROW", "COUNTS_STATIC_ROW", "Evaluation", "MODEL_ROW", "NO_MIX_ROW", "ROWS", "Row", "STATIC_ROW",
           "describe", "register", "unregister"]
