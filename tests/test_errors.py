"""genorm.errors: every GenormError is also the built-in a caller would catch."""

import pytest

from genorm import errors


@pytest.mark.parametrize("cls, builtin", [
    (errors.FastaFormatError, ValueError), (errors.EncodingPolicyError, ValueError),
    (errors.InputFileError, OSError), (errors.OutputFileError, OSError),
    (errors.RecordSelectionError, KeyError), (errors.ConfigError, ValueError),
    (errors.SplitError, ValueError), (errors.CacheError, OSError), (errors.RunDirError, OSError),
])
def test_each_error_is_a_genorm_error_and_its_builtin(cls, builtin):
    exc = cls("what went wrong; what to do")
    assert isinstance(exc, errors.GenormError) and isinstance(exc, builtin)


def test_record_selection_error_reads_like_its_message():
    # KeyError would put quotes around the message; the CLI prints str(exc).
    assert str(errors.RecordSelectionError("no record 'chr9'")) == "no record 'chr9'"
