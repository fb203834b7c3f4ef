"""``genorm predict``, ``score`` and ``generate``: a trained run's analysis API on the command line."""

from __future__ import annotations

import argparse

from genorm.cli.common import Formatter, adapt_from_args, add_adapt_options, add_policy_options, \
    format_from_args, human_stream, policy_from_args, \
    positive_int, print_table, progress_bar, records_from_args, seed


def _load_predictor(args: argparse.Namespace):
    from genorm.predict import Predictor
    from genorm.trained import load

    adapt = adapt_from_args(args) if hasattr(args, "adapt") else None  # before loading the model
    run = load(args.run_dir)
    policy = policy_from_args(args, run.config.policy()) if hasattr(args, "iupac") else run.config.policy()
    return Predictor(run.stepper(), policy=policy, adapt=adapt)  # as run.predictor(), with the options given


def add_predict(sub) -> None:
    p = sub.add_parser(
        "predict", formatter_class=Formatter,
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
    add_adapt_options(p)
    add_policy_options(p, format_flag="--input-format")
    p.set_defaults(func=cmd_predict)


def cmd_predict(args: argparse.Namespace) -> int:
    from genorm.atomic import check_output
    from genorm.rundir import run_files
    from genorm.predict import require_pybigtools, track_format, write_track

    fmt = track_format(args.output, args.format)
    check_output(args.output, inputs=args.fasta, protected=run_files(args.run_dir), stdout=fmt != "bigwig")  # first
    if fmt == "bigwig":
        require_pybigtools()  # before loading the model
    predictor = _load_predictor(args)
    with progress_bar("Mb", every=10) as bar:
        n = write_track(predictor, args.fasta, args.output, fmt, records=records_from_args(args),
                        progress=lambda name, done, total: bar(done, total, name), input_format=format_from_args(args))
    print(f"wrote {fmt} predictions for {n:,} bases to {args.output}", file=human_stream(args.output))
    return 0


def add_score(sub) -> None:
    p = sub.add_parser(
        "score", formatter_class=Formatter,
        help="log-likelihood of each FASTA record under a trained model",
        description="One row per record: record, length, bases_scored (non-N), log2_likelihood (bits, summed), "
                    "bits_per_base.",
    )
    p.add_argument("run_dir", help="run directory written by `genorm train`")
    p.add_argument("fasta", nargs="+", help="FASTA file(s); '-' reads standard input")
    p.add_argument("-o", "--output", default=None,
                   help="also write the table as TSV to this file ('-': standard output, the table then goes to stderr)")
    add_adapt_options(p)
    add_policy_options(p)
    p.set_defaults(func=cmd_score)


def cmd_score(args: argparse.Namespace) -> int:
    from genorm.atomic import atomic_open, check_output
    from genorm.rundir import run_files

    if args.output is not None:
        check_output(args.output, inputs=args.fasta, protected=run_files(args.run_dir))
    predictor = _load_predictor(args)
    df = predictor.score_records(args.fasta, records=records_from_args(args), format=format_from_args(args))
    print_table(df, out=human_stream(args.output))
    if args.output is not None:
        with atomic_open(args.output, "w", encoding="utf-8", newline="") as handle:
            df.to_csv(handle, sep="\t", index=False, float_format="%.6f", na_rep="NA")
    return 0


def add_generate(sub) -> None:
    p = sub.add_parser(
        "generate", formatter_class=Formatter,
        help="sample a sequence from a trained model, as FASTA",
        description="Samples --length bases that follow --prime (the prime is not included in the output).",
    )
    p.add_argument("run_dir", help="run directory written by `genorm train`")
    p.add_argument("--length", type=positive_int, required=True, help="bases to generate")
    p.add_argument("--prime", default="", help="sequence the model reads before sampling")
    p.add_argument("--temperature", type=float, default=1.0, help="> 1 flatter, < 1 sharper, 0 = always the most probable base")
    p.add_argument("--seed", type=seed, default=None, help="random seed, for a reproducible sample")
    p.add_argument("--name", default="genorm_sample", help="FASTA record name (no whitespace or control characters)")
    p.add_argument("-o", "--output", default=None, help="FASTA file to write (default, or '-': standard output)")
    p.set_defaults(func=cmd_generate)


def cmd_generate(args: argparse.Namespace) -> int:
    import io

    from genorm.atomic import atomic_open, check_field, check_output, escape_text, is_stdout
    from genorm.rundir import run_files
    from genorm.reading.records import write_fasta

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
