"""Benchmark prediction and scoring of many short records: one at a time vs several lanes per batch.

Issue 12 measured ``genorm predict`` on 10,000 records of about 100 bases at 86 s: one model
call per record. :meth:`genorm.predict.Predictor.iter_records_proba` runs short records together
as the rows of one batch. This script writes ``--records`` random records of 80-120 bases (fixed
seed), trains a tiny model a few steps on the bundled phage lambda genome (or takes ``--run``), and
times ``write_predictions`` (the TSV of ``genorm predict``) and ``score_records`` (``genorm score``)
with ``lanes=1`` (the old way: one call per record) and the default lanes, best of ``--repeats``,
after checking that both give the same numbers (to 1e-6). ``--cli`` also times the real command.

Usage::

    .venv/bin/python benchmarks/bench_predict_short.py                  # 10,000 records
    .venv/bin/python benchmarks/bench_predict_short.py --records 1000 --repeats 1   # a quick check
    .venv/bin/python benchmarks/bench_predict_short.py --run runs/ecoli --cli
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

LAMBDA = ROOT / "sample_data" / "phage_lambda_NC_001416.1.fa"


def write_records(path: Path, n: int, seed: int = 0) -> int:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(80, 121, n)
    with open(path, "w") as fh:
        for i, length in enumerate(lengths):
            fh.write(f">read{i}\n{''.join(rng.choice(list('ACGT'), length))}\n")
    return int(lengths.sum())


def tiny_run(out: Path, counts: bool = False) -> Path:
    from genorm.config import ModelConfig, TrainConfig
    from genorm.training.trainer import train

    config = TrainConfig(model=ModelConfig(units=32, layers=1), window=50, batch_size=32, bases_per_epoch=8000,
                         epochs=1, max_val_bases=2000, baselines=False, **({} if counts else {"context_orders": ()}))
    train([str(LAMBDA)], config, out)
    return out


def best_of(repeats: int, fn) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeats):
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    return best, result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=10_000)
    ap.add_argument("--run", default=None, help="a trained run (default: train a tiny one)")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--counts", action="store_true", help="the tiny model reads count models (default: the plain network)")
    ap.add_argument("--cli", action="store_true", help="also time `genorm predict` as a command")
    args = ap.parse_args()

    from genorm.predict import Predictor, write_predictions
    from genorm.trained import load

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        fasta = tmp / "short.fa"
        bases = write_records(fasta, args.records)
        run_dir = Path(args.run) if args.run else tiny_run(tmp / "run", args.counts)
        stepper = load(run_dir).stepper()
        print(f"{args.records:,} records, {bases:,} bases; model {run_dir}")
        figures = {}
        for lanes in (1, Predictor.lanes):
            predictor = Predictor(stepper, lanes=lanes)
            t_pred, text = best_of(args.repeats, lambda: _predict_text(predictor, fasta, write_predictions))
            t_score, scores = best_of(args.repeats, lambda: predictor.score_records([str(fasta)]))
            figures[lanes] = (t_pred, t_score, text, scores)
            print(f"lanes={lanes:>3}: predict {t_pred:7.2f} s ({bases / t_pred:,.0f} bases/s), "
                  f"score {t_score:7.2f} s ({args.records / t_score:,.0f} records/s)")
        (p1, s1, text1, sc1), (pn, sn, textn, scn) = figures[1], figures[Predictor.lanes]
        a = np.loadtxt(io.StringIO(text1), delimiter="\t", skiprows=1, usecols=(3, 4, 5, 6))
        b = np.loadtxt(io.StringIO(textn), delimiter="\t", skiprows=1, usecols=(3, 4, 5, 6))
        diff = float(np.abs(a - b).max())
        sdiff = float(np.abs(sc1["log2_likelihood"] - scn["log2_likelihood"]).max())
        print(f"largest difference: probabilities {diff:.2g} (TSV rounded to 6 digits), log2 likelihood {sdiff:.2g}")
        assert diff <= 2e-6, diff
        print(f"speed-up: predict {p1 / pn:.1f}x, score {s1 / sn:.1f}x")
        if args.cli:
            t = time.perf_counter()
            subprocess.run([sys.executable, "-m", "genorm.cli", "predict", str(run_dir), str(fasta), "-o",
                            str(tmp / "p.tsv")], check=True, capture_output=True, cwd=ROOT,
                           env={**os.environ, "PYTHONPATH": str(ROOT)})
            print(f"genorm predict (the command, TensorFlow start-up included): {time.perf_counter() - t:.1f} s")


def _predict_text(predictor, fasta: Path, write_predictions) -> str:
    handle = io.StringIO()
    write_predictions(predictor, [str(fasta)], handle)
    return handle.getvalue()


if __name__ == "__main__":
    main()
