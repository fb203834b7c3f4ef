"""Benchmark of genorm.counts: bases per second to build tables, compute training features and stream.

    PYTHONPATH=. python benchmarks/bench_counts.py                        # 10 Mb build, 1 Mb streams
    PYTHONPATH=. python benchmarks/bench_counts.py --build-mb 2 --stream-mb 0.2   # quick look

On random bases (1 % N in runs of 10, records of 5 Mb), with the default CountConfig (13 orders,
both strands, 2 GiB bound) unless --max-bytes is given. Each figure is bases per wall-clock second
and, in brackets, per CPU second of this process (``time.process_time``; closer to a quiet
machine's figure when other processes share the cores).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from genorm.counts import CountConfig, CountTables


def genome(n: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    pieces = []
    for a in range(0, n, 5_000_000):
        x = rng.integers(0, 4, min(5_000_000, n - a)).astype(np.uint8)
        for s in rng.integers(0, max(x.size - 10, 1), x.size // 1000):
            x[s:s + 10] = 4
        pieces.append(x)
    return pieces


def _rate(n: int, t0: float, c0: float) -> str:
    dt, dc = time.perf_counter() - t0, time.process_time() - c0
    return f"{n:,} bases in {dt:.1f} s = {n / dt:,.0f} bases/s ({n / dc:,.0f} per CPU second)"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-mb", type=float, default=10.0, help="training bases, Mb (default 10)")
    ap.add_argument("--stream-mb", type=float, default=1.0, help="streamed bases, Mb (default 1)")
    ap.add_argument("--max-bytes", type=int, default=None, help="table bound (default CountConfig's 2 GiB)")
    ap.add_argument("--chunks", default="100,1000,10000", help="stream chunk sizes (default 100,1000,10000)")
    a = ap.parse_args(argv)
    cfg = CountConfig() if a.max_bytes is None else CountConfig(max_bytes=a.max_bytes)
    train = genome(int(a.build_mb * 1e6), 0)
    n_train = sum(p.size for p in train)
    t0, c0 = time.perf_counter(), time.process_time()
    tables = CountTables.build(train, cfg)
    print(f"tables: {len(cfg.orders)} orders, sizes {tables.sizes}, {tables.nbytes / 2**20:.0f} MiB")
    print(f"build: {_rate(n_train, t0, c0)}")
    piece = train[0][: int(a.stream_mb * 1e6)]
    t0, c0 = time.perf_counter(), time.process_time()
    tables.train_features(piece)
    print(f"train_features: {_rate(piece.size, t0, c0)}")
    x = genome(int(a.stream_mb * 1e6), 1)[0]
    for chunk in (int(c) for c in a.chunks.split(",")):
        stream = tables.stream()
        t0, c0 = time.perf_counter(), time.process_time()
        for s in range(0, x.size, chunk):
            stream.features(x[s:s + chunk])
        print(f"stream features, chunk {chunk}: {_rate(x.size, t0, c0)}; the lane's own counts: "
              f"{stream._own.n:,} cells, {(stream._own.keys.nbytes + stream._own.vals.nbytes) / 2**20:.0f} MiB")
    stream = tables.stream(expected_bases=x.size)
    t0, c0 = time.perf_counter(), time.process_time()
    for s in range(0, x.size, 1000):
        stream.features(x[s:s + 1000])
    print(f"stream features, chunk 1000, sized for the stream (expected_bases): {_rate(x.size, t0, c0)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
