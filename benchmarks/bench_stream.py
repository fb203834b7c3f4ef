"""Benchmark of the window stream (genorm.batches.windows, genorm.batches.dataset) and the genome cache: prints figures.

    .venv/bin/python benchmarks/bench_stream.py                 # 100 Mb genome, window 200, batch 256
    .venv/bin/python benchmarks/bench_stream.py --size-mb 20 --seconds 0.5 --skip-memory   # quick look
    .venv/bin/python benchmarks/bench_stream.py --size-mb 2 --small-mb 1 --seconds 0.2 --rounds 1   # sanity

What it measures, on a synthetic genome (random bases in records of 5 Mb, 30 % soft-masked in
blocks, a 20 kb N run in every record), written once as FASTA in --workdir:

1. Throughput of the stream alone (input bases per second) and its CPU cost (process CPU
   seconds, ``os.times``, per million input bases, over the same timed loop): genorm's
   ``make_dataset`` over the training intervals of ``make_splits`` with reverse-complement
   augmentation, soft-mask weighting and the N check on, with the genome in memory
   (``read_genome``) and memory-mapped from its cache (``cached_genome``, page-cached) twice: as
   it runs for this genome (pages kept while within the stream's 256 MB map budget) and with
   the budget set to 0, so that the mapped pages are released after every read, as they are
   for a genome much larger than the budget (a human genome); and, in the same run, the
   canonical TensorFlow tutorial pipeline (``from_tensor_slices`` of the whole sequence,
   ``batch(L + 1)``, map to one-hot input and target, ``shuffle(10000)``, ``batch(B)``). The
   pipelines are timed in turn, in interleaved rounds, so that load from other processes hits
   them alike; the ratios (cache / memory, genorm / tutorial, per round) are the figures to
   compare.
2. Peak memory, each in a fresh subprocess, at the small and the full size: ``VmHWM`` of
   ``/proc/self/status`` after TensorFlow is imported and the high-water mark is reset (writing
   5 to ``/proc/self/clear_refs``; ``ru_maxrss`` only shows TensorFlow's import peak), and the
   peak of ``RssAnon`` (sampled after loading and after every batch); in memory mode
   (``read_genome`` of the FASTA, then the stream), memmap mode (``cached_genome``, cache built
   beforehand, then the stream) and memmap with pages released after every read. The slope
   between the two sizes is the memory cost per base; anonymous memory should be flat in the
   memmap modes.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from _memory import proc_status  # benchmarks/_memory.py

RECORD_MB = 5
N_RUN = 20_000


def write_fasta(path: Path, size: int, seed: int = 0) -> None:
    """A synthetic FASTA of ``size`` bases: records of 5 Mb, soft-masked blocks, one N run each."""
    rng = np.random.default_rng(seed)
    letters = np.frombuffer(b"ACGTacgtNN", dtype=np.uint8)
    rec = RECORD_MB * 1_000_000
    with open(path, "wb") as fh:
        done, i = 0, 0
        while done < size:
            n = min(rec, size - done)
            codes = rng.integers(0, 4, n, dtype=np.uint8)
            blocks = rng.random(n // 1000 + 1) < 0.3  # soft-mask 30 % in 1 kb blocks
            codes |= np.repeat(blocks, 1000)[:n].astype(np.uint8) << 2
            a = int(rng.integers(0, max(n - N_RUN, 1)))
            codes[a:a + N_RUN] = 8
            seq = letters[codes]
            width = 80
            full = n // width * width
            lines = np.concatenate([seq[:full].reshape(-1, width), np.full((full // width, 1), 10, np.uint8)], axis=1)
            fh.write(f">chr{i + 1} synthetic\n".encode())
            fh.write(lines.tobytes())
            if full < n:
                fh.write(seq[full:].tobytes() + b"\n")
            done += n
            i += 1


# ------------------------------------------------------------------------------------------
# throughput


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def _time_iter(it, min_seconds: float, bases_per_batch: int, max_batches: int = 10**9) -> tuple[float, float]:
    """``(input bases per second, process CPU seconds per million bases)`` over ``min_seconds``."""
    t0, c0 = time.perf_counter(), _cpu()
    n = 0
    while n < max_batches and (time.perf_counter() - t0 < min_seconds):
        next(it)
        n += 1
    dt, cpu = time.perf_counter() - t0, _cpu() - c0
    return n * bases_per_batch / dt, cpu / (n * bases_per_batch / 1e6)


def genorm_iterator(genome, L: int, B: int, full: bool = True, threads: int | None = None, map_budget=None):
    """An iterator over genorm's stream of the training split (warmed up).

    ``map_budget``: bytes of a memory-mapped genome the stream may keep mapped (None: the default).
    """
    import genorm.batches.windows
    from genorm.genome.splits import make_splits
    from genorm.batches.dataset import StreamConfig, make_dataset

    splits = make_splits(genome, window=L)
    if full:
        cfg = StreamConfig(window=L, batch_size=B, rc_augment=True, soft_mask_weight=0.5, max_n_fraction=0.5)
    else:
        cfg = StreamConfig(window=L, batch_size=B, max_n_fraction=1.0)
    default = genorm.batches.windows._MAP_BUDGET
    if map_budget is not None:
        genorm.batches.windows._MAP_BUDGET = map_budget  # read once, when the stream maps the file
    try:
        it = iter(make_dataset(genome, splits.train, cfg, seed=0, threads=threads))
    finally:
        genorm.batches.windows._MAP_BUDGET = default
    for _ in range(20):
        next(it)
    return it


def tutorial_iterator(codes: np.ndarray, L: int, B: int):
    """The TensorFlow text-generation tutorial's pipeline, applied to a genome (warmed up)."""
    import tensorflow as tf

    ids = tf.data.Dataset.from_tensor_slices(codes)
    sequences = ids.batch(L + 1, drop_remainder=True)

    def split_input_target(seq):
        seq = tf.cast(seq, tf.int32)
        return tf.one_hot(seq[:-1], 4), tf.one_hot(seq[1:], 4)

    ds = (sequences.map(split_input_target).shuffle(10000).batch(B, drop_remainder=True)
          .repeat().prefetch(tf.data.AUTOTUNE))  # repeat: only reached on a tiny (sanity-run) genome
    it = iter(ds)
    next(it)  # fills the shuffle buffer
    return it


