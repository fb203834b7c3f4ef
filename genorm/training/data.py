"""The data a run trains on: the inputs checked and recorded, the genome read and split, the
validation batches, and the checks that refuse a run with nothing to learn (before anything is
written). :func:`set_up_data` is the first step of :func:`genorm.training.trainer.train`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genorm.config import RESUMABLE, TrainConfig
from genorm.errors import ConfigError
from genorm import rundir

logger = logging.getLogger(__name__)


def load_genome(fasta_paths: Sequence[str], config: TrainConfig, progress=None):
    """The genome of ``fasta_paths`` as ``config`` reads it (through the on-disk cache if available)."""
    try:
        from genorm.genome.cache import cached_genome
    except ImportError:  # pragma: no cover - the cache module is optional
        cached_genome = None
    records = list(config.records) if config.records else None
    if cached_genome is not None:
        return cached_genome(list(fasta_paths), policy=config.policy(), records=records, progress=progress)
    from genorm.genome.array import read_genome

    return read_genome(list(fasta_paths), policy=config.policy(), records=records, progress=progress)


def check_inputs(fasta_paths, config: TrainConfig) -> tuple[list[str], Any]:
    """The input paths, or ``([], genome)`` for in-memory records (SeqRecords or (name, sequence) pairs)."""
    from genorm.reading import records as reading

    if isinstance(fasta_paths, (list, tuple)) and not fasta_paths:
        raise ConfigError("No FASTA file given: genorm train needs at least one genome file.")
    fasta_paths = reading.as_sources(fasta_paths, name="fasta_paths")
    if reading.is_in_memory(fasta_paths):
        from genorm.genome.array import read_genome

        return [], read_genome(fasta_paths, policy=config.policy(),
                               records=list(config.records) if config.records else None)
    paths = [str(p) for p in fasta_paths]
    if not paths:
        raise ConfigError("No FASTA file given: genorm train needs at least one genome file.")
    from genorm.reading.sources import require_regular_file

    for p in paths:
        require_regular_file(p, "genorm train records each input's path and SHA-256 so that evaluate and --resume "
                                "can re-read it")
        if p == "-":
            raise ConfigError("genorm train cannot read standard input ('-'): the run records each input's path "
                              "and SHA-256 so that it can be re-read; save the FASTA to a file first.")
    return paths, None


def _provenance(paths: list[str], genome, splits, config: TrainConfig, inputs: list[dict]) -> dict:
    return {
        "format_version": rundir.FORMAT_VERSION,
        "inputs": inputs,
        "records": [{"name": n, "length": int(l)} for n, l in zip(genome.names, genome.lengths.tolist())],
        "encoding_policy": genome.policy.to_dict() if hasattr(genome.policy, "to_dict") else {},
        "split_sha256": splits.sha256(),
        "split_bases": splits.bases(),
        "seed": config.seed,
        "versions": rundir.versions(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "status": "running",
    }


def _weighted_targets(genome, intervals, soft_mask_weight: float, block: int = 1 << 20) -> tuple[int, int, int]:
    """``(weighted, soft_masked, with_n)`` target counts of ``intervals``, as the window stream weighs them.

    A target (every base of an interval but its first) carries weight when it and the base before it
    are A/C/G/T and, if it is soft-masked, ``soft_mask_weight > 0``. Stops at the first block that
    has a weighted target, so a usual genome costs one block.
    """
    from genorm.encoding import CODE_BITS, N, SOFT_MASK_FLAG

    weighted = soft = with_n = 0
    for iv in intervals:
        record = genome.packed_record(iv.record)
        for a in range(iv.start, iv.end - 1, block):
            packed = record[a:min(a + block + 1, iv.end)]
            codes = packed & CODE_BITS
            ok = (codes[1:] != N) & (codes[:-1] != N)
            masked = ok & ((packed[1:] & SOFT_MASK_FLAG) > 0)
            with_n += int(ok.size - ok.sum())
            soft += int(masked.sum())
            weighted += int(ok.sum()) - (0 if soft_mask_weight > 0 else int(masked.sum()))
            if weighted:
                return weighted, soft, with_n
    return weighted, soft, with_n


def check_targets_carry_weight(genome, splits, config: TrainConfig) -> None:
    """Refuse to train when no training, or no validation, target carries loss weight.

    Such a run would learn nothing and report a loss of 0 (0.0000 bits/base) or NaN as its result.

    Raises:
        SplitError: every target of the split is N, follows an N, or is soft-masked with
            ``soft_mask_weight == 0``.
    """
    from genorm.errors import SplitError

    for name, intervals in (("training", splits.train), ("validation", splits.val)):
        weighted, soft, with_n = _weighted_targets(genome, intervals, config.soft_mask_weight)
        if weighted:
            continue
        why = [f"{soft:,} are soft-masked (lower case) and --soft-mask-weight is 0"] if soft else []
        why += [f"{with_n:,} are N or follow an N"] if with_n else []
        advice = "use --soft-mask-weight > 0 (e.g. 1) to learn from lower-case bases" if soft \
            else "check the input, or choose other records with --records"
        raise SplitError(f"No {name} target carries any weight ({'; '.join(why) or 'the split has no targets'}): "
                         f"the model would learn nothing and report a meaningless loss. Nothing was trained; "
                         f"{advice}.")


def _check_resume(out: Path, config: TrainConfig, inputs: list[dict]) -> dict:
    saved = TrainConfig.from_saved(rundir.read_config_dict(out), out / rundir.CONFIG)
    diff = [k for k, v in config.to_dict().items() if k not in RESUMABLE and saved.to_dict().get(k) != v]
    if diff:
        shown = ", ".join(f"{k}: {saved.to_dict()[k]!r} -> {config.to_dict()[k]!r}" for k in diff)
        raise ConfigError(f"Cannot resume {out} with different options ({shown}). Resume with the run's own "
                          f"options (they are in {out / rundir.CONFIG}), or start a new run.")
    prov = rundir.read_json(out / rundir.PROVENANCE, "inputs, versions and seed")
    old = [(i.get("sha256"), i.get("size")) for i in prov.get("inputs", [])]
    new = [(i["sha256"], i["size"]) for i in inputs]
    if old != new:
        raise ConfigError(f"Cannot resume {out}: the input FASTA file(s) differ from the ones the run started "
                          f"with (sizes/SHA-256 in {out / rundir.PROVENANCE}).")
    return prov


@dataclass
class Data:
    """What :func:`set_up_data` prepared: the genome, its split, the validation lanes, the provenance."""

    paths: list[str]
    genome: Any
    splits: Any
    val_lanes: Any
    prov: dict
    counts: Any = None
    """The training split's :class:`~genorm.counts.CountTables` (None: the plain network)."""


