"""genorm.evaluation.adapt: adaptive evaluation, scored before each update, never changing the saved model."""

from __future__ import annotations

import numpy as np
import pytest

from genorm.errors import ConfigError
from genorm.evaluation import adapt as adapt_module
from genorm.evaluation.adapt import ADAPT_ROW, AdaptConfig, adapt_config, adapt_interval, make_adaptive


@pytest.fixture(scope="module")
def keras_model():
    import keras

    from genorm.config import ModelConfig
    from genorm.model import build_model

    keras.utils.set_random_seed(7)
    return build_model(ModelConfig(cell="gru", units=8, layers=1))


@pytest.fixture(scope="module")
def stepper(keras_model):
    from genorm.stepper import make_stepper

    return make_stepper(keras_model)


def _all_logits(adaptive, codes) -> np.ndarray:
    """Every base's logits from adapt_interval, each position checked to be scored exactly once."""
    out = np.full((codes.size, 4), np.nan, np.float32)
    seen = np.zeros(codes.size, int)
    for pos, logits in adapt_interval(adaptive, codes):
        out[pos] = logits
        seen[pos] += 1
    assert (seen == 1).all()
    return out


def _static_chunked(stepper, codes, chunk) -> np.ndarray:
    state, parts = stepper.initial_state(1), [stepper.initial_logits()[None]]
    for t in range(0, codes.size - 1, chunk):
        logits, state = stepper.step(codes[None, t:min(t + chunk, codes.size - 1)], state)
        parts.append(logits[0])
    return np.vstack(parts)


@pytest.mark.parametrize("kwargs, message", [
    ({"chunk": 1}, r"`adapt\.chunk`, expected an integer >= 2 \(bases per update\), got 1\."),
    ({"learning_rate": -0.1}, r"`adapt\.learning_rate`, expected a number in \[0, 10\], got -0\.1\."),
    ({"learning_rate": float("nan")}, r"`adapt\.learning_rate`, expected a number in \[0, 10\], got nan\."),
    # issue 23: 3.4e38 printed accuracy inf and bits NaN with exit 0
    ({"learning_rate": 3.4e38}, r"`adapt\.learning_rate`, expected a number in \[0, 10\], got 3\.4e\+38\."),
    ({"learning_rate": 10.5}, r"`adapt\.learning_rate`, expected a number in \[0, 10\], got 10\.5\."),
    ({"optimizer": "rmsprop"}, r"`adapt\.optimizer`, expected one of sgd, adam, got 'rmsprop'\."),
    ({"lanes": 0}, r"`adapt\.lanes`, expected a positive integer, got 0\."),
    ({"warmup": -1}, r"`adapt\.warmup`, expected an integer >= 0, got -1\."),
    ({"carry": 1}, r"`adapt\.carry`, expected true or false, got 1\."),
])
def test_config_refuses_bad_values(kwargs, message):
    with pytest.raises(ConfigError, match=r"^Received an invalid value for " + message + "$"):
        AdaptConfig(**kwargs)


def test_diverged_adaptation_is_an_error_not_a_nan_metric(keras_model, stepper, monkeypatch):
    """Issue 23: weights that a step made NaN or infinite never reach a report (nor a prediction)."""
    adaptive = make_adaptive(stepper, AdaptConfig(chunk=20, learning_rate=0.5, lanes=1))
    step = adaptive.step

    def diverging(*args, **kwargs):
        logits, state = step(*args, **kwargs)
        return np.full_like(np.asarray(logits), np.nan), state

    monkeypatch.setattr(adaptive, "step", diverging)  # the adaptive stepper may be shared: restored afterwards
    codes = np.random.default_rng(4).integers(0, 4, 100).astype(np.int32)
    with pytest.raises(ConfigError, match=r"^Adaptive evaluation diverged: after [01] updates with learning rate "
                                          r"0\.5 \(sgd\) the model's predictions are NaN or infinite, so no metric "
                                          r"can be reported\. Use a smaller --adapt-lr \(default 0\.03\)"):
        list(adapt_interval(adaptive, codes))


def test_settings_without_adapt_are_refused():
    assert adapt_config(False) is None and adapt_config(True) == AdaptConfig()
    with pytest.raises(ConfigError, match=r"^--adapt-chunk, --adapt-lr apply only to adaptive evaluation: add --adapt "
                                          r"\(adapt=True\), or leave them out\.$"):
        adapt_config(False, chunk=50, learning_rate=0.1)


