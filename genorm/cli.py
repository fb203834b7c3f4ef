"""The ``genorm`` command line: a thin layer over the library.

``main(argv)`` parses arguments, runs one subcommand and turns every :class:`GenormError`
into one ``error: ...`` line on stderr and exit status 2. Heavy imports (TensorFlow) happen
inside the subcommands that need them, so ``genorm --help`` is instant.

Each subcommand has an ``_add_<name>(subparsers)`` that declares it and a ``_cmd_<name>(args)``
that runs it and returns the exit status.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time

from genorm import __version__
from genorm.errors import GenormError

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    pass


# ------------------------------------------------------------------------------------------
# Shared helpers


def add_policy_options(p: argparse.ArgumentParser) -> None:
    """--iupac, --u-as-t and --records: how FASTA input is read."""
    g = p.add_argument_group("reading FASTA")
    g.add_argument("--records", default=None, metavar="NAMES",
                   help="comma-separated record names to use (default: all records)")
    g.add_argument("--iupac", choices=["n", "error"], default="n",
                   help="IUPAC ambiguity codes (R Y S W K M B D H V): read as N (counted) or reject")
    g.add_argument("--u-as-t", action="store_true", help="read U (RNA) as T instead of rejecting it")


def policy_from_args(args: argparse.Namespace):
    from genorm.encoding import EncodingPolicy

    return EncodingPolicy(iupac=args.iupac, u_as_t=args.u_as_t)


def records_from_args(args: argparse.Namespace) -> list[str] | None:
    if not getattr(args, "records", None):
        return None
    names = [r.strip() for r in args.records.split(",") if r.strip()]
    if not names:
        raise GenormError("--records is empty: give comma-separated record names, e.g. --records chr1,chr2.")
    return names


class ProgressBar:
    """A one-line progress bar on stderr, shown only when stderr is a terminal."""

    def __init__(self, enabled: bool | None = None, min_interval: float = 0.2):
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.min_interval = min_interval
        self._last = 0.0
        self._start = time.monotonic()
        self._drawn = False

    def __call__(self, done: int, total: int | None, label: str) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last < self.min_interval:
            return
        self._last = now
        mb = done / 1e6
        rate = mb / max(now - self._start, 1e-9)
        if total:
            frac = min(done / total, 1.0)
            bar = "#" * int(frac * 30)
            line = f"\r{os.path.basename(label)[:30]:30s} [{bar:30s}] {frac:6.1%} {mb:8.1f} MB {rate:6.1f} MB/s"
        else:
            line = f"\r{os.path.basename(label)[:30]:30s} {mb:8.1f} MB {rate:6.1f} MB/s"
        sys.stderr.write(line)
        sys.stderr.flush()
        self._drawn = True

    def close(self) -> None:
        if self._drawn:
            sys.stderr.write("\n")
            sys.stderr.flush()
            self._drawn = False


def print_table(df, out=None) -> None:
    """Print a DataFrame as an aligned plain-text table."""
    out = out or sys.stdout
    out.write(df.to_string(index=False, float_format=lambda x: f"{x:.4f}") + "\n")


# ------------------------------------------------------------------------------------------
# info


def _add_info(sub) -> None:
    p = sub.add_parser(
        "info", formatter_class=_Formatter,
        help="report what a FASTA file contains (lengths, GC, N, IUPAC, soft-masking)",
        description="The input quality report: per record and in total, length, GC fraction, N count and "
                    "longest N run, ambiguity codes, soft-masked fraction.",
    )
    p.add_argument("fasta", nargs="+", help="FASTA file(s): plain, gzip or bgzip; '-' reads standard input")
    p.add_argument("--tsv", action="store_true", help="write tab-separated values (one row per record) for machines")
    add_policy_options(p)
    p.set_defaults(func=_cmd_info)


def _cmd_info(args: argparse.Namespace) -> int:
    from genorm.genome import read_genome

    bar = ProgressBar()
    try:
        genome = read_genome(args.fasta, policy=policy_from_args(args), records=records_from_args(args), progress=bar)
    finally:
        bar.close()
    df = genome.summary()
    if args.tsv:
        sys.stdout.write(df.to_csv(sep="\t", index=False, float_format="%.6g"))
        return 0
    shown = df.copy()
    for col in ("length", "n_count", "soft_masked"):
        shown[col] = shown[col].map("{:,}".format)
    print_table(shown)
    print()
    for src in genome.sources:
        size = f", {src['size']:,} bytes" if src.get("size") is not None else ""
        print(f"input: {src['path']} ({src['format']}{size})")
    print(f"encoding policy: {genome.policy.describe()}")
    return 0


# ------------------------------------------------------------------------------------------
# main

_SUBCOMMANDS = [_add_info]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="genorm", formatter_class=_Formatter,
        description="Recurrent next-nucleotide models of genomes: read, encode, train, evaluate.",
    )
    parser.add_argument("--version", action="version", version=f"genorm {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in _SUBCOMMANDS:
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the genorm command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 0
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s: %(message)s", stream=sys.stderr)
    try:
        return int(args.func(args) or 0)
    except GenormError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return EXIT_ERROR
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # Output piped into e.g. `head`: not an error.
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        except OSError:
            pass
        return 0


if __name__ == "__main__":
    sys.exit(main())
