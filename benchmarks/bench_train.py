"""Benchmark of training throughput: genorm's stream vs pre-built in-memory tensors (prints figures).

    .venv/bin/python benchmarks/bench_train.py                  # default model, E. coli, 3 rounds
    .venv/bin/python benchmarks/bench_train.py --steps 10 --rounds 1   # quick look

The same compiled Keras model (the default :class:`~genorm.training.trainer.TrainConfig`: GRU 2x128,
window 200, batch 128, Adam 2e-3, clipnorm 1, weighted metrics) is trained alternately

* **stream**: ``genorm.batches.dataset.make_dataset`` over the training split of the bundled E. coli
  genome (random windows gathered per batch from the one-byte-per-base genome, weights, prefetch),
  exactly what ``genorm train`` feeds to ``model.fit``;
* **memory**: the same number of batches built beforehand with the same stream, held as tensors
  (``tf.data.Dataset.from_tensor_slices`` of the stacked batches, ``.repeat()``): one ready
  batch per element, so the cost of feeding is nil.

Each round runs ``--steps`` training steps with each feed (after one warm-up fit of each), in
alternating order so that machine noise hits both alike. Printed: input bases per wall-clock
second and per CPU-second of the process (all threads, so the stream's own work counts) of each
feed per round, the median ratios stream / memory (target >= 0.95), and the peak RSS of the
process (``ru_maxrss``). On a shared machine the CPU-time ratio is the steadier figure.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
ECOLI = ROOT / "sample_data" / "ecoli_K12_MG1655_NC_000913.3.fna.gz"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("fasta", nargs="?", default=str(ECOLI))
    p.add_argument("--steps", type=int, default=60, help="training steps per feed per round")
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--cell", default="gru")
    p.add_argument("--units", type=int, default=128)
    args = p.parse_args(argv)

    import keras
    import numpy as np
    import tensorflow as tf

    from genorm.model import build_model
    from genorm.genome.splits import make_splits
    from genorm.batches.dataset import make_dataset
    from genorm.training.trainer import TrainConfig, compile_model, load_genome

    config = TrainConfig().replace(cell=args.cell, units=args.units)
    keras.utils.set_random_seed(0)
    genome = load_genome([args.fasta], config)
    splits = make_splits(genome, config.window)
    stream = make_dataset(genome, splits.train, config.stream_config(), seed=0, repeat=True)
    batches = list(stream.take(args.steps).as_numpy_iterator())
    x, y, w = (np.stack([b[i] for b in batches]) for i in range(3))  # (steps, B, L): one element per batch
    memory = tf.data.Dataset.from_tensor_slices((x, y, w)).repeat().prefetch(2)
    model = compile_model(build_model(config.model), config)
    bases_per_step = config.batch_size * config.window

    def timed(ds, steps):
        """(bases per wall second, bases per CPU second of this process, all threads)."""
        t, c = time.perf_counter(), time.process_time()
        model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False)
        bases = steps * bases_per_step
        return bases / (time.perf_counter() - t), bases / (time.process_time() - c)

    timed(stream, 5)  # warm-up: tracing, thread pools
    timed(memory, 5)
    rows = []
    for r in range(args.rounds):
        if r % 2 == 0:
            s, m = timed(stream, args.steps), timed(memory, args.steps)
        else:
            m, s = timed(memory, args.steps), timed(stream, args.steps)
        rows.append((s, m))
        print(f"round {r + 1}: stream {s[0]:,.0f} bases/s ({s[1]:,.0f} per CPU-s)   memory {m[0]:,.0f} bases/s "
              f"({m[1]:,.0f} per CPU-s)   ratio {s[0] / m[0]:.3f} wall, {s[1] / m[1]:.3f} CPU", flush=True)
    ratio = statistics.median(s[0] / m[0] for s, m in rows)
    cpu_ratio = statistics.median(s[1] / m[1] for s, m in rows)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nmodel {model.name}, window {config.window}, batch {config.batch_size}, {args.steps} steps x "
          f"{args.rounds} rounds per feed, {os.cpu_count()} CPU(s), TensorFlow {tf.__version__}, Keras "
          f"{keras.__version__}")
    print(f"training throughput, stream: {statistics.median(s[0] for s, _ in rows):,.0f} bases/s (median; "
          f"{statistics.median(s[1] for s, _ in rows):,.0f} per CPU-second)")
    print(f"training throughput, memory: {statistics.median(m[0] for _, m in rows):,.0f} bases/s (median; "
          f"{statistics.median(m[1] for _, m in rows):,.0f} per CPU-second)")
    print(f"ratio stream / memory: {ratio:.3f} wall-clock, {cpu_ratio:.3f} CPU time (median of rounds; target >= 0.95)")
    print(f"peak RSS: {rss:,.0f} MiB (genome {genome.total_length:,} bases)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
