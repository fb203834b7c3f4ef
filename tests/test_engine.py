"""Tests of genorm.engine: plans of lanes, and streaming equal to one pass."""

from __future__ import annotations

import numpy as np
import pytest

from genorm.engine import Lane, plan_lanes, stream
from genorm.genome.array import Genome
from steppers import ElmanStepper, LastTwoStepper


def _collect(stepper, genome, lanes, **kw):
    got = {}
    for r, p, logits in stream(stepper, genome, lanes, **kw):
        for rr, pp, ll in zip(r, p, logits):
            assert (rr, pp) not in got, "a base was scored twice"
            got[(int(rr), int(pp))] = ll
    return got


def test_plans_cover_every_base_once():
    ivs = [(0, 0, 2500), (1, 10, 10), (1, 20, 23)]
    for kw in ({}, {"warmup": 100, "segment": 1000}, {"window": 7}, {"warmup": 5}):
        lanes = plan_lanes(ivs, **kw)
        scored = sorted((lane.record, p) for lane in lanes for p in range(lane.start, lane.end))
        assert scored == sorted((r, p) for r, s, e in ivs for p in range(s, e))
        assert all(lane.ctx_start <= lane.start < lane.end for lane in lanes)
    assert plan_lanes(ivs) == [Lane(0, 0, 0, 2500), Lane(1, 20, 20, 23)]


def test_default_segment_fills_the_batch_but_bounds_warmup_cost():
    lanes = plan_lanes([(0, 0, 100_000)], warmup=300, batch_size=10)
    assert {lane.end - lane.start for lane in lanes} == {10_000}
    lanes = plan_lanes([(0, 0, 100_000)], warmup=300, batch_size=1000)
    assert max(lane.end - lane.start for lane in lanes) == 1200  # at least 4 x warm-up


@pytest.mark.parametrize("batch_size, chunk", [(1, 1000), (2, 3), (3, 7), (8, 1)])
def test_streaming_equals_one_shot(batch_size, chunk):
    rng = np.random.default_rng(1)
    seqs = {f"r{i}": "".join(rng.choice(list("ACGTN"), p=[.24, .24, .24, .24, .04], size=n))
            for i, n in enumerate([60, 1, 2, 33, 17])}
    g = Genome.from_strings(seqs)
    stepper = ElmanStepper()
    intervals = [(0, 5, 60), (1, 0, 1), (2, 0, 2), (3, 0, 33), (4, 3, 17)]
    got = _collect(stepper, g, plan_lanes(intervals), batch_size=batch_size, chunk=chunk)
    assert len(got) == sum(e - s for _, s, e in intervals)
    for r, s, e in intervals:
        want = stepper.one_shot(g.codes(r)[s:e])
        have = np.stack([got[(r, p)] for p in range(s, e)])
        np.testing.assert_allclose(have, want, atol=1e-5)


def test_warmup_lanes_exact_for_finite_memory():
    g = Genome.from_strings({"x": "ACGTTGCANACGGTTACAATTGGCC" * 8})
    exact = _collect(LastTwoStepper(), g, plan_lanes([(0, 3, 200)]))
    lanes = plan_lanes([(0, 3, 200)], warmup=2, segment=9)
    assert lanes[1] == Lane(0, 10, 12, 21)
    warm = _collect(LastTwoStepper(), g, lanes, batch_size=4, chunk=5)
    assert warm.keys() == exact.keys()
    for k in exact:
        np.testing.assert_array_equal(warm[k], exact[k])
    short = _collect(LastTwoStepper(), g, plan_lanes([(0, 3, 200)], warmup=1, segment=9), batch_size=4)
    assert any((short[k] != exact[k]).any() for k in exact)  # one base of warm-up is not enough

def test_window_limits_context():
    g = Genome.from_strings({"x": "ACGTACGTACGT"})
    got = _collect(LastTwoStepper(), g, plan_lanes([(0, 0, 12)], window=5))
    # offset 0 of each window: empty context (initial logits, 0); offset 1: one base (5 * 6 + code)
    for w in (0, 5, 10):
        assert got[(0, w)][0] == 0
        assert got[(0, w + 1)][0] == 5 * 6 + g.codes(0)[w]


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_keras_streaming_equals_one_shot(cell):
    from genorm.model import ModelConfig, build_model
    from genorm.stepper import make_stepper

    model = build_model(ModelConfig(cell=cell, units=8, layers=2))
    rng = np.random.default_rng(2)
    codes = rng.choice(5, p=[.24, .24, .24, .24, .04], size=300).astype(np.uint8)
    g = Genome.from_strings({"x": "".join("ACGTN"[c] for c in codes), "y": "ACGTTGCA"})
    one_shot = np.asarray(model(codes[None, :-1].astype(np.int32)))[0]
    stepper = make_stepper(model)
    want = np.vstack([stepper.initial_logits()[None], one_shot])
    got = _collect(stepper, g, plan_lanes([(0, 0, 300), (1, 0, 8)]), batch_size=2, chunk=64)
    have = np.stack([got[(0, p)] for p in range(300)])
    np.testing.assert_allclose(have, want, atol=1e-5)


def test_progress_reaches_the_total():
    g = Genome.from_strings({"x": "ACGT" * 30})
    seen = []
    _collect(ElmanStepper(), g, plan_lanes([(0, 0, 120)], window=25), batch_size=2, chunk=10,
             progress=lambda done, total, what: seen.append((done, total, what)))
    assert seen[-1] == (120, 120, "evaluate") and [d for d, _, _ in seen] == sorted(d for d, _, _ in seen)


@pytest.mark.parametrize("kw", [{"segment": 50}, {"segment": 50, "window": 20}])
def test_segment_without_warmup_is_refused_not_ignored(kw):
    """Issue 23: `segment` (--segment) without `warmup` was silently ignored."""
    from genorm.errors import ConfigError

    with pytest.raises(ConfigError, match=r"^Received `segment` without `warmup` \(--segment without --warmup\): "
                                          r"segments are the lanes of warm-up evaluation; exact streaming reads each "
                                          r"interval in one lane\. Add --warmup BASES, or leave --segment out\.$"):
        plan_lanes([(0, 0, 500)], **kw)


def test_lanes_that_would_outgrow_the_machine_are_a_clear_error():
    """A stepper whose lanes grow with what they read (count models that update) is checked before it runs."""
    import pytest

    from genorm.engine import Lane, Sequences, stream
    from genorm.errors import ConfigError
    from steppers import ConstantStepper

    class Growing(ConstantStepper):
        def lane_bytes(self, bases):
            return bases * 10**12  # a petabyte per base: more than any machine

    packed = [np.zeros(50, np.uint8)]
    with pytest.raises(ConfigError, match=r"Reading 1 lane\(s\) of up to 50 bases with count models that update as "
                                          r"they read .* needs about .* GB of memory, but this machine has .* GB; read "
                                          r"shorter intervals"):
        list(stream(Growing(), Sequences(packed), [Lane(0, 0, 0, 50)]))
    assert len(list(stream(ConstantStepper(), Sequences(packed), [Lane(0, 0, 0, 50)]))) > 0
