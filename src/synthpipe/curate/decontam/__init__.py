"""Benchmark decontamination: a registry of test sets, n-gram, semantic and LLM detectors, one step.

- :mod:`.registry`: bundled benchmark test sets (GSM8K, HumanEval, MBPP, MMLU, TREC, SST-2)
  and user-supplied files, as ``{"id", "question", "answer", ...}`` records.
- :mod:`.ngram`: GPT-3 style 13-gram overlap (Brown et al. 2020, Appendix C), with the rule
  for matches on a benchmark answer alone.
- :mod:`.semantic`: embedding-similarity paraphrase detection (Yang et al. 2023), thresholds
  calibrated per benchmark.
- :mod:`.judge`: the LLM judge of nearest-neighbour pairs (Yang et al. 2023, second stage).
- :mod:`.step`: the ``decontaminate`` GlobalStep.
"""

from synthpipe.curate.decontam.registry import (
    BenchmarkSet,
    get_benchmark,
    list_benchmarks,
    load_benchmark,
)

__all__ = ["BenchmarkSet", "get_benchmark", "list_benchmarks", "load_benchmark"]
