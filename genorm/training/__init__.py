"""Training: the trainer, its callbacks and backup, distribution, the run directory, memory estimates."""
