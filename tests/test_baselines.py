"""Baselines: hand-counted golden values, back-off, order choice, files, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from genorm.baselines import Baselines, context_arrays, count_order, fit_baselines, markov_scores
from genorm.encoding import string_to_codes
from genorm.errors import ConfigError, RunDirError
from genorm.genome.array import Genome


def _brute_force(train: list[str], seq: str, k: int) -> np.ndarray:
    """The Markov model with back-off, written out with dictionaries."""
    counts: dict[tuple[str, int], np.ndarray] = {}
    for s in train:
        for i, b in enumerate(s):
            if b == "N":
                continue
            run = 0
            while run < i and s[i - run - 1] != "N":
                run += 1
            for j in range(min(run, k) + 1):
                counts.setdefault((s[i - j:i], j), np.zeros(4))["ACGT".index(b)] += 1
    out = []
    for i in range(len(seq)):
        run = 0
        while run < i and seq[i - run - 1] != "N":
            run += 1
        j = min(run, k)
        c = counts.get((seq[i - j:i], j), np.zeros(4))
        out.append((c + 0.5) / (c.sum() + 2))
    return np.array(out)


def test_markov_order1_hand_counted():
    # ACACACACAC: A->C five times, C->A four times; A and C five times each.
    g = Genome.from_strings({"x": "ACACACACAC"})
    b = fit_baselines(g, train=[(0, 0, 10)], val=[(0, 0, 10)], max_order=1)
    assert b.order == 1
    np.testing.assert_allclose(b.composition, [5.5 / 12, 5.5 / 12, 0.5 / 12, 0.5 / 12])
    p = b.predict_proba(string_to_codes("ACG"), "markov")
    np.testing.assert_allclose(p[0], b.composition)  # empty context: backs off to order 0
    np.testing.assert_allclose(p[1], [0.5 / 7, 5.5 / 7, 0.5 / 7, 0.5 / 7])  # after A: 5 x C of 5
    np.testing.assert_allclose(p[2], [4.5 / 6, 0.5 / 6, 0.5 / 6, 0.5 / 6])  # after C: 4 x A of 4


def test_n_is_never_counted_and_breaks_contexts():
    x, run, ctx = context_arrays([string_to_codes("ACNAC")], 2)
    assert run.tolist() == [0, 1, 2, 0, 1]
    t1 = count_order(x, run, ctx, 1)
    assert t1.contexts.tolist() == [0]  # only context A
    assert t1.counts.tolist() == [[0, 2, 0, 0]]
    t0 = count_order(x, run, ctx, 0)
    assert t0.counts.tolist() == [[2, 2, 0, 0]]
    assert count_order(x, run, ctx, 2).contexts.size == 0  # every order-2 context touches N


def test_contexts_never_cross_intervals():
    g = Genome.from_strings({"x": "AAAA", "y": "CCCC"})
    b = fit_baselines(g, train=[(0, 0, 4), (1, 0, 4)], val=[(0, 0, 4), (1, 0, 4)], max_order=1)
    assert b.order == 1
    # no A -> C transition was seen: the pieces are separate
    assert b.tables[1].lookup(np.array([0, 1])).tolist() == [[3, 0, 0, 0], [0, 3, 0, 0]]


@pytest.mark.parametrize("k", [0, 1, 3])
def test_matches_brute_force_with_n(k):
    rng = np.random.default_rng(k)
    train = ["".join(rng.choice(list("ACGTN"), p=[0.3, 0.2, 0.2, 0.25, 0.05], size=n)) for n in (300, 7, 150)]
    test = "".join(rng.choice(list("ACGTN"), p=[0.3, 0.2, 0.2, 0.25, 0.05], size=200))
    xs = context_arrays([string_to_codes(s) for s in train], k)
    tables = [count_order(*xs, j) for j in range(k + 1)]
    ours = Baselines(tables=tables, order=k).predict_proba(string_to_codes(test), "markov")
    np.testing.assert_allclose(ours, _brute_force(train, test, k))


def test_order_chosen_on_validation():
    # AACG repeated: order 2 determines the next base, order 1 cannot (A -> A or C).
    g = Genome.from_strings({"x": "AACG" * 150})
    b = fit_baselines(g, train=[(0, 0, 450)], val=[(0, 450, 600)], max_order=4)
    assert b.order == 2
    assert [s["order"] for s in b.selection] == [0, 1, 2, 3, 4]
    assert b.val_bases == 150
    # val starts C G A A ...: C is predicted from nothing (composition says A: miss), G from C
    # (order 1: hit), every later base from two or more bases (hit).
    assert b.selection[2]["accuracy"] == pytest.approx(149 / 150)
    assert b.selection[1]["accuracy"] < 0.8


def test_markov_scores_golden():
    g = Genome.from_strings({"x": "AAAC"})
    b = fit_baselines(g, train=[(0, 0, 4)], val=[], max_order=0)
    (s,) = markov_scores(b.tables, [string_to_codes("AC")], [0])
    # P(A) = 3.5/6, P(C) = 1.5/6
    assert s["bases"] == 2
    assert s["bits_per_base"] == pytest.approx(-(math.log2(3.5 / 6) + math.log2(1.5 / 6)) / 2)
    assert s["accuracy"] == 0.5


def test_uniform_and_composition():
    g = Genome.from_strings({"x": "AAAC"})
    b = fit_baselines(g, train=[(0, 0, 4)], val=[(0, 0, 4)], max_order=0)
    assert b.predict_proba(string_to_codes("ACGT"), "uniform").tolist() == [[0.25] * 4] * 4
    np.testing.assert_allclose(b.predict_proba(string_to_codes("AC"), "composition"),
                               [[3.5 / 6, 1.5 / 6, 0.5 / 6, 0.5 / 6]] * 2)


def test_no_validation_falls_back_to_size_rule():
    g = Genome.from_strings({"x": "ACGT" * 64})
    b = fit_baselines(g, train=[(0, 0, 256)], val=[], max_order=8)
    assert b.order == 0 and b.selection == []  # round(log4 256) - 5 < 0 -> 0


def test_save_load_roundtrip(tmp_path):
    g = Genome.from_strings({"x": "ACGTTGCAACGGTTAC" * 10})
    b = fit_baselines(g, train=[(0, 0, 120)], val=[(0, 120, 160)], max_order=3)
    path = tmp_path / "baselines.npz"
    b.save(path)
    c = Baselines.load(path)
    assert c.order == b.order and c.selection == b.selection and c.train_bases == 120
    codes = string_to_codes("ACGTTGCA")
    for name in ("uniform", "composition", "markov"):
        np.testing.assert_array_equal(c.predict_proba(codes, name), b.predict_proba(codes, name))
    assert [p.name for p in tmp_path.iterdir()] == ["baselines.npz"]  # no temporary left


def test_load_errors(tmp_path):
    with pytest.raises(RunDirError, match="not found"):
        Baselines.load(tmp_path / "missing.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(RunDirError, match="not a readable .npz"):
        Baselines.load(bad)
    old = tmp_path / "old.npz"
    np.savez(old, format_version=np.array(99), order=np.array(0))
    with pytest.raises(RunDirError, match="format version 99, expected 1"):
        Baselines.load(old)


@pytest.mark.parametrize("kwargs, match", [
    ({"max_order": -1}, "`max_order`, expected an integer in 0..24, got -1"),
    ({"max_order": 2.5}, "got 2.5"),
    ({"train": []}, "no training intervals"),
])
def test_fit_errors(kwargs, match):
    g = Genome.from_strings({"x": "ACGT"})
    kwargs = {"train": [(0, 0, 4)], "val": [], **kwargs}
    with pytest.raises(ConfigError, match=match):
        fit_baselines(g, **kwargs)


def test_predict_unknown_name():
    b = fit_baselines(Genome.from_strings({"x": "ACGT"}), train=[(0, 0, 4)], val=[], max_order=0)
    with pytest.raises(ConfigError, match="invalid baseline name 'markov2'"):
        b.predict_proba(string_to_codes("A"), "markov2")


def test_blockwise_counting_equals_one_pass(monkeypatch):
    import genorm.baselines as gb

    rng = np.random.default_rng(5)
    seqs = {f"r{i}": "".join(rng.choice(list("ACGTN"), p=[.24, .24, .24, .24, .04], size=n))
            for i, n in enumerate([500, 37, 260])}
    g = Genome.from_strings(seqs)
    train = [(0, 0, 500), (1, 0, 37), (2, 10, 260)]
    whole = fit_baselines(g, train=train, val=[], max_order=4)
    monkeypatch.setattr(gb, "_BLOCK", 16)  # many blocks, intervals cut mid-way
    monkeypatch.setattr(gb, "_DENSE_CELLS", 4)  # and sparse counting of most orders
    blocked = fit_baselines(g, train=train, val=[], max_order=4)
    xs = context_arrays([string_to_codes(seqs[f"r{r}"][s:e]) for r, s, e in train], 4)
    for j in range(4 + 1):
        want = count_order(*xs, j)
        got = gb._Counter(j, False)
        for block in gb._blocks(g, train, 4, 16):
            got.add(*block)
        assert got.table().contexts.tolist() == want.contexts.tolist()
        assert got.table().counts.tolist() == want.counts.tolist()
    assert blocked.train_bases == whole.train_bases and blocked.order == whole.order


def test_large_inputs_are_subsampled_evenly():
    from genorm.baselines import spread_intervals

    ivs = [(0, 0, 10_000), (1, 0, 30_000)]
    got = spread_intervals(ivs, 8_000, piece=1_000)
    assert sum(e - s for _, s, e in got) == 8_000
    assert {r for r, _, _ in got} == {0, 1}  # both records contribute
    assert spread_intervals(ivs, None) == ivs and spread_intervals(ivs, 40_000) == ivs
    g = Genome.from_strings({"x": "ACGT" * 1000})
    b = fit_baselines(g, train=[(0, 0, 3000)], val=[(0, 3000, 4000)], max_order=2,
                      max_train_bases=1000, max_val_bases=500)
    assert 900 <= b.train_bases <= 1000 and 450 <= b.val_bases <= 500
