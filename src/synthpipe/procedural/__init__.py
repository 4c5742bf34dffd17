"""Procedural generators: synthetic data that needs no model and carries its own answer."""
