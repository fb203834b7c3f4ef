"""Trust in the model and the numbers (issue 12, items 4 and 5, malformed baselines, numeric options).

* a run's ``model.keras`` must be what its ``config.json`` describes, and the stepper must
  reproduce the model's one-shot forward pass: anything else is an error naming the difference;
* a run whose targets carry no weight is refused before training;
* a malformed ``baselines.npz`` is a :class:`RunDirError` that says how to refit;
* NaN, infinities and overflowing values are refused by every numeric option;
* short records are predicted together, as lanes of one batch, with the numbers of one at a time.

The CLI table runs in one separate process (see ``tests/test_faults_run.py``); ``docs/robustness.md``
("Models and numbers") lists these cases.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest

from genorm.baselines import Baselines, fit_baselines
from genorm.config import ModelConfig, TrainConfig
from genorm.errors import ConfigError, RunDirError, SplitError
from genorm.genome.array import Genome
from genorm.model import OneHotBases, build_model
from genorm.stepper import check_model, make_stepper
from genorm.predict import Predictor, write_predictions
from genorm.genome.splits import make_splits
from genorm.training.data import check_targets_carry_weight

ROOT = Path(__file__).resolve().parent.parent
LAMBDA = ROOT / "sample_data" / "phage_lambda_NC_001416.1.fa"
CONFIG8 = ModelConfig(cell="gru", units=8, layers=1)
DESCRIBED = "config.json's model"


# ------------------------------------------------------------------------------------------
# models the stepper would not reproduce


def _chain(*layers) -> keras.Model:
    codes = keras.Input(shape=(None,), dtype="int32", name="codes")
    x = OneHotBases(name="onehot")(codes)
    for layer in layers:
        x = layer(x)
    return keras.Model(codes, x)


def _gru(units=8, **kw):
    return keras.layers.GRU(units, return_sequences=True, name=kw.pop("name", "rnn_1"), **kw)


_SHAPES = r"m.keras does not match config.json's model: its weights have the shapes "
_PROBE = r"streaming inference does not reproduce the model \(largest logit difference"

BAD_MODELS = [
    # (id, builder, config, message against config.json, message of make_stepper alone or None: accepted alone)
    ("extra dense", lambda: _chain(_gru(), keras.layers.Dense(8, name="dense_extra"), keras.layers.Dense(4, name="logits")),
     CONFIG8, _SHAPES + r"\[4x24, 8x24, 2x24, 8x8, 8, 8x4, 4\], where a gru 1x8 network of "
                        r"genorm.model.build_network\(\) has \[4x24, 8x24, 2x24, 8x4, 4\]\. The model file does not belong",
     r"does not match the network its layers describe"),
    ("Dense(5) output", lambda: _chain(_gru(), keras.layers.Dense(5, name="logits")), CONFIG8,
     _SHAPES + r"\[4x24, 8x24, 2x24, 8x5, 5\]", r"does not match the network its layers describe"),
    ("softmax output", lambda: _chain(_gru(), keras.layers.Dense(4, activation="softmax", name="logits")), CONFIG8,
     _PROBE, _PROBE),
    ("more units", lambda: _chain(_gru(16), keras.layers.Dense(4, name="logits")), CONFIG8,
     _SHAPES + r"\[4x48, 16x48, 2x48, 16x4, 4\]", None),
    ("other cell", lambda: _chain(keras.layers.LSTM(8, return_sequences=True, name="rnn_1"),
                                  keras.layers.Dense(4, name="logits")), CONFIG8, _SHAPES + r"\[4x32, 8x32, 32, 8x4, 4\]",
     None),
    ("fewer layers", lambda: _chain(_gru(), keras.layers.Dense(4, name="logits")), ModelConfig(units=8, layers=2),
     r"m.keras does not match config.json's model: .* where a gru 2x8 network", None),
    ("backwards", lambda: _chain(_gru(go_backwards=True), keras.layers.Dense(4, name="logits")), CONFIG8,
     _PROBE, _PROBE),
    ("NaN weights", lambda: _nan(_chain(_gru(), keras.layers.Dense(4, name="logits"))), CONFIG8,
     r"m.keras: layer 'logits' has 32 NaN or infinite weight\(s\) .*the weights are damaged", "NaN or infinite"),
]


def _nan(model: keras.Model) -> keras.Model:
    w, b = model.get_layer("logits").get_weights()
    model.get_layer("logits").set_weights([w * np.nan, b])
    return model


@pytest.mark.parametrize("case", BAD_MODELS, ids=[c[0] for c in BAD_MODELS])
def test_a_model_the_stepper_does_not_reproduce_is_refused(case):
    _, builder, config, message, stepper_message = case
    model = builder()
    with pytest.raises(ConfigError, match=message):
        check_model(model, config, source="RUN/m.keras", described=DESCRIBED)
    if stepper_message:
        with pytest.raises(ConfigError, match=stepper_message):
            make_stepper(model)
    else:
        make_stepper(model)  # what its own layers describe is a network genorm builds


def _damaged(value: float, where: str) -> keras.Model:
    from genorm.model import build_model

    model = build_model(CONFIG8)
    layer = model.get_layer("logits" if where == "logits" else "rnn_1")
    weights = layer.get_weights()
    weights[0] = weights[0].copy()
    weights[0].flat[3] = value
    layer.set_weights(weights)
    return model


@pytest.mark.parametrize("value, where", [(float("nan"), "rnn"), (float("inf"), "logits"), (-float("inf"), "rnn")])
def test_nan_or_inf_weights_are_called_damaged_not_miswired(value, where):
    """issue 23: NaN or infinite weights were blamed on "layers wired in a way build_model() never makes"."""
    layer = "logits" if where == "logits" else "rnn_1"
    with pytest.raises(ConfigError, match=rf"m.keras: layer '{layer}' has 1 NaN or infinite weight\(s\) \(in .*\): the "
                                          r"weights are damaged \(a training that diverged, or an edited file\)"):
        make_stepper(_damaged(value, where), source="RUN/m.keras")


def test_the_models_build_model_makes_pass_every_check():
    for config in (CONFIG8, ModelConfig(cell="lstm", units=4, layers=2, dropout=0.2),
                   ModelConfig(cell="simple_rnn", units=3, layers=3)):
        model = build_model(config)
        check_model(model, config)
        make_stepper(model)  # the probe agrees
    # a layer renamed, or another dropout rate (no effect on inference): the same network, accepted
    check_model(build_model(ModelConfig(units=4, layers=1, dropout=0.2)), ModelConfig(units=4, layers=1, dropout=0.3))
    check_model(_chain(_gru(), keras.layers.Dense(4, name="out")), CONFIG8)


def test_the_stepper_is_checked_against_the_one_shot_forward_pass():
    """The weights fit a 1 x 4 GRU, but rnn_1 is applied twice: only the probe sees it."""
    keras.utils.set_random_seed(0)
    rnn = keras.layers.GRU(4, return_sequences=True, name="rnn_1")
    model = _chain(rnn, rnn, keras.layers.Dense(4, name="logits"))
    with pytest.raises(ConfigError, match=r"RUN/model.keras: streaming inference does not reproduce the model \(largest "
                                          r"logit difference .* on a probe sequence, tolerance 1e-05\)"):
        make_stepper(model, source="RUN/model.keras")


def _fake_run(tmp_path: Path, model: keras.Model, config: ModelConfig) -> Path:
    from genorm.rundir import CONFIG, FORMAT_VERSION, MODEL, PROVENANCE

    run = tmp_path / "run"
    run.mkdir()
    (run / CONFIG).write_text(json.dumps({"format_version": FORMAT_VERSION,
                                          "config": TrainConfig(model=config, window=20, context_orders=()).to_dict()}))
    (run / PROVENANCE).write_text(json.dumps({"inputs": [{"path": str(LAMBDA)}]}))
    model.save(run / MODEL)
    return run


def test_load_refuses_a_model_that_config_json_does_not_describe(tmp_path):
    from genorm.trained import load

    run = _fake_run(tmp_path, BAD_MODELS[0][1](), CONFIG8)
    with pytest.raises(RunDirError, match=r"run/model.keras does not match config.json's model: its weights have the "
                                          r"shapes .* train the run again"):
        load(run)
    shutil.rmtree(run)
    run = _fake_run(tmp_path, build_model(ModelConfig(units=8, layers=2)), CONFIG8)
    with pytest.raises(RunDirError, match=r"does not match config.json's model: .* where a gru 1x8 network"):
        load(run)
    shutil.rmtree(run)
    good = build_model(CONFIG8)
    loaded = load(_fake_run(tmp_path, good, CONFIG8))
    np.testing.assert_allclose(loaded.predict_proba("ACGTNACG")[1:], keras.ops.softmax(
        good(np.array([[0, 1, 2, 3, 4, 0, 1]]))).numpy()[0], atol=1e-6)


# ------------------------------------------------------------------------------------------
# a run that would learn nothing


def _genome_and_splits(text: str):
    genome = Genome.from_strings({"x": text})
    return genome, make_splits(genome, 20, val_fraction=0.1, test_fraction=0.1)


RANDOM = "".join(np.random.default_rng(0).choice(list("ACGT"), 3000))


@pytest.mark.parametrize("text, weight, message", [
    (RANDOM.lower(), 0.0, r"No training target carries any weight \(2,359 are soft-masked \(lower case\) and "
                          r"--soft-mask-weight is 0\): the model would learn nothing and report a meaningless loss. "
                          r"Nothing was trained; use --soft-mask-weight > 0 \(e.g. 1\)"),
    (RANDOM[:2300] + RANDOM[2300:].lower(), 0.0, r"No validation target carries any weight \(299 are soft-masked"),
    ("AN" * 1500, 1.0, r"No training target carries any weight \(2,359 are N or follow an N\).*check the input"),
    (RANDOM[:2300] + "N" * 700, 1.0, r"No validation target carries any weight \(299 are N or follow an N\)"),
])
def test_no_weighted_target_is_refused_before_training(text, weight, message):
    genome, splits = _genome_and_splits(text)
    with pytest.raises(SplitError, match=message):
        check_targets_carry_weight(genome, splits, TrainConfig(window=20, soft_mask_weight=weight))


def test_weighted_targets_pass():
    genome, splits = _genome_and_splits(RANDOM.lower())
    check_targets_carry_weight(genome, splits, TrainConfig(window=20, soft_mask_weight=0.5))
    text = RANDOM[:2] + RANDOM[2:2380].lower() + RANDOM[2380:2382] + RANDOM[2382:].lower()
    genome, splits = _genome_and_splits(text)  # one upper-case target in training, one in validation
    check_targets_carry_weight(genome, splits, TrainConfig(window=20, soft_mask_weight=0.0))


# ------------------------------------------------------------------------------------------
# baselines.npz


@pytest.fixture(scope="module")
def baselines_arrays(tmp_path_factory) -> dict:
    rng = np.random.default_rng(0)  # words of a few letters: the order-2 Markov model wins
    g = Genome.from_strings({"x": "".join(rng.choice(["AACG", "TTGCA", "GGAT", "CAT"], 800))[:3000]})
    path = tmp_path_factory.mktemp("b") / "baselines.npz"
    fit_baselines(g, train=[(0, 0, 2500)], val=[(0, 2500, 3000)], max_order=2).save(path)
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def _swap(d, a, b):
    d[a], d[b] = d[b], d[a]


BAD_BASELINES = [
    ("missing counts", lambda d: d.pop("counts_1"), r"is malformed: it lacks counts_1 \(order 1\)"),
    ("float contexts", lambda d: d.update(contexts_1=d["contexts_1"].astype(np.float64)),
     r"contexts_1 should be a 1-D integer array, found dtype float64 and shape \(4,\)"),
    ("2-D contexts", lambda d: d.update(contexts_0=d["contexts_0"].reshape(1, 1)), r"contexts_0 should be a 1-D"),
    ("counts of another shape", lambda d: d.update(counts_2=d["counts_2"][:, :3]),
     r"counts_2 should be an integer array of shape \(14, 4\), found dtype uint32 and shape \(14, 3\)"),
    ("contexts and counts swapped", lambda d: _swap(d, "contexts_1", "counts_1"), r"contexts_1 should be a 1-D"),
    ("orders swapped", lambda d: (_swap(d, "contexts_1", "contexts_2"), _swap(d, "counts_1", "counts_2")),
     r"contexts_1 should be increasing context codes in 0..3"),
    ("unsorted contexts", lambda d: d.update(contexts_2=d["contexts_2"][::-1].copy(), counts_2=d["counts_2"][::-1].copy()),
     r"contexts_2 should be increasing context codes in 0..15"),
    ("context out of range", lambda d: d.update(contexts_1=d["contexts_1"] + 4), r"contexts_1 should be increasing"),
    ("negative counts", lambda d: d.update(counts_0=-d["counts_0"].astype(np.int64)), r"counts_0 has counts outside"),
    ("order as text", lambda d: d.update(order=np.array("2")), r"'order' should be one integer >= 0, found dtype <U1"),
    ("order too large", lambda d: d.update(order=np.array(99)), r"order 99 is outside 0..24"),
    ("order beyond the tables", lambda d: d.update(order=np.array(3)), r"it lacks contexts_3 \(order 3\)"),
    ("selection of another shape", lambda d: d.update(selection=d["selection"][:, :2]),
     r"'selection' is missing or not a float \(n, 4\) array"),
    ("train_bases missing", lambda d: d.pop("train_bases"), r"it lacks 'train_bases'"),
    ("version as float", lambda d: d.update(format_version=np.array(1.0)), r"'format_version' should be one integer"),
]


@pytest.mark.parametrize("case", BAD_BASELINES, ids=[c[0] for c in BAD_BASELINES])
def test_a_malformed_baselines_file_says_how_to_refit(case, baselines_arrays, tmp_path):
    _, change, message = case
    data = dict(baselines_arrays)
    change(data)
    path = tmp_path / "baselines.npz"
    np.savez(path, **data)
    with pytest.raises(RunDirError, match=message) as info:
        Baselines.load(path)
    assert str(info.value).startswith(f"Baselines file {str(path)!r} is malformed: ")
    assert str(info.value).endswith("delete it and run `genorm evaluate RUN` again, which refits the baselines on the "
                                    "run's training split (or refit them with genorm.baselines.fit_baselines(run.genome, "
                                    "run.splits).save(path)).")


def test_baselines_that_are_not_an_npz(baselines_arrays, tmp_path):
    path = tmp_path / "baselines.npz"
    np.save(tmp_path / "one.npy", np.arange(3))
    (tmp_path / "one.npy").rename(path)
    with pytest.raises(RunDirError, match=r"is malformed: it is a single .npy array, not an .npz archive.*refits"):
        Baselines.load(path)
    np.savez(path, **baselines_arrays)
    path.write_bytes(path.read_bytes()[:-40])  # a truncated archive
    with pytest.raises(RunDirError, match=r"is not a readable .npz .*delete it and run `genorm evaluate RUN`"):
        Baselines.load(path)
    np.savez(path, **baselines_arrays)
    assert Baselines.load(path).order == int(baselines_arrays["order"])  # the untouched file still loads


# ------------------------------------------------------------------------------------------
# numbers in the library


@pytest.mark.parametrize("make, message", [
    (lambda: TrainConfig(soft_mask_weight=1e308), r"`soft_mask_weight`, expected a number in \[0, 1000\], got 1e\+308"),
    (lambda: TrainConfig(soft_mask_weight=math.inf), r"`soft_mask_weight`, expected a number in \[0, 1000\], got inf"),
    (lambda: TrainConfig(learning_rate=math.nan), r"`learning_rate`, expected a positive number below 10, got nan"),
    (lambda: TrainConfig(clipnorm=10**400), r"`clipnorm`, expected a positive number, got 1000"),
    (lambda: TrainConfig(lr_factor=math.nan), r"`lr_factor`, expected a number in \(0, 1\), got nan"),
    (lambda: TrainConfig(min_learning_rate=math.inf), r"`min_learning_rate`, expected a positive number below 1"),
    (lambda: TrainConfig(max_n_fraction=math.nan), r"`max_n_fraction`, expected a number in \[0, 1\], got nan"),
    (lambda: ModelConfig(dropout=math.nan), r"`dropout`, expected a number in \[0, 1\), got nan"),
    (lambda: TrainConfig.from_dict({"units": math.inf}), r"`units`, expected a positive integer, got inf"),
    (lambda: TrainConfig(max_time=math.inf), r"`max_time`, expected a positive duration, got inf"),
])
def test_config_values_are_finite_and_bounded(make, message):
    with pytest.raises(ConfigError, match=message):
        make()


def test_large_max_time_reads_back():
    config = TrainConfig(max_time=1e20)
    assert config.max_time == "100000000000000000000s" and config.max_seconds == 1e20
    assert TrainConfig.from_dict(config.to_dict()) == config


@pytest.fixture(scope="module")
def tiny_model():
    keras.utils.set_random_seed(5)
    return build_model(ModelConfig(units=6, layers=2))


def test_a_tiny_temperature_samples_the_most_probable_base(tiny_model):
    predictor = Predictor(make_stepper(tiny_model))
    assert predictor.sample(8, prime="ACG", temperature=1e-320, seed=1) == predictor.sample(8, prime="ACG", temperature=0)
    for bad, shown in ((math.inf, "inf"), (math.nan, "nan"), (-1.0, "-1.0")):
        with pytest.raises(ConfigError, match=rf"`temperature`, expected a finite number >= 0, got {shown}"):
            predictor.sample(3, temperature=bad)
    with pytest.raises(ConfigError, match=r"`lanes`, expected a positive integer, got 0"):
        Predictor(make_stepper(tiny_model), lanes=0)


@pytest.mark.parametrize("lr, shown", [(math.nan, "nan"), (math.inf, "inf"), (1e308, "1e\\+308"), (0.0, "0.0")])
def test_explain_learning_rate(lr, shown):
    from genorm.textbook_rnn import explain, train_on_text

    with pytest.raises(ConfigError, match=rf"`learning_rate`, expected a number in \(0, 10\), got {shown}\."):
        explain("ACGT", learning_rate=lr)
    with pytest.raises(ConfigError, match=r"`learning_rate`"):
        train_on_text("hello", learning_rate=lr)


# ------------------------------------------------------------------------------------------
# short records together


class _Counting:
    def __init__(self, stepper):
        self.stepper, self.calls = stepper, 0

    def initial_state(self, batch):
        return self.stepper.initial_state(batch)

    def initial_logits(self):
        return self.stepper.initial_logits()

    def step(self, codes, state):
        self.calls += 1
        return self.stepper.step(codes, state)


def test_short_records_run_together_with_the_numbers_of_one_at_a_time(tiny_model, tmp_path):
    from genorm.reading.records import read_fasta

    rng = np.random.default_rng(3)
    lengths = [1, 5, 97, 120, 3, 60, 400, 2, 88, 101, 33, 7] * 4 + [1000, 17, 55]
    text = "".join(f">r{i}\n{''.join(rng.choice(list('ACGTNacgt'), n))}\n" for i, n in enumerate(lengths))
    fasta = tmp_path / "many.fa"
    fasta.write_text(text)
    batched = _Counting(make_stepper(tiny_model))
    predictor = Predictor(batched, chunk=600, lanes=8)
    single = Predictor(make_stepper(tiny_model), chunk=600)
    seen = []
    for rec, parts in predictor.iter_records_proba(read_fasta([str(fasta)])):
        got = np.concatenate([p for _, _, p in parts])
        np.testing.assert_allclose(got, single.predict_proba(rec.packed), atol=1e-6, rtol=0)
        seen.append(rec.name)
    assert seen == [f"r{i}" for i in range(len(lengths))]  # every record, in order
    assert batched.calls <= 20  # 51 records: lanes of 8, at most 600 bases a call, 400 and 1000 alone
    a, b = tmp_path / "a.tsv", tmp_path / "b.tsv"
    with open(a, "w") as fa, open(b, "w") as fb:
        write_predictions(predictor, [str(fasta)], fa)
        write_predictions(Predictor(make_stepper(tiny_model), chunk=600, lanes=1), [str(fasta)], fb)
    rows_a = [line.split("\t") for line in a.read_text().splitlines()[1:]]
    rows_b = [line.split("\t") for line in b.read_text().splitlines()[1:]]
    assert [r[:3] for r in rows_a] == [r[:3] for r in rows_b] and len(rows_a) == sum(lengths)
    np.testing.assert_allclose(np.array([r[3:7] for r in rows_a], float), np.array([r[3:7] for r in rows_b], float),
                               atol=2e-6)
    scores = predictor.score_records([str(fasta)])
    one = [single.score_details(rec.packed) for rec in read_fasta([str(fasta)])]
    np.testing.assert_allclose(scores["log2_likelihood"], [d["log2_likelihood"] for d in one], rtol=1e-6)
    assert scores["bases_scored"].tolist() == [d["bases_scored"] for d in one]


# ------------------------------------------------------------------------------------------
# the same through the command line: (command, option, bad value) -> exit 2 and one error line


@pytest.fixture(scope="module")
def cli():
    pytest.importorskip("tests.test_faults_run", reason="the CLI driver lives in tests/test_faults_run.py")
    from tests import test_faults_run as driver

    return driver


@pytest.fixture
def tiny_run(tiny_cli_run) -> Path:
    """``genorm train LAMBDA ... TINY`` (conftest's session run, shared with test_faults_run.py)."""
    return tiny_cli_run


NUMERIC_CASES = [
    # (argv after the command's fixed arguments, what the error line says)
    ("explain", ["--learning-rate", "nan"], "`learning_rate`, expected a number in (0, 10), got nan."),
    ("explain", ["--learning-rate", "inf"], "`learning_rate`, expected a number in (0, 10), got inf."),
    ("explain", ["--learning-rate", "1e308"], "`learning_rate`, expected a number in (0, 10), got 1e+308."),
    ("explain", ["--learning-rate", "-1"], "`learning_rate`, expected a number in (0, 10), got -1.0."),
    ("train", ["--soft-mask-weight", "1e308"], "`soft_mask_weight`, expected a number in [0, 1000], got 1e+308."),
    ("train", ["--soft-mask-weight", "inf"], "`soft_mask_weight`, expected a number in [0, 1000], got inf."),
    ("train", ["--soft-mask-weight", "1001"], "`soft_mask_weight`, expected a number in [0, 1000], got 1001.0."),
    ("train", ["--learning-rate", "inf"], "`learning_rate`, expected a positive number below 10, got inf."),
    ("train", ["--clipnorm", "nan"], "`clipnorm`, expected a positive number, got nan."),
    ("train", ["--dropout", "nan"], "`dropout`, expected a number in [0, 1), got nan."),
    ("train", ["--max-n-fraction", "nan"], "`max_n_fraction`, expected a number in [0, 1], got nan."),
    ("train", ["--val-fraction", "inf"], "`val_fraction`, expected a number in [0, 1), got inf."),
    ("train", ["--test-fraction", "nan"], "`test_fraction`, expected a number in [0, 1), got nan."),
    ("train", ["--max-time", "inf"], "`max_time`, expected a duration like '90s'"),
    ("train", ["--config", '{"learning_rate": NaN}'], "`learning_rate`, expected a positive number below 10, got nan."),
    ("train", ["--config", '{"soft_mask_weight": Infinity}'], "`soft_mask_weight`, expected a number in [0, 1000], got inf."),
    ("train", ["--config", '{"units": 1e400}'], "`units`, expected a positive integer, got inf."),
    ("train", ["--config", '{"lr_factor": NaN}'], "`lr_factor`, expected a number in (0, 1), got nan."),
    ("train", ["--config", '{"min_learning_rate": -Infinity}'], "`min_learning_rate`, expected a positive number below 1"),
    ("train", ["--config", '{"max_time": 1e400}'], "`max_time`, expected a positive duration, got inf."),
    ("train-lower", ["--soft-mask-weight", "0"], "No training target carries any weight (41,186 are soft-masked (lower case) and --soft-mask-weight is 0)"),
    ("generate", ["--temperature", "inf"], "`temperature`, expected a finite number >= 0, got inf."),
    ("generate", ["--temperature=-inf"], "`temperature`, expected a finite number >= 0, got -inf."),
]


@pytest.mark.slow
def test_numeric_option_table(cli, tiny_run, tmp_path):
    """Every command's numeric options refuse NaN, infinities and values that overflow: one error line, exit 2,
    nothing written."""
    lower = tmp_path / "lower.fa"
    lines = LAMBDA.read_text().splitlines()
    lower.write_text("\n".join([lines[0]] + [line.lower() for line in lines[1:]]) + "\n")
    argvs = []
    for i, (command, args, _) in enumerate(NUMERIC_CASES):
        if args[0] == "--config":
            (tmp_path / f"c{i}.json").write_text(args[1])
            args = ["--config", str(tmp_path / f"c{i}.json")]
        out = str(tmp_path / f"out{i}")
        fixed = {"explain": ["explain", "ACGT"], "train": ["train", str(LAMBDA), "--out", out, *cli.TINY],
                 "train-lower": ["train", str(lower), "--out", out, *cli.TINY],
                 "generate": ["generate", str(tiny_run), "--length", "5", "-o", out]}[command]
        argvs.append(fixed + args)
    with_n = tmp_path / "with_n.fa"
    with_n.write_text(">allN\nNNNNNNNN\n>ok\nACGTACGT\n")
    valid = [  # values at the edge that are valid, and zero-base results
        ["generate", str(tiny_run), "--length", "5", "--temperature", "1e-320", "--seed", "1", "-o",
         str(tmp_path / "tiny_t.fa")],
        ["explain", "ACGT", "--learning-rate", "9.99"],
        ["score", str(tiny_run), str(with_n), "-o", str(tmp_path / "s.tsv")],
        ["evaluate", str(tiny_run), str(with_n), "--records", "allN"],
        ["evaluate", str(tiny_run), "--warmup", cli.HUGE, "--segment", cli.HUGE, "--chunk", cli.HUGE,
         "--batch-size", cli.HUGE, "-o", str(tmp_path / "huge.json")],
    ]
    results = cli.cli_many(argvs + valid)
    for i, ((command, args, needle), res) in enumerate(zip(NUMERIC_CASES, results)):
        cli.assert_one_error(res["rc"], res["stderr"], needle)
        assert not (tmp_path / f"out{i}").exists(), (command, args)
    sample, explain, score, evaluate, huge = results[len(NUMERIC_CASES):]
    assert sample["rc"] == 0, sample["stderr"]  # a tiny temperature is valid: the most probable bases
    assert (tmp_path / "tiny_t.fa").read_text().count("\n") == 2
    assert explain["rc"] == 0 and "nan" not in explain["stdout"], explain["stderr"]
    assert score["rc"] == 0, score["stderr"]  # a record without bases to score: NA, never 0 or nan
    rows = (tmp_path / "s.tsv").read_text().splitlines()
    assert rows[1] == "allN\t8\t0\t0.000000\tNA" and rows[2].startswith("ok\t8\t8\t-"), rows
    cli.assert_one_error(evaluate["rc"], evaluate["stderr"], "Nothing to evaluate: the 1 interval(s) hold 8 "
                         "bases and every one is N (no A, C, G or T to score).")
    assert huge["rc"] == 0, huge["stderr"]  # 1e20 lanes, bases per call, warm-up: nothing overflows
    report = json.loads((tmp_path / "huge.json").read_text())
    assert report["summary"][0]["bases"] > 0 and math.isfinite(report["summary"][0]["bits_per_base"])


def _replace_model(run: Path, model: keras.Model) -> None:
    (run / "model.keras").unlink()
    model.save(run / "model.keras")


@pytest.mark.slow
def test_a_run_with_a_bad_model_or_baselines_through_the_cli(cli, tiny_run, tmp_path, baselines_arrays):
    """evaluate / predict / score / generate on a run whose model.keras or baselines.npz is not what it should be."""
    runs = {}
    for name, builder in (("extra", BAD_MODELS[0][1]), ("dense5", BAD_MODELS[1][1]), ("softmax", BAD_MODELS[2][1])):
        runs[name] = tmp_path / name
        shutil.copytree(tiny_run, runs[name])
        _replace_model(runs[name], builder())
    runs["npz"] = tmp_path / "npz"
    shutil.copytree(tiny_run, runs["npz"])
    data = dict(np.load(tiny_run / "baselines.npz"))
    data["contexts_0"] = data["contexts_0"].astype(np.float32)
    np.savez(runs["npz"] / "baselines.npz", **data)
    fa, out = str(LAMBDA), str(tmp_path / "out.tsv")
    cases = [
        (["evaluate", str(runs["extra"])], f"{runs['extra'] / 'model.keras'} does not match config.json's model: its "
                                           "weights have the shapes"),
        (["predict", str(runs["dense5"]), fa, "-o", out], "8x5, 5], where a gru"),
        (["score", str(runs["softmax"]), fa], f"{runs['softmax'] / 'model.keras'}: streaming inference does not "
                                              "reproduce the model"),
        (["generate", str(runs["extra"]), "--length", "5"], "does not match config.json's model"),
        (["evaluate", str(runs["npz"])], f"Baselines file '{runs['npz'] / 'baselines.npz'}' is malformed: contexts_0 "
                                         "should be a 1-D integer array, found dtype float32"),
    ]
    results = cli.cli_many([argv for argv, _ in cases])
    for (argv, needle), res in zip(cases, results):
        line = cli.assert_one_error(res["rc"], res["stderr"], needle)
        assert "genorm train" in line or "genorm evaluate RUN" in line, line  # says what to do
    assert not Path(out).exists()
