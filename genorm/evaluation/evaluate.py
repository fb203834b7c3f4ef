"""Streaming evaluation of a next-nucleotide model, with the baselines side by side.

**What is predicted.** The bases of a list of intervals (``(record, start, end)``, 0-based,
half-open; by default a run's test split). Base ``start`` of an interval is predicted from an
empty context (the model's :meth:`initial_logits`), base ``i`` from bases ``start..i-1``: the
context never reaches before the interval, exactly as the split promises (a test interval never
sees the neighbouring training bases). N is never a target. N in the context is fed to the
model as code 4, which the model one-hots to the zero vector, as in training; the Markov
baseline instead backs off to the bases after the N (see :mod:`genorm.baselines`).

**Lanes.** The model runs on a batch of *lanes* (:mod:`genorm.engine`): ``exact``
(default: every base predicted from all the bases before it in its interval), ``warmup``
(``warmup=W``: segments with ``W`` bases of warm-up, not exact) or ``window`` (``window=L``:
context limited to windows of ``L`` bases). ``report.meta["mode"]`` says which.

**A run.** :func:`evaluate_run` is the one definition of "evaluate a trained run": it chooses
the targets (:func:`run_targets`: the run's held-out split, custom intervals, or explicit
files, labelled honestly), loads the run's baselines (fitting them when ``baselines.npz`` is
missing), takes the training window for ``context="window"``, and calls :func:`evaluate`.
The CLI's ``genorm evaluate`` and ``LoadedRun.evaluate`` both call it.

Metrics and their exact definitions are in :mod:`genorm.metrics`. Probabilities are the
softmax of the model's float32 logits, computed in float64.

>>> import numpy as np
>>> from genorm.genome.array import Genome
>>> class Constant:  # a model that always predicts the same distribution
...     def initial_state(self, batch): return [np.zeros((batch, 1), np.float32)]
...     def initial_logits(self): return np.log(np.array([0.1, 0.2, 0.3, 0.4], np.float32))
...     def step(self, codes, state):
...         return np.broadcast_to(self.initial_logits(), (*codes.shape, 4)), state
>>> report = evaluate(Constant(), Genome.from_strings({"x": "TTTGA"}), [(0, 0, 5)])
>>> report.summary[["predictor", "bases", "accuracy"]].values.tolist()
[['model', 5, 0.6], ['uniform', 5, 0.25]]
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from genorm.encoding import CODE_BITS, SOFT_MASK_FLAG
from genorm.errors import ConfigError, RunDirError
from genorm.baselines import Baselines
from genorm.engine import DEFAULT_BATCH_SIZE, DEFAULT_CHUNK, Lane, plan_lanes
from genorm.evaluation.rows import MODEL_ROW, ROWS, Evaluation, describe
from genorm.metrics import Accumulator, log_softmax
from genorm.evaluation.report import Report, tables
from genorm.genome.splits import as_tuples
from genorm.rundir import BASELINES
from genorm.validate import check_int, check_positive_int, invalid

logger = logging.getLogger(__name__)

_BASELINE_ROWS = ("uniform", "composition", "markov")
CONTEXTS = ("full", "window")
ProgressFn = Callable[[int, "int | None", str], None]


def _as_stepper(model):
    """A stepper from a stepper, a loaded run (``.stepper()``) or a Keras model (:func:`genorm.stepper.as_stepper`)."""
    from genorm.stepper import as_stepper

    stepper = as_stepper(model)
    if stepper is None:
        raise invalid("model", "a genorm model (a stepper, a run from genorm.load or genorm.train, or a Keras model "
                      "of genorm.model.build_model)", shown=type(model).__name__)
    return stepper


def _check_intervals(genome, intervals) -> list[tuple[int, int, int]]:
    ivs = as_tuples(intervals)
    lengths = genome.lengths
    for r, s, e in ivs:
        if not 0 <= r < len(lengths):
            raise ConfigError(f"Interval ({r}, {s}, {e}) names record index {r}, but the genome has "
                              f"{len(lengths)} records; intervals must come from a split of this genome.")
        if not 0 <= s <= e <= lengths[r]:
            raise ConfigError(f"Interval ({r}, {s}, {e}) lies outside record {genome.names[r]!r} of length "
                              f"{int(lengths[r])}; intervals must come from a split of this genome.")
    ordered = sorted(ivs)
    for a, b in zip(ordered, ordered[1:]):
        if a[0] == b[0] and b[1] < a[2] and b[1] < b[2] and a[1] < a[2]:
            raise ConfigError(f"Intervals {a} and {b} overlap: each base must be scored once.")
    return ivs


@dataclass
class Targets:
    """What an evaluation of a run scores, and how the report labels it.

    Attributes:
        genome: the :class:`~genorm.genome.array.Genome` the intervals refer to.
        intervals: ``(record, start, end)`` / ``Interval`` s, non-overlapping.
        kind: ``"split"`` (the run's own held-out split), ``"intervals"`` (custom intervals of the
            run's genome) or ``"files"`` (whole records of explicit FASTA files).
        description: one line for the report, e.g. "the test split of runs/x (the run's held-out split)".
        train_overlap_bases: bases of custom intervals inside the run's training split (0 otherwise).
    """

    genome: Any
    intervals: list
    kind: str
    description: str
    train_overlap_bases: int = 0

    @property
    def is_run_split(self) -> bool:
        """True only for the run's own validation / test split."""
        return self.kind == "split"

    def to_dict(self) -> dict:
        return {"kind": self.kind, "run_split": self.is_run_split, "description": self.description,
                "train_overlap_bases": self.train_overlap_bases}


def _files_label(fasta) -> str:
    if isinstance(fasta, (str, os.PathLike)):
        return str(fasta)
    if isinstance(fasta, (list, tuple)):
        return ", ".join(map(str, fasta))
    return "a genome given by the caller"


def run_targets(run, fasta=None, *, split: str = "test", intervals=None, allow_train_overlap: bool = False,
                records: Sequence[str] | None = None, policy=None, progress=None, format: str | None = None) -> Targets:
    """Choose what to evaluate for a loaded run (:func:`genorm.trained.load`), and label it honestly.

    Args:
        run: a :class:`~genorm.trained.LoadedRun`.
        fasta: None (the run's genome), or FASTA path(s) / a Genome to evaluate whole: explicit
            files, reported as *not* the run's split.
        split: ``"test"`` (default) or ``"val"``: the run's split when neither ``fasta`` nor
            ``intervals`` is given.
        intervals: custom intervals of the run's genome: a BED path (record, start, end) or
            ``(record, start, end)`` tuples. Reported as custom intervals, not the run's split.
        allow_train_overlap: accept custom intervals, or explicit records, with bases in the run's
            training split (their scores are not held out; the report says how many bases).
        records: keep only intervals / records with these names.
        policy: the encoding policy for ``fasta`` (default: the run's).
        format: the file format of ``fasta`` (default: told from the content).

    Raises:
        ConfigError: ``fasta`` and ``intervals`` together; custom intervals or explicit records
            overlapping the training split without ``allow_train_overlap``; a ``split`` other than
            ``"test"`` or ``"val"`` (the training split is not held out).
        SplitError: an empty split or a bad BED file.
        RunDirError: the run's inputs or split changed since training.
    """
    from genorm.errors import SplitError
    from genorm.genome.array import Genome

    if fasta is not None and intervals is not None:
        raise ConfigError("Received both FASTA files and `intervals`: custom intervals refer to the run's own "
                          "genome; evaluate explicit FASTA files whole, or intervals of the run's genome.")
    if fasta is not None:
        genome = fasta if isinstance(fasta, Genome) else _read_files(fasta, run, records, policy, progress, format)
        return _files_targets(run, genome, _files_label(fasta), allow_train_overlap)
    if split not in ("test", "val"):
        raise ConfigError(f"Received an invalid value for `split`, expected \"test\" or \"val\" (the run's held-out "
                          f"splits), got {split!r}: the training split is not held out, so its scores would not "
                          "measure the model. Use --intervals with --allow-train-overlap to score training bases.")
    genome = run.genome
    if intervals is None:
        ivs = _keep_records(genome, run.splits.intervals(split), records)
        if not ivs:
            raise SplitError(f"The run's {split} split is empty: nothing to evaluate. Pass FASTA files, or use "
                             f"--split {'val' if split == 'test' else 'test'}.")
        return Targets(genome, ivs, "split", f"the {split} split of {run.run_dir} (the run's held-out split)")
    return _custom_targets(run, genome, intervals, allow_train_overlap, records)


def _files_targets(run, genome, label: str, allow_train_overlap: bool) -> Targets:
    """Whole records of explicit files, compared by content with the run's training split: refused where they
    hold training bases unless ``allow_train_overlap`` (as custom intervals are)."""
    from genorm.evaluation.overlap import train_overlap_by_content

    ivs, total = [(r, 0, int(n)) for r, n in enumerate(genome.lengths)], int(genome.total_length)
    try:
        overlap, note = train_overlap_by_content(genome, run.genome, run.splits.train), ""
    except RunDirError:  # in-memory records, or inputs changed since training: nothing to compare with
        overlap, note = 0, "; not compared with the training genome, which cannot be re-read"
    if overlap and not allow_train_overlap:
        raise ConfigError(f"{overlap:,} of the {total:,} bases of {label} are bases the run in {run.run_dir} was "
                          "trained on (records compared by sequence, not by name): the model and the baselines were "
                          "fitted on them, so their scores would not be held out. Evaluate the run's test split "
                          f"(genorm evaluate {run.run_dir}), or pass --allow-train-overlap (allow_train_overlap=True) "
                          "to score them anyway; the report then says how many bases overlap.")
    note = f"; {overlap:,} of its bases in the training split" if overlap else note
    return Targets(genome, ivs, "files", f"{len(genome)} record(s) of {label} (explicit files, NOT the run's "
                   f"split{note})", train_overlap_bases=overlap)


def _read_files(fasta, run, records, policy, progress, format=None):
    from genorm.genome.array import read_genome

    return read_genome(fasta, policy=policy or run.config.policy(), records=records, progress=progress, format=format)


def _keep_records(genome, intervals, records) -> list:
    if not records:
        return list(intervals)
    keep = {genome.index(name) for name in records}  # unknown names: RecordSelectionError
    return [iv for iv in intervals if (iv.record if hasattr(iv, "record") else iv[0]) in keep]


def _custom_targets(run, genome, intervals, allow_train_overlap: bool, records) -> Targets:
    from genorm.genome.splits import overlap_bases, read_intervals

    source = str(intervals) if isinstance(intervals, (str, os.PathLike)) else "intervals given by the caller"
    ivs = read_intervals(intervals, genome) if isinstance(intervals, (str, os.PathLike)) else intervals
    ivs = _keep_records(genome, _check_intervals(genome, ivs), records)
    total = sum(e - s for r, s, e in as_tuples(ivs))
    overlap = overlap_bases(as_tuples(ivs), run.splits.train)
    if overlap and not allow_train_overlap:
        raise ConfigError(f"{overlap:,} of the {total:,} bases of the custom intervals ({source}) lie in the "
                          f"training split of {run.run_dir}: the model and the baselines were fitted on them, so "
                          "their scores would not be held out. Remove those intervals (splits.bed lists the train "
                          "intervals), or pass --allow-train-overlap (allow_train_overlap=True) to score them "
                          "anyway; the report then says how many bases overlap.")
    note = f"; {overlap:,} of its bases in the training split" if overlap else ""
    return Targets(genome, ivs, "intervals", f"custom intervals ({source}) of the run's genome (NOT the run's "
                   f"split{note})", train_overlap_bases=overlap)


def _check_scored(acc: Accumulator, ivs: list[tuple[int, int, int]]) -> None:
    """A report over no base would show NaN (or 0) as its numbers: refuse it."""
    if acc.cells[..., 0].sum() == 0:
        bases = sum(e - s for _, s, e in ivs)
        raise ConfigError(f"Nothing to evaluate: the {len(ivs)} interval(s) hold {bases:,} bases and every one is N "
                          "(no A, C, G or T to score). Evaluate other records or another FASTA file.")


def _check_options(batch_size, chunk, warmup, window, segment) -> tuple:
    """``evaluate``'s numeric options, checked: ``(batch_size, chunk, warmup, window, segment)``."""
    batch_size = check_positive_int("batch_size", batch_size)
    chunk = check_positive_int("chunk", chunk)
    if warmup is not None and window is not None:
        raise ConfigError("Received both `warmup` and `window`: choose one (warm-up lanes over full context, "
                          "or context limited to the training window).")
    warmup = None if warmup is None else check_int("warmup", warmup, 0)
    window = None if window is None else check_positive_int("window", window)
    segment = None if segment is None else check_positive_int("segment", segment)
    return batch_size, chunk, warmup, window, segment


def _check_adapt(adapt, window) -> None:
    from genorm.evaluation.adapt import AdaptConfig

    if adapt is not None and not isinstance(adapt, AdaptConfig):
        raise invalid("adapt", "None or an AdaptConfig (genorm.evaluation.adapt)", adapt)
    if adapt is not None and window is not None:
        raise ConfigError("Adaptive evaluation reads every interval whole; it cannot be combined with a context limited "
                          "to the training window (--adapt and --context window exclude each other).")


def _resolve_targets(model, genome, intervals, allow_train_overlap: bool, targets):
    """``(genome, intervals, targets)``: a run's targets when ``genome`` is None, FASTA paths read, every
    record whole when ``intervals`` is None."""
    from genorm.genome.array import Genome, read_genome

    if genome is None:
        if not hasattr(model, "splits"):
            raise ConfigError("Received no `genome`: pass the Genome or FASTA path(s) to evaluate, or a loaded run "
                              "(genorm.load) as `model` to evaluate its test split.")
        targets = run_targets(model, intervals=intervals, allow_train_overlap=allow_train_overlap)
        genome, intervals = targets.genome, targets.intervals
    if not isinstance(genome, Genome):
        genome = read_genome(genome)
    if intervals is None:
        intervals = [(r, 0, int(n)) for r, n in enumerate(genome.lengths)]
    return genome, intervals, targets


def _accumulators(genome, ivs, labels: dict[str, str], bins_per_record: int) -> dict[str, Accumulator]:
    """One accumulator per report label, its profile bins spanning the evaluated extent of each record."""
    nrec = len(genome)
    bins = max(1, min(int(bins_per_record), 200_000 // max(nrec, 1)))
    ranges = np.zeros((nrec, 2), dtype=np.int64)
    ranges[:, 0] = genome.lengths
    for r, s, e in ivs:
        if e > s:
            ranges[r] = (min(ranges[r, 0], s), max(ranges[r, 1], e))
    return {label: Accumulator(nrec, ranges, bins) for label in labels.values()}


def _accumulate(acc: Accumulator, genome, predicted) -> None:
    for rec, pos, probs in predicted:
        packed = genome.packed[genome.offsets[rec] + pos]
        acc.add(rec, pos, packed & CODE_BITS, (packed & SOFT_MASK_FLAG) > 0, probs)


def _meta(mode, warmup, segment, window, ev: Evaluation, labels, targets) -> dict:
    lanes, baselines = ev.lanes, ev.baselines
    meta = {"mode": mode, "warmup": warmup, "segment": segment, "window": window, "batch_size": ev.batch_size,
            "chunk": ev.chunk, "lanes": len(lanes), "intervals": len([iv for iv in ev.intervals if iv[2] > iv[1]]),
            "markov_order": baselines.order if baselines is not None else None,
            "baselines": [label for name, label in labels.items() if name in _BASELINE_ROWS],
            "metrics": "see genorm.metrics: top-1/top-2 credit split over ties; bits = -log2 P(true base)",
            "targets": (targets.to_dict() if targets is not None else
                        {"kind": "given", "run_split": False, "description": "intervals given by the caller",
                         "train_overlap_bases": None})}
    if mode == "warmup" and lanes:
        meta["segment"] = max(lane.end - lane.start for lane in lanes)
    return meta


def evaluate(model, genome=None, intervals=None, *, baselines: Baselines | None = None, warmup: int | None = None,
             segment: int | None = None, window: int | None = None, batch_size: int = DEFAULT_BATCH_SIZE,
             chunk: int = DEFAULT_CHUNK, bins_per_record: int = 200, progress: ProgressFn | None = None,
             allow_train_overlap: bool = False, targets: Targets | None = None, adapt=None) -> Report:
    """Score every base of ``intervals`` with the model and the baselines.

    Args:
        model: a Stepper (:func:`genorm.stepper.make_stepper`), a loaded run
            (:func:`genorm.trained.load`), or a Keras model from :func:`genorm.model.build_model`.
        genome: the :class:`~genorm.genome.array.Genome` the intervals refer to, or FASTA path(s)
            (read with the default encoding policy). None (only when ``model`` is a loaded run):
            the run's genome, checked against its provenance, as :func:`run_targets` chooses:
            the run's test split, or custom ``intervals`` (a BED path or tuples) refused where
            they overlap training unless ``allow_train_overlap``.
        intervals: ``Interval`` objects or ``(record, start, end)`` tuples, non-overlapping;
            e.g. ``splits.test``. Default: every record whole.
        allow_train_overlap: see ``genome=None``.
        targets: a :class:`Targets` from :func:`run_targets` (its label goes into
            ``report.meta["targets"]``).
        baselines: fitted :class:`~genorm.baselines.Baselines`. Default: a loaded run's
            ``baselines.npz`` when ``model`` is a run that has one; otherwise only the uniform
            baseline is shown.
        warmup: None (default) for exact prediction; else bases of warm-up context per lane
            (see :mod:`genorm.engine`). segment: bases scored per lane with ``warmup``.
        window: limit the context to windows of this many bases (the training window).
        batch_size: lanes run at once (default 256). chunk: bases per lane per model call
            (default 1000).
        bins_per_record: bins of the bits-along-the-record profile.
        progress: called as ``progress(bases_done, bases_total, "evaluate")``.
        adapt: None (default) or an :class:`~genorm.evaluation.adapt.AdaptConfig`: the model is also
            scored adaptively (:mod:`genorm.evaluation.adapt`), as a second row ``model+adapt``;
            ``report.meta`` then holds ``adapt``, ``modes`` and ``bases_per_second`` of both rows.

    Returns:
        :class:`~genorm.evaluation.report.Report`.

    Raises:
        ConfigError: bad intervals or options, or no A/C/G/T base to score in ``intervals``.
    """
    batch_size, chunk, warmup, window, segment = _check_options(batch_size, chunk, warmup, window, segment)
    _check_adapt(adapt, window)
    genome, intervals, targets = _resolve_targets(model, genome, intervals, allow_train_overlap, targets)
    ivs = _check_intervals(genome, intervals)
    run_dir = getattr(model, "run_dir", None)
    if baselines is None and run_dir is not None and (Path(run_dir) / BASELINES).is_file():
        baselines = Baselines.load(Path(run_dir) / BASELINES)
    lanes = plan_lanes(ivs, warmup=warmup, segment=segment, window=window, batch_size=batch_size)
    ev = Evaluation(_as_stepper(model), genome, ivs, lanes, batch_size, chunk, baselines, adapt, progress)
    mode = "window" if window is not None else ("exact" if warmup is None else "warmup")
    labels = {name: label for name, row in ROWS.items() if (label := row.label(ev)) is not None}
    accs = _accumulators(genome, ivs, labels, bins_per_record)
    ev.meta.update(_meta(mode, warmup, segment, window, ev, labels, targets))
    for name, label in labels.items():
        _accumulate(accs[label], genome, ROWS[name].predict(ev))
        if name == MODEL_ROW:
            _check_scored(accs[label], ivs)
    describe(ev)
    meta = ev.meta
    frames = tables(accs, list(genome.names))
    logger.info("evaluated %d bases in %d lanes (%s)", int(frames[0]["bases"].iloc[0]), len(lanes), mode)
    return Report(*frames, meta=meta)


def run_baselines(run, on_note: Callable[[str], None] | None = None) -> Baselines | None:
    """The run's ``baselines.npz``, or, when it is missing, baselines fitted on the run's training split
    (``on_note`` is told so: a minute of counting on a large genome, and the file stays missing).
    None for a run trained on in-memory records without the file: its training split cannot be re-read."""
    from genorm.baselines import fit_baselines
    from genorm.reading.in_memory import IN_MEMORY

    path = Path(run.run_dir) / BASELINES
    if path.is_file():
        return Baselines.load(path)
    if IN_MEMORY in getattr(run, "fasta_paths", ()):
        text = f"{path} is missing and the run was trained on in-memory records: no baselines in the report"
        logger.info("%s", text)
        if on_note is not None:
            on_note(text)
        return None
    text = f"{path} is missing; fitting the baselines on the run's training split"
    logger.info("%s", text)
    if on_note is not None:
        on_note(text)
    return fit_baselines(run.genome, run.splits)


def evaluate_run(run, fasta=None, *, split: str = "test", intervals=None, allow_train_overlap: bool = False,
                 records: Sequence[str] | None = None, policy=None, format: str | None = None,
                 warmup: int | None = None, segment: int | None = None, context: str = "full",
                 batch_size: int = DEFAULT_BATCH_SIZE, chunk: int = DEFAULT_CHUNK, progress: ProgressFn | None = None,
                 on_note: Callable[[str], None] | None = None, adapt=None) -> Report:
    """Evaluate a trained run: the one definition the CLI's ``evaluate`` and ``LoadedRun.evaluate`` share.

    Chooses the targets (:func:`run_targets`: the run's ``split``, custom ``intervals`` of its
    genome, or explicit ``fasta`` files whole), loads the run's baselines or fits them when
    ``baselines.npz`` is missing (:func:`run_baselines`, saying so through ``on_note``), limits
    the context to the run's training window when ``context="window"``, and calls
    :func:`evaluate`.

    Args:
        run: a loaded run (:func:`genorm.trained.load`).
        fasta, split, intervals, allow_train_overlap, records, policy, format: see :func:`run_targets`.
        warmup, segment, batch_size, chunk: see :func:`evaluate`.
        context: ``"full"`` (default: every base sees all the bases before it in its interval, or
            ``warmup`` lanes) or ``"window"`` (context limited to the run's training window).
        progress: called as ``progress(done, total, what)`` while reading files and evaluating.
        on_note: called with one line of text for what the user should know (baselines fitted).
        adapt: None, or an :class:`~genorm.evaluation.adapt.AdaptConfig`: the report also shows the
            adaptively evaluated model (row ``model+adapt``); see :func:`evaluate`.

    Returns:
        :class:`~genorm.evaluation.report.Report`; ``report.description`` says what was scored.

    Raises:
        ConfigError: a bad ``context``, ``warmup`` with ``context="window"``, or as
            :func:`run_targets` and :func:`evaluate`.
    """
    if context not in CONTEXTS:
        raise invalid("context", f"one of {', '.join(CONTEXTS)}", context)
    if warmup is not None and context == "window":
        raise ConfigError("`warmup` and context=\"window\" (--warmup and --context window) exclude each other: "
                          "choose one.")
    if warmup is not None:
        check_int("warmup", warmup, 0)
    _check_adapt(adapt, run.config.window if context == "window" else None)
    targets = run_targets(run, fasta, split=split, intervals=intervals, allow_train_overlap=allow_train_overlap,
                          records=records, policy=policy, progress=progress, format=format)
    baselines = run_baselines(run, on_note)
    window = run.config.window if context == "window" else None
    return evaluate(run.stepper(), targets.genome, targets.intervals, baselines=baselines, warmup=warmup,
                    segment=segment, window=window, batch_size=batch_size, chunk=chunk, progress=progress,
                    targets=targets, adapt=adapt)


__all__ = ["Lane", "Report", "Targets", "evaluate", "evaluate_run", "plan_lanes", "run_baselines", "run_targets"]