def test_other_backends_are_refused(keras_model, monkeypatch):
    monkeypatch.setattr(adapt_module, "_backend", lambda: "jax")
    with pytest.raises(ConfigError, match=r"^Adaptive evaluation needs the TensorFlow backend of Keras, but Keras runs "
                                          r"on 'jax' \(KERAS_BACKEND\); set KERAS_BACKEND=tensorflow"):
        make_adaptive(keras_model, AdaptConfig())


def test_a_stepper_without_weights_is_refused():
    from tests.steppers import ConstantStepper

    with pytest.raises(ConfigError, match=r"^Adaptive evaluation needs a genorm model .* got ConstantStepper"):
        make_adaptive(ConstantStepper(), AdaptConfig())


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_learning_rate_zero_equals_static_exactly(keras_model, stepper, optimizer):
    codes = np.random.default_rng(1).integers(0, 5, 301).astype(np.int32)
    adaptive = make_adaptive(stepper, AdaptConfig(chunk=40, learning_rate=0.0, optimizer=optimizer, lanes=1))
    np.testing.assert_array_equal(_all_logits(adaptive, codes), _static_chunked(stepper, codes, 40))


def test_no_base_is_scored_by_weights_updated_on_it(keras_model, stepper):
    """Changing base p (a large learning rate: every update moves the weights a lot) changes no logit of a base <= p."""
    rng = np.random.default_rng(2)
    codes = rng.integers(0, 4, 480).astype(np.int32)
    adaptive = make_adaptive(stepper, AdaptConfig(chunk=30, learning_rate=0.5, lanes=1))
    before = _all_logits(adaptive, codes)
    for p in (30, 59, 200, 479):  # a chunk's first and last targets, a middle one, the last base
        changed = codes.copy()
        changed[p] = (codes[p] + 1) % 4
        adaptive.reset()
        after = _all_logits(adaptive, changed)
        np.testing.assert_array_equal(after[:p + 1], before[:p + 1])
        assert p == codes.size - 1 or not np.array_equal(after[p + 1:], before[p + 1:])


def _steps_and_logits(adaptive, codes):
    """Logits of every base and the number of gradient steps taken before it was scored."""
    calls = [0]
    step = adaptive.step

    def counted(*args):
        out = step(*args)
        calls[0] += 1
        return out

    adaptive.step = counted
    try:
        logits, when = np.zeros((codes.size, 4), np.float32), np.zeros(codes.size, int)
        for pos, block in adapt_interval(adaptive, codes):
            logits[pos], when[pos] = block, max(calls[0] - 1, 0)
        return logits, when
    finally:
        del adaptive.step


def test_lanes_score_every_base_before_any_update_that_reads_it(keras_model, stepper):
    """Three lanes share the weights: a base's logits, and those of every base scored at an earlier or the same
    step in another lane, do not depend on it."""
    codes = np.random.default_rng(6).integers(0, 4, 400).astype(np.int32)
    adaptive = make_adaptive(stepper, AdaptConfig(chunk=20, learning_rate=0.5, lanes=3))
    adaptive.reset()
    before, when = _steps_and_logits(adaptive, codes)
    assert np.array_equal(np.flatnonzero(when == 0)[:3], [0, 1, 2]) and (when[[134, 268]] == 0).all()  # cold starts
    for p in (0, 133, 134, 200, 300, 399):
        changed = codes.copy()
        changed[p] = (codes[p] + 1) % 4
        adaptive.reset()
        after, _ = _steps_and_logits(adaptive, changed)
        same = (when < when[p]) | (np.arange(codes.size) == p)
        np.testing.assert_array_equal(after[same], before[same])


def test_a_repeated_chunk_is_predicted_better_only_after_it_was_scored(stepper):
    """The same 10 bases 30 times: the first copy gets the static model's scores, the last copies far better."""
    block = np.array([0, 2, 2, 3, 1, 0, 3, 3, 1, 2], np.int32)
    codes = np.concatenate([block] * 30)
    adaptive = make_adaptive(stepper, AdaptConfig(chunk=10, learning_rate=0.05, optimizer="adam", lanes=1))
    logits = _all_logits(adaptive, codes)
    static = _static_chunked(stepper, codes, 10)
    np.testing.assert_array_equal(logits[:11], static[:11])  # the first chunk's targets are bases 1..10

    def bits(x):
        z = x[-100:] - x[-100:].max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return -logp[np.arange(100), codes[-100:]].mean() / np.log(2)

    assert bits(static) > 1.5 and bits(logits) < 0.5