def interleaved(iterators: dict, seconds: float, rounds: int, bases_per_batch: int) -> tuple[dict, dict]:
    """Time each iterator for ``seconds`` per round, in turn, ``rounds`` times:
    ``({name: [bases/s]}, {name: [CPU s per Mb]})``."""
    rates = {name: [] for name in iterators}
    cpu = {name: [] for name in iterators}
    for _ in range(rounds):
        for name, it in iterators.items():
            rate, c = _time_iter(it, seconds, bases_per_batch)
            rates[name].append(rate)
            cpu[name].append(c)
    return rates, cpu


def print_throughput(rates: dict, cpu: dict, rounds: int, seconds: float) -> None:
    """The table of rates and CPU costs, then the ratios (per round and of the medians)."""
    print(f"{'input bases/s, ' + str(rounds) + ' interleaved rounds of ' + str(seconds) + ' s':58s} "
          f"{'best':>10s} {'median':>10s} {'CPU s/Mb':>9s}")
    for name, r in rates.items():
        print(f"{name:58s} {max(r) / 1e6:8.2f} M {np.median(r) / 1e6:8.2f} M {np.median(cpu[name]):9.4f}")

    def ratio(a: str, b: str, fmt: str, target: str) -> None:
        per = [x / y for x, y in zip(rates[a], rates[b])]
        print(f"ratio {a.split(':')[-1].strip()} / {b.split(':')[-1].strip()}: median of rounds "
              f"{fmt.format(np.median(per))}, per round {', '.join(fmt.format(x) for x in per)} (target {target})")

    memory, cache, released, tutorial = list(rates)[:3] + ["TF tutorial pipeline"]
    print()
    ratio(cache, memory, "{:.2f}x", ">= 0.8x")
    ratio(released, memory, "{:.2f}x", ">= 0.8x")
    for name in (memory, cache):
        ratio(name, tutorial, "{:.0f}x", ">= 25x")
    print("CPU s/Mb: process CPU seconds (all threads) per million input bases while that pipeline ran; "
          "cores needed to feed N M bases/s = N x CPU s/Mb")


