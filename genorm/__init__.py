"""genorm: recurrent next-nucleotide models of genomes.

Importing genorm is cheap: TensorFlow is imported only by the parts that need it.
"""

from __future__ import annotations

__version__ = "0.1.0"

from genorm.encoding import (  # noqa: E402
    EncodingPolicy,
    codes_to_onehot,
    codes_to_string,
    reverse_complement,
    string_to_codes,
)
from genorm.errors import GenormError  # noqa: E402
from genorm.fasta import Record, read_fasta  # noqa: E402
from genorm.genome import Genome, read_genome  # noqa: E402

__all__ = [
    "__version__",
    "EncodingPolicy",
    "Genome",
    "GenormError",
    "Record",
    "codes_to_onehot",
    "codes_to_string",
    "read_fasta",
    "read_genome",
    "reverse_complement",
    "string_to_codes",
]