def test_reset_restores_weights_and_the_source_model_never_changes(keras_model, stepper):
    original = [w.copy() for w in keras_model.get_weights()]
    adaptive = make_adaptive(stepper, AdaptConfig(chunk=20, learning_rate=0.1, optimizer="adam"))
    codes = np.random.default_rng(4).integers(0, 4, 200).astype(np.int32)
    first = _all_logits(adaptive, codes)
    assert not all(np.array_equal(a, b) for a, b in zip(adaptive.model.get_weights(), original))
    adaptive.reset()
    assert all(np.array_equal(a, b) for a, b in zip(adaptive.model.get_weights(), original))
    np.testing.assert_array_equal(_all_logits(adaptive, codes), first)  # optimizer state restarted too
    assert all(np.array_equal(a, b) for a, b in zip(keras_model.get_weights(), original))


def test_only_scored_non_n_targets_enter_the_loss(keras_model, stepper):
    """All-N targets leave the weights as they are (an empty loss); the N bases are still predicted."""
    adaptive = make_adaptive(stepper, AdaptConfig(chunk=10, learning_rate=1.0))
    before = [w.copy() for w in adaptive.model.get_weights()]
    codes = np.array([0, 1] + [4] * 30, np.int32)  # targets: base 1, then N
    logits = _all_logits(adaptive, codes)
    changed = [not np.array_equal(a, b) for a, b in zip(adaptive.model.get_weights(), before)]
    assert any(changed)  # the one real target moved the weights once
    adaptive.reset()
    _all_logits(adaptive, np.array([4] * 32, np.int32))
    assert all(np.array_equal(a, b) for a, b in zip(adaptive.model.get_weights(), before))
    assert np.isfinite(logits).all()


# -- evaluate -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def genome():
    from genorm.genome.array import Genome

    rng = np.random.default_rng(5)
    motif = "".join(rng.choice(list("ACGT"), 10))
    return Genome.from_strings({f"r{i}": motif * 20 + "".join(rng.choice(list("acgt"), 60)) for i in range(3)})


def test_evaluate_shows_both_rows_with_modes_and_costs(keras_model, stepper, genome):
    from genorm.evaluation.evaluate import evaluate

    ivs = [(r, 0, 260) for r in range(3)]
    cfg = AdaptConfig(chunk=10, learning_rate=0.05, optimizer="adam", lanes=1)
    report = evaluate(stepper, genome, ivs, adapt=cfg)
    assert report.summary.predictor.tolist() == ["model", ADAPT_ROW, "uniform"]
    bits = dict(zip(report.summary.predictor, report.summary.bits_per_base))
    assert bits[ADAPT_ROW] < bits["model"] - 0.15  # the motif repeats: adapting pays
    assert set(report.per_nucleotide.predictor) == set(report.by_mask.predictor) == {"model", ADAPT_ROW, "uniform"}
    meta = report.meta
    assert meta["modes"] == {"model": "static (exact)", ADAPT_ROW: cfg.describe()}
    assert meta["bases_per_second"]["model"] > 0 and meta["bases_per_second"][ADAPT_ROW] > 0
    assert meta["adapt"]["optimizer"] == "adam" and meta["baselines"] == ["uniform"]


def test_evaluate_with_learning_rate_zero_repeats_the_static_row(keras_model, stepper, genome):
    from genorm.evaluation.evaluate import evaluate

    report = evaluate(stepper, genome, [(0, 0, 260)], chunk=10,
                      adapt=AdaptConfig(chunk=10, learning_rate=0.0, lanes=1))
    rows = report.summary.set_index("predictor")
    for column in ("bases", "accuracy", "bits_per_base", "mean_p_true"):
        assert rows.loc["model", column] == pytest.approx(rows.loc[ADAPT_ROW, column], rel=1e-6)


