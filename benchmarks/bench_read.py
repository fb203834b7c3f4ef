"""Benchmark: genorm's reader (Biopython underneath) vs bare SimpleFastaParser; plain, gzip, 2bit; peak RSS.

Run:  python benchmarks/bench_read.py [--mb 50] [--records 4] [--repeats 3]

Writes a synthetic genome (60-column lines, ~10 % soft-masked runs, N runs) as FASTA, gzip
FASTA and UCSC 2bit to a temporary directory, then times, each in a fresh subprocess so that
peak RSS is its own:
  - bare Biopython: SimpleFastaParser merely iterating the FASTA (text mode); for 2bit,
    SeqIO.parse(..., "twobit") materialising each record's bytes;
  - genorm.read_fasta (Biopython parses; genorm validates, encodes to packed codes, counts stats);
  - genorm.read_genome (the same into one flat array), with its peak RSS against issue 13's
    budget: 6 B/base of the largest record + 1.2 B/base of the genome + the interpreter baseline.
The issue's speed target: genorm >= 0.7x bare SimpleFastaParser, plain and gzip (read_fasta: read,
validate, encode; its per-record statistics are counted on first access, while read_genome counts
them as it reads). Below ~50 Mb, fixed costs (1 MB buffers, imports) dominate the per-base figures.
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
if mode == "biopython" and path.endswith(".2bit"):
    from Bio import SeqIO
    with open(path, "rb") as h:
        for rec in SeqIO.parse(h, "twobit"):
            n += len(bytes(rec.seq))
elif mode == "biopython":
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
    """Write the synthetic FASTA and, beside it (``path`` + ``.2bit``), the same genome as 2bit."""
    rng = np.random.default_rng(seed)
    lengths, twobit = [], []
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
            twobit.append((f"chr{r + 1}", _twobit_record(seq)))
    _write_twobit(path + ".2bit", twobit)
    return lengths


def _runs(flags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    d = np.diff(np.concatenate([[0], flags.view(np.int8), [0]]))
    starts = np.flatnonzero(d == 1)
    return starts, np.flatnonzero(d == -1) - starts


def _twobit_record(seq: np.ndarray) -> bytes:
    """One 2bit record body (little-endian): sizes, N blocks, mask blocks, 2-bit DNA (T=0 C=1 A=2 G=3)."""
    upper = seq & 0xDF
    code = np.zeros(256, dtype=np.uint8)
    code[ord("C")], code[ord("A")], code[ord("G")] = 1, 2, 3
    c = code[upper]
    c = np.concatenate([c, np.zeros(-c.size % 4, dtype=np.uint8)]).reshape(-1, 4)
    dna = ((c[:, 0] << 6) | (c[:, 1] << 4) | (c[:, 2] << 2) | c[:, 3]).astype(np.uint8).tobytes()
    n_starts, n_sizes = _runs(upper == ord("N"))
    m_starts, m_sizes = _runs((seq & 0x20) != 0)
    u32 = lambda a: np.asarray(a, dtype="<u4").tobytes()  # noqa: E731
    return (u32([seq.size, n_starts.size]) + u32(n_starts) + u32(n_sizes) + u32([m_starts.size]) + u32(m_starts)
            + u32(m_sizes) + u32([0]) + dna)


def _write_twobit(path: str, records: list[tuple[str, bytes]]) -> None:
    offset = 16 + sum(1 + len(name) + 4 for name, _ in records)
    with open(path, "wb") as out:
        out.write(np.asarray([0x1A412743, 0, len(records), 0], dtype="<u4").tobytes())
        for name, body in records:
            out.write(bytes([len(name)]) + name.encode() + np.asarray([offset], dtype="<u4").tobytes())
            offset += len(body)
        for _, body in records:
            out.write(body)


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
        print("(timings are only meaningful on an otherwise idle machine)")
        for label, path in (("plain", plain), ("gzip", gz), ("2bit", plain + ".2bit")):
            res = {}
            for mode in ("biopython", "read_fasta", "read_genome"):
                best = min((run(mode, path) for _ in range(args.repeats)), key=lambda r: r["seconds"])
                res[mode] = best
                assert best["bases"] == total, (mode, best["bases"], total)
            bio = res["biopython"]["seconds"]
            bare = "SeqIO twobit" if label == "2bit" else "SimpleFastaParser"
            print(f"\n[{label}]")
            for mode, r in res.items():
                print(f"  {mode:12s} {r['seconds']:7.3f} s  {total / r['seconds'] / 1e6:7.1f} Mb/s  "
                      f"{bio / r['seconds']:5.2f}x bare {bare}  peak RSS {r['peak_mb']:7.1f} MB")
            if label != "2bit":
                ratio = bio / res["read_fasta"]["seconds"]
                print(f"  speed: read_fasta {ratio:.2f}x bare SimpleFastaParser; target >= 0.7x -> "
                      f"{'OK' if ratio >= 0.7 else 'BELOW'}")
            peak = res["read_genome"]["peak_mb"]
            base = res["read_genome"]["baseline_mb"]
            budget = (6 * largest + 1.2 * total) / 2**20 + base
            print(f"  read_genome peak RSS {peak:.1f} MB; target <= 6 B/base x largest record + 1.2 B/base x genome "
                  f"+ baseline {base:.1f} MB = {budget:.1f} MB -> {'OK' if peak <= budget else 'OVER'}; "
                  f"above baseline: {(peak - base) * 2**20 / total:.2f} B/base of the genome, "
                  f"{(peak - base) * 2**20 / largest:.2f} B/base of the largest record")


if __name__ == "__main__":
    main()
