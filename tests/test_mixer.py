"""The online mixer (genorm.mixer): the network's output mixed with the count models' as it reads.

Properties: chunked equals one pass; a prediction depends only on the bases before it; before it
has read anything the mixture is its first input (the network) exactly; lanes are independent.
Then the mixer inside the model (NetworkStepper), its report row, its options and their errors.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from genorm.config import ModelConfig, TrainConfig
from genorm.errors import ConfigError
from genorm.mixer import CountStepper, OnlineMixer

RNG = np.random.default_rng(5)


def _inputs(b: int, t: int, i: int) -> np.ndarray:
    z = RNG.normal(size=(b, t, i, 4)) * 1.5
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def _run(mixer: OnlineMixer, x: np.ndarray, codes: np.ndarray, cuts) -> np.ndarray:
    state, out, a = mixer.initial(x.shape[0]), [], 0
    for b in [*cuts, x.shape[1]]:
        o, state = mixer.mix(x[:, a:b], codes[:, a:b], state)
        out.append(o)
        a = b
    return np.concatenate(out, axis=1)


def test_chunked_mixing_equals_one_pass_and_lanes_are_independent():
    x, codes = _inputs(3, 200, 5), RNG.integers(0, 5, size=(3, 200))  # N (4) among the codes
    mixer = OnlineMixer([1.0, 0, 0, 0, 0], rate=0.05)
    one = _run(mixer, x, codes, [])
    for cuts in ([1], [7, 8, 9, 150], list(range(1, 200))):
        np.testing.assert_array_equal(_run(mixer, x, codes, cuts), one)
    np.testing.assert_array_equal(_run(mixer, x[1:2], codes[1:2], [50]), one[1:2])  # a lane alone: the same


def test_a_prediction_depends_only_on_the_bases_before_it():
    x, codes = _inputs(1, 120, 4), RNG.integers(0, 4, size=(1, 120))
    mixer = OnlineMixer([0.25] * 4, rate=0.1)
    one = _run(mixer, x, codes, [60])
    changed = codes.copy()
    changed[0, 80] = (changed[0, 80] + 1) % 4  # the base predicted at 79
    other = _run(mixer, x, changed, [60])
    np.testing.assert_array_equal(other[:, :80], one[:, :80])
    assert not np.allclose(other[:, 80:], one[:, 80:])


def test_the_mixture_starts_as_the_network_and_learns_the_order_that_predicts():
    """Golden: a network that is uniform, an order that always says T, a sequence of T."""
    x = np.log(np.array([[[0.25] * 4, [0.1, 0.1, 0.1, 0.7]]] * 50))[None]  # (1, 50, 2, 4)
    mixer = OnlineMixer([1.0, 0.0], rate=0.5)
    out = np.exp(_run(mixer, x, np.full((1, 50), 3), [10]))
    w = 0.5 * 0.75 * np.log(7)  # rate * (log p(T) - mean of log p under the uniform mixture)
    np.testing.assert_allclose(out[0, 0], [0.25] * 4)  # nothing read yet: the network alone
    np.testing.assert_allclose(out[0, 1, 3], 7 ** w / (3 + 7 ** w), rtol=1e-9)  # after one step, w = (1, w)
    assert out[0, -1, 3] > 0.69 and np.all(np.diff(out[0, :, 3]) > 0)  # it keeps learning the order


def test_the_rate_is_checked():
    with pytest.raises(ConfigError, match="`rate`"):
        OnlineMixer([1.0], rate=-0.1)


@pytest.fixture(scope="module")
def repeat_run(tmp_path_factory):
    from genorm.training.trainer import train

    from tests.test_context import ORDERS, REPEAT, TINY

    root = tmp_path_factory.mktemp("mixer")
    fasta = root / "repeat.fa"
    fasta.write_text(">r\n" + REPEAT + "\n")
    train([fasta], TrainConfig(**TINY, context_orders=ORDERS), out_dir=root / "run")
    return root / "run"


def test_the_model_mixes_online_by_default_and_reports_the_network_alone(repeat_run):
    import genorm
    from genorm.metrics import log_softmax

    run = genorm.load(repeat_run)
    assert run.config.context_mix == 0.0005 and run.config.model.mix == 0.0005
    stepper = run.stepper()
    assert stepper.mixer is not None
    alone = stepper.variant(stepper.counts, mix=False)
    codes = np.array([[0, 1, 2, 3, 3, 2, 1, 0, 0, 1]] * 2, np.int32)
    mixed, state = stepper.step(codes, stepper.initial_state(2))
    net, _ = alone.step(codes, alone.initial_state(2))
    np.testing.assert_allclose(mixed[:, 0], log_softmax(net)[:, 0], atol=1e-6)  # nothing read: the network
    assert not np.allclose(mixed[:, -1], log_softmax(net)[:, -1], atol=1e-6)  # then it learns
    # lane operations carry the mixer: copy lane 0 to 1, both continue alike
    state = stepper.copy_lane(state, 0, 1)
    more, _ = stepper.step(np.array([[2, 2, 1]] * 2, np.int32), stepper.select_lanes(state, [0, 1]))
    np.testing.assert_array_equal(more[0], more[1])
    table = run.evaluate().summary.set_index("predictor")["bits_per_base"]
    assert {"model", "model, no online mix", "model, static counts"} <= set(table.index)


def test_no_mix_trains_the_network_alone_and_old_runs_load_without_the_mixer(tmp_path):
    assert TrainConfig(context_mix=0).model.mix == 0.0
    assert TrainConfig(context_orders=()).model.mix == 0.0  # no counts: nothing to mix
    saved = TrainConfig().to_dict()
    del saved["context_mix"]
    assert TrainConfig.from_saved(saved, "RUN/config.json").model.mix == 0.0  # predicts as it was validated
    with pytest.raises(ConfigError, match=r"`context_mix`, expected a number in \[0, 1\]"):
        TrainConfig(context_mix=2)
    with pytest.raises(ConfigError, match=r"`mix`=0.1 for a network without count features"):
        ModelConfig(mix=0.1)


@pytest.mark.parametrize("argv, message", [
    (["--no-mix", "--context-mix", "0.01"], "--no-mix and --context-mix exclude each other"),
    (["--context-mix", "-1"], r"`context_mix`, expected a number in \[0, 1\]"),
])
def test_cli_mix_options_and_their_errors(argv, message, tmp_path, capsys):
    from genorm.cli import main

    fasta = tmp_path / "x.fa"
    fasta.write_text(">x\n" + "ACGT" * 500 + "\n")
    assert main(["train", str(fasta), "--out", str(tmp_path / "run"), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err and re.search(message, err), err
    assert not (tmp_path / "run" / "config.json").exists()


def test_count_features_are_on_a_unit_scale_and_old_tables_keep_theirs():
    from genorm.counts import CountConfig

    counts = np.array([[[5000.0, 0, 0, 0], [3, 1, 0, 0]]])
    capped = CountConfig().features(counts)  # log-probabilities relative to uniform, confidence in [0, 1]
    np.testing.assert_allclose(capped[0, [4, 9]], [1.0, np.log1p(4) / np.log1p(1023)], rtol=1e-6)
    np.testing.assert_allclose(capped[0, 5:9], np.log(4 * (np.array([3, 1, 0, 0]) + 1 / 16) / 4.25), rtol=1e-6)
    np.testing.assert_allclose(CountConfig().empty_features(), np.zeros(5 * len(CountConfig().orders)))
    old = CountConfig.from_dict({k: v for k, v in CountConfig().to_dict().items() if k != "confidence_cap"})
    assert old.confidence_cap is None  # tables saved before the cap: the raw features, as they were trained on
    np.testing.assert_allclose(old.features(counts)[0, [4, 5]], [np.log1p(5000), np.log(3.0625 / 4.25)], rtol=1e-6)
    np.testing.assert_allclose(old.empty_features()[:5], [np.log(0.25)] * 4 + [0], rtol=1e-6)
    assert CountConfig.from_dict(json.loads(json.dumps(CountConfig().to_dict()))) == CountConfig()


def test_the_counts_mixed_without_the_network_start_equal():
    from genorm.counts import CountConfig, CountTables

    tables = CountTables.build([np.array([0, 1, 2, 3] * 20, np.uint8)], CountConfig(orders=(1, 2, 3)))
    stepper = CountStepper(tables)
    np.testing.assert_allclose(stepper.initial_state(2)[1], np.full((2, 3), 1 / 3))
