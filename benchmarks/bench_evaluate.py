"""Benchmark evaluation: throughput against training, exactness of warm-up lanes, and baselines.

Prints figures; writes nothing but the temporary run directory.

1. Trains the default model (GRU 2x128, window 200, batch 128) briefly on a genome (default:
   the bundled E. coli), or takes a trained run (``--run``), and reads its training bases/s
   from the run summary; also times bare train steps of the same weights. Then evaluates the
   run's test split with warm-up lanes (batch 256) and prints evaluation bases/s and the ratios
   (target >= 2.5x); timings interleaved, best of ``--repeats``. Exact single-lane streaming is
   timed on a prefix of the test split and compared with warm-up lanes on that prefix (how far
   from exact the fast plan is).
2. Markov baselines on the bundled genomes, the reference protocol (docs/figures.md §1): first 90 % of every
   record for training, last 10 % for testing; uniform, composition, best k chosen on the test
   tail (as that table does) and k chosen on a validation tail (the last 5 % of the training part,
   as genorm's fit_baselines does in a run).

Usage::

    .venv/bin/python benchmarks/bench_evaluate.py                    # both parts
    .venv/bin/python benchmarks/bench_evaluate.py --skip-model       # baselines only (seconds)
    .venv/bin/python benchmarks/bench_evaluate.py --run runs/ecoli --skip-baselines   # a trained run
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from genorm.baselines import _interval_codes, context_arrays, count_order, fit_baselines, markov_scores  # noqa: E402
from genorm.genome.array import read_genome  # noqa: E402


def _train_step_rate(model, genome, intervals, batch: int, window: int, steps: int = 10) -> float:
    """Steady-state training bases/s of ``model`` (a clone, compiled as genorm trains) on real windows."""
    import keras

    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    clone.compile(optimizer=keras.optimizers.Adam(2e-3, clipnorm=1.0),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    iv = max(intervals, key=lambda i: i.end - i.start)
    codes = genome.codes(iv.record)[iv.start:iv.end].astype(np.int32)
    starts = rng.integers(0, codes.size - window - 1, size=(steps + 3, batch))
    idx = starts[..., None] + np.arange(window + 1)
    data = np.minimum(codes[idx], 4)
    for i in range(3):
        clone.train_on_batch(data[i, :, :-1], np.minimum(data[i, :, 1:], 3))
    t = time.perf_counter()
    for i in range(3, steps + 3):
        clone.train_on_batch(data[i, :, :-1], np.minimum(data[i, :, 1:], 3))
    return steps * batch * window / (time.perf_counter() - t)


def _probs(logits: np.ndarray) -> np.ndarray:
    x = logits.astype(np.float64)
    p = np.exp(x - x.max(1, keepdims=True))
    return p / p.sum(1, keepdims=True)


def bench_model(fasta: str, train_bases: int, warmup: int, batch_size: int, prefix: int, run_dir: str | None,
                repeats: int) -> None:
    from genorm.baselines import Baselines
    from genorm.engine import plan_lanes, stream
    from genorm.evaluation.evaluate import evaluate
    from genorm.trained import load

    if run_dir is None:
        from genorm.training.trainer import TrainConfig, train

        run_dir = tempfile.mkdtemp(prefix="genorm_bench_")
        cfg = TrainConfig(epochs=2, bases_per_epoch=train_bases // 2, max_val_bases=100_000)
        print(f"training the default model ({cfg.model.cell} {cfg.model.layers}x{cfg.model.units}, window "
              f"{cfg.window}, batch {cfg.batch_size}) on {os.path.basename(fasta)}: {train_bases:,} bases ...",
              flush=True)
        train([fasta], cfg, out_dir=run_dir, force=True)
    loaded = load(run_dir)
    cfg = loaded.config
    run_bps = float(loaded.provenance.get("summary", {}).get("bases_per_second", float("nan")))
    print(f"run {run_dir}: {cfg.model.cell} {cfg.model.layers}x{cfg.model.units}, window {cfg.window}, "
          f"batch {cfg.batch_size}; genorm train reported {run_bps:,.0f} bases/s (data, validation included)")
    genome, splits = loaded.genome, loaded.splits
    test = splits.test
    n_test = sum(iv.end - iv.start for iv in test)
    stepper = loaded.stepper()
    stepper.step(np.zeros((1, 1), np.int32), stepper.initial_state(1))  # trace once, outside the timing
    baselines = Baselines.load(Path(run_dir) / "baselines.npz")

    # Interleaved, best of `repeats`: the machine is shared, so the least-disturbed run of each counts.
    train_rates, eval_rates = [], []
    for _ in range(repeats):
        train_rates.append(_train_step_rate(loaded.model, genome, splits.train, cfg.batch_size, cfg.window))
        t = time.perf_counter()
        rep = evaluate(stepper, genome, test, baselines=baselines, warmup=warmup, batch_size=batch_size)
        eval_rates.append(n_test / (time.perf_counter() - t))
    train_bps, eval_bps = max(train_rates), max(eval_rates)
    print(f"  steady-state train steps (batch {cfg.batch_size} x window {cfg.window}, same weights): "
          f"{train_bps:,.0f} bases/s (runs: {', '.join(f'{r:,.0f}' for r in train_rates)})")
    print(f"  evaluation (genorm.evaluation.evaluate, warm-up {warmup}, batch {batch_size}, {rep.meta['lanes']} lanes of "
          f"<= {rep.meta['segment']:,} bases; baselines and metrics included) of {n_test:,} test bases: "
          f"{eval_bps:,.0f} bases/s (runs: {', '.join(f'{r:,.0f}' for r in eval_rates)})")
    print(f"  ratio evaluation / training: {eval_bps / run_bps:.2f}x against the run's reported training "
          f"throughput, {eval_bps / train_bps:.2f}x against bare train steps (target >= 2.5x)")
    print(rep.summary.to_string(index=False, float_format=lambda x: f"{x:.4f}"))

    # exact single-lane streaming on a prefix, and the warm-up plan's distance from it
    iv = test[0]
    sub = [(iv.record, iv.start, min(iv.end, iv.start + prefix))]
    n_sub = sub[0][2] - sub[0][1]
    t = time.perf_counter()
    exact = {}
    for _, p, lg in stream(stepper, genome, plan_lanes(sub), batch_size=1):
        exact.update(zip(p.tolist(), lg))
    dt_exact = time.perf_counter() - t
    print(f"  exact streaming, one lane: {n_sub:,} bases in {dt_exact:.1f} s = {n_sub / dt_exact:,.0f} bases/s")
    keys = np.array(sorted(exact))
    codes = genome.codes(sub[0][0])[keys]
    ok = codes < 4
    pe = _probs(np.stack([exact[k] for k in keys.tolist()]))

    def bits(p):
        return float(-np.log2(p[np.arange(len(p)), np.minimum(codes, 3)][ok]).mean())

    segment = max(1000, n_sub // batch_size)
    for w in sorted({0, 100, 200, warmup, 2000}):
        approx = {}
        for _, p, lg in stream(stepper, genome, plan_lanes(sub, warmup=w, segment=segment),
                                      batch_size=batch_size):
            approx.update(zip(p.tolist(), lg))
        pa = _probs(np.stack([approx[k] for k in keys.tolist()]))
        print(f"    warm-up {w:5d} (segments of {segment}): max |P - P_exact| = {np.abs(pa - pe).max():.2e}, "
              f"bits/base {bits(pa):.6f} vs exact {bits(pe):.6f}")


def bench_baselines(files: list[str], max_order: int) -> None:
    print(f"\nMarkov baselines, first 90 % train / last 10 % test of every record (max order {max_order}):")
    header = f"{'file':45s} {'test bases':>11s} {'composition':>17s} {'best k (test)':>26s} {'k on val':>24s} {'fit s':>6s}"
    print(header)
    for path in files:
        genome = read_genome(path)
        train, val, test, trainval = [], [], [], []
        for r, n in enumerate(genome.lengths):
            cut = int(n * 0.9)
            vcut = int(n * 0.85)
            trainval.append((r, 0, cut))
            train.append((r, 0, vcut))
            val.append((r, vcut, cut))
            test.append((r, cut, int(n)))
        t = time.perf_counter()
        x, run, ctx = context_arrays(_interval_codes(genome, trainval), max_order)
        tables = [count_order(x, run, ctx, j) for j in range(max_order + 1)]
        del x, run, ctx
        scores = markov_scores(tables, _interval_codes(genome, test), range(max_order + 1))
        fit_s = time.perf_counter() - t
        best = min(scores, key=lambda s: s["bits_per_base"])
        best_acc = max(scores, key=lambda s: s["accuracy"])
        comp = scores[0]
        b = fit_baselines(genome, train=train, val=val, max_order=max_order)
        on_val = scores[b.order]
        print(f"{os.path.basename(path)[:45]:45s} {comp['bases']:11,d} "
              f"{comp['accuracy']:.4f} {comp['bits_per_base']:.4f}  "
              f"k={best['order']:<2d} {best['accuracy']:.4f} {best['bits_per_base']:.4f} "
              f"(acc k={best_acc['order']} {best_acc['accuracy']:.4f})  k={b.order:<2d} {on_val['accuracy']:.4f} {on_val['bits_per_base']:.4f} "
              f"{fit_s:6.1f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fasta", default=str(ROOT / "sample_data" / "ecoli_K12_MG1655_NC_000913.3.fna.gz"))
    ap.add_argument("--train-bases", type=int, default=1_000_000, help="bases trained (2 epochs)")
    ap.add_argument("--warmup", type=int, default=2000)
    ap.add_argument("--run", default=None, help="use this trained run instead of training a short one")
    ap.add_argument("--repeats", type=int, default=3, help="interleaved timing repeats (best counts)")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--prefix", type=int, default=20_000, help="test bases streamed exactly in one lane")
    ap.add_argument("--max-order", type=int, default=12)
    ap.add_argument("--skip-model", action="store_true")
    ap.add_argument("--skip-baselines", action="store_true")
    ap.add_argument("--genomes", nargs="*", default=None, help="FASTA files for the baselines (default: sample_data)")
    args = ap.parse_args(argv)
    if not args.skip_model:
        bench_model(args.fasta, args.train_bases, args.warmup, args.batch_size, args.prefix, args.run, args.repeats)
    if not args.skip_baselines:
        files = args.genomes or sorted(p for p in glob.glob(str(ROOT / "sample_data" / "*"))
                                       if os.path.isfile(p) and p.endswith((".fa", ".fa.gz", ".fna.gz", ".fasta")))
        bench_baselines(files, args.max_order)
    return 0


if __name__ == "__main__":
    sys.exit(main())
