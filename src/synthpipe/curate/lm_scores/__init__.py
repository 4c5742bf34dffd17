"""Scores from a local causal language model: perplexity, Instruction-Following Difficulty.

`losses.py` computes the mean token cross-entropy of a target after a context (batched, one
model per process); each technique is one file named after its paper.
"""
