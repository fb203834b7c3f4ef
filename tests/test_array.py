from __future__ import annotations

import io

import numpy as np
import pytest

from genorm.errors import RecordSelectionError
from genorm.genome.array import Genome, read_genome


def test_flat_layout_and_access():
    g = Genome.from_strings({"a": "ACGTac", "b": "NNg"})
    assert g.offsets.tolist() == [0, 6, 9]
    assert g.names == ["a", "b"] and len(g) == 2 and g.total_length == 9
    assert g.packed.dtype == np.uint8 and g.packed.shape == (9,)
    assert g.codes("a").tolist() == [0, 1, 2, 3, 0, 1]
    assert g.soft_mask(1).tolist() == [False, False, True]
    assert g.sequence("b") == "NNg"
    assert g.lengths.tolist() == [6, 3]
    with pytest.raises(RecordSelectionError, match=r"No record named 'c'\. Records: a, b"):
        g.codes("c")


def test_summary_table_has_a_total_row():
    g = Genome.from_strings({"a": "GGCCAT", "b": "NNNAnRy"})
    df = g.summary()
    assert list(df["record"]) == ["a", "b", "total"]
    assert list(df.columns[:4]) == ["record", "length", "gc_fraction", "n_count"]
    total = df.iloc[-1]
    assert total["length"] == 13 and total["n_count"] == 6 and total["iupac_count"] == 2
    assert df.iloc[0]["gc_fraction"] == pytest.approx(4 / 6)
    assert total["longest_n_run"] == 3


def test_read_genome_many_files_and_selection(tmp_path, sample_data):
    g = read_genome([sample_data / "phage_lambda_NC_001416.1.fa", sample_data / "vertebrate6_ucsc_softmasked_segments.fa.gz"],
                    records=["rn6", "NC_001416.1", "gi|9626243|ref|NC_001416.1|"][::2])
    assert g.names == ["gi|9626243|ref|NC_001416.1|", "rn6"]
    assert g.total_length == 48502 + 99944
    assert g.packed.nbytes == g.total_length  # one byte per base
    assert g.soft_mask("rn6").sum() == g.stats[1].soft_masked


def test_genome_from_handle():
    g = read_genome(io.BytesIO(b">x\nAC\n>y\nGT\n"))
    assert g.sequence("y") == "GT"
