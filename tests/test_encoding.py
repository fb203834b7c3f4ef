from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from genorm import encoding
from genorm.encoding import EncodingPolicy
from genorm.errors import ConfigError, EncodingPolicyError, FastaFormatError


@pytest.mark.parametrize(
    "text, codes, mask",
    [
        ("ACGT", [0, 1, 2, 3], [0, 0, 0, 0]),
        ("acgt", [0, 1, 2, 3], [1, 1, 1, 1]),
        ("NnAa", [4, 4, 0, 0], [0, 1, 0, 1]),
        ("RYSWKMBDHV", [4] * 10, [0] * 10),
        ("rYs", [4, 4, 4], [1, 0, 1]),
        ("", [], []),
    ],
)
def test_string_to_packed_table(text, codes, mask):
    packed = encoding.string_to_packed(text)
    assert packed.dtype == np.uint8
    assert encoding.packed_to_codes(packed).tolist() == codes
    assert encoding.packed_to_soft_mask(packed).astype(int).tolist() == mask


def test_u_is_an_error_unless_asked():
    with pytest.raises(EncodingPolicyError, match=r"Found 'U' at position 3.*looks like RNA.*--u-as-t"):
        encoding.string_to_codes("ACUG")
    assert encoding.string_to_codes("ACUu", EncodingPolicy(u_as_t=True)).tolist() == [0, 1, 3, 3]


def test_iupac_error_policy():
    with pytest.raises(EncodingPolicyError, match=r"IUPAC ambiguity code 'R' at position 2.*--iupac n"):
        encoding.string_to_codes("ARG", EncodingPolicy(iupac="error"))


def test_invalid_policy_value():
    with pytest.raises(ConfigError, match=r"Received an invalid value for `iupac`, expected 'n' or 'error', got 'x'"):
        EncodingPolicy(iupac="x")


@pytest.mark.parametrize("bad", ["AC-G", "AC1", "AC*", "ACE", "AC."])
def test_invalid_characters(bad):
    with pytest.raises(FastaFormatError, match=r"Invalid character .* at position"):
        encoding.string_to_codes(bad)


def test_onehot_of_n_is_zero_and_round_trips():
    codes = encoding.string_to_codes("ACGTN")
    onehot = encoding.codes_to_onehot(codes)
    assert onehot.shape == (5, 4) and onehot.dtype == np.float32
    np.testing.assert_array_equal(onehot[:4], np.eye(4, dtype=np.float32))
    assert onehot[4].sum() == 0
    np.testing.assert_array_equal(encoding.onehot_to_codes(onehot), codes)


def test_reverse_complement_keeps_mask_and_is_an_involution():
    packed = encoding.string_to_packed("AAcgTN")
    rc = encoding.reverse_complement(packed)
    assert encoding.packed_to_string(rc) == "NAcgTT"
    np.testing.assert_array_equal(encoding.reverse_complement(rc), packed)


def test_codes_to_string_rejects_packed():
    with pytest.raises(ValueError, match="packed_to_string"):
        encoding.codes_to_string(np.array([8], dtype=np.uint8))


@given(st.text(alphabet="ACGTNacgtn", max_size=200))
def test_string_round_trip(text):
    packed = encoding.string_to_packed(text)
    assert encoding.packed_to_string(packed) == text
    codes = encoding.packed_to_codes(packed)
    mask = encoding.packed_to_soft_mask(packed)
    np.testing.assert_array_equal(encoding.codes_to_packed(codes, mask), packed)
    assert encoding.codes_to_string(codes) == text.upper()
