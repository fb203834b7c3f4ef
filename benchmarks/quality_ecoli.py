"""The quality target of issue 4: default training on E. coli K-12, evaluated on the test split.

Trains with the default :class:`~genorm.training.trainer.TrainConfig` (GRU 2x128, window 200, batch 128,
Adam 2e-3, clipnorm 1) on ``sample_data/ecoli_K12_MG1655_NC_000913.3.fna.gz`` (the last 10 %
of the genome is the test split, never seen in training or model selection), with a wall-clock
budget, then scores every test base with the best-validation model, streaming through the test
interval with full context (exact mode of :func:`genorm.evaluation.evaluate.evaluate`) next to the
order-k Markov baseline fitted on the training split.

Target: <= 1.88 bits/base and >= 37.5 % accuracy on the test split, training <= 15 minutes.

    python benchmarks/quality_ecoli.py --out runs/ecoli --max-time 13m
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
ECOLI = ROOT / "sample_data" / "ecoli_K12_MG1655_NC_000913.3.fna.gz"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=str(ROOT / "runs" / "ecoli"))
    p.add_argument("--max-time", default="13m")
    p.add_argument("--skip-train", action="store_true", help="only evaluate an existing run")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from genorm.baselines import Baselines
    from genorm.evaluation.evaluate import evaluate
    from genorm.trained import load
    from genorm.rundir import BASELINES
    from genorm.training.trainer import TrainConfig, train

    t0 = time.monotonic()
    if not args.skip_train:
        run = train([ECOLI], TrainConfig(max_time=args.max_time), out_dir=args.out, force=True, verbose=2)
        print("train summary:", run.summary, flush=True)
    train_s = time.monotonic() - t0
    loaded = load(args.out)
    baselines = Baselines.load(Path(args.out) / BASELINES)
    t1 = time.monotonic()
    report = evaluate(loaded, loaded.genome, loaded.splits.test, baselines=baselines)
    print(report.summary.to_string(index=False))
    print(f"training wall time {train_s / 60:.1f} min; evaluation {time.monotonic() - t1:.0f} s; "
          f"test bases {sum(iv.length for iv in loaded.splits.test):,}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
