"""Evaluation of a trained model against baselines, in the order the data flows:

* :mod:`~genorm.engine`: the model streamed over the bases to score (lanes, state carried);
* :mod:`~genorm.metrics`: per-base metric definitions, ``softmax``, the accumulator (NumPy only);
* :mod:`~genorm.baselines`: uniform, composition and Markov baselines (``baselines.npz``);
* :mod:`~genorm.evaluation.report`: the :class:`~genorm.evaluation.report.Report` tables and files;
* :mod:`~genorm.evaluation.adapt`: adaptive ("dynamic") evaluation: a gradient step after each scored chunk;
* :mod:`~genorm.evaluation.evaluate`: ``evaluate`` (intervals) and ``evaluate_run`` (a trained run).

Nothing is imported here, so importing one module of the package (``genorm.evaluation.report``) does not
import the others, nor TensorFlow.
"""
