"""Bias mitigation: counterfactual data augmentation and rebalancing to a target distribution.

`counterfactual_augment.py` adds (or substitutes) gender-swapped copies of records;
`rebalance.py` downsamples over-represented groups (or upsamples by counterfactual copies);
`shares.py` counts a record's gendered words the way the audit does and picks records toward a
target share; `facts.py` stores each step's before/after figures for the run report.
"""
