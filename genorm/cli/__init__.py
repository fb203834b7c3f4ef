"""The ``genorm`` command line: a thin layer over the library.

``main(argv)`` parses arguments, runs one subcommand and turns every :class:`GenormError`
into one ``error: ...`` line on stderr and exit status 2. Heavy imports (TensorFlow) happen
inside the subcommands that need them, so ``genorm --help`` is instant.

Each subcommand has an ``_add_<name>(subparsers)`` that declares it and a ``_cmd_<name>(args)``
that runs it and returns the exit status.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import time
from collections.abc import Iterator

from genorm._version import __version__
from genorm.errors import GenormError

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    """argparse with genorm's error format: a usage mistake is one ``error: ...`` line and exit status 2,
    like every other error (subcommand parsers inherit this class)."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(EXIT_ERROR, f"error: {message}; see `{self.prog} --help`.\n")


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows every option's default, once: help text that already names its default is left alone."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "default" in text.lower() or action.default is None or action.default is argparse.SUPPRESS:
            return text
        if action.default is False:
            return text + " (default: off)"
        return super()._get_help_string(action)


# ------------------------------------------------------------------------------------------
# Shared helpers


def add_policy_options(p: argparse.ArgumentParser, format_flag: str | None = "--format") -> None:
    """--iupac, --u-as-t, --records and the input format flag: how genome input is read."""
    g = p.add_argument_group("reading FASTA")
    if format_flag:
        g.add_argument(format_flag, dest="input_format", choices=["fasta", "genbank", "embl", "2bit"], default=None,
                       help="input format (default: detected from the content)")
    g.add_argument("--records", default=None, metavar="NAMES",
                   help="comma-separated record names to use (default: all records)")
    g.add_argument("--iupac", choices=["n", "error"], default="n",
                   help="IUPAC ambiguity codes (R Y S W K M B D H V): read as N (counted) or reject")
    g.add_argument("--u-as-t", action="store_true", help="read U (RNA) as T instead of rejecting it")


def policy_from_args(args: argparse.Namespace):
    from genorm.encoding import EncodingPolicy

    return EncodingPolicy(iupac=args.iupac, u_as_t=args.u_as_t)


def format_from_args(args: argparse.Namespace) -> str | None:
    return getattr(args, "input_format", None)


def records_from_args(args: argparse.Namespace) -> list[str] | None:
    if not getattr(args, "records", None):
        return None
    names = [r.strip() for r in args.records.split(",") if r.strip()]
    if not names:
        raise GenormError("--records is empty: give comma-separated record names, e.g. --records chr1,chr2.")
    return names


