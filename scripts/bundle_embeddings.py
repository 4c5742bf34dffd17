"""Ship the MiniLM embeddings of synthpipe's fixed texts (dev-time only).

Fixed texts are the ones every user embeds identically (see
:mod:`synthpipe.embeddings.bundled`): the bundled benchmark questions as
``decontaminate --semantic`` embeds them (numbers masked) and the bundled TREC
train/test/seed questions of the quickstart. Writes
``src/synthpipe/resources/embeddings/<model key>/`` (keys, float16 vectors, meta.json) from a
fresh float32 computation with the default embedder, then verifies the pack as the product
reads it: cosine to the float32 vectors (must be >= 0.999), and prints its size.
``--torch N`` also compares N texts with the transformers + torch backend.

Usage: ``.venv/bin/python scripts/bundle_embeddings.py [--torch 500]``
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from synthpipe.curate.decontam import semantic
from synthpipe.curate.decontam.registry import resolve_benchmarks, resources_root
from synthpipe.embeddings import get_embedder
from synthpipe.embeddings.bundled import BundledVectors, packs_root, write_pack
from synthpipe.embeddings.store import text_key

TREC = ("data/trec/train.jsonl", "data/trec/test.jsonl", "data/trec/seeds.jsonl")
CHECK_TEXTS = ["ok", "A short sentence about the sea.", " ".join(["a much longer text with many words"] * 20)]


def fixed_texts() -> tuple[list[str], dict[str, int]]:
    """Distinct fixed texts in a stable order, and how many each source holds."""
    texts: dict[bytes, str] = {}
    sources: dict[str, int] = {}
    for bench in resolve_benchmarks("all"):
        questions = [semantic.mask_numbers(r["question"]) for r in bench.load() if r.get("question")]
        sources[f"benchmark {bench.name} (questions, numbers masked)"] = len(questions)
        texts.update((text_key(t), t) for t in questions)
    for rel in TREC:
        rows = [json.loads(line)["text"] for line in (resources_root() / rel).open(encoding="utf-8")]
        sources[rel] = len(rows)
        texts.update((text_key(t), t) for t in rows)
    return list(texts.values()), sources


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--torch", type=int, default=0, help="texts also compared with the torch backend")
    args = parser.parse_args()
    embedder = get_embedder()
    texts, sources = fixed_texts()
    started = time.perf_counter()
    vectors = embedder.encode(texts)  # float32, computed now (not through any cache)
    print(f"{len(texts)} distinct texts embedded in {time.perf_counter() - started:.0f} s ({embedder.backend})")
    folder = packs_root() / embedder.key
    meta = {
        "identity": embedder.identity(), "key": embedder.key, "count": len(texts), "dtype": "float16",
        "sources": sources, "made_by": "scripts/bundle_embeddings.py",
        "check": {"texts": CHECK_TEXTS, "vectors": embedder.encode(CHECK_TEXTS).round(7).tolist()},
    }  # fmt: skip
    write_pack(folder, [text_key(t) for t in texts], vectors, meta)
    shipped = BundledVectors(folder).get([text_key(t) for t in texts])
    cosine = np.einsum("ij,ij->i", np.stack(list(shipped.values())), vectors)
    size = sum(p.stat().st_size for p in folder.iterdir())
    print(f"wrote {folder}: {size / 1e6:.1f} MB; cosine to float32: min {cosine.min():.6f}, "
          f"median {np.median(cosine):.6f}")  # fmt: skip
    if cosine.min() < 0.999:
        raise SystemExit("float16 vectors too far from float32")
    if args.torch:
        torch_vectors = get_embedder(backend="torch").encode(texts[: args.torch])
        print(f"torch backend on {args.torch} texts: max |diff| to onnx float32 "
              f"{np.abs(torch_vectors - vectors[: args.torch]).max():.2e}")  # fmt: skip


if __name__ == "__main__":
    main()