# ------------------------------------------------------------------------------------------
# memory, in a fresh process


def child(mode: str, fasta: str, cache_dir: str, L: int, B: int, batches: int) -> None:
    import tensorflow as tf  # noqa: F401  (imported first so that the baseline includes it)

    from genorm.genome.splits import make_splits
    from genorm.batches.dataset import StreamConfig, make_dataset

    # TensorFlow's import peaks far above its resting RSS; reset the high-water mark (VmHWM) so
    # that the peak measured is the one of reading and streaming the genome.
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    base = proc_status()
    if mode == "memory":
        from genorm.genome.array import read_genome

        genome = read_genome(fasta)
    else:
        import genorm.batches.windows
        from genorm.genome.cache import cached_genome

        genome = cached_genome(fasta, cache_dir=cache_dir)
        if mode == "released":
            genorm.batches.windows._MAP_BUDGET = 0  # mapped pages released after every read
    after_load = proc_status()
    splits = make_splits(genome, window=L)
    cfg = StreamConfig(window=L, batch_size=B, rc_augment=True, soft_mask_weight=0.5)
    it = iter(make_dataset(genome, splits.train, cfg, seed=0))
    peak_anon = after_load["RssAnon"]
    for _ in range(batches):
        next(it)
        peak_anon = max(peak_anon, proc_status(("RssAnon",))["RssAnon"])
    end = proc_status()
    print(json.dumps({
        "mode": mode, "bases": genome.total_length, "ru_maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "base_rss": base["VmRSS"], "base_anon": base["RssAnon"], "peak_rss": end["VmHWM"],
        "rss_anon": max(peak_anon, end["RssAnon"]), "rss_file": end["RssFile"],
    }))


