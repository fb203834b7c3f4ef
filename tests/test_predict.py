"""The analysis API: alignment, scores, sampling, inputs, writers."""

from __future__ import annotations

import io
import sys

import numpy as np
import pytest
from Bio.Seq import Seq
from Bio.SeqRecord import SeqRecord

from genorm import encoding
from genorm.errors import ConfigError, FastaFormatError
from genorm.model import ModelConfig, build_model
from genorm.stepper import make_stepper
from genorm.predict import Predictor, write_predictions


def softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@pytest.fixture(scope="module")
def model():
    import keras

    keras.utils.set_random_seed(3)
    m = build_model(ModelConfig(cell="gru", units=8, layers=2))
    dense = m.get_layer("logits")
    w, b = dense.get_weights()
    dense.set_weights([w * 4, np.array([0.3, -0.2, 0.1, 0.0], dtype=np.float32)])  # make outputs non-trivial
    return m


@pytest.fixture(scope="module")
def predictor(model):
    return Predictor(make_stepper(model), chunk=7)


SEQ = "ACGTTGCAnnACGGATTACAGATTACA"


def test_alignment_row_i_is_p_of_base_i_given_the_bases_before(model, predictor):
    codes = encoding.string_to_codes(SEQ)
    proba = predictor.predict_proba(SEQ)
    assert proba.shape == (len(SEQ), 4) and proba.dtype == np.float32
    np.testing.assert_allclose(proba.sum(1), 1, atol=1e-5)
    logits = np.asarray(model(codes[None].astype(np.int32)))[0]
    # row 0: empty context = the output layer at the zero state = softmax(bias)
    np.testing.assert_allclose(proba[0], softmax(np.array([0.3, -0.2, 0.1, 0.0])), atol=1e-6)
    # row i: the model's output after reading base i-1
    np.testing.assert_allclose(proba[1:], softmax(logits[:-1]), atol=1e-5)
    # a prefix's probabilities do not depend on what follows (causality)
    np.testing.assert_allclose(predictor.predict_proba(SEQ[:10]), proba[:10], atol=1e-6)


def test_chunking_does_not_change_results(model):
    a = Predictor(make_stepper(model), chunk=3).predict_proba(SEQ)
    b = Predictor(make_stepper(model), chunk=1000).predict_proba(SEQ)
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_score_is_the_sum_of_log2_probabilities_of_the_true_bases(predictor):
    proba = predictor.predict_proba(SEQ)
    codes = encoding.string_to_codes(SEQ)
    keep = codes != 4
    expected = np.log2(proba[np.arange(len(SEQ)), np.minimum(codes, 3)])[keep].sum()
    assert predictor.score(SEQ) == pytest.approx(expected, rel=1e-6)
    d = predictor.score_details(SEQ)
    assert d["bases_scored"] == len(SEQ) - 2 and d["length"] == len(SEQ)
    assert d["bits_per_base"] == pytest.approx(-expected / (len(SEQ) - 2), rel=1e-6)


def test_frame_columns_and_n_rows(predictor):
    df = predictor.predict_frame(SEQ)
    assert list(df.columns) == ["position", "base", "p_a", "p_c", "p_g", "p_t", "p_true", "surprisal_bits"]
    assert df["position"].tolist() == list(range(len(SEQ)))
    assert "".join(df["base"]) == SEQ.upper()
    assert df.loc[df["base"] == "N", "surprisal_bits"].isna().all()
    row = df.iloc[3]
    assert row["p_true"] == pytest.approx(row["p_t"])


@pytest.mark.parametrize("form", [
    lambda s: s, lambda s: s.lower(), lambda s: Seq(s), lambda s: SeqRecord(Seq(s), id="x"),
    lambda s: encoding.string_to_codes(s), lambda s: s.encode(),
])
def test_every_input_type_gives_the_same_answer(predictor, form):
    seq = "ACGTTGCAACGG"
    np.testing.assert_allclose(predictor.predict_proba(form(seq)), predictor.predict_proba(seq), atol=1e-6)


@pytest.mark.parametrize("bad, error, message", [
    ("", ConfigError, r"Received an empty sequence"),
    ("MKVLLPE", FastaFormatError, r"sequence: Invalid character 'L' at position 4"),
    (np.array([0, 7]), ConfigError, r"expected codes 0-4"),
])
def test_bad_input(predictor, bad, error, message):
    with pytest.raises(error, match=message):
        predictor.predict_proba(bad)


