"""Audits: diversity, fidelity, bias, contamination."""
