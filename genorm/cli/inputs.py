"""``genorm info`` and ``genorm index``: what a genome file holds, and its memory-mapped cache."""

from __future__ import annotations

import argparse
import os

from genorm.cli.common import Formatter, add_policy_options, format_from_args, policy_from_args, print_table, \
    progress_bar, records_from_args


def add_info(sub) -> None:
    p = sub.add_parser(
        "info", formatter_class=Formatter,
        help="report what a FASTA file contains (lengths, GC, N, IUPAC, soft-masking)",
        description="The input quality report: per record and in total, length, GC fraction, N count and "
                    "longest N run, ambiguity codes, soft-masked fraction.",
    )
    p.add_argument("fasta", nargs="+", help="genome file(s): FASTA, GenBank, EMBL or 2bit; plain, gzip or bgzip; "
                                            "'-' reads standard input")
    p.add_argument("--tsv", action="store_true", help="write tab-separated values (one row per record) for machines")
    p.add_argument("-o", "--output", default=None, metavar="TSV",
                   help="write the per-record table as tab-separated values to this file ('-': standard output)")
    add_policy_options(p)
    p.set_defaults(func=cmd_info)


def cmd_info(args: argparse.Namespace) -> int:
    from genorm.atomic import atomic_write_text, check_output
    from genorm.genome.array import read_stats, summary_table

    if args.output is not None:
        check_output(args.output, inputs=args.fasta)
    policy = policy_from_args(args)
    with progress_bar() as bar:  # the statistics only: the genome itself is never held (issue 23: speed)
        stats, sources = read_stats(args.fasta, policy=policy, records=records_from_args(args), progress=bar,
                                    format=format_from_args(args))
    df = summary_table(stats)
    if args.tsv or args.output is not None:
        atomic_write_text(args.output if args.output is not None else "-",
                          df.to_csv(sep="\t", index=False, float_format="%.6g", na_rep="NA"))
        return 0
    shown = df.copy()
    for col in ("length", "n_count", "soft_masked"):
        shown[col] = shown[col].map("{:,}".format)
    print_table(shown)
    print()
    for src in sources:
        size = f", {src['size']:,} bytes" if src.get("size") is not None else ""
        print(f"input: {src['path']} ({src['format']}, {src.get('compression')}{size}; read by Biopython)")
    print(f"encoding policy: {policy.describe()}")
    return 0


def add_index(sub) -> None:
    p = sub.add_parser(
        "index", formatter_class=Formatter,
        help="parse FASTA once into the memory-mapped genome cache that later runs use",
        description="Build (or check) the genome cache: one byte per base in DIR/packed.npy, memory-mapped by "
                    "training and evaluation, so a second run does not re-parse the FASTA. The cache is rebuilt "
                    "when the FASTA's content (its SHA-256), the encoding policy or --records change.",
    )
    p.add_argument("fasta", nargs="+", help="FASTA file(s): plain, gzip or bgzip")
    p.add_argument("--cache-dir", default=None, metavar="DIR",
                   help="cache directory; if not given, <first FASTA>.genorm beside the file")
    p.add_argument("--force", action="store_true", help="rebuild the cache even if it is current")
    add_policy_options(p, format_flag=None)
    p.set_defaults(func=cmd_index)


def cmd_index(args: argparse.Namespace) -> int:
    from genorm.genome.cache import PACKED_FILE, index_genome
    from genorm.errors import CacheError

    if "-" in args.fasta:
        raise CacheError("Standard input cannot be indexed: genorm index needs FASTA files on disk.")
    from genorm.reading.sources import require_regular_file

    for path in args.fasta:  # hashing a pipe would hang (no writer) or consume what the reader needs
        require_regular_file(path, "genorm index hashes the file and caches its genome beside it")
    with progress_bar() as bar:
        result = index_genome(args.fasta, policy=policy_from_args(args), records=records_from_args(args),
                              cache_dir=args.cache_dir, progress=bar, force=args.force)
    genome = result.genome
    if result.path is None:
        raise CacheError("The cache could not be written beside the FASTA; pass --cache-dir DIR "
                         "(a writable directory).")
    size = os.path.getsize(result.path / PACKED_FILE)
    state = "built" if result.built else "up to date"
    print(f"cache: {result.path} ({state})")
    print(f"records: {len(genome):,}; bases: {genome.total_length:,}; size on disk: {size / 1e6:,.1f} MB")
    print(f"encoding policy: {genome.policy.describe()}")
    return 0