class ProgressBar:
    """Progress of a long step on stderr: a redrawn bar on a terminal, plain lines in a log.

    Called as ``bar(done, total_or_None, label)``; ``unit`` names what is counted: "MB" (bytes
    read) or "Mb" (bases). ``mode`` is "bar" (carriage-return redraws, for a terminal), "lines"
    (one line each time another ``every`` units are done, for a log file or a pipeline) or "off";
    the default follows :func:`progress_mode`. The rate restarts when the label changes.
    """

    def __init__(self, mode: str | None = None, min_interval: float = 0.2, unit: str = "MB",
                 every: float = 100.0):
        self.mode = progress_mode() if mode is None else mode
        self.min_interval = min_interval
        self.unit = unit
        self.every = every
        self._last = 0.0
        self._next = every
        self._start = time.monotonic()
        self._label: str | None = None
        self._drawn = False

    def __call__(self, done: int, total: int | None, label: str) -> None:
        if self.mode == "off":
            return
        now = time.monotonic()
        if label != self._label:
            self._label, self._start, self._next = label, now, self.every
            if self._drawn:
                sys.stderr.write("\n")
                self._drawn = False
        amount = done / 1e6
        if self.mode == "lines":
            if amount < self._next:
                return
            self._next = (amount // self.every + 1) * self.every
        elif now - self._last < self.min_interval:
            return
        self._last = now
        rate = amount / max(now - self._start, 1e-9)
        name = f"{os.path.basename(str(label))[:30]:30s}"
        counts = f"{amount:8.1f} {self.unit} {rate:6.1f} {self.unit}/s"
        frac = min(done / total, 1.0) if total else None
        if self.mode == "lines":
            of = f" of {total / 1e6:.1f} {self.unit} ({frac:.1%})" if frac is not None else ""
            sys.stderr.write(f"{os.path.basename(str(label))}: {amount:.1f} {self.unit}{of}, "
                             f"{rate:.1f} {self.unit}/s\n")
        elif frac is not None:
            sys.stderr.write(f"\r{name} [{'#' * int(frac * 30):30s}] {frac:6.1%} {counts}")
            self._drawn = True
        else:
            sys.stderr.write(f"\r{name} {counts}")
            self._drawn = True
        sys.stderr.flush()

    def close(self) -> None:
        if self._drawn:
            sys.stderr.write("\n")
            sys.stderr.flush()
            self._drawn = False


_QUIET = False
"""Set by ``-q/--quiet``: errors only, no progress."""


def note(text: str) -> None:
    """A diagnostic line on stderr (``note: ...``), hidden by --quiet."""
    if not _QUIET:
        sys.stderr.write(f"note: {text}\n")


def progress_mode() -> str:
    """"off" with --quiet, "bar" when stderr is a terminal, else "lines" (no carriage returns in logs)."""
    if _QUIET:
        return "off"
    return "bar" if sys.stderr.isatty() else "lines"


@contextlib.contextmanager
def progress_bar(unit: str = "MB", every: float = 100.0) -> Iterator[ProgressBar]:
    """A :class:`ProgressBar` for the duration of a ``with`` block, closed however the block ends.

    ``every``: units between two lines in a log (100 MB read; pass 10 for Mb of bases).
    """
    bar = ProgressBar(unit=unit, every=every)
    try:
        yield bar
    finally:
        bar.close()


def import_tensorflow_quietly() -> None:
    """Import TensorFlow and Keras with the C++ start-up chatter (oneDNN, CUDA stubs) kept off stderr.

    The chatter is written by native code before logging is set up, so file descriptor 2 is
    pointed at /dev/null for the duration of the import. Set GENORM_TF_LOGS=1 to see it.
    """
    if "tensorflow" in sys.modules or os.environ.get("GENORM_TF_LOGS"):
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
        import keras  # noqa: F401
        import tensorflow

        tensorflow.config.list_physical_devices()  # device discovery logs (cuInit on a machine without a GPU)
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def human_stream(output: str | None):
    """Where the human-readable messages go: stderr when the data itself goes to standard output (``-o -``)."""
    from genorm.atomic import is_stdout

    return sys.stderr if is_stdout(output) else sys.stdout


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
    p.add_argument("fasta", nargs="+", help="genome file(s): FASTA, GenBank, EMBL or 2bit; plain, gzip or bgzip; "
                                            "'-' reads standard input")
    p.add_argument("--tsv", action="store_true", help="write tab-separated values (one row per record) for machines")
    p.add_argument("-o", "--output", default=None, metavar="TSV",
                   help="write the per-record table as tab-separated values to this file ('-': standard output)")
    add_policy_options(p)
    p.set_defaults(func=_cmd_info)


def _cmd_info(args: argparse.Namespace) -> int:
    from genorm.atomic import atomic_write_text, check_output
    from genorm.genome import read_genome

    if args.output is not None:
        check_output(args.output, inputs=args.fasta)
    with progress_bar() as bar:
        genome = read_genome(args.fasta, policy=policy_from_args(args), records=records_from_args(args), progress=bar,
                             format=format_from_args(args))
    df = genome.summary()
    if args.tsv or args.output is not None:
        atomic_write_text(args.output if args.output is not None else "-",
                          df.to_csv(sep="\t", index=False, float_format="%.6g", na_rep="NA"))
        return 0
    shown = df.copy()
    for col in ("length", "n_count", "soft_masked"):
        shown[col] = shown[col].map("{:,}".format)
    print_table(shown)
    print()
    for src in genome.sources:
        size = f", {src['size']:,} bytes" if src.get("size") is not None else ""
        print(f"input: {src['path']} ({src['format']}, {src.get('compression')}{size}; read by Biopython)")
    print(f"encoding policy: {genome.policy.describe()}")
    return 0


# ------------------------------------------------------------------------------------------
# index


def _add_index(sub) -> None:
    p = sub.add_parser(
        "index", formatter_class=_Formatter,
        help="parse FASTA once into the memory-mapped genome cache that later runs use",
        description="Build (or check) the genome cache: one byte per base in DIR/packed.npy, memory-mapped by "
                    "training and evaluation, so a second run does not re-parse the FASTA. The cache is rebuilt "
                    "when the FASTA (size or modification time), the encoding policy or --records change.",
    )
    p.add_argument("fasta", nargs="+", help="FASTA file(s): plain, gzip or bgzip")
    p.add_argument("--cache-dir", default=None, metavar="DIR",
                   help="cache directory; if not given, <first FASTA>.genorm beside the file")
    p.add_argument("--force", action="store_true", help="rebuild the cache even if it is current")
    add_policy_options(p, format_flag=None)
    p.set_defaults(func=_cmd_index)


def _cmd_index(args: argparse.Namespace) -> int:
    from genorm.cache import PACKED_FILE, index_genome
    from genorm.errors import CacheError

    if "-" in args.fasta:
        raise CacheError("Standard input cannot be indexed: genorm index needs FASTA files on disk.")
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


# ------------------------------------------------------------------------------------------
# predict, score, generate: a trained run's analysis API


def _load_predictor(args: argparse.Namespace):
    from genorm.predict import Predictor
    from genorm.trained import load

    return Predictor(load(args.run_dir).stepper())


def _output_format(path: str, flag: str | None) -> str:
    if flag:
        return flag
    low = path.lower()
    if low.endswith((".bedgraph", ".bg", ".bedgraph.gz")):
        return "bedgraph"
    if low.endswith((".bw", ".bigwig")):
        return "bigwig"
    return "tsv"


def _add_predict(sub) -> None:
    p = sub.add_parser(
        "predict", formatter_class=_Formatter,
        help="per-base probabilities and surprisal of a trained model, as TSV or bedGraph",
        description="Row i is P(base i | the bases before it in its record); position 0 is predicted from an "
                    "empty context. TSV: record, position (0-based), base, p_a, p_c, p_g, p_t, p_true, "
                    "surprisal_bits. bedGraph: record, start, end (0-based, half-open), surprisal in bits, for "
                    "genome browsers (N bases are left out), sorted by record name in byte order (LC_COLLATE=C) then "
                    "start, as bedGraphToBigWig requires. bigWig: the same values, chromosome sizes from the input "
                    "(needs pip install genorm[tracks]). Written to a temporary file and renamed when complete.",
    )
    p.add_argument("run_dir", help="run directory written by `genorm train`")
    p.add_argument("fasta", nargs="+", help="FASTA file(s) to predict; '-' reads standard input")
    p.add_argument("-o", "--output", required=True,
                   help="output file (.tsv; .bedgraph/.bg for bedGraph; .bw/.bigwig for bigWig); '-' writes TSV or "
                        "bedGraph to standard output")
    p.add_argument("--format", choices=["tsv", "bedgraph", "bigwig"], default=None,
                   help="output format (default: from the --output extension, else tsv)")
    add_policy_options(p, format_flag="--input-format")
    p.set_defaults(func=_cmd_predict)


def _cmd_predict(args: argparse.Namespace) -> int:
    from genorm.atomic import atomic_open, check_output
    from genorm.training.rundir import run_files
    from genorm.predict import write_predictions

    fmt = _output_format(args.output, args.format)
    check_output(args.output, inputs=args.fasta, protected=run_files(args.run_dir), stdout=fmt != "bigwig")  # first
    if fmt == "bigwig":
        from genorm.predict import require_pybigtools

        require_pybigtools()
    predictor = _load_predictor(args)
    predictor.policy = policy_from_args(args)
    with progress_bar("Mb", every=10) as bar:
        show = lambda name, done, total: bar(done, total, name)  # noqa: E731
        if fmt == "bigwig":
            from genorm.predict import write_bigwig

            n = write_bigwig(predictor, args.fasta, args.output, records=records_from_args(args), progress=show,
                             input_format=format_from_args(args))
        else:
            with atomic_open(args.output, "w", encoding="utf-8", newline="") as handle:
                n = write_predictions(predictor, args.fasta, handle, fmt=fmt, records=records_from_args(args),
                                      progress=show, input_format=format_from_args(args))
    print(f"wrote {fmt} predictions for {n:,} bases to {args.output}", file=human_stream(args.output))
    return 0


def _add_score(sub) -> None:
    p = sub.add_parser(
        "score", formatter_class=_Formatter,
        help="log-likelihood of each FASTA record under a trained model",
        description="One row per record: record, length, bases_scored (non-N), log2_likelihood (bits, summed), "
                    "bits_per_base.",
    )
    p.add_argument("run_dir", help="run directory written by `genorm train`")
    p.add_argument("fasta", nargs="+", help="FASTA file(s); '-' reads standard input")
    p.add_argument("-o", "--output", default=None,
                   help="also write the table as TSV to this file ('-': standard output, the table then goes to stderr)")
    add_policy_options(p)
    p.set_defaults(func=_cmd_score)


def _cmd_score(args: argparse.Namespace) -> int:
    from genorm.atomic import atomic_open, check_output
    from genorm.training.rundir import run_files

    if args.output is not None:
        check_output(args.output, inputs=args.fasta, protected=run_files(args.run_dir))
    predictor = _load_predictor(args)
    predictor.policy = policy_from_args(args)
    df = predictor.score_records(args.fasta, records=records_from_args(args), format=format_from_args(args))
    print_table(df, out=human_stream(args.output))
    if args.output is not None:
        with atomic_open(args.output, "w", encoding="utf-8", newline="") as handle:
            df.to_csv(handle, sep="\t", index=False, float_format="%.6f", na_rep="NA")
    return 0


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _seed(text: str) -> int:
    """A random seed: an integer in [0, 2**32) (what NumPy and TensorFlow accept)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer seed, got {text!r}") from None
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"expected a seed in [0, 4294967295], got {value}")
    return value


def _add_generate(sub) -> None:
    p = sub.add_parser(
        "generate", formatter_class=_Formatter,
        help="sample a sequence from a trained model, as FASTA",
        description="Samples --length bases that follow --prime (the prime is not included in the output).",
    )
    p.add_argument("run_dir", help="run directory written by `genorm train`")
    p.add_argument("--length", type=_positive_int, required=True, help="bases to generate")
    p.add_argument("--prime", default="", help="sequence the model reads before sampling")
    p.add_argument("--temperature", type=float, default=1.0, help="> 1 flatter, < 1 sharper, 0 = always the most probable base")
    p.add_argument("--seed", type=_seed, default=None, help="random seed, for a reproducible sample")
    p.add_argument("--name", default="genorm_sample", help="FASTA record name (no whitespace or control characters)")
    p.add_argument("-o", "--output", default=None, help="FASTA file to write (default, or '-': standard output)")
    p.set_defaults(func=_cmd_generate)


def _cmd_generate(args: argparse.Namespace) -> int:
    import io

    from genorm.atomic import atomic_open, check_field, check_output, escape_text, is_stdout
    from genorm.training.rundir import run_files
    from genorm.reading import write_fasta

    output = args.output if args.output is not None else "-"
    check_output(output, protected=run_files(args.run_dir))
    check_field(args.name, "FASTA record name (--name)")
    predictor = _load_predictor(args)
    seq = predictor.sample(args.length, prime=args.prime, temperature=args.temperature, seed=args.seed)
    desc = escape_text(f"length={len(seq)} temperature={args.temperature} seed={args.seed} prime={args.prime or '-'} "
                       f"run={args.run_dir}")
    buf = io.StringIO()
    write_fasta([(args.name, seq, desc)], buf)  # Bio.SeqIO's FastaWriter
    with atomic_open(output, "w", encoding="utf-8") as handle:
        handle.write(buf.getvalue())
    if not is_stdout(output):
        print(f"wrote {len(seq):,} bases to {output}")
    return 0


# ------------------------------------------------------------------------------------------
# evaluate


def _add_evaluate(sub) -> None:
    p = sub.add_parser(
        "evaluate", formatter_class=_Formatter,
        help="per-base accuracy, bits per base and baselines of a trained model",
        description="Scores every base of the run's test (or validation) split, or of whole FASTA records, with "
                    "the model and with the uniform, base-composition and order-k Markov baselines fitted on the "
                    "run's training split. Base i of an interval is predicted from all bases before it in the "
                    "interval (exact streaming; --warmup trades exactness for parallel lanes). N is never a target.",
    )
    p.add_argument("run_dir", help="run directory written by `genorm train`")
    p.add_argument("fasta", nargs="*", help="FASTA file(s) to evaluate whole (default: the run's own split)")
    p.add_argument("--split", choices=["test", "val"], default="test", help="the run's split to evaluate (no FASTA given)")
    p.add_argument("--intervals", default=None, metavar="BED",
                   help="evaluate these intervals of the run's genome instead (record, start, end; reported as custom "
                        "intervals, not the run's split; refused where they overlap the training split)")
    p.add_argument("--allow-train-overlap", action="store_true",
                   help="with --intervals: score intervals that overlap the training split anyway (not held out)")
    p.add_argument("-o", "--output", default=None,
                   help="write the report: .json (every table) or .tsv (tidy long table); '-': JSON to standard "
                        "output (the printed report then goes to stderr)")
    p.add_argument("--plot", default=None, metavar="PNG",
                   help="write a figure: accuracy per nucleotide vs baselines, confusion, bits along each record")
    p.add_argument("--batch-size", type=_positive_int, default=256, help="lanes evaluated in parallel")
    p.add_argument("--chunk", type=_positive_int, default=1000, help="bases per lane per model call")
    p.add_argument("--warmup", type=int, default=None, metavar="BASES",
                   help="cut long intervals into lanes, each warmed up on this many preceding bases (faster, not "
                        "exact; default: exact, one lane per interval)")
    p.add_argument("--segment", type=_positive_int, default=None, metavar="BASES",
                   help="bases scored per lane with --warmup (default: about --batch-size lanes in all, "
                        "at least max(1000, 4 x warmup))")
    p.add_argument("--context", choices=["full", "window"], default="full",
                   help="full: all preceding bases of the interval; window: reset every training-window bases")
    add_policy_options(p)
    p.set_defaults(func=_cmd_evaluate)


def _report_kind(path: str | None) -> str | None:
    if path is None:
        return None
    if path == "-":
        return "json"
    low = path.lower()
    for kind in ("json", "tsv"):
        if low.endswith("." + kind):
            return kind
    from genorm.errors import ConfigError

    raise ConfigError(f"--output {path!r}: expected a file name ending in .json or .tsv.")


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from genorm.evaluation.baselines import Baselines, fit_baselines
    from genorm.errors import ConfigError
    from genorm.evaluation.evaluate import evaluate, run_targets
    from genorm.trained import load
    from genorm.training.rundir import BASELINES

    from genorm.atomic import check_output
    from genorm.training.rundir import run_files

    for path, text in ((args.output, True), (args.plot, False)):
        if path is not None:  # before minutes of evaluation
            check_output(path, inputs=[*args.fasta, *([args.intervals] if args.intervals else [])],
                         protected=run_files(args.run_dir), stdout=text)
    kind = _report_kind(args.output)
    if args.plot is not None:
        from genorm.plots import plot_format

        plot_format(args.plot)
    if args.warmup is not None and args.warmup < 0:
        raise ConfigError(f"--warmup must be 0 or more bases, got {args.warmup}.")
    if args.warmup is not None and args.context == "window":
        raise ConfigError("--warmup and --context window exclude each other: choose one.")
    run = load(args.run_dir)
    with progress_bar() as bar:
        targets = run_targets(run, args.fasta or None, split=args.split, intervals=args.intervals,
                              allow_train_overlap=args.allow_train_overlap, records=records_from_args(args),
                              policy=policy_from_args(args) if args.fasta else None, progress=bar,
                              format=format_from_args(args))
        genome, intervals, what = targets.genome, targets.intervals, targets.description
        path = run.run_dir / BASELINES
        if path.is_file():
            baselines = Baselines.load(path)
        else:
            note(f"{path} is missing; fitting the baselines on the run's training split")
            baselines = fit_baselines(run.genome, run.splits)
        window = run.config.window if args.context == "window" else None
    with progress_bar("Mb", every=10) as bar:
        report = evaluate(run.stepper(), genome, intervals, baselines=baselines, warmup=args.warmup,
                          segment=args.segment, window=window, batch_size=args.batch_size, chunk=args.chunk,
                          progress=bar, targets=targets)
    with contextlib.redirect_stdout(human_stream(args.output)):
        _print_report(report, what)
    if kind == "json":
        report.to_json(args.output)
    elif kind == "tsv":
        report.to_tsv(args.output)
    if args.output is not None:
        print(f"wrote the report to {args.output}", file=human_stream(args.output))
    if args.plot is not None:
        from genorm.plots import plot_report

        plot_report(report, args.plot, title=what)
        print(f"wrote the figure to {args.plot}")
    return 0


def _print_report(report, what: str) -> None:
    meta = report.meta
    if meta["mode"] == "warmup":
        how = f"warm-up lanes ({meta['warmup']:,} bases of warm-up, segments of {meta['segment']:,}; not exact)"
    elif meta["mode"] == "window":
        how = f"context limited to windows of {meta['window']:,} bases"
    else:
        how = "exact streaming (every base sees all bases before it in its interval)"
    print(f"evaluated {int(report.summary.bases.iloc[0]):,} bases of {what}")
    print(f"{meta['intervals']} interval(s), {meta['lanes']} lane(s); {how}\n")
    print_table(report.summary)
    markov = [p for p in report.summary.predictor if p.startswith("markov")]
    shown = ["model", *markov]
    pn = report.per_nucleotide[report.per_nucleotide.predictor.isin(shown)]
    print("\nper nucleotide:")
    print_table(pn[["base", "predictor", "count", "recall", "precision", "mean_p_true", "bits_per_base"]]
                .sort_values(["base"], kind="stable"))
    conf = report.confusion[report.confusion.predictor == "model"].drop(columns="predictor")
    print("\nconfusion (model; rows: true base, columns: predicted):")
    print_table(conf.round(0).astype({c: "int64" for c in conf.columns if c.startswith("pred_")}))
    bm = report.by_mask[report.by_mask.predictor.isin(shown) & (report.by_mask.bases > 0)]
    if (bm["mask"] == "soft-masked").any():
        print("\nsoft-masked (repeat) vs unmasked bases:")
        print_table(bm[["mask", "predictor", "bases", "accuracy", "bits_per_base"]])
    pr = report.per_record[report.per_record.predictor.isin(shown)]
    if pr.record.nunique() > 1:
        print("\nper record:" + (" (first 30)" if pr.record.nunique() > 30 else ""))
        keep = list(dict.fromkeys(pr.record))[:30]
        print_table(pr[pr.record.isin(keep)][["record", "predictor", "bases", "accuracy", "bits_per_base"]])


# ------------------------------------------------------------------------------------------
# train


def _train_defaults():
    from genorm.config import TrainConfig

    return TrainConfig()


# (flag, TrainConfig field, type, help); every default is taken from TrainConfig.
_TRAIN_OPTIONS = [
    ("model", [
        ("--cell", "cell", str, "recurrent cell: simple_rnn, gru or lstm"),
        ("--units", "units", int, "hidden units per recurrent layer"),
        ("--layers", "layers", int, "stacked recurrent layers"),
        ("--dropout", "dropout", float, "dropout between recurrent layers, in [0, 1)"),
    ]),
    ("training", [
        ("--window", "window", int, "input window length in bases (>= 2)"),
        ("--batch-size", "batch_size", int, "windows per batch"),
        ("--epochs", "epochs", int, "maximum epochs"),
        ("--bases-per-epoch", "bases_per_epoch", int, "input bases per epoch (then a validation pass)"),
        ("--learning-rate", "learning_rate", float, "Adam's initial learning rate"),
        ("--clipnorm", "clipnorm", float, "gradient clipping norm"),
        ("--lr-patience", "lr_patience", int, "epochs without validation improvement before the learning rate "
                                              "is halved"),
        ("--patience", "patience", int, "epochs without validation improvement before early stopping"),
        ("--max-time", "max_time", str, "wall-clock budget, e.g. 90s, 10m, 1h: stop cleanly, keep the best model"),
        ("--seed", "seed", int, "random seed (weights, windows)"),
        ("--rc-augment", "rc_augment", bool, "reverse-complement half of the training windows"),
        ("--soft-mask-weight", "soft_mask_weight", float, "loss weight of soft-masked (lower-case) targets"),
        ("--max-n-fraction", "max_n_fraction", float, "skip windows more than this fraction N"),
        ("--tensorboard", "tensorboard", bool, "write TensorBoard logs to RUN/logs"),
        ("--strategy", "strategy", str, "devices and machines: auto, one, mirrored (all local GPUs) or multiworker "
                                        "(TF_CONFIG); --batch-size stays the global batch"),
    ]),
    ("splits", [
        ("--val-fraction", "val_fraction", float, "validation fraction at the end of each record (before test)"),
        ("--test-fraction", "test_fraction", float, "test fraction at the end of each record"),
        ("--val-records", "val_records", "names", "comma-separated records that go whole into validation"),
        ("--test-records", "test_records", "names", "comma-separated records that go whole into test"),
        ("--max-val-bases", "max_val_bases", int, "validation bases per epoch (a fixed sample of larger splits)"),
    ]),
    ("reading FASTA", [
        ("--records", "records", "names", "comma-separated record names to use (default: all records)"),
        ("--iupac", "iupac", str, "IUPAC ambiguity codes: n (read as N) or error"),
        ("--u-as-t", "u_as_t", bool, "read U (RNA) as T instead of rejecting it"),
    ]),
]


def _add_train(sub) -> None:
    d = _train_defaults().to_dict()
    d.update(d.pop("model"))
    p = sub.add_parser(
        "train", formatter_class=argparse.RawDescriptionHelpFormatter,
        help="train a recurrent next-nucleotide model on FASTA file(s)",
        description="Train a next-nucleotide model and write a run directory (model.keras, config.json, "
                    "provenance.json, splits.bed, history.csv, baselines.npz, curves.png).\n\n"
                    "Options are layered: defaults < --config FILE < (with --resume) the run's config.json < "
                    "flags.\nThe best model is chosen on the validation split; the test split is left for "
                    "`genorm evaluate`.\n\nexample:\n  genorm train sample_data/ecoli_K12_MG1655_NC_000913.3.fna.gz "
                    "--out runs/ecoli --max-time 10m",
    )
    p.add_argument("fasta", nargs="+", help="FASTA file(s): plain, gzip or bgzip")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="run directory (default: runs/<name of the first FASTA file>)")
    p.add_argument("--config", default=None, metavar="FILE",
                   help="JSON file of options (TrainConfig fields, e.g. {\"units\": 64}); flags override it")
    p.add_argument("--resume", action="store_true", help="continue the interrupted run in --out")
    p.add_argument("--force", action="store_true", help="overwrite a previous run in --out")
    p.add_argument("--no-baselines", dest="baselines", action="store_false", default=argparse.SUPPRESS,
                   help="do not fit the Markov baselines (default: fit them)")
    for title, options in _TRAIN_OPTIONS:
        g = p.add_argument_group(title)
        for flag, name, kind, text in options:
            shown = d[name] if d[name] is not None else "none"
            if kind is bool:
                g.add_argument(flag, dest=name, action="store_true", default=argparse.SUPPRESS,
                               help=f"{text} (default: {'on' if d[name] else 'off'})")
            else:
                if isinstance(shown, list):
                    shown = ",".join(shown)
                g.add_argument(flag, dest=name, type=(str if kind == "names" else kind), default=argparse.SUPPRESS,
                               metavar=name.upper().replace("_", "-") if kind != "names" else "NAMES",
                               help=f"{text} (default: {shown})")
    p.set_defaults(func=_cmd_train)


def _train_config_from_args(args: argparse.Namespace):
    from genorm.config import TrainConfig
    from genorm.errors import ConfigError

    config = TrainConfig()
    if args.config is not None:
        from genorm.jsonio import read_json_file

        config = TrainConfig.from_dict(read_json_file(args.config, f"--config {args.config}", ConfigError, expect=None))
    if args.resume and args.out:
        from genorm.trained import read_config
        from genorm.training.rundir import CONFIG

        if os.path.isfile(os.path.join(args.out, CONFIG)):
            config = read_config(args.out)
    changes = {}
    for _, options in _TRAIN_OPTIONS:
        for _, name, kind, _ in options:
            if hasattr(args, name):
                value = getattr(args, name)
                if kind == "names":
                    value = [v.strip() for v in value.split(",") if v.strip()]
                changes[name] = value
    if hasattr(args, "baselines"):
        changes["baselines"] = args.baselines
    return config.replace(**changes)


def _default_out(fasta: str) -> str:
    name = os.path.basename(fasta)
    for ext in (".gz", ".bgz", ".fasta", ".fa", ".fna", ".fas"):
        if name.endswith(ext):
            name = name[: -len(ext)]
    for ext in (".fasta", ".fa", ".fna", ".fas"):
        if name.endswith(ext):
            name = name[: -len(ext)]
    return os.path.join("runs", name or "genome")


def _cmd_train(args: argparse.Namespace) -> int:
    import shlex

    from genorm.training.trainer import compare_with_markov, train

    out = args.out if args.out is not None else _default_out(args.fasta[0])
    args.out = out
    config = _train_config_from_args(args)
    resume_cmd = "genorm train " + " ".join(shlex.quote(f) for f in args.fasta) + f" --out {shlex.quote(out)} --resume"
    verbose = {"off": 0, "bar": 1, "lines": 2}[progress_mode()]  # 2: one line per epoch, no carriage returns
    try:
        with progress_bar() as bar, contextlib.redirect_stdout(sys.stderr):  # Keras' bar prints to stdout
            run = train(args.fasta, config, out, resume=args.resume, force=args.force, verbose=verbose,
                        progress=bar, threads=args.threads)
    except KeyboardInterrupt:
        from genorm.training.backup import resumable_epochs

        saved = resumable_epochs(out)
        if saved:
            sys.stderr.write(f"\ninterrupted: the run in {out} is saved up to epoch {saved}, its last complete "
                             "backup.\n"
                             f"continue it with: {resume_cmd}\n")
        else:
            sys.stderr.write(f"\ninterrupted before the first epoch ended: nothing to resume and nothing kept in "
                             f"{out}; run the same command again to start over.\n")
        return EXIT_INTERRUPTED
    s = run.summary
    if not s.get("is_chief", True):
        print(f"\nworker done ({s['epochs']} epochs, {s['bases_trained']:,} bases in all); the chief wrote the run "
              f"to {out}")
        return 0
    stopped = {"epochs": "all epochs done", "early_stopping": "early stopping (validation stopped improving)",
               "time_budget": f"time budget ({config.max_time}) reached",
               "nan": "loss became NaN (last good weights kept)"}.get(s["stopped"], s["stopped"])
    print()
    print(f"validation: accuracy {100 * s['val_accuracy']:.2f} %, {s['val_bits']:.4f} bits/base "
          f"(best epoch {s['best_epoch']} of {s['epochs']})")
    print(f"validation: {compare_with_markov(s)}")
    wall = s["wall_seconds"]
    wall = f"{wall:.0f} s" if wall < 120 else f"{wall / 60:.1f} min"
    print(f"trained on {s['bases_trained']:,} bases at {s['bases_per_second']:,.0f} bases/s; "
          f"wall time {wall}; stopped: {stopped}")
    print(f"run written to {out}")
    print(f"evaluate it on the test split with: genorm evaluate {shlex.quote(out)}")
    if s["stopped"] == "time_budget":
        print(f"train it further with: {resume_cmd} --max-time {config.max_time}")
    return 0


# ------------------------------------------------------------------------------------------
# explain


def _add_explain(sub) -> None:
    p = sub.add_parser(
        "explain", formatter_class=_Formatter,
        help="step through the textbook RNN (forward pass, back-propagation) on a short text",
        description="Print the forward pass of the textbook recurrent network step by step (input vector, "
                    "W_xh x_t, W_hh h_(t-1) + b, new state, output, softmax, loss), then the gradients of one "
                    "back-propagation-through-time step. genorm's simple_rnn model is this network "
                    "(tests/test_textbook_rnn.py proves it).\n\nexamples:\n  genorm explain hello --example\n"
                    "  genorm explain ACGTTA --seed 1",
    )
    p.add_argument("text", help="a short text: DNA (A C G T N) or any letters, e.g. hello")
    p.add_argument("--example", action="store_true",
                   help="use the network of the classic 'hello' worked example (vocabulary h, e, l, o; its W_xh, "
                        "W_hy, W_hh = 0.427043·I, b_h = 0.567001)")
    p.add_argument("--seed", type=_seed, default=0, help="seed of the random weights (without --example)")
    p.add_argument("--hidden", type=_positive_int, default=3, help="hidden units")
    p.add_argument("--learning-rate", type=float, default=0.1, help="step size of the gradient-descent update shown")
    p.set_defaults(func=_cmd_explain)


def _cmd_explain(args: argparse.Namespace) -> int:
    from genorm.textbook_rnn import explain

    for line in explain(args.text, hidden_size=args.hidden, seed=args.seed, example=args.example,
                        learning_rate=args.learning_rate):
        print(line)
    return 0


# ------------------------------------------------------------------------------------------
# main

_SUBCOMMANDS = [_add_info, _add_predict, _add_score, _add_generate, _add_index, _add_evaluate, _add_train, _add_explain]


_NO_TENSORFLOW = {"info", "index", "explain"}
"""Subcommands that never need TensorFlow."""


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="genorm", formatter_class=_Formatter,
        description="Recurrent next-nucleotide models of genomes: read, encode, train, evaluate.",
    )
    parser.add_argument("--version", action="version", version=f"genorm {__version__}")
    add_log_options(parser, default=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in _SUBCOMMANDS:
        add(sub)
    for name, p in sub.choices.items():
        add_log_options(p, default=argparse.SUPPRESS)  # also accepted after the command
        if name not in _NO_TENSORFLOW:
            add_threads_option(p)
    return parser


def add_log_options(p: argparse.ArgumentParser, default) -> None:
    """-q/--quiet and -v/--verbose. Results always go to stdout, diagnostics to stderr."""
    g = p.add_mutually_exclusive_group()
    g.add_argument("-q", "--quiet", action="store_true", default=default,
                   help="errors only on stderr: no progress, no notes, no warnings (default: off)")
    g.add_argument("-v", "--verbose", action="store_true", default=default,
                   help="also log details (cache, splits, stream, learning-rate cuts) to stderr (default: off)")


def add_threads_option(p: argparse.ArgumentParser) -> None:
    """--threads N: the CPU threads of TensorFlow, tf.data and BLAS (see genorm.threads)."""
    from genorm.threads import available_cores

    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="CPU threads to use: TensorFlow's thread pools, tf.data, BLAS/OpenMP; give a pipeline's "
                        f"threads/cpus here (default: all {available_cores()} cores this process may use)")


class _LogFormatter(logging.Formatter):
    """Progress and INFO lines as they are; others prefixed with their level (``warning: ...``)."""

    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text if record.levelno == logging.INFO else f"{record.levelname.lower()}: {text}"


class _StderrHandler(logging.StreamHandler):
    """Writes to the current ``sys.stderr`` (which tests and redirections may replace)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


def configure_logging(quiet: bool = False, verbose: bool = False) -> None:
    """Diagnostics on stderr: errors only (quiet), warnings and progress (default), or details (verbose)."""
    global _QUIET
    _QUIET = quiet
    root = logging.getLogger()
    if not any(isinstance(h, _StderrHandler) for h in root.handlers):
        handler = _StderrHandler()
        handler.setFormatter(_LogFormatter())
        root.addHandler(handler)
    root.setLevel(logging.ERROR if quiet else logging.INFO if verbose else logging.WARNING)
    logging.getLogger("genorm.progress").setLevel(logging.ERROR if quiet else logging.INFO)


def main(argv: list[str] | None = None) -> int:
    """Run the genorm command line; returns the exit status.

    Run as the ``genorm`` program (``argv`` None), a command that imported TensorFlow ends
    the process with ``os._exit`` once its output is flushed: everything it writes is complete
    by then (atomic renames), and TensorFlow's input-pipeline threads can otherwise hang
    interpreter shutdown, which was seen after a Ctrl-C. Called with a list (tests, other
    Python code), it simply returns.
    """
    code = _run(argv)
    if argv is None and "tensorflow" in sys.modules:
        _exit_now(code)
    return code


def _exit_now(code: int) -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    logging.shutdown()
    os._exit(code)


def _run(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 0
    configure_logging(quiet=args.quiet, verbose=args.verbose)
    try:
        if args.command not in _NO_TENSORFLOW:
            from genorm.threads import limit_threads, resolve_threads, set_thread_variables

            set_thread_variables(resolve_threads(args.threads))  # before TensorFlow (and its OpenMP) load
            import_tensorflow_quietly()
            limit_threads(args.threads)
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
