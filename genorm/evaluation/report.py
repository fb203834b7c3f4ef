"""The evaluation report: tables of metrics per predictor, and their JSON / TSV forms.

A :class:`Report` is made by :func:`genorm.evaluation.evaluate.evaluate` from one
:class:`~genorm.metrics.Accumulator` per predictor (:func:`tables`); the metrics'
definitions are in :mod:`genorm.metrics`.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field

import numpy as np

from genorm.atomic import atomic_write_text
from genorm.encoding import BASES
from genorm.metrics import Accumulator


def metric_row(f: np.ndarray) -> dict:
    """The summary columns from summed ``FIELDS`` ``f`` (see :mod:`genorm.metrics`); NaN for no base."""
    n = f[0]
    with np.errstate(invalid="ignore", divide="ignore"):
        bpb = f[1] / n if n else float("nan")
        return {"bases": int(round(n)), "accuracy": f[3] / n if n else float("nan"),
                "top2_accuracy": f[4] / n if n else float("nan"), "bits_per_base": bpb,
                "perplexity": 2.0 ** bpb if n else float("nan"), "mean_p_true": f[2] / n if n else float("nan")}


def tables(accs: dict[str, Accumulator], names: list[str]) -> list:
    """The six tables of a :class:`Report` (in :attr:`Report.TABLES` order) from one accumulator per predictor
    label (in report order) and the genome's record ``names``."""
    import pandas as pd

    summary, per_nuc, confusion, per_record, by_mask, profile = [], [], [], [], [], []
    for label, acc in accs.items():
        cells = acc.cells
        summary.append({"predictor": label, **metric_row(cells.sum(axis=(0, 1, 2)))})
        conf = cells.sum(axis=(0, 1))[:, 5:9]  # (true, predicted)
        col = conf.sum(axis=0)
        for b, letter in enumerate(BASES):
            f = cells[:, :, b].sum(axis=(0, 1))
            row = metric_row(f)
            per_nuc.append({"predictor": label, "base": letter, "count": row["bases"], "recall": row["accuracy"],
                            "precision": conf[b, b] / col[b] if col[b] else float("nan"),
                            "mean_p_true": row["mean_p_true"], "bits_per_base": row["bits_per_base"]})
            confusion.append({"predictor": label, "true": letter, **{f"pred_{c}": conf[b, j] for j, c in enumerate(BASES)}})
        for r, name in enumerate(names):
            f = cells[r].sum(axis=(0, 1))
            if f[0]:
                per_record.append({"record": name, "predictor": label, **metric_row(f)})
        for m, mask in enumerate(("unmasked", "soft-masked")):
            by_mask.append({"mask": mask, "predictor": label, **metric_row(cells[:, m].sum(axis=(0, 1)))})
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
    """The result of :func:`genorm.evaluation.evaluate.evaluate`: pandas DataFrames, one row per predictor (and group).

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
        meta: how the report was made (mode, warm-up, window, lanes, intervals, baselines' k; with
            adaptive evaluation also ``adapt``, ``modes`` and ``bases_per_second`` per model row).
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
        """What was scored, in one line (``meta["targets"]["description"]``), e.g. "the test split of runs/x
        (the run's held-out split)"."""
        return str(self.meta.get("targets", {}).get("description", "intervals given by the caller"))

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


__all__ = ["Report", "metric_row", "tables"]
