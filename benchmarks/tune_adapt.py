"""Choose adaptive evaluation's defaults by measurement on a run's VALIDATION split (never the test split).

Evaluates a trained run's split statically once, then adaptively (genorm.evaluation.adapt) for each
setting of a small grid (chunk x learning rate x optimizer x lanes), and prints one table: bits/base,
accuracy, gain in bits/base vs static (%), bases/s of static and adaptive evaluation, and their ratio.
The static figures come from the same evaluate() call as each adaptive row (no baselines are scored).

Usage::

    PYTHONPATH=$PWD .venv/bin/python benchmarks/tune_adapt.py RUN_DIR                  # --split val
    PYTHONPATH=$PWD .venv/bin/python benchmarks/tune_adapt.py RUN_DIR --chunks 100 200 --lrs 0.003 0.01 \\
        --optimizers sgd --lanes 1 4 --max-bases 200000
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _limit(intervals, max_bases: int | None) -> list:
    """The first ``max_bases`` bases of the split, whole intervals first (then a cut one)."""
    out, left = [], max_bases
    for iv in intervals:
        r, s, e = (iv.record, iv.start, iv.end) if hasattr(iv, "record") else iv
        if left is not None and left <= 0:
            break
        e2 = e if left is None else min(e, s + left)
        out.append((r, s, e2))
        left = None if left is None else left - (e2 - s)
    return out


def _row(report, label: str) -> dict:
    row = report.summary[report.summary.predictor == label].iloc[0]
    return {"bits": float(row.bits_per_base), "acc": float(row.accuracy)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("run_dir")
    p.add_argument("--split", choices=["val", "test"], default="val",
                   help="the run's split (choose defaults on val; test only to report a chosen setting)")
    p.add_argument("--chunks", type=int, nargs="+", default=[50, 100, 200, 400])
    p.add_argument("--lrs", type=float, nargs="+", default=[0.001, 0.003, 0.01, 0.03])
    p.add_argument("--optimizers", nargs="+", default=["sgd", "adam"])
    p.add_argument("--lanes", type=int, nargs="+", default=[1, 4])
    p.add_argument("--adam-scale", type=float, default=0.1,
                   help="Adam's learning rates are --lrs times this (Adam steps are ~lr per weight, SGD's ~lr x grad)")
    p.add_argument("--max-bases", type=int, default=None, help="evaluate only the first N bases of the split")
    args = p.parse_args(argv)

    from genorm.evaluation.adapt import ADAPT_ROW, AdaptConfig
    from genorm.evaluation.evaluate import evaluate
    from genorm.trained import load

    run = load(args.run_dir)
    ivs = _limit(run.splits.intervals(args.split), args.max_bases)
    bases = sum(e - s for _, s, e in ivs)
    print(f"# {args.run_dir}: {args.split} split, {len(ivs)} interval(s), {bases:,} bases")
    stepper = run.stepper()
    header = ["optimizer", "lr", "chunk", "lanes", "bits/base", "accuracy", "gain %", "static b/s", "adapt b/s",
              "ratio"]
    rows = []
    static = None
    for opt, lr, chunk, lanes in itertools.product(args.optimizers, args.lrs, args.chunks, args.lanes):
        lr = lr * (args.adam_scale if opt == "adam" else 1.0)
        cfg = AdaptConfig(chunk=chunk, learning_rate=lr, optimizer=opt, lanes=lanes)
        report = evaluate(stepper, run.genome, ivs, adapt=cfg)
        s, a = _row(report, "model"), _row(report, ADAPT_ROW)
        speed = report.meta["bases_per_second"]
        if static is None:
            static = s
            rows.append(["static", "-", "-", "-", f"{s['bits']:.4f}", f"{s['acc']:.4f}", "0.00",
                         f"{speed['model']:.0f}", "-", "-"])
        rows.append([opt, f"{lr:g}", str(chunk), str(lanes), f"{a['bits']:.4f}", f"{a['acc']:.4f}",
                     f"{100 * (s['bits'] - a['bits']) / s['bits']:.2f}", f"{speed['model']:.0f}",
                     f"{speed[ADAPT_ROW]:.0f}", f"{speed[ADAPT_ROW] / speed['model']:.2f}"])
        print("\t".join(rows[-1]), flush=True, file=sys.stderr)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        print("  ".join(x.rjust(w) for x, w in zip(r, widths)))
    best = max(rows[1:], key=lambda r: float(r[6]))
    print(f"# best on {args.split}: {best[0]} lr {best[1]} chunk {best[2]} lanes {best[3]}: {best[6]} % fewer "
          f"bits/base, {best[9]}x static throughput")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
