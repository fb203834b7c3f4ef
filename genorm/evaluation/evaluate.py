"""Streaming evaluation of a next-nucleotide model, with the baselines side by side.

**What is predicted.** The bases of a list of intervals (``(record, start, end)``, 0-based,
half-open; by default a run's test split). Base ``start`` of an interval is predicted from an
empty context (the model's :meth:`initial_logits`), base ``i`` from bases ``start..i-1``: the
context never reaches before the interval, exactly as the split promises (a test interval never
sees the neighbouring training bases). N is never a target. N in the context is fed to the
model as code 4, which the model one-hots to the zero vector, as in training; the Markov
baseline instead backs off to the bases after the N (see :mod:`genorm.baselines`).

**Lanes and what is exact.** The model runs on a batch of *lanes*; each lane starts from the
zero state at ``ctx_start``, is fed its bases chunk by chunk (``chunk`` bases per call, state
carried between calls) and is scored on the bases ``start..end-1``. When a lane ends, the next
lane takes its slot and that slot's state is reset. Three plans (``mode`` in the report):

* ``exact`` (default, ``warmup=None``, ``window=None``): one lane per interval. Every base is
  predicted from **all** the bases before it in its interval; the result equals one forward
  pass over the whole interval (tested to 1e-5). Parallel across intervals only, so a split
  with one long interval per record runs with as many lanes as records.
* ``warmup`` (``warmup=W``): each interval is cut into segments of ``segment`` bases (default:
  about ``batch_size`` lanes in all, but at least ``max(1000, 4 W)`` bases each, so warm-up
  costs at most 25 % extra), and a segment's lane starts ``W`` bases before it (or at the
  interval start). A base is then predicted from at least
  ``min(W, bases before it in the interval)`` and at most ``W + segment`` bases of context:
  **not exact**, but a recurrent model's memory fades, so the difference shrinks as ``W``
  grows; the first segment of every interval is exact. Costs ``W / segment`` extra compute.
  Measured on E. coli with the default GRU 2x128 after 8 minutes of training: ``W = 2000``
  agrees with exact streaming to 3e-7 in every probability; ``W = 200`` to 0.08 (bits per
  base still within 2e-5).
* ``window`` (``window=L``): each interval is cut into windows of ``L`` bases and the state
  is reset at each: the base at offset ``j`` of its window is predicted from the ``j`` bases
  before it in the window. This limits the context to the training window, for comparison
  with the exact figures.

Metrics and their exact definitions are in :mod:`genorm.metrics`. Probabilities are the
softmax of the model's float32 logits, computed in float64.

>>> import numpy as np
>>> from genorm.genome import Genome
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

import json
import logging
import math
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from genorm.atomic import atomic_write_text
from genorm.evaluation.baselines import Baselines, as_intervals
from genorm.encoding import BASES, CODE_BITS, N, SOFT_MASK_FLAG
from genorm.errors import ConfigError
from genorm.validate import check_int, check_positive_int
from genorm.evaluation.metrics import Accumulator

logger = logging.getLogger(__name__)

MODEL_ROW = "model"
DEFAULT_BATCH_SIZE = 256
DEFAULT_CHUNK = 1000
_BASELINE_BLOCK = 1 << 20  # bases of one interval predicted by a baseline at once


# ------------------------------------------------------------------------------------------
# lanes


@dataclass(frozen=True)
class Lane:
    """One row of a batch: zero state at ``ctx_start``, bases ``start..end-1`` scored.

    ``record`` is a record index; ``ctx_start <= start < end``, all 0-based positions.
    """

    record: int
    ctx_start: int
    start: int
    end: int


def plan_lanes(intervals: Sequence[tuple[int, int, int]], *, warmup: int | None = None,
               segment: int | None = None, window: int | None = None,
               batch_size: int = DEFAULT_BATCH_SIZE) -> list[Lane]:
    """The lanes that score every base of ``intervals`` once (see the module docstring).

    >>> plan_lanes([(0, 0, 2500)], warmup=100, segment=1000)
    [Lane(record=0, ctx_start=0, start=0, end=1000), Lane(record=0, ctx_start=900, start=1000, end=2000), Lane(record=0, ctx_start=1900, start=2000, end=2500)]
    """
    intervals = [iv for iv in intervals if iv[2] > iv[1]]
    if window is not None:
        return [Lane(r, a, a, min(a + window, e)) for r, s, e in intervals for a in range(s, e, window)]
    if warmup is None:
        return [Lane(r, s, s, e) for r, s, e in intervals]
    if segment is None:
        total = sum(e - s for _, s, e in intervals)
        segment = max(1000, 4 * warmup, math.ceil(total / max(batch_size, 1)))
    return [Lane(r, max(s, a - warmup), a, min(a + segment, e))
            for r, s, e in intervals for a in range(s, e, segment)]


def _as_stepper(model):
    """A Stepper from a Stepper, a loaded run (``.stepper()``) or a Keras model."""
    if all(hasattr(model, a) for a in ("step", "initial_state", "initial_logits")):
        return model
    if callable(getattr(model, "stepper", None)):
        return model.stepper()
    from genorm.model import make_stepper

    return make_stepper(model)


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    x = np.asarray(logits, dtype=np.float64)
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def stream_logits(stepper, genome, lanes: Sequence[Lane], *, batch_size: int = DEFAULT_BATCH_SIZE,
                  chunk: int = DEFAULT_CHUNK,
                  progress: Callable[[int, int | None, str], None] | None = None,
                  ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Run ``stepper`` over ``lanes`` in batches; yield the logits of every scored base.

    Args:
        stepper: has ``initial_state(B)``, ``step(codes (B, T) int32, state)`` and
            ``initial_logits() (4,)`` (see :class:`genorm.model.Stepper`).
        genome: the :class:`~genorm.genome.Genome` the lanes refer to.
        lanes: from :func:`plan_lanes`.
        batch_size: lanes run at once; chunk: bases per lane per call.
        progress: called as ``progress(bases_done, bases_total, "evaluate")``.

    Yields:
        ``(records (n,) int64, positions (n,) int64, logits (n, 4) float32)``, each scored base
        once (N targets included; the caller drops them).
    """
    lanes = sorted(lanes, key=lambda lane: lane.end - lane.ctx_start, reverse=True)  # longest first
    total = sum(lane.end - lane.start for lane in lanes)
    done = 0
    init = np.asarray(stepper.initial_logits(), dtype=np.float32).reshape(1, 4)
    width = min(batch_size, len(lanes))
    if width == 0:
        return
    zero = stepper.initial_state(1)
    state = stepper.initial_state(width)
    slots: list[Lane | None] = [None] * width
    pos = np.zeros(width, dtype=np.int64)  # next input position of each slot
    pending = iter(lanes)
    exhausted = False
    while True:
        starts_r, starts_p, reset = [], [], []
        for i in range(len(slots)):
            while slots[i] is None and not exhausted:
                lane = next(pending, None)
                if lane is None:
                    exhausted = True
                    break
                if lane.ctx_start == lane.start:  # first base: empty context
                    starts_r.append(lane.record)
                    starts_p.append(lane.start)
                if lane.end - lane.ctx_start >= 2:
                    slots[i] = lane
                    pos[i] = lane.ctx_start
                    reset.append(i)
        if starts_r:
            done += len(starts_r)
            yield (np.array(starts_r, np.int64), np.array(starts_p, np.int64), np.repeat(init, len(starts_r), 0))
        active = [i for i, lane in enumerate(slots) if lane is not None]
        if not active:
            break
        if reset:
            state = [np.array(s, dtype=np.float32) for s in state]
            for s, z in zip(state, zero):
                s[reset] = z[0]
        if exhausted and len(active) <= len(slots) // 2:  # compact: drop idle rows at the tail
            state = [np.asarray(s)[active] for s in state]
            slots = [slots[i] for i in active]
            pos = pos[active]
            active = list(range(len(slots)))
        remaining = np.array([slots[i].end - 1 - pos[i] if slots[i] else 0 for i in range(len(slots))])
        t = int(min(chunk, remaining.max()))
        codes = np.full((len(slots), t), N, dtype=np.int32)
        for i in active:
            n = int(min(t, remaining[i]))
            codes[i, :n] = genome.packed_record(slots[i].record)[pos[i]:pos[i] + n] & CODE_BITS
        logits, state = stepper.step(codes, state)
        logits = np.asarray(logits)
        out_r, out_p, out_l = [], [], []
        for i in active:
            lane = slots[i]
            n = int(min(t, remaining[i]))
            first = max(0, lane.start - 1 - int(pos[i]))  # input p predicts base p + 1 >= start
            if first < n:
                out_r.append(np.full(n - first, lane.record, np.int64))
                out_p.append(np.arange(pos[i] + 1 + first, pos[i] + 1 + n, dtype=np.int64))
                out_l.append(logits[i, first:n])
            pos[i] += n
            if pos[i] >= lane.end - 1:
                slots[i] = None
        if out_r:
            r, p = np.concatenate(out_r), np.concatenate(out_p)
            done += r.size
            yield r, p, np.concatenate(out_l)
        if progress is not None:
            progress(done, total, "evaluate")


