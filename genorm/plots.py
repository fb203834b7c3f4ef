"""Figures of an evaluation report (matplotlib, Agg backend: no display needed).

:func:`plot_report` draws one PNG with three panels:

1. top-1 accuracy per nucleotide (recall) and overall, model against each baseline;
2. the model's confusion matrix as a heat map, rows normalised to the true base (the diagonal
   is the recall), with counts written in the cells;
3. bits per base along each record (bins of the evaluated extent), model and best Markov
   baseline, records laid end to end: where the sequence is easy and hard to predict.
"""

from __future__ import annotations

import os

import numpy as np

from genorm.encoding import BASES


FORMATS = ("png", "pdf", "svg", "jpg", "jpeg", "tif", "tiff", "eps", "ps", "webp")
"""Figure formats, chosen by the file's suffix (no suffix: PNG)."""


def plot_format(path: str | os.PathLike) -> str:
    """The figure format of ``path`` from its suffix; an unknown suffix is a :class:`ConfigError`.

    >>> plot_format("report.png"), plot_format("figure")
    ('png', 'png')
    """
    from genorm.errors import ConfigError

    suffix = os.path.splitext(str(path))[1].lstrip(".").lower() or "png"
    if suffix not in FORMATS:
        raise ConfigError(f"Cannot draw a figure to {str(path)!r}: unknown figure format {suffix!r}; use a file name "
                          f"ending in one of {', '.join('.' + f for f in FORMATS)}.")
    return suffix


def plot_report(report, path: str | os.PathLike, title: str = "") -> None:
    """Write the report's figure to ``path`` (PNG), atomically.

    Args:
        report: a :class:`genorm.evaluation.evaluate.Report`.
        path: output file; the format follows the suffix (``.png`` recommended).
        title: figure title (default: none).
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from genorm.atomic import atomic_path

    fig = plt.figure(figsize=(13, 8.5))
    grid = fig.add_gridspec(2, 2, height_ratios=[1.1, 1.0], width_ratios=[1.5, 1.0])
    _accuracy_panel(fig.add_subplot(grid[0, 0]), report)
    _confusion_panel(fig, fig.add_subplot(grid[0, 1]), report)
    _profile_panel(fig.add_subplot(grid[1, :]), report)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fmt = plot_format(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format=fmt)
    plt.close(fig)


def _accuracy_panel(ax, report) -> None:
    pn, summary = report.per_nucleotide, report.summary
    predictors = list(summary.predictor)
    groups = list(BASES) + ["all"]
    width = 0.8 / max(len(predictors), 1)
    for i, pred in enumerate(predictors):
        rows = pn[pn.predictor == pred].set_index("base")
        values = [rows.loc[b, "recall"] if b in rows.index else np.nan for b in BASES]
        values.append(float(summary.set_index("predictor").loc[pred, "accuracy"]))
        x = np.arange(len(groups)) + (i - (len(predictors) - 1) / 2) * width
        ax.bar(x, values, width, label=pred)
    ax.set_xticks(np.arange(len(groups)), groups)
    ax.set_ylabel("top-1 accuracy (recall)")
    ax.set_ylim(0, 1)
    ax.axhline(0.25, color="grey", lw=0.8, ls=":")
    ax.legend(fontsize=8, ncol=2)
    ax.set_title("accuracy per nucleotide")


def _confusion_panel(fig, ax, report) -> None:
    conf = report.confusion[report.confusion.predictor == report.summary.predictor.iloc[0]]
    m = conf[[f"pred_{b}" for b in BASES]].to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        norm = m / m.sum(axis=1, keepdims=True)
    im = ax.imshow(np.nan_to_num(norm), cmap="viridis", vmin=0, vmax=max(float(np.nan_to_num(norm).max()), 1e-9))
    for i in range(4):
        for j in range(4):
            ax.text(j, i, f"{m[i, j]:,.0f}", ha="center", va="center", fontsize=8,
                    color="white" if np.nan_to_num(norm[i, j]) < 0.6 * np.nan_to_num(norm).max() else "black")
    ax.set_xticks(range(4), list(BASES))
    ax.set_yticks(range(4), list(BASES))
    ax.set_xlabel("predicted base")
    ax.set_ylabel("true base")
    ax.set_title(f"confusion ({report.summary.predictor.iloc[0]}), row-normalised")
    fig.colorbar(im, ax=ax, fraction=0.046)


def _profile_panel(ax, report) -> None:
    prof = report.profile
    if prof.empty:
        ax.set_axis_off()
        return
    preds = [p for p in report.summary.predictor if p == "model" or p.startswith("markov")]
    records = list(dict.fromkeys(prof.record))
    offset, ticks = 0.0, []
    for r_i, rec in enumerate(records):
        rows = prof[prof.record == rec]
        lo, hi = rows.start.min(), rows.end.max()
        for p_i, pred in enumerate(preds):
            sub = rows[rows.predictor == pred]
            x = offset + ((sub.start + sub.end) / 2 - lo)
            ax.plot(x, sub.bits_per_base, lw=0.9, color=f"C{p_i}", label=pred if r_i == 0 else None)
        ticks.append((offset + (hi - lo) / 2, rec))
        offset += hi - lo
        if r_i < len(records) - 1:
            ax.axvline(offset, color="grey", lw=0.5)
    ax.axhline(2.0, color="grey", lw=0.8, ls=":")
    if len(records) <= 20:
        ax.set_xticks([t for t, _ in ticks], [str(n)[:16] for _, n in ticks], fontsize=7,
                      rotation=30 if len(records) > 4 else 0)
    ax.set_xlabel("evaluated bases, records end to end")
    ax.set_ylabel("bits per base")
    ax.set_title("bits per base along each record")
    ax.legend(fontsize=8)
