"""The ``audit`` recipe step and how its result joins the run's report, metrics and card.

The step passes every record through untouched; it samples the records it sees (evenly
spaced, like the standalone ``synthpipe audit``), audits them against an optional reference
set, and writes ``audit.json`` into its checkpoint directory, so a resumed or unchanged run
reuses it with the step's other outputs. When the run finishes, :func:`finish_audits` adds
what only the whole run knows (contamination from the ledger), the traffic-light rows, the
report sections and ``card.md``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pydantic import Field

from synthpipe.data.paths import resolve_data_path
from synthpipe.data.records import Batch
from synthpipe.data.sampling import StreamSample
from synthpipe.errors import UsageError
from synthpipe.pipeline.registry import register_step
from synthpipe.pipeline.step import GlobalStep, StepConfig, StepContext

AUDIT_FILE = "audit.json"


class AuditConfig(StepConfig):
    reference: str | None = Field(
        None, description="real data to compare against (path or bundled:...); omit for diversity and bias only"
    )
    text_field: str = Field("text", description="field holding the text to audit")
    label_field: str = Field("label", description="field holding the label, if any")
    reference_text_field: str | None = Field(None, description="text field in the reference [default: text_field]")
    reference_label_field: str | None = Field(
        None, description="label field in the reference [default: label_field]"
    )
    embed: bool = Field(True, description="embedding metrics (MiniLM); false = lexical metrics only")
    embed_field: str = Field(
        "auto", description="what fidelity embeds: a field, fields joined by + (jointly), or auto (the response side of prompt/response records)"
    )
    seeds: str | None = Field(
        None, description="seed records the generator started from (path or bundled:...); their labels anchor the label-drift signature"
    )
    sample: int = Field(2000, ge=2, description="audit at most this many evenly spaced records of each set")
    language_field: str | None = Field(
        None, description="field holding each record's language code: per-language counts and language mixing"
    )


@register_step("audit")
class Audit(GlobalStep):
    """Audits the records reaching it (diversity, fidelity, bias, label drift) and keeps them all.

    Compares with ``reference`` when given, and the labels with those of ``seeds``. Writes
    ``audit.json`` into the step's checkpoint directory; the run's report.html, metrics.json
    (``audit``), card.md and the terminal summary of ``synthpipe run`` include the result.

    Input columns: `text_field` (default ``text``); `label_field` is read when present, and so
    are response and prompt fields (``output``, ``instruction``, ...) for ``embed_field: auto``.
    Output columns: none: records pass through unchanged.
    Drop reasons: none.
    References: the metrics' papers, e.g. Li et al. (2016), "A Diversity-Promoting Objective
    Function for Neural Conversation Models" (distinct-n); Zhu et al. (2018), "Texygen"
    (self-BLEU); Heusel et al. (2017) (Fréchet distance); Naeem et al. (2020), "Reliable
    Fidelity and Diversity Metrics for Generative Models"; Pillutla et al. (2021), "MAUVE";
    Liang et al. (2022), "Holistic Evaluation of Language Models" (demographic representation).
    See :mod:`synthpipe.audit.diversity`, :mod:`~synthpipe.audit.fidelity` and
    :mod:`~synthpipe.audit.bias`.
    """

    Config = AuditConfig
    marks_only = True  # one output batch per input batch, drops marked
    distributed = "synthpipe.audit.distributed:audit"

    def input_columns(self) -> set[str]:
        return {self.config.text_field}

    def output_columns(self) -> set[str]:
        return set()

    def reference_path(self) -> Path | None:
        return _data_path("reference", self.config.reference)

    def seeds_path(self) -> Path | None:
        return _data_path("seeds", self.config.seeds)

    def input_files(self) -> list[Path]:
        return [p for p in (self.reference_path(), self.seeds_path()) if p]

    def run(self, batches: Callable[[], Iterator[Batch]], ctx: StepContext) -> Iterator[Batch]:
        fields = self.sample_fields()
        sample = StreamSample(self.config.sample)  # one pass over the input, bounded memory
        for batch in batches():
            for record in batch:
                sample.add(fields(record))
            yield batch
        self.write_audit(ctx, sample.result(), sample.seen)

    def sample_fields(self) -> Callable[[dict], dict]:
        """What the sample keeps of a record: the fields the audit reads."""
        cfg = self.config
        keep = _kept_fields(cfg.embed_field)
        return lambda record: _audit_fields(record, cfg.text_field, cfg.label_field, keep, cfg.language_field)

    def write_audit(self, ctx: StepContext, sample: list[dict], total: int, embedder: Any = None) -> None:
        """Audit `sample` (of `total` records) and write ``audit.json``; `embedder` replaces the
        model loaded here (the distributed form's encodes on an actor pool)."""
        from synthpipe.audit.dataset import audit_dataset

        cfg = self.config
        audit = audit_dataset(sample, self._reference(), embed=cfg.embed, sample=cfg.sample, seed=ctx.seed,
                              embed_field=cfg.embed_field, seeds=self._seeds(),
                              language_field=cfg.language_field, embedder=embedder)  # fmt: skip
        audit["n_records"] = total
        audit["sample"]["of"] = total
        audit["text_field"], audit["label_field"] = cfg.text_field, cfg.label_field
        audit["inputs"] = {"data": f"records reaching step {ctx.name!r}", "reference": cfg.reference,
                           "seeds": cfg.seeds}  # fmt: skip
        if ctx.step_dir is None:
            raise UsageError("the audit step needs a run directory (run it through a Pipeline)")
        path = Path(ctx.step_dir) / AUDIT_FILE
        path.write_text(json.dumps(audit, default=str) + "\n", encoding="utf-8")

    def _reference(self) -> list[dict] | None:
        from synthpipe.data.readers import read_all

        path = self.reference_path()
        if path is None:
            return None
        cfg = self.config
        text = cfg.reference_text_field or cfg.text_field
        label = cfg.reference_label_field or cfg.label_field
        keep = _kept_fields(cfg.embed_field)
        return [_audit_fields(r, text, label, keep) for r in read_all(path, fields={})]

    def _seeds(self) -> list[dict] | None:
        from synthpipe.data.readers import read_all

        path = self.seeds_path()
        if path is None:
            return None
        label = self.config.label_field
        return [{"label": r.get(label)} for r in read_all(path, fields={})]


def _data_path(what: str, value: str | None) -> Path | None:
    if value is None:
        return None
    path = resolve_data_path(value)
    if not path.exists():
        raise UsageError(f"audit: {what} {value!r} not found ({path}); "
                         "give a data file or directory, or bundled:<name>")  # fmt: skip
    return path


def _kept_fields(embed_field: str) -> tuple[str, ...]:
    """Fields kept beside text and label: those fidelity may embed and prompts it compares."""
    from synthpipe.audit.text_side import PROMPT_FIELDS, RESPONSE_FIELDS

    named = () if embed_field == "auto" else tuple(f.strip() for f in embed_field.split("+"))
    return (*RESPONSE_FIELDS, *PROMPT_FIELDS, *named, "grounding_score", "contamination", "verification")


def _audit_fields(record: dict, text_field: str, label_field: str, keep: tuple[str, ...] = (),
                  language_field: str | None = None) -> dict:  # fmt: skip
    """The fields the audit reads, text and label under the names it expects, plus ``keep``
    (response and prompt fields, grounding/contamination/verification facts) and, with
    `language_field`, what the language report reads."""
    out = {key: record[key] for key in keep if key in record}
    if language_field:
        from synthpipe.audit.languages import sample_fields

        out.update(sample_fields(record, language_field), id=record.get("id"))
    out["text"], out["label"] = record.get(text_field), record.get(label_field)
    if text_field in keep:  # the text is also a response field: auto must still see its name
        out[text_field] = record.get(text_field)
    return out


def finish_audits(
    step_dirs: list[tuple[str, Path]], metrics: dict, kept: list[dict], dropped: list[dict]
) -> list[tuple[str, dict]]:
    """``(step name, audit)`` for every audit step of the run, completed with the run's
    contamination and verifier facts and signature rows."""
    from synthpipe.audit.run_facts import contamination_facts, verification_facts
    from synthpipe.audit.signatures import signatures

    found = []
    for name, directory in step_dirs:
        path = directory / AUDIT_FILE
        if not path.exists():
            continue
        audit = json.loads(path.read_text(encoding="utf-8"))
        audit["contamination"] = contamination_facts(metrics, kept, dropped)
        audit["verification"] = verification_facts(metrics, kept)
        audit["signatures"] = signatures(audit)
        found.append((name, audit))
    return found
