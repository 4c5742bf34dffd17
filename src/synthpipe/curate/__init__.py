"""Curation steps: heuristic filters, deduplication (and, later, decontamination and PII)."""
