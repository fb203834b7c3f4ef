"""Context-model memory end to end (issue 22): the network reads count features, trained leave-one-out,
streamed predict-then-update; the run directory holds the tables; the CLI options and their errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from genorm.config import ModelConfig, TrainConfig
from genorm.errors import ConfigError, RunDirError

RNG = np.random.default_rng(11)


def _random(n: int) -> str:
    return "".join(RNG.choice(list("ACGT"), n))


UNIT = _random(250)
# a repeat family: nine copies between random spacers in training, so the network learns what counts mean;
# the test split (the last 400 bases) is one more copy: counts remember it, a GRU of 8 units cannot
REPEAT = "".join(_random(150) + UNIT for _ in range(9)) + UNIT + UNIT[:150]
TINY = dict(model=ModelConfig(units=8, layers=1), window=40, batch_size=16, epochs=2, bases_per_epoch=16 * 40 * 15,
            learning_rate=1e-2, max_val_bases=2000, seed=1, val_fraction=0.05, test_fraction=0.1, baselines=False)
ORDERS = (1, 2, 3, 4, 6, 8, 12, 16)


@pytest.fixture(scope="module")
def repeat_runs(tmp_path_factory):
    """The same tiny network trained on the repeat genome with and without count models."""
    from genorm.training.trainer import train

    root = tmp_path_factory.mktemp("context")
    fasta = root / "repeat.fa"
    fasta.write_text(">r\n" + REPEAT + "\n")
    counts = train([fasta], TrainConfig(**TINY, context_orders=ORDERS), out_dir=root / "counts")
    plain = train([fasta], TrainConfig(**TINY, context_orders=()), out_dir=root / "plain")
    return fasta, root / "counts", root / "plain", counts, plain


def test_the_second_copy_of_a_repeat_is_predicted_far_better_with_counts(repeat_runs):
    import genorm

    _, counts_dir, plain_dir, _, _ = repeat_runs
    with_counts, without = genorm.load(counts_dir), genorm.load(plain_dir)
    test = with_counts.splits.test[0]
    copy = REPEAT[test.start:test.end]
    bits = {name: -np.mean(run.predictor().log2_probs(copy)[20:]) for name, run in
            (("counts", with_counts), ("plain", without))}
    assert bits["plain"] > 1.8, bits  # a random sequence to a GRU of 8 units
    assert bits["counts"] < 0.6, bits  # the count models saw it in training
    report = with_counts.evaluate()
    table = report.summary.set_index("predictor")["bits_per_base"]
    assert table["model"] < 0.8 and table["model"] < table["counts, static"] + 0.5, table
    assert {"model, static counts", "counts, updating", "counts, static"} <= set(table.index)


def test_the_run_directory_holds_the_tables_checked_against_provenance(repeat_runs, tmp_path):
    import genorm

    _, counts_dir, _, _, _ = repeat_runs
    run = genorm.load(counts_dir)
    assert run.config.context_orders == ORDERS and run.config.model.context == 5 * len(ORDERS)
    assert isinstance(run.counts.tables[0], np.memmap)
    prov = json.loads((counts_dir / "provenance.json").read_text())["counts"]
    assert prov["orders"] == list(ORDERS) and "order_16.npy" in prov["files"]
    proba = run.predict_proba("ACGTACGTTTGACA")
    assert proba.shape == (14, 4) and np.allclose(proba.sum(1), 1, atol=1e-5)

    damaged = tmp_path / "damaged"
    shutil.copytree(counts_dir, damaged)
    table = damaged / "counts" / "order_08.npy"
    data = bytearray(table.read_bytes())
    data[-1] ^= 1
    table.write_bytes(bytes(data))
    with pytest.raises(RunDirError, match=r"order_08\.npy has changed since training .* the count tables are damaged "
                                          r"or were replaced\. Train the run again"):
        genorm.load(damaged)
    table.unlink()
    with pytest.raises(RunDirError, match=r"order_08\.npy is missing: the run's count tables are incomplete"):
        genorm.load(damaged)


def test_chunked_streaming_with_counts_equals_one_pass(repeat_runs):
    import genorm
    from genorm.predict import Predictor

    run = genorm.load(repeat_runs[1])
    seq = REPEAT[3000:3500]
    one = Predictor(run.stepper(), chunk=10_000).predict_proba(seq)
    for chunk in (1, 7, 64):
        np.testing.assert_allclose(Predictor(run.stepper(), chunk=chunk).predict_proba(seq), one, atol=1e-5)


def test_training_features_are_the_leave_one_out_features_of_the_interval():
    """The stream gives each window the features a whole-interval leave-one-out pass gives its positions."""
    from genorm.batches.dataset import make_dataset
    from genorm.batches.windows import StreamConfig
    from genorm.counts import CountConfig, CountTables
    from genorm.genome.array import Genome
    from genorm.genome.splits import Interval

    genome = Genome.from_strings({"x": REPEAT[:3000]})
    tables = CountTables.build([genome.packed_record(0)[:3000]], CountConfig(orders=(1, 3, 5)))
    cfg = StreamConfig(window=50, batch_size=8, shuffle=False)
    (codes, context), _, _ = next(iter(make_dataset(genome, [Interval(0, 0, 3000)], cfg, repeat=False,
                                                    counts=tables)))
    whole = tables.train_features(genome.packed_record(0)[:3000])
    for row in range(8):
        start = row * 50
        np.testing.assert_array_equal(context.numpy()[row], whole[start:start + 50])


@pytest.mark.parametrize("argv, message", [
    (["--no-context", "--context-orders", "1,2"], "--no-context and --context-orders exclude each other"),
    (["--context-orders", "2,1"], r"`orders`, expected"),
    (["--context-orders", "0"], r"`orders`, expected"),
    (["--context-strands", "sideways"], r"`context_strands`, expected one of both, forward, got 'sideways'"),
    (["--context-max-bytes", "100"], r"max_bytes"),
    (["--context-strands", "forward", "--rc-augment"], r"--rc-augment reads reverse-strand windows, whose occurrences "
                                                       r"forward-strand count models do not hold"),
])
def test_cli_context_options_and_their_errors(argv, message, tmp_path, capsys):
    from genorm.cli import main

    fasta = tmp_path / "x.fa"
    fasta.write_text(">x\n" + REPEAT + "\n")
    assert main(["train", str(fasta), "--out", str(tmp_path / "run"), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    import re

    assert re.search(message, err), err
    assert not (tmp_path / "run" / "config.json").exists()


def test_a_run_saved_before_count_models_loads_as_the_plain_network():
    saved = TrainConfig(context_orders=()).to_dict()
    del saved["context_orders"]
    config = TrainConfig.from_saved(saved, "RUN/config.json")
    assert config.context_orders == () and config.model.context == 0
    assert TrainConfig().model.context == 5 * len(TrainConfig().context_orders)  # the default reads counts
    assert TrainConfig(model=ModelConfig(context=7), context_orders=(1, 2)).model.context == 10  # follows the orders
    assert TrainConfig().replace(context_orders=()).model.context == 0
