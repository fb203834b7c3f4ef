"""The ``genorm`` command line: a thin layer over the library.

``main(argv)`` parses arguments, runs one subcommand and turns every :class:`GenormError`
into one ``error: ...`` line on stderr and exit status 2 (130 on Ctrl-C; SIGTERM is handled like
Ctrl-C, with status 143). Heavy imports
(TensorFlow) happen inside the subcommands that need them, so ``genorm --help`` is instant.

Each command lives in a module of this package (``inputs``: info, index; ``predict``: predict,
score, generate; ``evaluate``; ``train``; ``explain``) as an ``add_<name>(subparsers)`` that
declares it and a ``cmd_<name>(args)`` that parses, calls one library function and prints;
:mod:`genorm.cli.common` holds what they share.
"""

from __future__ import annotations

import argparse
import logging
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator

from genorm import interrupts
from genorm._version import __version__
from genorm.cli import common, evaluate, explain, inputs, predict, train
from genorm.cli.common import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_TERMINATED, Formatter, import_tensorflow_quietly
from genorm.errors import GenormError

__all__ = ["EXIT_ERROR", "EXIT_INTERRUPTED", "build_parser", "main"]


class _Parser(argparse.ArgumentParser):
    """argparse with genorm's error format: a usage mistake is one ``error: ...`` line and exit status 2,
    like every other error (subcommand parsers inherit this class)."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(EXIT_ERROR, f"error: {message}; see `{self.prog} --help`.\n")


_SUBCOMMANDS = [inputs.add_info, predict.add_predict, predict.add_score, predict.add_generate, inputs.add_index,
                evaluate.add_evaluate, train.add_train, explain.add_explain]


_NO_TENSORFLOW = {"info", "index", "explain"}
"""Subcommands that never need TensorFlow."""


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="genorm", formatter_class=Formatter,
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
    common.set_quiet(quiet)
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


@contextlib.contextmanager
def _sigterm_as_ctrl_c() -> Iterator[dict]:
    """While the block runs, SIGTERM (what ``timeout``, ``scancel``, ``docker stop`` and Snakemake send) is
    handled like Ctrl-C: it calls whatever SIGINT handler is active (training's stop at the next batch
    boundary, else ``KeyboardInterrupt``), so a run cleans up or stays resumable exactly as after Ctrl-C.
    Left alone outside the main thread or when someone else installed a SIGTERM handler.

    Yields:
        ``{"terminated": bool}``: whether a SIGTERM arrived.
    """
    seen = {"terminated": False}
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield seen
        return

    def on_term(signum, frame):
        seen["terminated"] = True
        interrupts.record()  # the KeyboardInterrupt below may be lost (a gc callback): training reads the record
        handler = signal.getsignal(signal.SIGINT)
        if callable(handler):
            handler(signal.SIGINT, frame)
        else:  # SIGINT ignored (a shell's background job) or not set from Python
            raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield seen
    finally:
        signal.signal(signal.SIGTERM, previous)
        interrupts.clear()


def _run(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 0
    configure_logging(quiet=args.quiet, verbose=args.verbose)
    with _sigterm_as_ctrl_c() as seen:
        code = _run_command(args)
    return EXIT_TERMINATED if seen["terminated"] and code == EXIT_INTERRUPTED else code


def _run_command(args: argparse.Namespace) -> int:
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
    except PermissionError as exc:  # the last net: a file of another user that no check above named
        what = f"{exc.filename}: " if exc.filename else ""
        sys.stderr.write(f"error: {what}permission denied. genorm needs to read (or write) it: ask its owner for "
                         "access, or copy what you need to a place you own.\n")
        return EXIT_ERROR
    except BrokenPipeError:
        # Output piped into e.g. `head`: not an error.
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        except OSError:
            pass
        return 0


if __name__ == "__main__":
    sys.exit(main())
