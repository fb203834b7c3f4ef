"""Benchmark: genorm read + encode vs Biopython's SimpleFastaParser, plain and gzip; peak RSS.

Run:  python benchmarks/bench_read.py [--mb 50] [--records 4]

Writes a synthetic FASTA (60-column lines, ~10 % soft-masked runs, N runs) to a temporary
directory, then times, each in a fresh subprocess so that peak RSS is its own:
  - Biopython SimpleFastaParser merely iterating the file (text mode);
  - genorm.read_fasta (read, validate, encode every record to packed codes, count stats);
  - genorm.read_genome (the same into one flat array), with its peak RSS against the target
    3 B/base of the largest record + 1.2 B/base of the genome + interpreter baseline.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

CHILD = r"""
import json, resource, sys, time, gzip
mode, path = sys.argv[1], sys.argv[2]
def rss_mb(key="VmHWM:"):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1]) / 1024
import numpy
from Bio.SeqIO.FastaIO import SimpleFastaParser
import genorm
base = rss_mb("VmRSS:")  # the interpreter's baseline, after imports
t = time.perf_counter()
n = 0
if mode == "biopython":
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt") as h:
        for title, seq in SimpleFastaParser(h):
            n += len(seq)
elif mode == "read_fasta":
    for rec in genorm.read_fasta(path):
        n += len(rec)
elif mode == "read_genome":
    g = genorm.read_genome(path)
    n = g.total_length
elapsed = time.perf_counter() - t
print(json.dumps({"mode": mode, "bases": n, "seconds": elapsed, "baseline_mb": base, "peak_mb": rss_mb()}))
"""


def make_fasta(path: str, total_mb: float, n_records: int, seed: int = 0) -> list[int]:
    rng = np.random.default_rng(seed)
    lengths = []
    per = int(total_mb * 1e6 / n_records)
    table = np.frombuffer(b"ACGT", dtype=np.uint8)
    with open(path, "wb") as out:
        for r in range(n_records):
            length = per + (r * 7919) % 1000
            seq = table[rng.integers(0, 4, length)]
            # soft-masked runs (~10 %) and N runs (~0.5 %)
            for _ in range(length // 20000):
                s = rng.integers(0, length - 2000)
                seq[s:s + rng.integers(100, 2000)] |= 32
            for _ in range(length // 400000 + 1):
                s = rng.integers(0, length - 5000)
                seq[s:s + rng.integers(100, 5000)] = ord("N")
            out.write(f">chr{r + 1} synthetic record {r + 1}\n".encode())
            raw = seq.tobytes()
            out.write(b"\n".join(raw[i:i + 60] for i in range(0, len(raw), 60)) + b"\n")
            lengths.append(length)
    return lengths


def run(mode: str, path: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, mode, path], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=50.0, help="genome size in megabases")
    ap.add_argument("--records", type=int, default=4, help="number of records")
    ap.add_argument("--repeats", type=int, default=3, help="timed repeats (best is kept)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        plain = os.path.join(tmp, "synthetic.fa")
        lengths = make_fasta(plain, args.mb, args.records)
        gz = plain + ".gz"
        with open(plain, "rb") as src, gzip.open(gz, "wb", compresslevel=6) as dst:
            dst.write(src.read())
        total, largest = sum(lengths), max(lengths)
        print(f"synthetic genome: {total / 1e6:.1f} Mb in {len(lengths)} records (largest {largest / 1e6:.1f} Mb), "
              f"60-column lines, soft-masked and N runs; machine: {os.cpu_count()} cores")
        for label, path in (("plain", plain), ("gzip", gz)):
            res = {}
            for mode in ("biopython", "read_fasta", "read_genome"):
                best = min((run(mode, path) for _ in range(args.repeats)), key=lambda r: r["seconds"])
                res[mode] = best
                assert best["bases"] == total, (mode, best["bases"], total)
            bio = res["biopython"]["seconds"]
            print(f"\n[{label}]")
            for mode, r in res.items():
                print(f"  {mode:12s} {r['seconds']:7.3f} s  {total / r['seconds'] / 1e6:7.1f} Mb/s  "
                      f"{bio / r['seconds']:5.2f}x SimpleFastaParser  peak RSS {r['peak_mb']:7.1f} MB")
            peak = res["read_genome"]["peak_mb"]
            base = res["read_genome"]["baseline_mb"]
            budget = (3 * largest + 1.2 * total) / 2**20 + base
            print(f"  read_genome peak RSS {peak:.1f} MB; target <= 3 B/base x largest record + 1.2 B/base x genome "
                  f"+ baseline {base:.1f} MB = {budget:.1f} MB -> {'OK' if peak <= budget else 'OVER'}; "
                  f"above baseline: {(peak - base) * 2**20 / total:.2f} B/base of the genome")


if __name__ == "__main__":
    main()
