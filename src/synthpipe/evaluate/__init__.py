"""Does the data help? Experiments (train on variants, evaluate on real held-out data),
evaluators (accuracy, exact match, pass@k, pairwise judge) and their statistics."""
