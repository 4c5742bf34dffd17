"""``label_consistency``: drop generated examples whose label a classifier trained on the seeds
contradicts with confidence.

Method: the filtering step of LAMBADA (Anaby-Tavor, Carmeli, Goldbraich, Kantor, Kour,
Shlomov, Tepper and Zwerdling, 2020, "Do Not Have Enough Data? Deep Learning to the Rescue!",
AAAI 2020, arXiv:1911.03118): a classifier trained on the small labelled set the generator
started from scores each generated example, and examples whose label it does not support
are discarded. The same idea (a task model trained on trusted data judging generated
labels) is the consistency filtering of Wang, Yu, Firat and Cao (2021), "Towards Zero-Label
Language Learning", arXiv:2109.09193.

The classifier here is a probe: frozen all-MiniLM-L6-v2 sentence embeddings (offline,
:mod:`synthpipe.embeddings`) and a multinomial logistic regression (scikit-learn, ``C``
default 10) fitted on the seed file once per step. A record is dropped when the probe's
top class is not its label and the probability of its label is at most ``max_ratio``
(default 0.2) times that of the top class: the probe prefers another class by a factor of
5 or more. LAMBADA keeps the top-N per class instead; a ratio keeps every record the probe
is unsure about, which matters when the probe is weak.

MiniLM embeddings say what a question is about more than what it asks for; the answer type
of a question is in its first words ("how many" -> NUM, "who" -> HUM), the classic TREC
features (Li and Roth 2002). ``head_words: 2`` adds the first word and the first two words
as one-hot features (value ``head_weight``, those seen in the seeds).

Measured with the 60 bundled TREC seeds (10 per coarse class) as training data, on the
other 5,392 TREC train questions (``C`` 10, ``max_ratio`` 0.2), dropping correctly labelled
questions / the same questions given a random wrong label:

=============================  ========  =============  ===============
probe                          accuracy  drops correct  drops wrong label
=============================  ========  =============  ===============
embeddings                     0.54      3.9%           39%
embeddings + head words (2)    0.66      5.1%           54%
=============================  ========  =============  ===============

(``max_ratio`` 0.1: 0.6% / 15% and 1.9% / 29%; ``C`` 1 makes the probabilities too flat to
contradict anything.) It removes the grossly off-label part of generated data, not all of
it, at the price of a few percent of good records.

Details: ``probe says NUM (p 0.62); label LOC has p 0.08``. A record whose label is not among
the seeds' labels is dropped as ``unknown_label`` (the probe cannot judge it).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from synthpipe.data.records import Batch, Record, drop
from synthpipe.embeddings.minilm import embedder_requirements
from synthpipe.errors import UsageError
from synthpipe.importing import require
from synthpipe.pipeline.registry import register_step
from synthpipe.pipeline.step import MapStep, StepConfig, StepContext
from synthpipe.text.rouge import tokenize


class LabelConsistencyConfig(StepConfig):
    seeds: str = Field(
        "bundled:trec/seeds.jsonl", description="labelled examples to fit the probe on (the generator's seeds)"
    )
    seed_text_field: str = Field("text", description="field of a seed record holding its text")
    seed_label_field: str = Field("label", description="field of a seed record holding its label")
    text_field: str = Field("text", description="field of a record holding its text")
    label_field: str = Field("label", description="field of a record holding its label")
    max_ratio: float = Field(
        0.2, gt=0, lt=1,
        description="drop when p(label) <= max_ratio * p(top class) and the top class is another one",
    )  # fmt: skip
    C: float = Field(10.0, gt=0, description="inverse L2 regularisation of the logistic regression")
    head_words: int = Field(
        0, ge=0, le=3,
        description="also give the probe the text's first 1..k words as features (question words: "
        "'how many', 'who', 'where'; 2 for questions, 0 = embeddings only)",
    )  # fmt: skip
    head_weight: float = Field(0.5, gt=0, description="value of a head-word feature (embeddings have norm 1)")
    model_path: str | None = Field(None, description="local MiniLM directory; default: the bundled one")
    backend: str = Field("auto", description="embedding runtime: auto, onnx or torch")


def head_features(text: str, k: int) -> list[str]:
    """The text's first 1..k lower-case words as features: ``["w1=how", "w2=how many"]``."""
    words = tokenize(text)
    return [f"w{i}={' '.join(words[:i])}" for i in range(1, min(k, len(words)) + 1)]


class SeedProbe:
    """Logistic regression on MiniLM embeddings (and optionally head words) of labelled examples."""

    def __init__(self, texts: list[str], labels: list[str], embedder: Any, C: float = 10.0,
                 head_words: int = 0, head_weight: float = 0.5):  # fmt: skip
        LogisticRegression = _require_sklearn()
        if len(set(labels)) < 2:
            raise UsageError(f"label_consistency: the seeds hold {len(set(labels))} label(s); the probe needs 2 or more")
        self.embedder, self.head_words, self.head_weight = embedder, head_words, head_weight
        heads = sorted({h for t in texts for h in head_features(t, head_words)})
        self.vocabulary = {h: i for i, h in enumerate(heads)}  # head words seen in the seeds
        self.classifier = LogisticRegression(C=C, max_iter=3000, random_state=0)
        self.classifier.fit(self.features(texts), labels)
        self.classes = [str(c) for c in self.classifier.classes_]

    def features(self, texts: list[str]) -> np.ndarray:
        from synthpipe.embeddings.cache import embed

        vectors = np.asarray(embed(self.embedder, texts), dtype=np.float32)
        if not self.vocabulary:
            return vectors
        heads = np.zeros((len(texts), len(self.vocabulary)), dtype=np.float32)
        for row, text in enumerate(texts):
            for h in head_features(text, self.head_words):
                if (col := self.vocabulary.get(h)) is not None:
                    heads[row, col] = self.head_weight
        return np.hstack([vectors, heads])

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        """(len(texts), len(classes)) class probabilities."""
        if not texts:
            return np.zeros((0, len(self.classes)))
        return self.classifier.predict_proba(self.features(texts))