def _inputs(paths, preloaded) -> tuple[list[str], list[dict]]:
    """``(paths, inputs)``: the input files and their provenance (path, size, SHA-256), or for in-memory
    records the names, lengths and SHA-256 of the encoded sequence."""
    if preloaded is None:
        return paths, [rundir.file_info(p) for p in paths]
    from genorm.reading.records import IN_MEMORY, in_memory_provenance

    return [IN_MEMORY], [in_memory_provenance(preloaded)]


def _read_and_split(paths, config: TrainConfig, progress, preloaded):
    """``(genome, splits)``: the genome read (or given) and split, refused when there is nothing to
    learn from or no validation split."""
    from genorm.genome.splits import make_splits

    genome = load_genome(paths, config, progress) if preloaded is None else preloaded
    if genome.total_length and sum(s.n for s in genome.stats) >= genome.total_length:
        from genorm.errors import SplitError

        raise SplitError(f"{', '.join(paths)}: every base is N (or an ambiguity code read as N): there is nothing to "
                         "learn from. Check the file, or choose other records with --records.")
    splits = make_splits(genome, config.window, val_fraction=config.val_fraction,
                         test_fraction=config.test_fraction, val_records=config.val_records,
                         test_records=config.test_records, seed=config.seed)
    if not splits.val:
        raise ConfigError("The validation split is empty: training needs one to choose the best model. Set "
                          "--val-fraction > 0 or name --val-records.")
    return genome, splits


def set_up_data(paths, config: TrainConfig, out: Path, resume: bool, progress, preloaded, dist) -> Data:
    """Read and split the genome, check it has something to learn, and write ``splits.bed``, the
    baselines (fresh runs), ``config.json`` and ``provenance.json``. Every check runs before any write."""
    paths, inputs = _inputs(paths, preloaded)
    prov = _check_resume(out, config, inputs) if resume else None
    genome, splits = _read_and_split(paths, config, progress, preloaded)
    check_targets_carry_weight(genome, splits, config)
    from genorm.training.validation import plan_validation

    val_lanes = plan_validation(splits.val, config.max_val_bases)
    if resume:
        if prov.get("split_sha256") != splits.sha256():
            raise ConfigError(f"Cannot resume {out}: the split differs from the saved one ({out / rundir.SPLITS}).")
        prov["status"] = "running"
        prov.setdefault("resumed", []).append(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    else:
        prov = _provenance(paths, genome, splits, config, inputs)
        splits.to_bed(out / rundir.SPLITS)
        if config.baselines:
            _fit_baselines(genome, splits, out)
    counts = _count_tables(genome, splits, config, out, prov, resume)
    prov["distribution"] = {"strategy": dist.name, "replicas": dist.replicas, "workers": dist.cluster.num_workers}
    rundir.write_config(out, config)
    rundir.write_json(out / rundir.PROVENANCE, prov)
    return Data(paths=paths, genome=genome, splits=splits, val_lanes=val_lanes, prov=prov, counts=counts)


def training_pieces(genome, splits) -> list:
    """Codes ``(L_i,) uint8`` of every training interval (views of the genome: no copy)."""
    return [genome.packed_record(iv.record)[iv.start:iv.end] for iv in splits.train]


def _count_tables(genome, splits, config: TrainConfig, out: Path, prov: dict, resume: bool):
    """The count tables the model reads: built once from the training split and saved in the run
    directory (recorded in ``prov``), or, on resume, the saved ones checked against the provenance."""
    count_config = config.count_config()
    if count_config is None:
        return None
    if resume and "counts" in prov:
        return rundir.load_counts(out, prov)
    from genorm.counts import CountTables

    t = time.monotonic()
    tables = CountTables.build(training_pieces(genome, splits), count_config)
    prov["counts"] = rundir.save_counts(out, tables)
    logger.info("Count tables of orders %s built in %.1f s (%s MB).", ",".join(map(str, tables.orders)),
                time.monotonic() - t, f"{tables.nbytes / 1e6:,.0f}")
    return CountTables.load(out / rundir.COUNTS)  # memory-mapped: shared by every reader of the run


def _fit_baselines(genome, splits, out: Path) -> None:
    try:
        from genorm.baselines import fit_baselines
    except ImportError:  # pragma: no cover
        return
    from genorm.errors import GenormError

    t = time.monotonic()
    try:
        fit_baselines(genome, splits).save(out / rundir.BASELINES)
    except GenormError as exc:
        logger.warning("Baselines not fitted: %s", exc)
        return
    logger.info("Baselines fitted in %.1f s.", time.monotonic() - t)