TYPES = r"expected a string, bytes, Bio\.Seq\.Seq, SeqRecord or a 1-D integer array of codes 0-4"


@pytest.mark.parametrize("bad, shown", [
    # issue 23: each was read as DNA through str() ("nan" -> N, A, N), or raised a bare TypeError
    (float("nan"), "nan"),
    (None, "None"),
    (123, "123"),
    (list("ACGT"), r"\['A', 'C', 'G', 'T'\]"),
    (list("ACGT") * 1000, r"\['A', 'C', 'G', 'T', 'A', 'C', \.\.\.\]"),  # shown short
    ({"a": "ACGT"}, r"\{'a': 'ACGT'\}"),
])
def test_only_documented_input_types(predictor, bad, shown):
    message = rf"^Received an invalid value for `seq`, {TYPES}, got {shown}\.$"
    for call in (predictor.predict_proba, predictor.score, predictor.log2_probs):
        with pytest.raises(ConfigError, match=message):
            call(bad)
    if bad is not None:  # prime=None is documented: no prime
        with pytest.raises(ConfigError, match=rf"^Received an invalid value for `prime`, {TYPES}, got {shown}\.$"):
            predictor.sample(5, prime=bad)


def test_undefined_seq_is_refused(predictor):
    from Bio.Seq import Seq

    with pytest.raises(ConfigError, match=r"^Received an invalid value for `seq`, expected a sequence whose bases are "
                                          r"defined \(this Bio\.Seq\.Seq holds only its length, 10\), got "
                                          r"Seq\(None, length=10\)\.$"):
        predictor.predict_proba(Seq(None, length=10))
    with pytest.raises(ConfigError, match=r"^Received an invalid value for `prime`, expected a sequence whose bases"):
        predictor.sample(5, prime=Seq(None, length=3))
    assert len(predictor.sample(5, prime=None, seed=0)) == 5  # None: no prime, as documented


def test_sampling_is_reproducible_and_temperature_zero_is_greedy(predictor):
    a = predictor.sample(20, prime="ACG", seed=1)
    assert a == predictor.sample(20, prime="ACG", seed=1)
    assert len(a) == 20 and set(a) <= set("ACGT")
    greedy = predictor.sample(12, prime="ACG", temperature=0)
    # the greedy path: each base is the argmax of predict_proba over prime + path so far
    seq = "ACG"
    for base in greedy:
        nxt = "ACGT"[int(np.argmax(predictor.predict_proba(seq + "A")[-1]))]
        assert base == nxt
        seq += base
    assert greedy == predictor.sample(12, prime="ACG", temperature=1e-6, seed=5)
    with pytest.raises(ConfigError, match=r"`length`, expected a positive integer, got 0"):
        predictor.sample(0)
    with pytest.raises(ConfigError, match=r"`temperature`, expected a finite number >= 0, got -1"):
        predictor.sample(5, temperature=-1)


def test_bedgraph_coordinates_match_the_input(predictor):
    fasta = io.BytesIO(b">r1\nACGTNACG\n>r2\nTTGA\n")
    out = io.StringIO()
    n = write_predictions(predictor, fasta, out, fmt="bedgraph")
    assert n == 12
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("track type=bedGraph")
    rows = [line.split("\t") for line in lines[1:]]
    assert [(r[0], int(r[1]), int(r[2])) for r in rows[:5]] == [("r1", 0, 1), ("r1", 1, 2), ("r1", 2, 3), ("r1", 3, 4), ("r1", 5, 6)]
    assert len(rows) == 11  # the N is not a value
    expected = -predictor.log2_probs("TTGA")
    np.testing.assert_allclose([float(r[3]) for r in rows if r[0] == "r2"], expected, rtol=1e-5)


def test_tsv_writer(predictor):
    out = io.StringIO()
    write_predictions(predictor, io.BytesIO(b">r1\nACGTN\n"), out, fmt="tsv")
    lines = out.getvalue().splitlines()
    assert lines[0].split("\t") == ["record", "position", "base", "p_a", "p_c", "p_g", "p_t", "p_true", "surprisal_bits"]
    assert lines[5].split("\t")[:3] == ["r1", "4", "N"] and lines[5].endswith("NA\tNA")


def test_score_records(predictor):
    df = predictor.score_records(io.BytesIO(b">a\nACGT\n>b\nGGNNA\n"))
    assert df["record"].tolist() == ["a", "b"]
    assert df["bases_scored"].tolist() == [4, 3]
    assert df.loc[0, "log2_likelihood"] == pytest.approx(predictor.score("ACGT"), rel=1e-6)


