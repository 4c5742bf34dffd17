"""Train on synthetic data and evaluate: exporters, trainers, evaluators, experiments."""
