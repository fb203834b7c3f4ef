"""Evaluation: golden numbers from models whose answers are known by hand; exact streaming."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from genorm.evaluation.baselines import fit_baselines, markov_scores
from genorm.encoding import string_to_codes
from genorm.errors import ConfigError
from genorm.evaluation.evaluate import Lane, evaluate, plan_lanes, stream_logits
from genorm.genome import Genome

P_CONST = np.array([0.1, 0.2, 0.3, 0.4])


class ConstantStepper:
    """Always predicts P_CONST."""

    def initial_state(self, batch):
        return [np.zeros((batch, 1), np.float32)]

    def initial_logits(self):
        return np.log(P_CONST).astype(np.float32)

    def step(self, codes, state):
        return np.broadcast_to(self.initial_logits(), (*codes.shape, 4)).copy(), state


class ElmanStepper:
    """A tiny NumPy recurrence h = tanh(x W + h U), logits = h V + c (one-hot N is zeros)."""

    def __init__(self, units=5, seed=0):
        rng = np.random.default_rng(seed)
        self.w, self.u = rng.normal(size=(4, units)), rng.normal(size=(units, units)) * 0.6
        self.v, self.c = rng.normal(size=(units, 4)), rng.normal(size=4)
        self.calls = []

    def initial_state(self, batch):
        return [np.zeros((batch, self.u.shape[0]))]

    def initial_logits(self):
        return self.c.astype(np.float32)

    def step(self, codes, state):
        self.calls.append(codes.shape)
        onehot = np.vstack([np.eye(4), np.zeros((1, 4))])[codes]
        h, out = state[0], []
        for t in range(codes.shape[1]):
            h = np.tanh(onehot[:, t] @ self.w + h @ self.u)
            out.append(h @ self.v + self.c)
        return np.stack(out, axis=1).astype(np.float32), [h]

    def one_shot(self, codes):
        """Logits (L, 4) of every base of one sequence, base 0 from the empty context."""
        first = self.initial_logits()[None]
        if len(codes) == 1:
            return first
        logits, _ = self.step(np.asarray(codes)[None, :-1], self.initial_state(1))
        return np.vstack([first, logits[0]])


class LastTwoStepper:
    """Logits depend only on the last two inputs (state = those two codes, 5 = none yet)."""

    def initial_state(self, batch):
        return [np.full((batch, 2), 5.0)]

    def initial_logits(self):
        return np.zeros(4, np.float32)

    def step(self, codes, state):
        prev = state[0].copy()
        out = np.zeros((*codes.shape, 4), np.float32)
        for t in range(codes.shape[1]):
            prev = np.stack([prev[:, 1], codes[:, t]], axis=1)
            out[:, t, 0] = prev[:, 0] * 6 + prev[:, 1]
        return out, [prev]


def _collect(stepper, genome, lanes, **kw):
    got = {}
    for r, p, logits in stream_logits(stepper, genome, lanes, **kw):
        for rr, pp, ll in zip(r, p, logits):
            assert (rr, pp) not in got, "a base was scored twice"
            got[(int(rr), int(pp))] = ll
    return got


GENOME = {"a": "ACGTacgtNNTTGCAAAT", "b": "GGGGCnT", "c": "T"}


def test_constant_model_golden():
    g = Genome.from_strings(GENOME)
    rep = evaluate(ConstantStepper(), g, [(0, 0, 18), (1, 0, 7), (2, 0, 1)], batch_size=2, chunk=4)
    seq = "".join(GENOME.values()).upper().replace("N", "")
    counts = {b: seq.count(b) for b in "ACGT"}
    n = len(seq)
    model = rep.summary.iloc[0]
    assert model["predictor"] == "model" and model["bases"] == n == 23
    assert model["accuracy"] == pytest.approx(counts["T"] / n)  # the most probable base is T
    assert model["top2_accuracy"] == pytest.approx((counts["G"] + counts["T"]) / n)
    bits = -sum(counts[b] * math.log2(p) for b, p in zip("ACGT", P_CONST)) / n
    assert model["bits_per_base"] == pytest.approx(bits)
    assert model["perplexity"] == pytest.approx(2 ** bits)
    uni = rep.summary.set_index("predictor").loc["uniform"]
    assert (uni["accuracy"], uni["top2_accuracy"], uni["bits_per_base"]) == (0.25, 0.5, 2.0)
    pn = rep.per_nucleotide[rep.per_nucleotide.predictor == "model"].set_index("base")
    assert pn["count"].to_dict() == counts
    assert pn["recall"].to_dict() == {"A": 0.0, "C": 0.0, "G": 0.0, "T": 1.0}
    assert pn.loc["T", "precision"] == pytest.approx(counts["T"] / n)
    assert pn.loc["A", "mean_p_true"] == pytest.approx(0.1)
    conf = rep.confusion[rep.confusion.predictor == "model"].set_index("true")
    assert conf["pred_T"].to_dict() == {b: float(c) for b, c in counts.items()}
    assert conf[["pred_A", "pred_C", "pred_G"]].to_numpy().sum() == 0


def test_per_record_and_mask_rows_add_up_to_total():
    g = Genome.from_strings(GENOME)
    b = fit_baselines(g, train=[(0, 0, 18)], val=[(1, 0, 7)], max_order=2)
    rep = evaluate(ElmanStepper(), g, [(0, 2, 18), (1, 0, 7), (2, 0, 1)], baselines=b)
    assert list(rep.summary.predictor) == ["model", "uniform", "composition", f"markov k={b.order}"]
    for table in (rep.per_record, rep.by_mask):
        for pred, rows in table.groupby("predictor"):
            total = rep.summary.set_index("predictor").loc[pred]
            assert rows["bases"].sum() == total["bases"]
            for col in ("accuracy", "bits_per_base", "top2_accuracy"):
                assert (rows[col] * rows["bases"]).sum() / rows["bases"].sum() == pytest.approx(total[col])
    assert rep.per_record[rep.per_record.predictor == "model"].record.tolist() == ["a", "b", "c"]
    masked = rep.by_mask.set_index(["mask", "predictor"]).loc[("soft-masked", "model"), "bases"]
    assert masked == 4  # acgt at positions 4..7 of record a (b's 'n' is N, never a target)
    prof = rep.profile[rep.profile.predictor == "model"]
    assert prof.bases.sum() == rep.summary.bases[0]


def test_n_is_never_a_target():
    g = Genome.from_strings({"x": "NNNNACGTNNNN", "y": "NNN"})
    rep = evaluate(ConstantStepper(), g, [(0, 0, 12), (1, 0, 3)])
    assert rep.summary.bases.tolist() == [4, 4]
    assert rep.per_record.record.unique().tolist() == ["x"]


def test_markov_row_matches_markov_scores():
    g = Genome.from_strings({"x": "ACGTTGCAACGGTTACAATTGGCC" * 20})
    b = fit_baselines(g, train=[(0, 0, 300)], val=[(0, 300, 400)], max_order=3)
    rep = evaluate(ConstantStepper(), g, [(0, 400, 480)], baselines=b)
    (s,) = markov_scores(b.tables, [string_to_codes(g.sequence(0)[400:480])], [b.order])
    row = rep.summary.set_index("predictor").loc[f"markov k={b.order}"]
    assert row["bits_per_base"] == pytest.approx(s["bits_per_base"])
    assert row["accuracy"] == pytest.approx(s["accuracy"])


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
    rep = evaluate(LastTwoStepper(), g, [(0, 0, 12)], window=5)
    assert rep.meta["mode"] == "window" and rep.meta["lanes"] == 3


def test_report_files(tmp_path):
    g = Genome.from_strings(GENOME)
    rep = evaluate(ConstantStepper(), g, [(0, 0, 18), (1, 0, 7)])
    rep.to_json(tmp_path / "r.json")
    rep.to_tsv(tmp_path / "r.tsv")
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["summary"][0]["bases"] == 22 and data["meta"]["mode"] == "exact"
    long = pd.read_csv(tmp_path / "r.tsv", sep="\t", keep_default_na=False)
    row = long[(long.table == "summary") & (long.predictor == "model") & (long.metric == "accuracy")]
    assert float(row.value.iloc[0]) == pytest.approx(rep.summary.accuracy[0])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json", "r.tsv"]


@pytest.mark.parametrize("kwargs, match", [
    ({"intervals": [(0, 0, 5), (0, 3, 8)]}, r"overlap: each base must be scored once"),
    ({"intervals": [(0, 0, 50)]}, r"outside record 'a' of length 18"),
    ({"intervals": [(7, 0, 5)]}, r"record index 7, but the genome has 3 records"),
    ({"warmup": 10, "window": 5}, "Received both `warmup` and `window`"),
    ({"warmup": -1}, "`warmup`, expected an integer >= 0, got -1"),
    ({"batch_size": 0}, "`batch_size`, expected a positive integer, got 0"),
])
def test_errors(kwargs, match):
    g = Genome.from_strings(GENOME)
    kwargs = {"intervals": [(0, 0, 18)], **kwargs}
    with pytest.raises(ConfigError, match=match):
        evaluate(ConstantStepper(), g, **kwargs)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_keras_streaming_equals_one_shot(cell):
    from genorm.model import ModelConfig, build_model, make_stepper

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
    rep = evaluate(model, g, [(0, 0, 300)], chunk=37)
    assert rep.summary.bases[0] == int((codes < 4).sum())


# ------------------------------------------------------------------------------------------
# the command line, on a tiny trained run


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    from genorm.config import ModelConfig, TrainConfig
    from genorm.training.trainer import train

    root = tmp_path_factory.mktemp("run")
    rng = np.random.default_rng(3)
    seqs = {"chr1": "".join(rng.choice(list("ACGT"), size=3000)),
            "chr2": "".join(rng.choice(list("ACGTacgt"), size=2000))}
    fasta = root / "g.fa"
    fasta.write_text("".join(f">{k}\n{v}\n" for k, v in seqs.items()))
    cfg = TrainConfig(model=ModelConfig(units=8, layers=1), window=20, batch_size=8, epochs=1, bases_per_epoch=400)
    train([str(fasta)], cfg, out_dir=root / "run")
    return root / "run", fasta


def test_cli_evaluate_run_split(tiny_run, tmp_path, capsys):
    from genorm.cli import main
    from genorm.trained import load

    run_dir, _ = tiny_run
    out, png = tmp_path / "report.json", tmp_path / "report.png"
    assert main(["evaluate", str(run_dir), "--output", str(out), "--plot", str(png), "--chunk", "50"]) == 0
    text = capsys.readouterr().out
    assert "exact streaming" in text and "markov k=" in text and "per record:" in text
    data = json.loads(out.read_text())
    run = load(run_dir)
    assert data["summary"][0]["bases"] == sum(iv.end - iv.start for iv in run.splits.test)
    assert png.stat().st_size > 10_000
    # the Python API on the loaded run picks up its baselines.npz and gives the same numbers
    rep = evaluate(run, run.genome, run.splits.test)
    assert rep.summary.predictor.tolist() == [row["predictor"] for row in data["summary"]]
    assert rep.summary.bits_per_base.tolist() == pytest.approx([row["bits_per_base"] for row in data["summary"]])
    if hasattr(run, "evaluate"):  # LoadedRun.evaluate delegates here
        assert run.evaluate().summary.bits_per_base.tolist() == pytest.approx(rep.summary.bits_per_base.tolist())
    # warm-up lanes and window mode run too; val split
    assert main(["evaluate", str(run_dir), "--split", "val", "--warmup", "10", "--segment", "30",
                 "-o", str(tmp_path / "r.tsv")]) == 0
    assert "warm-up lanes (10 bases of warm-up" in capsys.readouterr().out
    assert main(["evaluate", str(run_dir), "--context", "window"]) == 0
    assert "context limited to windows of 20 bases" in capsys.readouterr().out
    assert main(["evaluate", str(run_dir), "--records", "chr2"]) == 0
    n_chr2 = sum(iv.end - iv.start for iv in run.splits.test if iv.record == 1)
    assert f"evaluated {n_chr2:,} bases" in capsys.readouterr().out
    assert main(["evaluate", str(run_dir), "--records", "chrX"]) == 2
    assert "No record named 'chrX'" in capsys.readouterr().err


def test_cli_evaluate_fasta_and_errors(tiny_run, tmp_path, capsys):
    from genorm.cli import main

    run_dir, fasta = tiny_run
    assert main(["evaluate", str(run_dir), str(fasta)]) == 0
    assert "evaluated 5,000 bases of 2 record(s)" in capsys.readouterr().out
    assert main(["evaluate", str(run_dir), "-o", str(tmp_path / "r.csv")]) == 2
    assert "expected a file name ending in .json or .tsv" in capsys.readouterr().err
    assert main(["evaluate", str(run_dir), "--warmup", "5", "--context", "window"]) == 2
    assert "exclude each other" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_evaluate_fasta_path_whole_records(write_fasta):
    path = write_fasta(">x\nTTTGA\n>y\nNNT\n")
    rep = evaluate(ConstantStepper(), str(path))
    assert rep.summary.bases.tolist() == [6, 6]
    assert rep.summary.accuracy[0] == pytest.approx(4 / 6)
    assert rep.per_record[rep.per_record.predictor == "model"].bases.tolist() == [5, 1]
