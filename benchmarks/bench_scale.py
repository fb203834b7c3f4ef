"""Genome-scale training: peak memory must stay under 2.5 GB and must not grow with the genome.

For each genome size (default 0.25 Gb and 1 Gb) this writes a synthetic genome: a FASTA file
on disk (random A/C/G/T, records of 50 Mb, each starting with a 1,000-base run of N, lines of
100) and, beside it, its genorm cache (``<fasta>.genorm/``: ``packed.npy``, ``offsets.npy``,
``genome.json`` with a fingerprint that matches the FASTA), both written in 10 Mb chunks with
NumPy, so no process ever holds the genome in memory. Then a *fresh* process runs the real
``genorm.train()`` on the FASTA (the cache is current, so the genome is memory-mapped, never
parsed): GRU 1x32, window 100, batch 256, one epoch of ``--steps`` steps, no baselines,
``max_val_bases`` 200,000, strategy ``one``, on the CPU.

It prints, per size:

* ``VmHWM`` from ``/proc/self/status`` of the training process: its peak resident set
  (``ru_maxrss`` would also count the parent, since it survives ``exec``), after importing
  TensorFlow and at the end;
* the peak *anonymous* memory (``RssAnon``, sampled every 50 steps): what the process itself
  allocated; the rest of ``VmRSS`` is ``RssFile``, pages of the memory-mapped genome (and of
  the libraries) that the kernel shares with its page cache and can drop at any time;
* training throughput in bases/s.

usage::

    python benchmarks/bench_scale.py                      # 0.25 Gb and 1 Gb, 2,000 steps each
    python benchmarks/bench_scale.py --sizes 1 --steps 3000 --dir /tmp/genorm_scale --keep

Mind the disk: each size costs about 2 bytes per base (FASTA + cache); the files are deleted
at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from _memory import proc_status  # benchmarks/_memory.py

RECORD = 50_000_000
CHUNK = 10_000_000
LINE = 100
N_RUN = 1_000


# ------------------------------------------------------------------------------------------
# writing the synthetic genome


def write_genome(fasta: Path, bases: int, seed: int = 0) -> None:
    """FASTA and its genorm cache, chunk by chunk."""
    from genorm.genome.cache import CACHE_FORMAT, CACHE_VERSION, META_FILE, OFFSETS_FILE, PACKED_FILE, fingerprint
    from genorm.encoding import N, EncodingPolicy
    from genorm.reading.records import RecordStats

    rng = np.random.default_rng(seed)
    letters = np.frombuffer(b"ACGTN", dtype=np.uint8)
    cache = Path(str(fasta) + ".genorm")
    shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir(parents=True)
    lengths = [RECORD] * (bases // RECORD) + ([bases % RECORD] if bases % RECORD else [])
    stats, names = [], []
    header = {"descr": "|u1", "fortran_order": False, "shape": (bases,)}
    with open(fasta, "wb") as fa, open(cache / PACKED_FILE, "wb") as pk:
        np.lib.format.write_array_header_2_0(pk, header)
        for i, length in enumerate(lengths):
            name = f"chr{i + 1}"
            names.append(name)
            fa.write(f">{name} synthetic\n".encode())
            counts = np.zeros(5, dtype=np.int64)
            done = 0
            while done < length:
                n = min(CHUNK, length - done)
                codes = rng.integers(0, 4, n, dtype=np.uint8)
                if done == 0:
                    codes[:N_RUN] = N
                counts += np.bincount(codes, minlength=5)
                pk.write(codes.tobytes())
                text = letters[codes]
                full = n - n % LINE
                rows = np.empty((full // LINE, LINE + 1), dtype=np.uint8)
                rows[:, :LINE] = text[:full].reshape(-1, LINE)
                rows[:, LINE] = ord("\n")
                fa.write(rows.tobytes())
                if n % LINE:
                    fa.write(text[full:].tobytes() + b"\n")
                done += n
            stats.append(RecordStats(name=name, length=length, a=int(counts[0]), c=int(counts[1]), g=int(counts[2]),
                                     t=int(counts[3]), n=int(counts[4]), n_runs=1, longest_n_run=N_RUN))
    np.save(cache / OFFSETS_FILE, np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64))
    meta = {"format": CACHE_FORMAT, "version": CACHE_VERSION, "names": names, "total_length": bases,
            "stats": [s.to_dict() for s in stats], "sources": [str(fasta)],
            "policy": EncodingPolicy().to_dict(), "fingerprint": fingerprint([fasta], EncodingPolicy(), None)}
    (cache / META_FILE).write_text(json.dumps(meta, default=str))


# ------------------------------------------------------------------------------------------
# the measured process


def child(fasta: str, steps: int, out: str) -> None:
    before = proc_status()
    import keras
    import tensorflow as tf  # noqa: F401

    after_import = proc_status()
    import genorm
    from genorm.config import ModelConfig, TrainConfig

    peak = {"RssAnon": 0, "VmRSS": 0}

    class Sample(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch % 50 == 0:
                s = proc_status()
                for k in peak:
                    peak[k] = max(peak[k], s[k])

    config = TrainConfig(model=ModelConfig(cell="gru", units=32, layers=1), window=100, batch_size=256, epochs=1,
                         bases_per_epoch=steps * 256 * 100, max_val_bases=200_000, baselines=False,
                         strategy="one", seed=0)
    t = time.monotonic()
    run = genorm.train([fasta], config, out_dir=out, force=True, callbacks=[Sample()])
    wall = time.monotonic() - t
    end = proc_status()
    for k in peak:
        peak[k] = max(peak[k], end[k])
    print(json.dumps({"start_hwm": before["VmHWM"], "import_hwm": after_import["VmHWM"], "hwm": end["VmHWM"],
                      "peak_anon": peak["RssAnon"], "peak_rss_sampled": peak["VmRSS"], "end_file": end["RssFile"],
                      "bases_per_second": run.summary["bases_per_second"], "bases": run.summary["bases_trained"],
                      "wall": wall}))


# ------------------------------------------------------------------------------------------
# main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="0.25,1", help="genome sizes in Gb, comma-separated (default 0.25,1)")
    ap.add_argument("--steps", type=int, default=2000, help="training steps per size (default 2000)")
    ap.add_argument("--dir", default="/tmp/genorm_bench_scale", help="where the synthetic files go")
    ap.add_argument("--keep", action="store_true", help="keep the synthetic files")
    ap.add_argument("--child", nargs=3, metavar=("FASTA", "STEPS", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(args.child[0], int(args.child[1]), args.child[2])
        return 0
    root = Path(args.dir)
    root.mkdir(parents=True, exist_ok=True)
    sizes = [float(s) for s in args.sizes.split(",")]
    free = shutil.disk_usage(root).free
    need = int(sum(2.05e9 * s for s in sizes))
    if free < need + 2e9:
        print(f"not enough disk in {root}: {free / 1e9:.1f} GB free, about {need / 1e9:.1f} GB needed")
        return 1
    print(f"GRU 1x32, window 100, batch 256, {args.steps} steps ({args.steps * 256 * 100 / 1e6:.0f} M bases) per "
          f"size, CPU, memory-mapped genome cache")
    print(f"{'genome':>8} {'write s':>8} {'TF import peak':>15} {'peak RSS (VmHWM)':>17} {'peak anon':>10} "
          f"{'file-backed at end':>19} {'bases/s':>9}")
    rows = []
    try:
        for gb in sizes:
            bases = int(round(gb * 1e9))
            fasta = root / f"synthetic_{gb:g}Gb.fa"
            t = time.monotonic()
            write_genome(fasta, bases)
            written = time.monotonic() - t
            env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="3")
            r = subprocess.run([sys.executable, __file__, "--child", str(fasta), str(args.steps),
                                str(root / f"run_{gb:g}")], env=env, capture_output=True, text=True, timeout=3600)
            if r.returncode != 0:
                print(r.stderr[-3000:])
                return 1
            m = json.loads(r.stdout.strip().splitlines()[-1])
            rows.append((gb, m))
            gbs = lambda b: f"{b / 1e9:.2f} GB"  # noqa: E731
            print(f"{gb:>6g}Gb {written:>8.0f} {gbs(m['import_hwm']):>15} {gbs(m['hwm']):>17} "
                  f"{gbs(m['peak_anon']):>10} {gbs(m['end_file']):>19} {m['bases_per_second']:>9,.0f}")
            shutil.rmtree(root / f"run_{gb:g}", ignore_errors=True)
            if not args.keep:
                fasta.unlink(missing_ok=True)
                shutil.rmtree(str(fasta) + ".genorm", ignore_errors=True)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    worst = max(m["hwm"] for _, m in rows)
    print(f"largest peak RSS {worst / 1e9:.2f} GB ({'under' if worst < 2.5e9 else 'OVER'} the 2.5 GB limit)")
    if len(rows) > 1:
        (g0, a), (g1, b) = rows[0], rows[-1]
        print(f"{g0:g} Gb -> {g1:g} Gb: peak RSS {(b['hwm'] - a['hwm']) / 1e6:+.0f} MB, peak anonymous memory "
              f"{(b['peak_anon'] - a['peak_anon']) / 1e6:+.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
