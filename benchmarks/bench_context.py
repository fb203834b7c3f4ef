"""Context-model memory, A/B: the plain network vs the network that reads count models (issue 22).

    python benchmarks/bench_context.py --phase train    # train both models per genome at equal bases
    python benchmarks/bench_context.py --phase evaluate # val and test reports of every run
    python benchmarks/bench_context.py --phase table    # the README table from results.json
    python benchmarks/bench_context.py --phase speed    # bases/s: training plain vs counts, evaluation
                                                        # static vs updating counts (alone on the machine)

For each genome of ``sample_data/`` (the fly chromosome starts, the soft-masked vertebrate
segments, E. coli K-12) two runs train on the same number of bases (``--epochs`` x
``--bases-per-epoch``, early stopping off, same seed and defaults): ``plain`` (``--no-context``)
and ``counts`` (the default count models). Each is evaluated on its validation and test splits
without adaptive weights. The rows of the table:

* the plain network;
* the counts mixed without the network (``counts, static`` / ``counts, updating``: the orders mixed
  geometrically with weights learnt online per lane, :class:`genorm.mixer.CountStepper`);
* the network with counts (``model, static counts``; ``model, no online mix``: counts updated as it
  reads, the network's output alone; ``model``: the same mixed online with the count models,
  :mod:`genorm.mixer`, the default);
* the order-k Markov baseline of the run.

Bits per base and accuracy are machine-independent (budgets are in bases); bases/s need the
machine to itself (``--phase speed``). Results go to ``--workdir`` (``runs/bench-context``).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parents[1]
GENOMES = {
    "fly": ROOT / "sample_data" / "d_melanogaster_1pct_chromosomes.fa.gz",
    "vertebrate6": ROOT / "sample_data" / "vertebrate6_ucsc_softmasked_segments.fa.gz",
    "ecoli": ROOT / "sample_data" / "ecoli_K12_MG1655_NC_000913.3.fna.gz",
}
MODES = ("plain", "counts")
ROWS = [("plain network", "plain", "model"), ("counts mixed, static", "counts", "counts, static"),
        ("counts mixed, updating", "counts", "counts, updating"),
        ("network + counts, static", "counts", "model, static counts"),
        ("network + counts, updating, network's output alone", "counts", "model, no online mix"),
        ("network + counts, updating, mixed online (the default)", "counts", "model"),
        ("order-k Markov", "counts", "markov")]


def _config(args, mode: str):
    from genorm.config import TrainConfig

    extra = {} if mode == "counts" else {"context_orders": ()}
    if args.orders and mode == "counts":
        extra["context_orders"] = tuple(int(x) for x in args.orders.split(","))
    return TrainConfig(epochs=args.epochs, bases_per_epoch=args.bases_per_epoch, patience=args.epochs, seed=args.seed,
                       **extra)


def _load(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def train_all(args, results: dict) -> None:
    from genorm.training.trainer import train

    for genome in args.genomes:
        for mode in MODES:
            key, out = f"{genome}/{mode}", args.workdir / f"{genome}-{mode}"
            if results.get(key, {}).get("train"):
                continue
            began = time.time()
            run = train([str(GENOMES[genome])], _config(args, mode), out, force=True, verbose=2)
            results[key] = {"train": {**{k: v for k, v in run.summary.items() if isinstance(v, (int, float, str))},
                                      "seconds": time.time() - began}}
            _save(args, results)
            print(f"{key}: val {run.summary['val_bits']:.4f} bits/base, {run.summary['bases_trained']:,} bases, "
                  f"{run.summary['bases_per_second']:,.0f} bases/s", flush=True)


def evaluate_all(args, results: dict) -> None:
    import genorm
    from genorm.evaluation.evaluate import evaluate_run

    for genome in args.genomes:
        for mode in MODES:
            key = f"{genome}/{mode}"
            if "train" not in results.get(key, {}) or results[key].get("test"):
                continue
            run = genorm.load(args.workdir / f"{genome}-{mode}")
            for split in ("val", "test"):
                report = evaluate_run(run, split=split)
                table = report.summary.set_index("predictor")
                rows = {("markov" if p.startswith("markov") else p): {"bits": float(table.loc[p, "bits_per_base"]),
                                                                       "accuracy": float(table.loc[p, "accuracy"])}
                        for p in table.index}
                results[key][split] = {"rows": rows, "bases_per_second": report.meta.get("bases_per_second", {})}
                _save(args, results)
                print(f"{key} {split}: " + ", ".join(f"{p} {r['bits']:.4f}" for p, r in rows.items()), flush=True)


def table(args, results: dict) -> str:
    head = "| row | " + " | ".join(args.genomes) + " |\n|---|" + "---|" * len(args.genomes) + "\n"
    lines = []
    for label, mode, row in ROWS:
        cells = []
        for genome in args.genomes:
            r = results.get(f"{genome}/{mode}", {})
            val, test = r.get("val", {}).get("rows", {}).get(row), r.get("test", {}).get("rows", {}).get(row)
            cells.append("–" if test is None else
                         f"{test['bits']:.4f} ({100 * test['accuracy']:.1f} %; val {val['bits']:.4f})")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    text = head + "\n".join(lines)
    print("test bits/base (test accuracy; validation bits/base)\n" + text)
    return text


def speed(args) -> None:
    """Training bases/s of both models in interleaved rounds, then static vs updating evaluation, on E. coli."""
    import genorm
    from genorm.config import TrainConfig
    from genorm.evaluation.evaluate import evaluate_run
    from genorm.training.trainer import train

    path = str(GENOMES["ecoli"])
    figures = {m: [] for m in MODES}
    for round_ in range(args.rounds):
        for mode in MODES:
            cfg = TrainConfig(epochs=1, bases_per_epoch=args.speed_bases, seed=args.seed, baselines=False,
                              max_val_bases=20_000, **({} if mode == "counts" else {"context_orders": ()}))
            run = train([path], cfg, args.workdir / f"speed-{mode}", force=True)
            figures[mode].append(run.summary["bases_per_second"])
            print(f"round {round_ + 1} {mode}: {run.summary['bases_per_second']:,.0f} training bases/s", flush=True)
    best = {m: max(v) for m, v in figures.items()}
    print(f"training: plain {best['plain']:,.0f}, counts {best['counts']:,.0f} bases/s "
          f"(ratio {best['counts'] / best['plain']:.2f}; best of {args.rounds} interleaved rounds)")
    report = evaluate_run(genorm.load(args.workdir / "speed-counts"), split="val")
    bps = report.meta["bases_per_second"]
    print("evaluation (E. coli validation split, exact): " + ", ".join(f"{k} {v:,.0f}" for k, v in bps.items())
          + f" bases/s; the model (counts updating, mixed online) / static counts "
          f"{bps['model'] / bps['model, static counts']:.2f}; counts updating without the mixer / static counts "
          f"{bps['model, no online mix'] / bps['model, static counts']:.2f}")


def _save(args, results: dict) -> None:
    args.workdir.mkdir(parents=True, exist_ok=True)
    (args.workdir / "results.json").write_text(json.dumps(results, indent=1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--phase", choices=["train", "evaluate", "table", "all", "speed"], default="all")
    ap.add_argument("--genomes", default="fly,vertebrate6,ecoli")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--bases-per-epoch", type=int, default=2_000_000)
    ap.add_argument("--orders", default=None, help="count orders of the counts runs (default: genorm's)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workdir", type=Path, default=ROOT / "runs" / "bench-context")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--speed-bases", type=int, default=400_000)
    args = ap.parse_args()
    args.genomes = [g for g in args.genomes.split(",") if g]
    results = _load(args.workdir / "results.json")
    if args.phase == "speed":
        speed(args)
        return
    if args.phase in ("train", "all"):
        train_all(args, results)
    if args.phase in ("evaluate", "all"):
        evaluate_all(args, results)
    table(args, results)


if __name__ == "__main__":
    main()