def measure(mode: str, fasta: Path, cache_dir: Path, L: int, B: int, batches: int) -> dict:
    cmd = [sys.executable, __file__, "--child", mode, str(fasta), str(cache_dir), str(L), str(B), str(batches)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


# ------------------------------------------------------------------------------------------


def memory_table(fastas: dict, sizes: list, work: Path, L: int, B: int) -> None:
    """Peak memory of each mode at each size, each in a fresh process; then the slopes."""
    print(f"\n== peak memory, fresh process each (TensorFlow imported, 50 batches streamed) ==", flush=True)
    modes = ("memory", "memmap", "released")
    rows = {}
    for mb in sizes:
        cache = work / f"synthetic_{mb}Mb.cache"
        subprocess.run([sys.executable, "-m", "genorm.cli", "index", str(fastas[mb]), "--cache-dir", str(cache)],
                       check=True, capture_output=True)
        for mode in modes:
            r = measure(mode, fastas[mb], cache, L, B, 50)
            rows[(mode, mb)] = r
            print(f"{mode:8s} {mb:4d} Mb: peak RSS {r['peak_rss'] / 1e6:8.1f} MB (after import {r['base_rss'] / 1e6:.1f} MB, "
                  f"ru_maxrss {r['ru_maxrss'] / 1e6:.1f} MB), peak RssAnon {r['rss_anon'] / 1e6:8.1f} MB "
                  f"(after import {r['base_anon'] / 1e6:.1f} MB), RssFile at the end {r['rss_file'] / 1e6:8.1f} MB",
                  flush=True)
    from genorm.batches.windows import _MAP_BUDGET

    print(f"memory: read_genome; memmap: cached_genome (pages kept within the {_MAP_BUDGET >> 20} MB map budget); "
          "released: cached_genome, pages released after every read")
    if len(sizes) == 2:
        lo, hi = sizes
        for mode in modes:
            a, b = rows[(mode, lo)], rows[(mode, hi)]
            db = b["bases"] - a["bases"]
            print(f"{mode:8s} {lo}->{hi} Mb: peak RssAnon {a['rss_anon'] / 1e6:.1f} -> {b['rss_anon'] / 1e6:.1f} MB "
                  f"({(b['rss_anon'] - a['rss_anon']) / db:5.2f} bytes/base), peak RSS "
                  f"{(b['peak_rss'] - a['peak_rss']) / db:5.2f} bytes/base")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        mode, fasta, cache_dir, L, B, batches = sys.argv[2:8]
        child(mode, fasta, cache_dir, int(L), int(B), int(batches))
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mb", type=int, default=100, help="genome size for throughput and the large memory point")
    ap.add_argument("--small-mb", type=int, default=10, help="the small memory point")
    ap.add_argument("--window", type=int, default=200)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--seconds", type=float, default=2.0, help="time per throughput measurement and round")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds of the throughput measurements")
    ap.add_argument("--workdir", default="/tmp/genorm-bench-stream")
    ap.add_argument("--threads", type=int, default=None,
                    help="make_dataset(threads=...) for genorm's streams (default: all cores)")
    ap.add_argument("--skip-memory", action="store_true")
    args = ap.parse_args()
    L, B = args.window, args.batch
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    sizes = sorted({args.small_mb, args.size_mb})
    fastas = {}
    for mb in sizes:
        fa = work / f"synthetic_{mb}Mb.fa"
        if not fa.exists():
            t = time.perf_counter()
            write_fasta(fa, mb * 1_000_000)
            print(f"wrote {fa} in {time.perf_counter() - t:.1f} s", flush=True)
        fastas[mb] = fa

    from genorm.genome.array import read_genome

    print(f"\n== throughput: {args.size_mb} Mb genome, window {L}, batch {B}, {os.cpu_count()} CPU(s) ==", flush=True)
    t = time.perf_counter()
    genome = read_genome(fastas[args.size_mb])
    print(f"read_genome: {genome.total_length / 1e6:.0f} Mb, {len(genome)} records in {time.perf_counter() - t:.1f} s")
    from genorm.genome.cache import cached_genome

    cache = work / f"synthetic_{args.size_mb}Mb.cache"
    mapped = cached_genome(fastas[args.size_mb], cache_dir=cache)
    th = args.threads
    iterators = {  # the first three in this order: print_throughput takes the ratios of them
        "genorm, all on: memory": genorm_iterator(genome, L, B, threads=th),
        "genorm, all on: cache": genorm_iterator(mapped, L, B, threads=th),
        "genorm, all on: cache, pages released every read": genorm_iterator(mapped, L, B, threads=th, map_budget=0),
        "genorm plain (no RC, weights 0/1, no N check): memory": genorm_iterator(genome, L, B, full=False, threads=th),
        "TF tutorial pipeline": tutorial_iterator(np.bitwise_and(genome.packed, 7), L, B),
    }
    print("all on: training split, rc_augment, soft_mask_weight=0.5, N check (max_n_fraction=0.5); "
          "cache: memory-mapped cache in the page cache")
    rates, cpu = interleaved(iterators, args.seconds, args.rounds, B * L)
    print_throughput(rates, cpu, args.rounds, args.seconds)
    del iterators, mapped
    del genome
    if args.skip_memory:
        return

    memory_table(fastas, sizes, work, L, B)


if __name__ == "__main__":
    main()
