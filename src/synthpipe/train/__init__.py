"""Train on synthetic data: training formats and exporters, trainers (HF SFT / DPO, probes)."""
