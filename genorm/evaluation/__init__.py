"""Evaluation: streaming lanes, metrics, baselines, the report, evaluate()."""
