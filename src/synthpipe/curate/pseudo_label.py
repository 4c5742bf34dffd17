"""``pseudo_label``: relabel records with a saved probe classifier and keep the confident ones.

Method: self-training (Scudder 1965; Yarowsky 1995; "pseudo-labels", Lee 2013, "Pseudo-Label:
The Simple and Efficient Semi-Supervised Learning Method for Deep Neural Networks", ICML
workshop): a classifier trained on earlier data labels new examples, and only the examples it
labels with a probability of at least ``min_confidence`` are kept for the next fit. The
self-improvement loop (:mod:`synthpipe.run.loop`) inserts this step after the generator from
its second iteration on, with the previous iteration's probe.

The probe is read from ``model_path``: a directory with ``probe.npz`` (``coef``, ``intercept``,
``classes`` of a logistic regression on MiniLM sentence embeddings) and ``probe.json`` (the
embedding model and backend). Plain arrays rather than a pickled scikit-learn object: this step
may not import the trainers, and arrays load without running code.

Input columns: ``text_field`` (str).
Output columns: ``label_field`` (the probe's top class); ``_lineage.pseudo_label`` holds the
record's earlier label, the probability and the model directory's name.
Drop reasons: ``low_confidence`` (detail: the probe's label, its probability, the threshold),
``missing_text``.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from synthpipe.data.records import Batch, add_lineage, drop
from synthpipe.embeddings.minilm import embedder_requirements
from synthpipe.errors import UsageError
from synthpipe.pipeline.registry import register_step
from synthpipe.pipeline.step import MapStep, StepConfig, StepContext

WEIGHTS, SETTINGS = "probe.npz", "probe.json"


class PseudoLabelConfig(StepConfig):
    model_path: str = Field(description="directory of a saved probe (probe.npz + probe.json)")
    text_field: str = Field("text", description="field holding the text to classify")
    label_field: str = Field("label", description="field that receives the probe's label")
    min_confidence: float = Field(
        0.6,
        ge=0,
        le=1,
        description="keep a record when the probe's top probability is at least this",
    )


class SavedProbe:
    """A logistic regression over MiniLM embeddings, loaded from plain arrays."""

    def __init__(self, path: Path):
        if not (path / WEIGHTS).is_file():
            raise UsageError(f"pseudo_label: {path} holds no {WEIGHTS} (a probe saved by the loop)")
        arrays = np.load(path / WEIGHTS, allow_pickle=False)
        self.coef, self.intercept = arrays["coef"], arrays["intercept"]
        self.classes = [str(c) for c in arrays["classes"]]
        settings = (
            json.loads((path / SETTINGS).read_text(encoding="utf-8"))
            if (path / SETTINGS).is_file()
            else {}
        )
        self.embedding_model = settings.get("embedding_model")
        self.embedding_backend = settings.get("embedding_backend", "auto")

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        from synthpipe.embeddings import get_embedder
        from synthpipe.embeddings.cache import embed

        embedder = get_embedder(self.embedding_model, backend=self.embedding_backend)
        scores = np.asarray(embed(embedder, texts), dtype=np.float64) @ self.coef.T + self.intercept
        if scores.shape[1] == 1:  # binary: scikit-learn keeps one row, the second class's logit
            p = 1 / (1 + np.exp(-scores[:, 0]))
            return np.stack([1 - p, p], axis=1)
        scores -= scores.max(axis=1, keepdims=True)
        e = np.exp(scores)
        return e / e.sum(axis=1, keepdims=True)


@register_step("pseudo_label")
class PseudoLabel(MapStep):
    """Relabels each record with a saved probe's top class; drops the low-confidence ones.

    Input columns: `text_field` (str).
    Output columns: `label_field` (replaced by the probe's label; the earlier one is kept in
    ``_lineage.pseudo_label``).
    Drop reasons: ``low_confidence`` (detail: label, probability, threshold), ``missing_text``.
    References: Lee (2013), "Pseudo-Label: The Simple and Efficient Semi-Supervised Learning
    Method for Deep Neural Networks"; Yarowsky (1995), "Unsupervised Word Sense Disambiguation
    Rivaling Supervised Methods", ACL 1995.
    """

    Config = PseudoLabelConfig
    config: PseudoLabelConfig
    marks_only: ClassVar[bool] = False
    drop_reasons = ("low_confidence", "missing_text")

    def __init__(self, config: StepConfig | dict[str, Any] | None = None, /, **kwargs: Any):
        super().__init__(config, **kwargs)
        self._probe: SavedProbe | None = None
        self._lock = threading.Lock()

    def requirements(self) -> tuple[str, ...]:
        return embedder_requirements()

    def input_files(self) -> list[Path]:
        return [Path(self.config.model_path) / WEIGHTS]

    def input_columns(self) -> set[str]:
        return {self.config.text_field}

    def output_columns(self) -> set[str]:
        return {self.config.label_field}

    @property
    def probe(self) -> SavedProbe:
        with self._lock:
            if self._probe is None:
                self._probe = SavedProbe(Path(self.config.model_path))
            return self._probe

    def process(self, batch: Batch, ctx: StepContext) -> Batch:
        cfg = self.config
        todo = []
        for record in batch:
            if isinstance(record.get(cfg.text_field), str) and record[cfg.text_field].strip():
                todo.append(record)
            else:
                drop(record, ctx.name, "missing_text", f"no text in {cfg.text_field!r}")
        if not todo:
            return batch
        probe = self.probe
        probs = probe.predict_proba([r[cfg.text_field] for r in todo])
        model = Path(cfg.model_path).parent.name or Path(cfg.model_path).name
        for record, row in zip(todo, probs, strict=True):
            top = int(np.argmax(row))
            label, p = probe.classes[top], round(float(row[top]), 4)
            add_lineage(
                record, pseudo_label={"was": record.get(cfg.label_field), "p": p, "model": model}
            )
            record[cfg.label_field] = label
            if p < cfg.min_confidence:
                drop(
                    record,
                    ctx.name,
                    "low_confidence",
                    {"label": label, "p": p, "threshold": cfg.min_confidence},
                )
        return batch