# ------------------------------------------------------------------------------------------
# the report


def _metric_row(f: np.ndarray) -> dict:
    n = f[0]
    with np.errstate(invalid="ignore", divide="ignore"):
        bpb = f[1] / n if n else float("nan")
        return {"bases": int(round(n)), "accuracy": f[3] / n if n else float("nan"),
                "top2_accuracy": f[4] / n if n else float("nan"), "bits_per_base": bpb,
                "perplexity": 2.0 ** bpb if n else float("nan"), "mean_p_true": f[2] / n if n else float("nan")}


def _tables(accs: dict[str, Accumulator], names: list[str]):
    import pandas as pd

    summary, per_nuc, confusion, per_record, by_mask, profile = [], [], [], [], [], []
    for label, acc in accs.items():
        cells = acc.cells
        summary.append({"predictor": label, **_metric_row(cells.sum(axis=(0, 1, 2)))})
        conf = cells.sum(axis=(0, 1))[:, 5:9]  # (true, predicted)
        col = conf.sum(axis=0)
        for b, letter in enumerate(BASES):
            f = cells[:, :, b].sum(axis=(0, 1))
            row = _metric_row(f)
            per_nuc.append({"predictor": label, "base": letter, "count": row["bases"], "recall": row["accuracy"],
                            "precision": conf[b, b] / col[b] if col[b] else float("nan"),
                            "mean_p_true": row["mean_p_true"], "bits_per_base": row["bits_per_base"]})
            confusion.append({"predictor": label, "true": letter, **{f"pred_{c}": conf[b, j] for j, c in enumerate(BASES)}})
        for r, name in enumerate(names):
            f = cells[r].sum(axis=(0, 1))
            if f[0]:
                per_record.append({"record": name, "predictor": label, **_metric_row(f)})
        for m, mask in enumerate(("unmasked", "soft-masked")):
            by_mask.append({"mask": mask, "predictor": label, **_metric_row(cells[:, m].sum(axis=(0, 1)))})
        for r, name in enumerate(names):
            nb = acc.profile_bases[r]
            edges = acc.bin_edges(r)
            for j in np.flatnonzero(nb):
                profile.append({"record": name, "start": int(edges[j]), "end": int(edges[j + 1]), "predictor": label,
                                "bases": int(nb[j]), "bits_per_base": acc.profile_bits[r, j] / nb[j]})
    key = lambda df, cols: df.sort_values(cols, kind="stable").reset_index(drop=True)  # noqa: E731
    order = {label: i for i, label in enumerate(accs)}
    frames = [pd.DataFrame(x) for x in (summary, per_nuc, confusion, per_record, by_mask, profile)]
    per_record_df = frames[3]
    if len(per_record_df):  # records in genome order, predictors in report order
        per_record_df["_r"] = per_record_df["record"].map({n: i for i, n in enumerate(names)})
        per_record_df["_p"] = per_record_df["predictor"].map(order)
        frames[3] = key(per_record_df, ["_r", "_p"]).drop(columns=["_r", "_p"])
    return frames


