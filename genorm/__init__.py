"""genorm: recurrent next-nucleotide models of genomes.

Reading and encoding are imported eagerly (NumPy only); everything that needs TensorFlow or
Keras (training, models, evaluation, prediction) is imported on first use, so ``import
genorm`` and ``genorm --help`` stay fast.

>>> import genorm
>>> genorm.string_to_codes("ACGTN").tolist()
[0, 1, 2, 3, 4]
"""

from __future__ import annotations

from genorm._version import __version__

import importlib


from genorm.encoding import (  # noqa: E402
    EncodingPolicy,
    codes_to_onehot,
    codes_to_string,
    reverse_complement,
    string_to_codes,
)
from genorm.errors import GenormError  # noqa: E402
from genorm.reading.records import Record, read_fasta, write_fasta  # noqa: E402
from genorm.genome.array import Genome, read_genome  # noqa: E402
from genorm.genome.cache import cached_genome  # noqa: E402

# name -> (module, attribute), imported on first access.
_LAZY = {
    "ModelConfig": ("genorm.config", "ModelConfig"),
    "build_model": ("genorm.model", "build_model"),
    "TrainConfig": ("genorm.config", "TrainConfig"),
    "train": ("genorm.training.trainer", "train"),
    "load": ("genorm.trained", "load"),
    "evaluate": ("genorm.evaluation.evaluate", "evaluate"),
    "Predictor": ("genorm.predict", "Predictor"),
    "make_splits": ("genorm.genome.splits", "make_splits"),
    "StreamConfig": ("genorm.batches.dataset", "StreamConfig"),
    "make_dataset": ("genorm.batches.dataset", "make_dataset"),
}


def __getattr__(name: str):
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'genorm' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "__version__",
    "EncodingPolicy",
    "Genome",
    "GenormError",
    "ModelConfig",
    "Predictor",
    "Record",
    "StreamConfig",
    "TrainConfig",
    "build_model",
    "cached_genome",
    "codes_to_onehot",
    "codes_to_string",
    "evaluate",
    "load",
    "make_dataset",
    "make_splits",
    "read_fasta",
    "read_genome",
    "write_fasta",
    "reverse_complement",
    "string_to_codes",
    "train",
]
