"""Longer memory, A/B: {independent windows, stateful lanes} x {static, adaptive evaluation}.

    .venv/bin/python benchmarks/bench_memory.py                      # train, evaluate, table
    .venv/bin/python benchmarks/bench_memory.py --phase speed        # bases/s of training and evaluation, alone
    .venv/bin/python benchmarks/bench_memory.py --phase table        # the table from saved results

For each genome (E. coli K-12, the soft-masked vertebrate segments and the fly chromosome
starts, all in ``sample_data/``) it trains two runs at **equal training compute**: the same
number of training bases (``--epochs`` x ``--bases-per-epoch``; early stopping off, so neither
stops sooner), the same defaults and seed, one with independent 200-base windows, one with
stateful lanes (``tbptt=True``). Each run is evaluated on its validation and its test split,
statically and adaptively (:mod:`genorm.evaluation.adapt`, its defaults). Choices are made on
**validation**; the test columns are the figures to report.

Figures that depend on the bases trained are the same on any machine (budgets are in bases,
not minutes); bases/s need the machine to itself: ``--phase speed`` times the two training
modes side by side, in interleaved rounds, on E. coli, then static and adaptive evaluation of
E. coli's validation split in one call. (The bases/s of the train and evaluate phases are
recorded too, but they are only as good as the machine was quiet.)

Results go to ``--workdir`` (``runs/bench-memory``): one run directory per genome and mode,
``results.json`` with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parents[1]
GENOMES = {
    "ecoli": ROOT / "sample_data" / "ecoli_K12_MG1655_NC_000913.3.fna.gz",
    "vertebrate6": ROOT / "sample_data" / "vertebrate6_ucsc_softmasked_segments.fa.gz",
    "fly": ROOT / "sample_data" / "d_melanogaster_1pct_chromosomes.fa.gz",
}
MODES = {"windows": False, "stateful": True}


def _config(args, genome: str, tbptt: bool):
    from genorm.config import TrainConfig

    epochs = args.epochs.get(genome, args.epochs["*"])
    return TrainConfig(epochs=epochs, bases_per_epoch=args.bases_per_epoch, patience=epochs, tbptt=tbptt,
                       seed=args.seed)


def train_all(args, results: dict) -> None:
    from genorm.training.trainer import train

    for genome in args.genomes:
        for mode, tbptt in MODES.items():
            out = args.workdir / f"{genome}-{mode}"
            key = f"{genome}/{mode}"
            if key in results and results[key].get("train"):
                print(f"{key}: trained before ({results[key]['train']['bases_trained']:,} bases)", flush=True)
                continue
            config = _config(args, genome, tbptt)
            start = time.monotonic()
            run = train([GENOMES[genome]], config, out_dir=out, force=True, verbose=0)
            s = run.summary
            results.setdefault(key, {})["train"] = {
                "bases_trained": s["bases_trained"], "val_bits": s["val_bits"], "val_accuracy": s["val_accuracy"],
                "best_epoch": s["best_epoch"], "bases_per_second": s["bases_per_second"],
                "seconds": time.monotonic() - start}
            print(f"{key}: {s['bases_trained']:,} bases, val {s['val_bits']:.4f} bits/base "
                  f"({s['bases_per_second']:,.0f} bases/s)", flush=True)
            _save(args, results)


def evaluate_all(args, results: dict) -> None:
    from genorm.evaluation.adapt import ADAPT_ROW, AdaptConfig
    from genorm.trained import load

    for genome in args.genomes:
        for mode in MODES:
            key = f"{genome}/{mode}"
            if results.get(key, {}).get("evaluate") and not args.again:
                continue
            run = load(args.workdir / f"{genome}-{mode}")
            figures = {}
            for split in ("val", "test"):
                report = run.evaluate(split=split, adapt=AdaptConfig())
                table = report.summary.set_index("predictor")
                rate = report.meta["bases_per_second"]
                for row, name in (("model", "static"), (ADAPT_ROW, "adaptive")):
                    figures[f"{split}/{name}"] = {"bits": float(table.loc[row, "bits_per_base"]),
                                                  "accuracy": float(table.loc[row, "accuracy"]),
                                                  "bases": int(table.loc[row, "bases"]),
                                                  "bases_per_second": float(rate[row])}
                markov = [p for p in table.index if p.startswith("markov")]
                if markov:
                    figures[f"{split}/markov"] = {"bits": float(table.loc[markov[0], "bits_per_base"]),
                                                  "accuracy": float(table.loc[markov[0], "accuracy"]),
                                                  "name": markov[0]}
            figures["adapt"] = report.meta.get("adapt")
            results.setdefault(key, {})["evaluate"] = figures
            t = figures["test/static"], figures["test/adaptive"]
            print(f"{key}: test static {t[0]['bits']:.4f}, adaptive {t[1]['bits']:.4f} bits/base", flush=True)
            _save(args, results)


def speed(args, results: dict) -> None:
    """Training bases/s of both modes on E. coli, interleaved rounds of ``--speed-bases`` each."""
    from genorm.config import TrainConfig
    from genorm.training.trainer import train

    rates = {mode: [] for mode in MODES}
    for r in range(args.rounds):
        for mode, tbptt in MODES.items():
            config = TrainConfig(epochs=1, bases_per_epoch=args.speed_bases, tbptt=tbptt, baselines=False)
            run = train([GENOMES["ecoli"]], config, out_dir=args.workdir / f"speed-{mode}", force=True, verbose=0)
            rates[mode].append(run.summary["bases_per_second"])
            print(f"round {r + 1} {mode}: {rates[mode][-1]:,.0f} bases/s", flush=True)
    results["speed"] = {mode: {"bases_per_second": v, "median": sorted(v)[len(v) // 2]} for mode, v in rates.items()}
    results["speed"]["ratio"] = results["speed"]["stateful"]["median"] / results["speed"]["windows"]["median"]
    run_dir = args.workdir / "ecoli-windows"
    if run_dir.is_dir():  # evaluation: static and adaptive over the same bases, in one call
        from genorm.evaluation.adapt import ADAPT_ROW, AdaptConfig
        from genorm.trained import load

        report = load(run_dir).evaluate(split="val", adapt=AdaptConfig())
        rate = report.meta["bases_per_second"]
        results["speed"]["evaluate"] = {"static": rate["model"], "adaptive": rate[ADAPT_ROW],
                                        "ratio": rate[ADAPT_ROW] / rate["model"],
                                        "bases": int(report.summary.bases.iloc[0])}
        print(f"evaluation of E. coli's validation split: static {rate['model']:,.0f} bases/s, adaptive "
              f"{rate[ADAPT_ROW]:,.0f} bases/s", flush=True)
    _save(args, results)


def table(args, results: dict) -> str:
    lines = ["| genome | training | val static | val adaptive | test static | test adaptive | test accuracy "
             "(static / adaptive) | adaptive gain (test) | eval bases/s (static / adaptive) |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for genome in args.genomes:
        for mode in MODES:
            r = results.get(f"{genome}/{mode}", {})
            e = r.get("evaluate")
            if not e:
                continue
            vs, va, ts, ta = e["val/static"], e["val/adaptive"], e["test/static"], e["test/adaptive"]
            gain = 100 * (ts["bits"] - ta["bits"]) / ts["bits"]
            lines.append(f"| {genome} | {mode} ({r['train']['bases_trained'] / 1e6:.0f} M bases) | {vs['bits']:.4f} | "
                         f"{va['bits']:.4f} | {ts['bits']:.4f} | {ta['bits']:.4f} | {100 * ts['accuracy']:.2f} % / "
                         f"{100 * ta['accuracy']:.2f} % | {gain:.1f} % | {ts['bases_per_second']:,.0f} / "
                         f"{ta['bases_per_second']:,.0f} |")
        m = results.get(f"{genome}/windows", {}).get("evaluate", {}).get("test/markov")
        if m:
            lines.append(f"| {genome} | {m['name']} baseline | | | {m['bits']:.4f} | | {100 * m['accuracy']:.2f} % | | |")
    if "speed" in results:
        s = results["speed"]
        lines.append(f"\ntraining bases/s on E. coli (median of {len(s['windows']['bases_per_second'])} interleaved "
                     f"rounds): windows {s['windows']['median']:,.0f}, stateful {s['stateful']['median']:,.0f} "
                     f"(ratio {s['ratio']:.2f})")
        if "evaluate" in s:
            ev = s["evaluate"]
            lines.append(f"evaluation bases/s on E. coli's validation split ({ev['bases']:,} bases): static "
                         f"{ev['static']:,.0f}, adaptive {ev['adaptive']:,.0f} (ratio {ev['ratio']:.2f})")
    return "\n".join(lines)


def _save(args, results: dict) -> None:
    path = args.workdir / "results.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=1, default=float))
    tmp.replace(path)


def _epochs(text: str) -> dict:
    out = {"*": 8}
    for part in text.split(","):
        name, _, value = part.rpartition("=")
        out[name or "*"] = int(value)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--phase", choices=["all", "train", "evaluate", "speed", "table"], default="all")
    p.add_argument("--genomes", default="ecoli,vertebrate6,fly")
    p.add_argument("--epochs", type=_epochs, default=_epochs("8"),
                   help="epochs per run, e.g. 8 or 'ecoli=8,vertebrate6=3,fly=3' (default 8)")
    p.add_argument("--bases-per-epoch", type=int, default=2_000_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--speed-bases", type=int, default=1_000_000)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--again", action="store_true", help="evaluate again runs evaluated before")
    p.add_argument("--workdir", type=Path, default=ROOT / "runs" / "bench-memory")
    args = p.parse_args(argv)
    args.genomes = [g for g in args.genomes.split(",") if g]
    unknown = [g for g in args.genomes if g not in GENOMES]
    if unknown:
        p.error(f"unknown genome(s) {unknown}; known: {', '.join(GENOMES)}")
    args.workdir.mkdir(parents=True, exist_ok=True)
    path = args.workdir / "results.json"
    results = json.loads(path.read_text()) if path.is_file() else {}
    if args.phase in ("all", "train"):
        train_all(args, results)
    if args.phase in ("all", "evaluate"):
        evaluate_all(args, results)
    if args.phase == "speed":
        speed(args, results)
    print(table(args, results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