@dataclass
class Report:
    """The result of :func:`evaluate`: pandas DataFrames, one row per predictor (and group).

    Attributes:
        summary: ``predictor, bases, accuracy, top2_accuracy, bits_per_base, perplexity,
            mean_p_true``; the model's row first, then ``uniform``, ``composition``,
            ``markov k=..``.
        per_nucleotide: ``predictor, base, count, recall, precision, mean_p_true, bits_per_base``.
        confusion: ``predictor, true, pred_A, pred_C, pred_G, pred_T`` (counts; ties split).
        per_record: ``record, predictor`` + the summary columns, for records with scored bases.
        by_mask: ``mask`` (``unmasked`` / ``soft-masked``, of the true base), ``predictor`` + the
            summary columns.
        profile: ``record, start, end, predictor, bases, bits_per_base``: equal bins along the
            evaluated extent of each record (for the bits-along-the-record plot).
        meta: how the report was made (mode, warm-up, window, lanes, intervals, baselines' k).
    """

    summary: "pd.DataFrame"  # noqa: F821
    per_nucleotide: "pd.DataFrame"  # noqa: F821
    confusion: "pd.DataFrame"  # noqa: F821
    per_record: "pd.DataFrame"  # noqa: F821
    by_mask: "pd.DataFrame"  # noqa: F821
    profile: "pd.DataFrame"  # noqa: F821
    meta: dict = field(default_factory=dict)

    TABLES = ("summary", "per_nucleotide", "confusion", "per_record", "by_mask", "profile")

    @property
    def description(self) -> str:
        """What was scored, in one line (``meta["targets"]["description"]``)."""
        return str((self.meta.get("targets") or {}).get("description", ""))

    def to_dict(self) -> dict:
        """JSON-able dict: ``meta`` and each table as a list of row dicts (NaN as None)."""
        out = {"meta": self.meta}
        for name in self.TABLES:
            df = getattr(self, name)
            out[name] = [{k: _jsonable(v) for k, v in row.items()} for row in df.to_dict(orient="records")]
        return out

    def to_json(self, path: str | os.PathLike) -> None:
        """Write :meth:`to_dict` as JSON, atomically (temporary file, then ``os.replace``)."""
        atomic_write_text(path, json.dumps(self.to_dict(), indent=1) + "\n")

    def to_long(self) -> "pd.DataFrame":  # noqa: F821
        """Every table but ``profile`` in one tidy frame: ``table, predictor, record, mask, base,
        metric, value`` (empty strings where a key does not apply)."""
        import pandas as pd

        keys = ["predictor", "record", "mask", "base"]
        parts = []
        for name in self.TABLES[:-1]:
            df = getattr(self, name).rename(columns={"true": "base"})
            present = [k for k in keys if k in df.columns]
            long = df.melt(id_vars=present, var_name="metric", value_name="value")
            for k in keys:
                if k not in long.columns:
                    long[k] = ""
            long.insert(0, "table", name)
            parts.append(long[["table", *keys, "metric", "value"]])
        return pd.concat(parts, ignore_index=True)

    def to_tsv(self, path: str | os.PathLike) -> None:
        """Write :meth:`to_long` as tab-separated values, atomically."""
        atomic_write_text(path, self.to_long().to_csv(sep="\t", index=False))