def test_carry_false_does_not_depend_on_the_order_of_intervals(keras_model, stepper, genome):
    from genorm.evaluation.evaluate import evaluate

    def per_record(ivs, carry):
        cfg = AdaptConfig(chunk=10, learning_rate=0.05, optimizer="adam", lanes=1, carry=carry)
        pr = evaluate(stepper, genome, ivs, adapt=cfg).per_record
        return pr[pr.predictor == ADAPT_ROW].set_index("record").bits_per_base.sort_index()

    forward, backward = [(r, 0, 260) for r in range(3)], [(r, 0, 260) for r in (2, 0, 1)]
    np.testing.assert_allclose(per_record(forward, False), per_record(backward, False), rtol=1e-6)
    carried = per_record(forward, True)
    assert carried["r0"] == pytest.approx(per_record(forward, False)["r0"], rel=1e-6)  # first: nothing carried yet
    assert carried["r1"] < per_record(forward, False)["r1"]  # the motif learnt on r0 carries over


def test_evaluate_refuses_adapt_with_window_and_bad_values(keras_model, stepper, genome):
    from genorm.evaluation.evaluate import evaluate

    with pytest.raises(ConfigError, match=r"^Adaptive evaluation reads every interval whole; it cannot be combined "
                                          r"with a context limited to the training window \(--adapt and --context "
                                          r"window exclude each other\)\.$"):
        evaluate(stepper, genome, window=20, adapt=AdaptConfig())
    with pytest.raises(ConfigError, match=r"^Received an invalid value for `adapt`, expected None or an AdaptConfig "
                                          r"\(genorm\.evaluation\.adapt\), got True\.$"):
        evaluate(stepper, genome, adapt=True)


# -- Predictor ----------------------------------------------------------------------------------

def test_predictor_adaptive_probabilities(stepper, genome):
    from genorm.predict import Predictor

    seq = genome.sequence(0) if hasattr(genome, "sequence") else "ACGTTGCAAC" * 40
    predictor = Predictor(stepper, chunk=64)
    static = predictor.predict_proba(seq)
    zero = predictor.predict_proba(seq, adapt=AdaptConfig(chunk=25, learning_rate=0.0, lanes=1))
    np.testing.assert_allclose(zero, static, atol=1e-6)
    cfg = AdaptConfig(chunk=25, learning_rate=0.05, optimizer="adam", lanes=2, warmup=10)
    adapted = predictor.predict_proba(seq, adapt=cfg)
    assert adapted.shape == static.shape and np.allclose(adapted.sum(axis=1), 1, atol=1e-5)
    predictor.adapt = cfg
    np.testing.assert_array_equal(predictor.predict_proba(seq), adapted)  # the same again: restarted per call
    np.testing.assert_array_equal(predictor.predict_proba(seq, adapt=False), static)
    assert predictor.score(seq) > predictor.score(seq, adapt=False)
    with pytest.raises(ConfigError, match=r"^Received an invalid value for `adapt`, expected None, False or an "
                                          r"AdaptConfig \(genorm\.evaluation\.adapt\), got 'yes'\.$"):
        predictor.predict_proba(seq, adapt="yes")


def test_predictor_score_records_restarts_per_record_unless_carried(stepper):
    from genorm.predict import Predictor

    motif = "ACGGTCATTGCA" * 20
    records = [("a", motif), ("b", motif)]
    predictor = Predictor(stepper)
    fresh = predictor.score_records(records, adapt=AdaptConfig(chunk=24, learning_rate=0.05, optimizer="adam"))
    assert fresh.bits_per_base[0] == pytest.approx(fresh.bits_per_base[1], rel=1e-6)
    carried = predictor.score_records(records, adapt=AdaptConfig(chunk=24, learning_rate=0.05, optimizer="adam",
                                                                 carry=True))
    assert carried.bits_per_base[0] == pytest.approx(fresh.bits_per_base[0], rel=1e-6)
    assert carried.bits_per_base[1] < fresh.bits_per_base[1]


def test_evaluate_default_adapts_only_where_it_can(monkeypatch):
    import genorm.evaluation.adapt as adapt

    monkeypatch.setattr(adapt, "DEFAULT_ADAPT", True)  # were it the default again
    assert adapt.evaluate_adapts(None) is True and adapt.evaluate_adapts(None, "window") is False
    assert adapt.evaluate_adapts(True, "window") is True  # explicit: the conflict is then an error
    monkeypatch.setattr(adapt, "_backend", lambda: "jax")
    assert adapt.evaluate_adapts(None) is False and adapt.evaluate_adapts(True) is True
