"""Tests of genorm.evaluation.report: tables, JSON and TSV files, the description."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from genorm.evaluation.evaluate import evaluate
from genorm.metrics import FIELDS
from genorm.evaluation.report import Report, metric_row
from genorm.genome.array import Genome
from steppers import ConstantStepper

GENOME = {"a": "ACGTacgtNNTTGCAAAT", "b": "GGGGCnT", "c": "T"}


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


def test_metric_row_golden_and_empty():
    f = np.zeros(len(FIELDS))
    f[:5] = [4, 8.0, 1.0, 1.0, 2.0]  # 4 bases, 8 bits, sum P(true) 1, top-1 credit 1, top-2 credit 2
    assert metric_row(f) == {"bases": 4, "accuracy": 0.25, "top2_accuracy": 0.5, "bits_per_base": 2.0,
                             "perplexity": 4.0, "mean_p_true": 0.25}
    assert all(math.isnan(v) for k, v in metric_row(np.zeros(len(FIELDS))).items() if k != "bases")


def test_description_and_json_nan_as_null(tmp_path):
    g = Genome.from_strings(GENOME)
    rep = evaluate(ConstantStepper(), g, [(0, 0, 18)])
    assert rep.description == "intervals given by the caller"
    assert list(Report.TABLES) == ["summary", "per_nucleotide", "confusion", "per_record", "by_mask", "profile"]
    rep.to_json(tmp_path / "r.json")
    rows = json.loads((tmp_path / "r.json").read_text())["per_nucleotide"]
    assert any(row["precision"] is None for row in rows)  # NaN (no prediction of that base) as null