def _jsonable(v):
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return None if not math.isfinite(v) else float(v)
    return v


# ------------------------------------------------------------------------------------------
# evaluate


def _check_intervals(genome, intervals) -> list[tuple[int, int, int]]:
    ivs = as_intervals(intervals)
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
        genome: the :class:`~genorm.genome.Genome` the intervals refer to.
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
        allow_train_overlap: accept custom intervals with bases in the run's training split
            (their scores are not held out; the report says how many bases).
        records: keep only intervals / records with these names.
        policy: the encoding policy for ``fasta`` (default: the run's).
        format: the file format of ``fasta`` (default: told from the content).

    Raises:
        ConfigError: ``fasta`` and ``intervals`` together; custom intervals overlapping the
            training split without ``allow_train_overlap``; a bad ``split``.
        SplitError: an empty split or a bad BED file.
        RunDirError: the run's inputs or split changed since training.
    """
    from genorm.errors import SplitError
    from genorm.genome import Genome

    if fasta is not None and intervals is not None:
        raise ConfigError("Received both FASTA files and `intervals`: custom intervals refer to the run's own "
                          "genome; evaluate explicit FASTA files whole, or intervals of the run's genome.")
    if fasta is not None:
        genome = fasta if isinstance(fasta, Genome) else _read_files(fasta, run, records, policy, progress, format)
        ivs = [(r, 0, int(n)) for r, n in enumerate(genome.lengths)]
        return Targets(genome, ivs, "files", f"{len(genome)} record(s) of {_files_label(fasta)} (explicit files, "
                       "NOT the run's split)")
    genome = run.genome
    if intervals is None:
        ivs = _keep_records(genome, run.splits.intervals(split), records)
        if not ivs:
            raise SplitError(f"The run's {split} split is empty: nothing to evaluate. Pass FASTA files, or use "
                             f"--split {'val' if split == 'test' else 'test'}.")
        return Targets(genome, ivs, "split", f"the {split} split of {run.run_dir} (the run's held-out split)")
    return _custom_targets(run, genome, intervals, allow_train_overlap, records)


def _read_files(fasta, run, records, policy, progress, format=None):
    from genorm.genome import read_genome

    return read_genome(fasta, policy=policy or run.config.policy(), records=records, progress=progress, format=format)


def _keep_records(genome, intervals, records) -> list:
    if not records:
        return list(intervals)
    keep = {genome.index(name) for name in records}  # unknown names: RecordSelectionError
    return [iv for iv in intervals if (iv.record if hasattr(iv, "record") else iv[0]) in keep]


def _custom_targets(run, genome, intervals, allow_train_overlap: bool, records) -> Targets:
    from genorm.splits import overlap_bases, read_intervals

    source = str(intervals) if isinstance(intervals, (str, os.PathLike)) else "intervals given by the caller"
    ivs = read_intervals(intervals, genome) if isinstance(intervals, (str, os.PathLike)) else intervals
    ivs = _keep_records(genome, _check_intervals(genome, ivs), records)
    total = sum(e - s for r, s, e in as_intervals(ivs))
    overlap = overlap_bases(as_intervals(ivs), run.splits.train)
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


def evaluate(model, genome=None, intervals=None, *, baselines: Baselines | None = None, warmup: int | None = None,
             segment: int | None = None, window: int | None = None, batch_size: int = DEFAULT_BATCH_SIZE,
             chunk: int = DEFAULT_CHUNK, bins_per_record: int = 200,
             progress: Callable[[int, int | None, str], None] | None = None,
             allow_train_overlap: bool = False, targets: Targets | None = None) -> Report:
    """Score every base of ``intervals`` with the model and the baselines.

    Args:
        model: a Stepper (:func:`genorm.model.make_stepper`), a loaded run
            (:func:`genorm.trained.load`), or a Keras model from :func:`genorm.model.build_model`.
        genome: the :class:`~genorm.genome.Genome` the intervals refer to, or FASTA path(s)
            (read with the default encoding policy). None (only when ``model`` is a loaded run):
            the run's genome, checked against its provenance, as :func:`run_targets` chooses:
            the run's test split, or custom ``intervals`` (a BED path or tuples) refused where
            they overlap training unless ``allow_train_overlap``.
        intervals: ``Interval`` objects or ``(record, start, end)`` tuples, non-overlapping;
            e.g. ``splits.test``. Default: every record whole.
        allow_train_overlap: see ``genome=None``.
        targets: a :class:`Targets` from :func:`run_targets` (its label goes into
            ``report.meta["targets"]``).
        baselines: fitted :class:`~genorm.evaluation.baselines.Baselines`. Default: a loaded run's
            ``baselines.npz`` when ``model`` is a run that has one; otherwise only the uniform
            baseline is shown.
        warmup: None (default) for exact prediction; else bases of warm-up context per lane
            (see the module docstring). segment: bases scored per lane with ``warmup``.
        window: limit the context to windows of this many bases (the training window).
        batch_size: lanes run at once (default 256). chunk: bases per lane per model call
            (default 1000).
        bins_per_record: bins of the bits-along-the-record profile.
        progress: called as ``progress(bases_done, bases_total, "evaluate")``.

    Returns:
        :class:`Report`.

    Raises:
        ConfigError: bad intervals or options, or no A/C/G/T base to score in ``intervals``.
    """
    batch_size = check_positive_int("batch_size", batch_size)
    chunk = check_positive_int("chunk", chunk)
    if warmup is not None and window is not None:
        raise ConfigError("Received both `warmup` and `window`: choose one (warm-up lanes over full context, "
                          "or context limited to the training window).")
    if warmup is not None:
        warmup = check_int("warmup", warmup, 0)
    if window is not None:
        window = check_positive_int("window", window)
    if segment is not None:
        segment = check_positive_int("segment", segment)
    from genorm.genome import Genome

    if genome is None:
        if not hasattr(model, "splits"):
            raise ConfigError("Received no `genome`: pass the Genome or FASTA path(s) to evaluate, or a loaded run "
                              "(genorm.load) as `model` to evaluate its test split.")
        targets = run_targets(model, intervals=intervals, allow_train_overlap=allow_train_overlap)
        genome, intervals = targets.genome, targets.intervals
    if not isinstance(genome, Genome):
        from genorm.genome import read_genome

        genome = read_genome(genome)
    if intervals is None:
        intervals = [(r, 0, int(n)) for r, n in enumerate(genome.lengths)]
    ivs = _check_intervals(genome, intervals)
    run_dir = getattr(model, "run_dir", None)
    if baselines is None and run_dir is not None and (Path(run_dir) / "baselines.npz").is_file():
        baselines = Baselines.load(Path(run_dir) / "baselines.npz")
    stepper = _as_stepper(model)
    lanes = plan_lanes(ivs, warmup=warmup, segment=segment, window=window, batch_size=batch_size)
    mode = "window" if window is not None else ("exact" if warmup is None else "warmup")
    nrec = len(genome)
    bins = max(1, min(int(bins_per_record), 200_000 // max(nrec, 1)))
    ranges = np.zeros((nrec, 2), dtype=np.int64)
    ranges[:, 0] = genome.lengths
    for r, s, e in ivs:
        if e > s:
            ranges[r] = (min(ranges[r, 0], s), max(ranges[r, 1], e))

    labels = {MODEL_ROW: MODEL_ROW, "uniform": "uniform"}
    if baselines is not None:
        labels.update(baselines.labels())
    accs = {label: Accumulator(nrec, ranges, bins) for label in labels.values()}

    model_acc = accs[MODEL_ROW]
    for rec, pos, logits in stream_logits(stepper, genome, lanes, batch_size=batch_size, chunk=chunk,
                                          progress=progress):
        packed = genome.packed[genome.offsets[rec] + pos]
        model_acc.add(rec, pos, packed & CODE_BITS, (packed & SOFT_MASK_FLAG) > 0,
                      np.exp(_log_softmax(logits)))
    _check_scored(model_acc, ivs)

    for name, label in labels.items():
        if name == MODEL_ROW:
            continue
        acc = accs[label]
        for r, s, e in ivs:
            packed_all = genome.packed_record(r)
            overlap = baselines.order if baselines is not None else 0
            for a in range(s, e, _BASELINE_BLOCK):
                b = min(a + _BASELINE_BLOCK, e)
                lo = max(s, a - overlap)
                packed = packed_all[lo:b]
                if name == "uniform":
                    probs = np.full((b - a, 4), 0.25)
                else:
                    probs = baselines.predict_proba(packed & CODE_BITS, name)[a - lo:]
                packed = packed[a - lo:]
                acc.add(r, np.arange(a, b), packed & CODE_BITS, (packed & SOFT_MASK_FLAG) > 0, probs)

    frames = _tables(accs, list(genome.names))
    meta = {"mode": mode, "warmup": warmup, "segment": segment, "window": window, "batch_size": batch_size,
            "chunk": chunk, "lanes": len(lanes), "intervals": len([iv for iv in ivs if iv[2] > iv[1]]),
            "markov_order": baselines.order if baselines is not None else None,
            "baselines": [labels[n] for n in labels if n != MODEL_ROW],
            "metrics": "see genorm.evaluation.metrics: top-1/top-2 credit split over ties; bits = -log2 P(true base)",
            "targets": (targets.to_dict() if targets is not None else
                        {"kind": "given", "run_split": False, "description": "intervals given by the caller",
                         "train_overlap_bases": None})}
    if mode == "warmup" and lanes:
        meta["segment"] = max(lane.end - lane.start for lane in lanes)
    logger.info("evaluated %d bases in %d lanes (%s)", int(frames[0]["bases"].iloc[0]), len(lanes), mode)
    return Report(*frames, meta=meta)


def evaluate_run(run, fasta=None, *, split: str = "test", intervals=None, allow_train_overlap: bool = False,
                 records: Sequence[str] | None = None, policy=None, format: str | None = None,
                 warmup: int | None = None, segment: int | None = None, context: str = "full",
                 batch_size: int = DEFAULT_BATCH_SIZE, chunk: int = DEFAULT_CHUNK,
                 progress: Callable[[int, int | None, str], None] | None = None,
                 on_note: Callable[[str], None] | None = None) -> Report:
    """Evaluate a loaded run: the one definition of "evaluate a run" (the CLI and ``LoadedRun.evaluate``).

    Chooses the targets with :func:`run_targets` (``fasta``, ``split``, ``intervals``,
    ``allow_train_overlap``, ``records``; ``policy`` and ``format`` apply to ``fasta`` only), uses
    the run's ``baselines.npz`` or fits the baselines on its training split when the file is
    missing (saying so through ``on_note(text)``), limits the context to the training window
    when ``context="window"``, and runs :func:`evaluate`. ``progress`` sees the reading of
    ``fasta`` (labelled by file) and then the scoring (labelled ``"evaluate"``).

    Returns:
        :class:`Report`; ``report.description`` says what was scored.

    Raises:
        ConfigError: a bad ``context`` or option (see :func:`run_targets`, :func:`evaluate`).
    """
    from genorm.evaluation.baselines import fit_baselines

    if context not in ("full", "window"):
        raise ConfigError(f"Received an invalid value for `context`, expected 'full' or 'window', got {context!r}.")
    targets = run_targets(run, fasta or None, split=split, intervals=intervals,
                          allow_train_overlap=allow_train_overlap, records=records,
                          policy=policy if fasta else None, progress=progress, format=format)
    path = Path(run.run_dir) / "baselines.npz"
    if path.is_file():
        baselines = Baselines.load(path)
    else:
        if on_note is not None:
            on_note(f"{path} is missing; fitting the baselines on the run's training split")
        baselines = fit_baselines(run.genome, run.splits)
    window = run.config.window if context == "window" else None
    return evaluate(run.stepper(), targets.genome, targets.intervals, baselines=baselines, warmup=warmup,
                    segment=segment, window=window, batch_size=batch_size, chunk=chunk, progress=progress,
                    targets=targets)


__all__ = ["Lane", "Report", "Targets", "evaluate", "evaluate_run", "plan_lanes", "run_targets", "stream_logits"]


