"""Near-duplicate removal with MinHash LSH (Broder 1997; Leskovec, Rajaraman & Ullman, ch. 3).

Modules: :mod:`.shingles` (word n-gram hashes), :mod:`.signatures` (MinHash), :mod:`.params`
(bands x rows for a threshold), :mod:`.lsh` (buckets, candidate pairs, clusters),
:mod:`.store` (spill and the versioned signature file), :mod:`.step` (the ``minhash_dedup``
step). Importing this package registers the step.
"""

from synthpipe.curate.minhash.params import LshParams, optimal_params
from synthpipe.curate.minhash.signatures import MinHasher, estimate_jaccard, exact_jaccard
from synthpipe.curate.minhash.step import MinHashDedup, MinHashDedupConfig
from synthpipe.curate.minhash.store import (
    SIGNATURE_VERSION,
    SignatureMismatchError,
    SignatureSpec,
    load_signatures,
    save_signatures,
)

__all__ = [
    "SIGNATURE_VERSION",
    "LshParams",
    "MinHashDedup",
    "MinHashDedupConfig",
    "MinHasher",
    "SignatureMismatchError",
    "SignatureSpec",
    "estimate_jaccard",
    "exact_jaccard",
    "load_signatures",
    "optimal_params",
    "save_signatures",
]
