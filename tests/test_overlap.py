"""Explicit records compared with a run's training split by content (genorm.evaluation.overlap), issue 23."""

from __future__ import annotations

import numpy as np
import pytest

from genorm.evaluation.overlap import MIN_MATCH, train_overlap_by_content
from genorm.genome.array import Genome

RNG = np.random.default_rng(5)
CHR = "".join("ACGT"[i] for i in RNG.integers(0, 4, 1000))
OTHER = "".join("ACGT"[i] for i in RNG.integers(0, 4, 600))
TRAIN = Genome.from_strings({"chr": CHR, "plasmid": OTHER})
TRAIN_SPLIT = [(0, 0, 850), (1, 0, 500)]  # the tails are validation / test


@pytest.mark.parametrize("records, overlap", [
    ({"renamed": CHR}, 850),                                   # the training record under another name
    ({"x": CHR.lower()}, 850),                                 # soft-masked: same bases
    ({"both": CHR, "plasmid2": OTHER}, 850 + 500),
    ({"longer": "GG" + CHR + OTHER + "TT"}, 850 + 500),        # contains both training records
    ({"piece": CHR[800:900]}, 50),                             # inside a training record: its training bases only
    ({"tail": CHR[860:1000]}, 0),                              # the held-out tail of chr
    ({"new": OTHER[::-1] + CHR[::-1]}, 0),
    ({"short": CHR[:MIN_MATCH - 1]}, 0),                       # too short to be told from chance
    ({"n": "N" * 500}, 0),
])
def test_overlap_in_bases_by_content(records, overlap):
    assert train_overlap_by_content(Genome.from_strings(records), TRAIN, TRAIN_SPLIT) == overlap
