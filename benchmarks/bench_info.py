"""Benchmark: `genorm info` against bare SimpleFastaParser iteration, both in one process (issue 23).

Run:  python benchmarks/bench_info.py [--mb 200] [--records 4] [--repeats 3] [--fasta FILE] [--profile]

Writes the synthetic genome of ``bench_read.py`` (60-column lines, ~10 % soft-masked runs, N runs)
unless ``--fasta`` names one, then, alternating in the same process so that both see the same page
cache, CPU and interpreter, times
  - bare Biopython: ``SimpleFastaParser`` merely iterating the file (text mode, latin-1);
  - ``genorm info FILE --tsv -o /dev/null`` through ``genorm.cli.main``: the whole command, every
    check (header, name, duplicate, characters, policy, file unchanged) and the summary table.
The best of ``--repeats`` is kept for each. Target: genorm info >= 0.7x the bare parser's speed.
``--profile`` prints the top of a cProfile of one ``genorm info`` run.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_read import make_fasta  # noqa: E402


def bare(path: str) -> int:
    from Bio.SeqIO.FastaIO import SimpleFastaParser

    n = 0
    with open(path, encoding="latin-1") as h:
        for _, seq in SimpleFastaParser(h):
            n += len(seq)
    return n


def info(path: str) -> int:
    import contextlib

    from genorm.cli import main

    with contextlib.redirect_stderr(io.StringIO()):
        rc = main(["info", path, "--tsv", "-o", os.devnull, "-q"])
    assert rc == 0, rc
    return 0


def best_of(fn, path: str, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn(path)
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=200.0, help="genome size in megabases")
    ap.add_argument("--records", type=int, default=4, help="number of records")
    ap.add_argument("--repeats", type=int, default=3, help="timed repeats of each (best is kept)")
    ap.add_argument("--fasta", default=None, help="time this FASTA instead of a synthetic one")
    ap.add_argument("--profile", action="store_true", help="print a cProfile of one genorm info run")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.fasta
        if path is None:
            path = os.path.join(tmp, "synthetic.fa")
            make_fasta(path, args.mb, args.records)
        size = os.path.getsize(path)
        bases = bare(path)  # also warms the page cache and the imports
        info(path)
        t_bare = t_info = float("inf")
        for _ in range(args.repeats):  # alternate: both see the same machine state
            t_bare = min(t_bare, best_of(bare, path, 1))
            t_info = min(t_info, best_of(info, path, 1))
        ratio = t_bare / t_info
        print(f"{path}: {size / 1e6:,.1f} MB, {bases / 1e6:,.1f} Mb; machine: {os.cpu_count()} cores "
              "(timings are only meaningful on an otherwise idle machine)")
        print(f"  bare SimpleFastaParser  {t_bare:7.3f} s  {bases / t_bare / 1e6:7.1f} Mb/s")
        print(f"  genorm info             {t_info:7.3f} s  {bases / t_info / 1e6:7.1f} Mb/s  "
              f"{ratio:.2f}x bare; target >= 0.7x -> {'OK' if ratio >= 0.7 else 'BELOW'}")
        if args.profile:
            prof = cProfile.Profile()
            prof.runcall(info, path)
            out = io.StringIO()
            pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(25)
            print(out.getvalue())
            out = io.StringIO()
            pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(15)
            print(out.getvalue())


if __name__ == "__main__":
    main()