def verdict(probs: np.ndarray, classes: list[str], label: str, max_ratio: float) -> str | None:
    """The drop detail when the probe contradicts `label` (see the module docstring), else None."""
    top = int(np.argmax(probs))
    p_label = float(probs[classes.index(label)])
    if classes[top] == label or p_label > max_ratio * float(probs[top]):
        return None
    return f"probe says {classes[top]} (p {probs[top]:.2f}); label {label} has p {p_label:.2f}"


@register_step("label_consistency")
class LabelConsistency(MapStep):
    """Drops records whose label a probe trained on the seed examples contradicts with confidence.

    LAMBADA's filter with a MiniLM + logistic-regression probe; the rule, its measured
    precision and recall, and the detail format are in the module docstring.

    Input columns: `text_field` (str), `label_field`; the seed file's `seed_text_field` and
    `seed_label_field`.
    Output columns: none: marks records dropped.
    Drop reasons: ``label_contradicted`` (detail: the probe's label and probability, and the
    record label's probability), ``unknown_label`` (a label the seeds do not have),
    ``missing_text``, ``not_text``, ``missing_label``.
    References: Anaby-Tavor et al. (2020), "Do Not Have Enough Data? Deep Learning to the
    Rescue!", AAAI 2020, arXiv:1911.03118; Wang et al. (2021), "Towards Zero-Label Language
    Learning", arXiv:2109.09193.
    """

    Config = LabelConsistencyConfig
    config: LabelConsistencyConfig
    marks_only: ClassVar[bool] = True
    drop_reasons = ("label_contradicted", "unknown_label", "missing_text", "not_text", "missing_label")

    def __init__(self, config: StepConfig | dict[str, Any] | None = None, /, **kwargs: Any):
        super().__init__(config, **kwargs)
        self._probe: SeedProbe | None = None
        self._lock = threading.Lock()

    def requirements(self) -> tuple[str, ...]:
        return ("sklearn", *embedder_requirements(self.config.model_path, self.config.backend))  # type: ignore[arg-type]

    def input_files(self) -> list[Path]:
        return [self._seeds_path()]

    def input_columns(self) -> set[str]:
        return {self.config.text_field, self.config.label_field}

    def output_columns(self) -> set[str]:
        return set()

    def fingerprint_extra(self, env: dict[str, Any]) -> Any:
        return {"embedder": self._embedder().identity()}

    def _seeds_path(self) -> Path:
        from synthpipe.data.paths import resolve_data_path

        return Path(resolve_data_path(self.config.seeds))

    def _embedder(self) -> Any:
        from synthpipe.embeddings import get_embedder

        return get_embedder(self.config.model_path, backend=self.config.backend)  # type: ignore[arg-type]

    @property
    def probe(self) -> SeedProbe:
        """The probe, fitted on the seeds on first use."""
        with self._lock:
            if self._probe is None:
                texts, labels = self._read_seeds()
                cfg = self.config
                self._probe = SeedProbe(texts, labels, self._embedder(), cfg.C, cfg.head_words, cfg.head_weight)
            return self._probe

    def _read_seeds(self) -> tuple[list[str], list[str]]:
        from synthpipe.data.readers import read_all

        cfg, path = self.config, self._seeds_path()
        if not path.exists():
            raise UsageError(f"label_consistency: no such seed file {cfg.seeds!r} (resolved to {path})")
        rows = [r for r in read_all(path) if str(r.get(cfg.seed_text_field) or "").strip()
                and r.get(cfg.seed_label_field) is not None]  # fmt: skip
        if not rows:
            raise UsageError(
                f"label_consistency: seed file {path} has no record with a {cfg.seed_text_field!r} and a "
                f"{cfg.seed_label_field!r}; set `seed_text_field` / `seed_label_field`"
            )
        return [str(r[cfg.seed_text_field]) for r in rows], [str(r[cfg.seed_label_field]) for r in rows]

    def process(self, batch: Batch, ctx: StepContext) -> Batch:
        judged = [(r, r[self.config.text_field], str(r[self.config.label_field])) for r in batch
                  if self._readable(r, ctx)]  # fmt: skip
        if not judged:
            return batch
        probe = self.probe
        probs = probe.predict_proba([text for _r, text, _label in judged])
        for (record, _text, label), row in zip(judged, probs, strict=True):
            if label not in probe.classes:
                drop(record, ctx.name, "unknown_label", f"{label!r} is none of the seeds' labels {probe.classes}")
            elif detail := verdict(row, probe.classes, label, self.config.max_ratio):
                drop(record, ctx.name, "label_contradicted", detail)
        return batch

    def _readable(self, record: Record, ctx: StepContext) -> bool:
        """True if the record has a text and a label to judge; else it is dropped with a reason."""
        cfg = self.config
        if cfg.text_field not in record:
            drop(record, ctx.name, "missing_text", f"no field {cfg.text_field!r}")
        elif not isinstance(record[cfg.text_field], str):
            drop(record, ctx.name, "not_text", f"{cfg.text_field}: {type(record[cfg.text_field]).__name__} value")
        elif record.get(cfg.label_field) is None:
            drop(record, ctx.name, "missing_label", f"no value in {cfg.label_field!r}")
        else:
            return True
        return False


def _require_sklearn():
    require("sklearn", why="the label_consistency probe")
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression
