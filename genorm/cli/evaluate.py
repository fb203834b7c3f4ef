"""``genorm evaluate``: score a trained run against its baselines and print the report."""

from __future__ import annotations

import argparse
import contextlib

from genorm.cli.common import Formatter, adapt_from_args, add_adapt_options, add_policy_options, \
    format_from_args, human_stream, note, policy_from_args, \
    positive_int, print_table, records_from_args, staged_progress


def add_evaluate(sub) -> None:
    p = sub.add_parser(
        "evaluate", formatter_class=Formatter,
        help="per-base accuracy, bits per base and baselines of a trained model",
        description="Scores every base of the run's test (or validation) split, or of whole FASTA records, with "
                    "the model and with the uniform, base-composition and order-k Markov baselines fitted on the "
                    "run's training split. Base i of an interval is predicted from all bases before it in the "
                    "interval (exact streaming; --warmup trades exactness for parallel lanes). N is never a target.",
    )
    p.add_argument("run_dir", help="run directory written by `genorm train`")
    p.add_argument("fasta", nargs="*", help="FASTA file(s) to evaluate whole (default: the run's own split)")
    p.add_argument("--split", choices=["test", "val"], default=None,
                   help="the run's split to evaluate, without FASTA files or --intervals (default: test)")
    p.add_argument("--intervals", default=None, metavar="BED",
                   help="evaluate these intervals of the run's genome instead (record, start, end; reported as custom "
                        "intervals, not the run's split; refused where they overlap the training split)")
    p.add_argument("--allow-train-overlap", action="store_true",
                   help="with --intervals or FASTA files: score intervals or records that hold bases of the "
                        "training split anyway (not held out; the report says how many)")
    p.add_argument("-o", "--output", default=None,
                   help="write the report: .json (every table) or .tsv (tidy long table); '-': JSON to standard "
                        "output (the printed report then goes to stderr)")
    p.add_argument("--plot", default=None, metavar="PNG",
                   help="write a figure: accuracy per nucleotide vs baselines, confusion, bits along each record")
    p.add_argument("--batch-size", type=positive_int, default=256, help="lanes evaluated in parallel")
    p.add_argument("--chunk", type=positive_int, default=1000, help="bases per lane per model call")
    p.add_argument("--warmup", type=int, default=None, metavar="BASES",
                   help="cut long intervals into lanes, each warmed up on this many preceding bases (faster, not "
                        "exact; default: exact, one lane per interval)")
    p.add_argument("--segment", type=positive_int, default=None, metavar="BASES",
                   help="bases scored per lane with --warmup (default: about --batch-size lanes in all, "
                        "at least max(1000, 4 x warmup))")
    p.add_argument("--context", choices=["full", "window"], default="full",
                   help="full: all preceding bases of the interval; window: reset every training-window bases")
    from genorm.evaluation.adapt import DEFAULT_ADAPT

    add_adapt_options(p, default=None, shown="on, except with --context window" if DEFAULT_ADAPT else "off")
    add_policy_options(p)
    p.set_defaults(func=cmd_evaluate)


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


def cmd_evaluate(args: argparse.Namespace) -> int:
    from genorm.atomic import check_output
    from genorm.errors import ConfigError
    from genorm.evaluation.evaluate import evaluate_run
    from genorm.trained import load
    from genorm.rundir import run_files

    for path, text in ((args.output, True), (args.plot, False)):
        if path is not None:  # before minutes of evaluation
            check_output(path, inputs=[*args.fasta, *([args.intervals] if args.intervals else [])],
                         protected=run_files(args.run_dir), stdout=text)
    kind = _report_kind(args.output)
    if args.plot is not None:
        from genorm.plots import plot_format

        plot_format(args.plot)
    _check_ignored(args)
    if args.allow_train_overlap and args.intervals is None and not args.fasta:
        raise ConfigError("--allow-train-overlap applies to --intervals or FASTA files that hold training bases; the "
                          "run's own split never does: leave it out, or give the intervals or files to score.")
    if args.warmup is not None and args.warmup < 0:
        raise ConfigError(f"--warmup must be 0 or more bases, got {args.warmup}.")
    if args.warmup is not None and args.context == "window":
        raise ConfigError("--warmup and --context window exclude each other: choose one.")
    from genorm.evaluation.adapt import evaluate_adapts

    args.adapt = evaluate_adapts(args.adapt, args.context)
    adapt = adapt_from_args(args)
    run = load(args.run_dir)
    with staged_progress() as progress:
        report = evaluate_run(run, args.fasta or None, split=args.split or "test", intervals=args.intervals,
                              allow_train_overlap=args.allow_train_overlap, records=records_from_args(args),
                              policy=policy_from_args(args, run.config.policy()), format=format_from_args(args), warmup=args.warmup,
                              segment=args.segment, context=args.context, batch_size=args.batch_size,
                              chunk=args.chunk, progress=progress, on_note=note, adapt=adapt)
    _write_report(args, report, kind)
    return 0


def _check_ignored(args: argparse.Namespace) -> None:
    """Options that the rest of the command would silently ignore are errors (issue 23)."""
    from genorm.errors import ConfigError

    if args.split is not None and (args.fasta or args.intervals is not None):
        other = "FASTA files" if args.fasta else "--intervals"
        raise ConfigError(f"--split {args.split} chooses the run's own split; with {other} it would be ignored (those "
                          f"are scored instead). Leave --split out, or leave out {other}.")
    if args.segment is not None and args.warmup is None:
        raise ConfigError("--segment applies only with --warmup (segments are the lanes of warm-up evaluation; exact "
                          "streaming reads each interval in one lane). Add --warmup BASES, or leave --segment out.")
    given = [flag for flag, on in ((f"--iupac {args.iupac}", args.iupac is not None), ("--u-as-t", bool(args.u_as_t)),
                                   ("--format", args.input_format is not None)) if on]
    if given and not args.fasta:
        what = "--intervals of the run's genome" if args.intervals is not None else "the run's own split"
        verb, they, them = ("apply", "they", "them") if len(given) > 1 else ("applies", "it", "it")
        raise ConfigError(f"{', '.join(given)} {verb} only to FASTA files given to evaluate; {what} is read as the "
                          f"run was trained (its config.json), so {they} would be ignored. Leave {them} out, "
                          "or give FASTA files.")


def _write_report(args: argparse.Namespace, report, kind: str | None) -> None:
    """Print the report, then write it (--output) and its figure (--plot)."""
    with contextlib.redirect_stdout(human_stream(args.output)):
        _print_report(report, report.description)
    if kind == "json":
        report.to_json(args.output)
    elif kind == "tsv":
        report.to_tsv(args.output)
    if args.output is not None:
        print(f"wrote the report to {args.output}", file=human_stream(args.output))
    if args.plot is not None:
        from genorm.plots import plot_report

        plot_report(report, args.plot, title=report.description)
        print(f"wrote the figure to {args.plot}")


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
    for label, mode in meta.get("modes", {}).items():
        print(f"{label}: {mode}; {meta['bases_per_second'][label]:,.0f} bases/s")
    if "modes" in meta:
        print()
    print_table(report.summary)
    markov = [p for p in report.summary.predictor if p.startswith("markov")]
    shown = ["model", *meta.get("modes", {}).keys(), *markov]
    shown = list(dict.fromkeys(shown))
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