# ------------------------------------------------------------------------------------------
# tracks: sorted bedGraph, bigWig


def test_bedgraph_is_sorted_by_record_name_in_byte_order_then_start(predictor):
    fasta = io.BytesIO(b">chr2\nACGT\n>chr10\nGGNA\n>Chr1\nTT\n>chr1\nCA\n")
    out = io.StringIO()
    assert write_predictions(predictor, fasta, out, fmt="bedgraph") == 12
    rows = [line.split("\t") for line in out.getvalue().splitlines()[1:]]
    keys = [(r[0], int(r[1])) for r in rows]
    # LC_COLLATE=C sort -k1,1 -k2,2n: upper case first, then 'chr1' < 'chr10' < 'chr2'
    assert keys == [("Chr1", 0), ("Chr1", 1), ("chr1", 0), ("chr1", 1), ("chr10", 0), ("chr10", 1), ("chr10", 3),
                    ("chr2", 0), ("chr2", 1), ("chr2", 2), ("chr2", 3)]
    assert keys == sorted(keys, key=lambda k: (k[0].encode(), k[1]))
    np.testing.assert_allclose([float(r[3]) for r in rows if r[0] == "chr2"], -predictor.log2_probs("ACGT"), rtol=1e-5)


def test_bigwig_reads_back_with_the_same_library(predictor, tmp_path):
    pybigtools = pytest.importorskip("pybigtools")
    from genorm.predict import write_bigwig

    path = tmp_path / "s.bw"
    assert write_bigwig(predictor, io.BytesIO(b">chr2\nACGTAC\n>chr10\nGGNA\n"), path) == 10
    bw = pybigtools.open(str(path))
    assert bw.chroms() == {"chr10": 4, "chr2": 6}  # sizes from the records
    got = list(bw.records("chr10"))
    assert [(s, e) for s, e, _ in got] == [(0, 1), (1, 2), (3, 4)]  # the N has no value
    expected = -predictor.log2_probs("GGNA")
    np.testing.assert_allclose([v for _, _, v in got], expected[[0, 1, 3]], rtol=1e-5)
    np.testing.assert_allclose([v for _, _, v in bw.records("chr2")], -predictor.log2_probs("ACGTAC"), rtol=1e-5)
    assert not list(tmp_path.glob(".*.tmp*"))


def test_bigwig_errors(predictor, tmp_path, monkeypatch):
    pytest.importorskip("pybigtools")
    from genorm.predict import write_bigwig

    with pytest.raises(ConfigError, match=r"every base of the input is N \(a bigWig needs at least one value\)"):
        write_bigwig(predictor, io.BytesIO(b">a\nNNNN\n"), tmp_path / "n.bw")
    assert not (tmp_path / "n.bw").exists()
    monkeypatch.setitem(sys.modules, "pybigtools", None)  # as if not installed
    with pytest.raises(ConfigError, match=r"needs the optional pybigtools package: pip install genorm\[tracks\]"):
        write_bigwig(predictor, io.BytesIO(b">a\nACGT\n"), tmp_path / "x.bw")


def test_track_format_from_flag_or_extension():
    from genorm.predict import track_format

    assert [track_format(p) for p in ("a.tsv", "a.bedGraph", "a.bg", "a.bedgraph.gz", "a.BW", "a.bigwig", "-")] == [
        "tsv", "bedgraph", "bedgraph", "bedgraph", "bigwig", "bigwig", "tsv"]
    assert track_format("a.bw", "tsv") == "tsv"
    with pytest.raises(ConfigError, match=r"`format`, expected one of tsv, bedgraph, bigwig, got 'csv'"):
        track_format("a.tsv", "csv")


def test_write_track_is_atomic(predictor, tmp_path):
    from genorm.predict import write_track

    path = tmp_path / "t.bedgraph"
    assert write_track(predictor, io.BytesIO(b">a\nACGT\n"), path, "bedgraph") == 4
    assert path.read_text().startswith("track type=bedGraph")
    with pytest.raises(FastaFormatError):
        write_track(predictor, io.BytesIO(b">a\nAC%T\n"), tmp_path / "bad.tsv", "tsv")
    assert not (tmp_path / "bad.tsv").exists() and not list(tmp_path.glob(".*.tmp*"))
