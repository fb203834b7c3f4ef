"""``genorm train``: train a model on FASTA file(s) and write a run directory.

Every training option is a :class:`~genorm.config.TrainConfig` (or ModelConfig) field: its flag's
type, default and help text are read from the dataclass and its ``Attributes:`` documentation,
so the help cannot drift from the library.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import inspect
import os
import re
import sys

from genorm.cli.common import EXIT_INTERRUPTED, progress_bar, progress_mode

# The flags of the training options, grouped as `genorm train --help` shows them: (flag, TrainConfig field).
# The type, default and help of each come from TrainConfig / ModelConfig.
TRAIN_OPTIONS = [
    ("model", [("--cell", "cell"), ("--units", "units"), ("--layers", "layers"), ("--dropout", "dropout")]),
    ("training", [
        ("--window", "window"), ("--batch-size", "batch_size"), ("--epochs", "epochs"),
        ("--bases-per-epoch", "bases_per_epoch"), ("--learning-rate", "learning_rate"), ("--clipnorm", "clipnorm"),
        ("--lr-patience", "lr_patience"), ("--patience", "patience"), ("--max-time", "max_time"), ("--seed", "seed"),
        ("--rc-augment", "rc_augment"), ("--soft-mask-weight", "soft_mask_weight"),
        ("--max-n-fraction", "max_n_fraction"), ("--tbptt", "tbptt"), ("--walk", "walk"),
        ("--tensorboard", "tensorboard"), ("--strategy", "strategy"),
    ]),
    ("splits", [
        ("--val-fraction", "val_fraction"), ("--test-fraction", "test_fraction"), ("--val-records", "val_records"),
        ("--test-records", "test_records"), ("--max-val-bases", "max_val_bases"),
    ]),
    ("count models (the network reads what order-k counts predict; genorm.counts)", [
        ("--context-orders", "context_orders"), ("--context-strands", "context_strands"),
        ("--context-max-bytes", "context_max_bytes"), ("--context-mix", "context_mix"),
    ]),
    ("reading FASTA", [("--records", "records"), ("--iupac", "iupac"), ("--u-as-t", "u_as_t")]),
]


def field_docs(cls) -> dict[str, str]:
    """Each field's text in the ``Attributes:`` section of a dataclass docstring, as plain help text.

    reST markup is removed, and the defaults the text states ("Default 200.", "(default 128)")
    are dropped: the parser shows the dataclass' real default instead.
    """
    doc = inspect.cleandoc(cls.__doc__ or "")
    docs: dict[str, str] = {}
    names: list[str] = []
    for line in doc.split("Attributes:", 1)[-1].splitlines()[1:]:
        entry = re.match(r"^    ([a-z_]+(?:, [a-z_]+)*): (.*)$", line)
        if entry:
            names = entry.group(1).split(", ")
            for name in names:
                docs[name] = entry.group(2)
        elif line.startswith("        ") and names:
            for name in names:
                docs[name] += " " + line.strip()
        else:
            break
    return {name: _plain(text) for name, text in docs.items()}


def _plain(text: str) -> str:
    text = re.sub(r":\w+:`~([\w.]+)`", lambda m: m.group(1).rsplit(".", 1)[-1], text)
    text = re.sub(r":\w+:`([^`]+)`", r"\1", text).replace("``", "")
    text = re.sub(r"\s*\(default\b[^)]*\)", "", text)
    sentences = [s for s in re.split(r"(?<=\.)\s+", text) if not re.match(r"Defaults?\b", s)]
    return " ".join(sentences).rstrip(".").replace("%", "%%")


def _kind(annotation: str):
    """The argparse type of a field from its annotation: "names" for tuples of record names."""
    if "tuple" in annotation:
        return "names"
    return {"bool": bool, "int": int, "float": float}.get(annotation.split(" ")[0], str)


def train_fields() -> dict[str, tuple[object, object, str]]:
    """``{field: (kind, default, help)}`` of every TrainConfig and ModelConfig field."""
    from genorm.config import ModelConfig, TrainConfig

    out = {}
    for cls in (ModelConfig, TrainConfig):
        docs, defaults = field_docs(cls), cls()
        for f in dataclasses.fields(cls):
            out[f.name] = (_kind(str(f.type)), getattr(defaults, f.name), docs.get(f.name, ""))
    return out


def add_train(sub) -> None:
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
    p.add_argument("--no-context", dest="no_context", action="store_true", default=argparse.SUPPRESS,
                   help="the plain network, without count models (the same as --context-orders '')")
    p.add_argument("--no-mix", dest="no_mix", action="store_true", default=argparse.SUPPRESS,
                   help="the network's output alone, without the online mixer (the same as --context-mix 0)")
    _add_options(p, train_fields())
    p.set_defaults(func=cmd_train)


def _add_options(p: argparse.ArgumentParser, fields: dict) -> None:
    """One flag per entry of TRAIN_OPTIONS, unset unless given (so --config and --resume can fill it)."""
    for title, options in TRAIN_OPTIONS:
        g = p.add_argument_group(title)
        for flag, name in options:
            kind, default, text = fields[name]
            if kind == "names":
                text = "comma-separated " + text
            if kind is bool:
                g.add_argument(flag, dest=name, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS,
                               help=f"{text} (default: {'on' if default else 'off'})")
                continue
            shown = "none" if default is None else ",".join(map(str, default)) if isinstance(default, tuple) else default
            g.add_argument(flag, dest=name, type=(str if kind == "names" else kind), default=argparse.SUPPRESS,
                           metavar=name.upper().replace("_", "-") if kind != "names" else "NAMES",
                           help=f"{text} (default: {shown})")


def _options_of(obj, path: str):
    """The options of a --config file: the object itself, or, for a run's own ``config.json``
    (``{"format_version": 1, "config": {...}}``, what genorm train writes), its ``config``."""
    from genorm.errors import ConfigError
    from genorm.rundir import FORMAT_VERSION

    if not (isinstance(obj, dict) and "format_version" in obj and "config" in obj):
        return obj
    version, extra = obj["format_version"], sorted(set(obj) - {"format_version", "config"})
    if extra or not isinstance(version, int) or isinstance(version, bool) or not isinstance(obj["config"], dict):
        raise ConfigError(f"--config {path} looks like a run's config.json (format_version and config) but is not "
                          "one genorm wrote"
                          + (f" (it also holds {extra})" if extra else "") +
                          ": give the options as one JSON object, e.g. {\"units\": 64}, or a run's config.json as is.")
    if version > FORMAT_VERSION:
        raise ConfigError(f"--config {path} is a run's config.json of format version {version}, newer than this "
                          f"genorm understands ({FORMAT_VERSION}); upgrade genorm to read it.")
    return obj["config"]


def train_config_from_args(args: argparse.Namespace):
    """The TrainConfig of a `genorm train` command: defaults < --config FILE < (with --resume) the run's
    config.json < flags."""
    from genorm.config import TrainConfig
    from genorm.errors import ConfigError

    config = TrainConfig()
    if args.config is not None:
        from genorm.jsonio import read_json_file

        config = TrainConfig.from_dict(_options_of(read_json_file(args.config, f"--config {args.config}", ConfigError,
                                                                  expect=None), args.config))
    if args.resume and args.out:
        from genorm.trained import read_config
        from genorm.rundir import CONFIG

        if os.path.isfile(os.path.join(args.out, CONFIG)):
            config = read_config(args.out)
    kinds = {name: kind for name, (kind, _, _) in train_fields().items()}
    changes = {}
    for _, options in TRAIN_OPTIONS:
        for _, name in options:
            if hasattr(args, name):
                value = getattr(args, name)
                if kinds[name] == "names":
                    value = [v.strip() for v in value.split(",") if v.strip()]
                changes[name] = value
    if hasattr(args, "baselines"):
        changes["baselines"] = args.baselines
    if getattr(args, "no_context", False):
        if changes.get("context_orders"):
            raise ConfigError("--no-context and --context-orders exclude each other: give one.")
        changes["context_orders"] = ()
    if getattr(args, "no_mix", False):
        if changes.get("context_mix"):
            raise ConfigError("--no-mix and --context-mix exclude each other: give one.")
        changes["context_mix"] = 0.0
    config = config.replace(**changes)
    if "walk" in changes and not config.tbptt:  # it would be ignored
        raise ConfigError(f"--walk {changes['walk']} applies only to stateful training (how many windows a row walks "
                          "before its state is reset): add --tbptt, or leave --walk out.")
    return config


def default_out(fasta: str) -> str:
    """--out when not given: runs/<name of the FASTA file without its extensions>."""
    name = os.path.basename(fasta)
    for ext in (".gz", ".bgz", ".fasta", ".fa", ".fna", ".fas"):
        if name.endswith(ext):
            name = name[: -len(ext)]
    for ext in (".fasta", ".fa", ".fna", ".fas"):
        if name.endswith(ext):
            name = name[: -len(ext)]
    return os.path.join("runs", name or "genome")


def cmd_train(args: argparse.Namespace) -> int:
    import shlex

    from genorm.training.trainer import train

    out = args.out if args.out is not None else default_out(args.fasta[0])
    args.out = out
    config = train_config_from_args(args)
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
    _print_summary(run.summary, config, out, resume_cmd)
    return 0


def _print_summary(s: dict, config, out: str, resume_cmd: str) -> None:
    """What the run reached, and the next commands to run."""
    import shlex

    from genorm.training.trainer import compare_with_markov

    if not s.get("is_chief", True):
        print(f"\nworker done ({s['epochs']} epochs, {s['bases_trained']:,} bases in all); the chief wrote the run "
              f"to {out}")
        return
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
