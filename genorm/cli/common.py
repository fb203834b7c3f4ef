"""What the ``genorm`` commands share: reading options, progress on stderr, tables, exit codes.

Nothing here decides anything about genomes or models: it turns options into library arguments
and library results into text.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Iterator

from genorm.errors import GenormError

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143
"""128 + SIGTERM: a run stopped by SIGTERM (``timeout``, ``scancel``, ``docker stop``), handled like Ctrl-C."""


class Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows every option's default, once: help text that already names its default is left alone."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "default" in text.lower() or action.default is None or action.default is argparse.SUPPRESS:
            return text
        if action.default is False:
            return text + " (default: off)"
        return super()._get_help_string(action)


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def seed(text: str) -> int:
    """argparse type: a random seed, an integer in [0, 2**32) (what NumPy and TensorFlow accept)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer seed, got {text!r}") from None
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"expected a seed in [0, 4294967295], got {value}")
    return value


def add_policy_options(p: argparse.ArgumentParser, format_flag: str | None = "--format") -> None:
    """--iupac, --u-as-t, --records and the input format flag: how genome input is read."""
    g = p.add_argument_group("reading FASTA")
    if format_flag:
        g.add_argument(format_flag, dest="input_format", choices=["fasta", "genbank", "embl", "2bit"], default=None,
                       help="input format (default: detected from the content)")
    g.add_argument("--records", default=None, metavar="NAMES",
                   help="comma-separated record names to use (default: all records)")
    g.add_argument("--iupac", choices=["n", "error"], default=None,
                   help="IUPAC ambiguity codes (R Y S W K M B D H V): read as N (counted) or reject (default: a run's "
                        "own setting where a run is given, else n)")
    g.add_argument("--u-as-t", action="store_true", default=None,
                   help="read U (RNA) as T instead of rejecting it (default: a run's own setting where a run is given, "
                        "else off)")


def policy_from_args(args: argparse.Namespace, base=None):
    """The encoding policy: ``base`` (a run's own, or the default) with the options given on the command line."""
    from genorm.encoding import EncodingPolicy

    base = base or EncodingPolicy()
    return EncodingPolicy(iupac=args.iupac if args.iupac is not None else base.iupac,
                          u_as_t=True if args.u_as_t else base.u_as_t)


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
"""Set by ``-q/--quiet`` (:func:`set_quiet`): errors only, no progress."""


def set_quiet(quiet: bool) -> None:
    """Hide notes and progress (``-q/--quiet``)."""
    global _QUIET
    _QUIET = bool(quiet)


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


_BASE_STEPS = {"evaluate", "adapt"}
"""Progress labels that count bases (shown in Mb); every other label counts bytes read (MB)."""


@contextlib.contextmanager
def staged_progress() -> Iterator:
    """One ``progress(done, total, label)`` for a call that first reads files, then scores bases.

    Reading is shown in MB as :func:`progress_bar` does; a label in ``_BASE_STEPS`` ("evaluate")
    closes that bar and continues in Mb, one log line every 10 Mb.
    """
    with progress_bar() as read, progress_bar("Mb", every=10) as bases:
        def show(done: int, total: int | None, label: str) -> None:
            if label in _BASE_STEPS:
                read.close()
                bases(done, total, label)
            else:
                read(done, total, label)

        yield show


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


def add_adapt_options(p: argparse.ArgumentParser, default: bool | None = False, shown: str = "off") -> None:
    """``--adapt/--no-adapt`` (``default``; None: unset, the command decides) and its settings
    (see :mod:`genorm.evaluation.adapt`)."""
    from genorm.evaluation import adapt

    p.add_argument("--adapt", action=argparse.BooleanOptionalAction, default=default,
                   help="adaptive evaluation: the model takes a gradient step on each chunk after predicting it "
                        "(no base is predicted by weights that saw it; the saved model is not changed) "
                        f"(default: {shown})")
    p.add_argument("--adapt-chunk", type=positive_int, default=None, metavar="BASES",
                   help=f"with --adapt: bases per gradient step (default {adapt.DEFAULT_CHUNK})")
    p.add_argument("--adapt-lr", type=float, default=None, metavar="RATE",
                   help=f"with --adapt: learning rate (default {adapt.DEFAULT_LEARNING_RATE:g})")
    p.add_argument("--adapt-optimizer", choices=adapt.OPTIMIZERS, default=None,
                   help=f"with --adapt: optimizer (default {adapt.DEFAULT_OPTIMIZER})")
    p.add_argument("--adapt-lanes", type=positive_int, default=None, metavar="N",
                   help=f"with --adapt: segments of an interval run in parallel, sharing the adapting weights "
                        f"(default {adapt.DEFAULT_LANES})")


def adapt_from_args(args: argparse.Namespace):
    """The :class:`~genorm.evaluation.adapt.AdaptConfig` of ``--adapt`` and its settings, or None."""
    from genorm.evaluation.adapt import adapt_config

    return adapt_config(args.adapt, chunk=args.adapt_chunk, learning_rate=args.adapt_lr,
                        optimizer=args.adapt_optimizer, lanes=args.adapt_lanes)
